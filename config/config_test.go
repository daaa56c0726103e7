package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// load runs Load in a fresh, empty working folder (so no stray ./liveroom.json
// is read) with env as the whole environment.
func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("liveroom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func mustLoad(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	cfg, err := load(t, args, env)
	if err != nil {
		t.Fatalf("Load(%q, %v): %v", args, env, err)
	}
	cfg.Sources = nil // compared on their own in TestLoadRecordsWhereEachValueCameFrom
	return cfg
}

func writeJSON(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantErrContaining(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg := mustLoad(t, nil, nil)
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("Load with nothing set = %+v\nwant Default() = %+v", cfg, Default())
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate(): %v", err)
	}
	// Spot-check documented defaults.
	if cfg.Addr != ":8080" || cfg.DataDir != "./data" || cfg.ClusterProvider != "single" ||
		cfg.MaxFrameBytes != 64<<10 || cfg.LogFormat != "json" {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
	// Empty environment values count as unset.
	env := map[string]string{}
	for _, o := range Options() {
		env[o.Env] = ""
	}
	if cfg := mustLoad(t, nil, env); !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("empty env values changed the config: %+v", cfg)
	}
}

func TestLoadFileOverridesDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// ./liveroom.json is read when present.
	writeJSON(t, filepath.Join(dir, "liveroom.json"), `{
		"addr": ":9000",
		"max_chat_chars": 10,
		"rate_per_second": 2.5,
		"cluster_peers": ["a:1", "b:2"],
		"log_format": "console"
	}`)
	cfg := mustLoad(t, nil, nil)
	want := Default()
	want.Addr = ":9000"
	want.MaxChatChars = 10
	want.RatePerSecond = 2.5
	want.ClusterPeers = []string{"a:1", "b:2"}
	want.LogFormat = "console"
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("Load = %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeJSON(t, filepath.Join(dir, "liveroom.json"), `{"addr": ":1111"}`)
	other := writeJSON(t, filepath.Join(dir, "other.json"), `{"addr": ":2222"}`)
	third := writeJSON(t, filepath.Join(dir, "third.json"), `{"addr": ":3333"}`)

	// LIVEROOM_CONFIG names the file instead of ./liveroom.json.
	if cfg := mustLoad(t, nil, map[string]string{"LIVEROOM_CONFIG": other}); cfg.Addr != ":2222" {
		t.Errorf("LIVEROOM_CONFIG: addr = %q, want :2222", cfg.Addr)
	}
	// --config wins over LIVEROOM_CONFIG.
	cfg := mustLoad(t, []string{"--config", third}, map[string]string{"LIVEROOM_CONFIG": other})
	if cfg.Addr != ":3333" {
		t.Errorf("--config: addr = %q, want :3333", cfg.Addr)
	}
	// A named file that does not exist is an error, unlike a missing
	// ./liveroom.json.
	missing := filepath.Join(dir, "missing.json")
	_, err := load(t, []string{"--config", missing}, nil)
	wantErrContaining(t, err, "missing.json")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap os.ErrNotExist", err)
	}
	_, err = load(t, nil, map[string]string{"LIVEROOM_CONFIG": missing})
	wantErrContaining(t, err, "missing.json")
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", `{"addr": ":1", "bogus_option": 3}`, []string{"bogus_option", "bad.json"}},
		{"misspelt key", `{"max_chat_char": 3}`, []string{"max_chat_char"}},
		{"wrong type", `{"max_chat_chars": "many"}`, []string{"max_chat_chars"}},
		{"not JSON", `addr = ":1"`, []string{"bad.json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeJSON(t, filepath.Join(dir, "bad.json"), c.body)
			_, err := load(t, []string{"--config", path}, nil)
			wantErrContaining(t, err, c.want...)
		})
	}
}

func TestLoadEnvOverridesFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeJSON(t, filepath.Join(dir, "liveroom.json"), `{"addr": ":9000", "data_dir": "/from/file", "history_page": 7}`)
	env := map[string]string{
		"LIVEROOM_ADDR":             ":9100",
		"LIVEROOM_MAX_UPLOAD_BYTES": "12345",
		"LIVEROOM_RATE_PER_SECOND":  "0.5",
		"LIVEROOM_CLUSTER_PEERS":    " a:1, b:2,,c:3 ",
		"LIVEROOM_SECRET":           "s3cret-s3cret-s3cret",
	}
	cfg := mustLoad(t, nil, env)
	if cfg.Addr != ":9100" {
		t.Errorf("addr = %q, want env value :9100", cfg.Addr)
	}
	if cfg.DataDir != "/from/file" || cfg.HistoryPage != 7 {
		t.Errorf("file values not kept where env is unset: data_dir %q history_page %d", cfg.DataDir, cfg.HistoryPage)
	}
	if cfg.MaxUploadBytes != 12345 || cfg.RatePerSecond != 0.5 || cfg.Secret != "s3cret-s3cret-s3cret" {
		t.Errorf("env values not applied: %+v", cfg)
	}
	if want := []string{"a:1", "b:2", "c:3"}; !reflect.DeepEqual(cfg.ClusterPeers, want) {
		t.Errorf("cluster_peers = %q, want %q", cfg.ClusterPeers, want)
	}
}

func TestLoadFlagOverridesEnv(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeJSON(t, filepath.Join(dir, "liveroom.json"), `{"addr": ":9000", "max_chat_chars": 100, "log_level": "warn"}`)
	env := map[string]string{"LIVEROOM_ADDR": ":9100", "LIVEROOM_MAX_CHAT_CHARS": "200"}
	cfg := mustLoad(t, []string{"--addr=:9200", "-max-chat-chars", "300", "--cluster-peers", "x:1,y:2"}, env)
	if cfg.Addr != ":9200" || cfg.MaxChatChars != 300 {
		t.Errorf("flags did not win: addr %q max_chat_chars %d", cfg.Addr, cfg.MaxChatChars)
	}
	if cfg.LogLevel != "warn" {
		t.Errorf("file value lost: log_level %q", cfg.LogLevel)
	}
	if want := []string{"x:1", "y:2"}; !reflect.DeepEqual(cfg.ClusterPeers, want) {
		t.Errorf("cluster_peers = %q", cfg.ClusterPeers)
	}
	// A flag given an empty value still overrides (unlike an empty env var).
	cfg = mustLoad(t, []string{"--public-url="}, map[string]string{"LIVEROOM_PUBLIC_URL": "https://x"})
	if cfg.PublicURL != "" {
		t.Errorf("--public-url= did not clear the env value: %q", cfg.PublicURL)
	}
}

func TestLoadEveryOptionHasFlagAndEnv(t *testing.T) {
	t.Chdir(t.TempDir())
	fs := flag.NewFlagSet("liveroom", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := Load(fs, nil, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("config") == nil {
		t.Errorf("no --config flag")
	}
	seen := map[string]bool{}
	for _, o := range Options() {
		if o.Key == "" || seen[o.Key] {
			t.Errorf("option key %q empty or repeated", o.Key)
		}
		seen[o.Key] = true
		if o.Help == "" {
			t.Errorf("option %s has no help text", o.Key)
		}
		if o.Flag != strings.ReplaceAll(o.Key, "_", "-") || o.Env != "LIVEROOM_"+strings.ToUpper(o.Key) {
			t.Errorf("option %s: flag %q env %q", o.Key, o.Flag, o.Env)
		}
		f := fs.Lookup(o.Flag)
		if f == nil {
			t.Errorf("option %s has no flag --%s", o.Key, o.Flag)
			continue
		}
		if !strings.Contains(f.Usage, o.Env) {
			t.Errorf("flag --%s usage %q does not name %s", o.Flag, f.Usage, o.Env)
		}
	}
	// Sources (the last field) records provenance and is not an option.
	if n := reflect.TypeOf(Config{}).NumField() - 1; len(Options()) != n {
		t.Errorf("Options() has %d entries, Config has %d fields", len(Options()), n)
	}
}

func TestLoadBadValues(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"bad int in env", nil, map[string]string{"LIVEROOM_MAX_CHAT_CHARS": "lots"}, []string{"LIVEROOM_MAX_CHAT_CHARS", "lots"}},
		{"float for int in env", nil, map[string]string{"LIVEROOM_RATE_BURST": "1.5"}, []string{"LIVEROOM_RATE_BURST"}},
		{"bad int64 in env", nil, map[string]string{"LIVEROOM_MAX_UPLOAD_BYTES": "10MB"}, []string{"LIVEROOM_MAX_UPLOAD_BYTES"}},
		{"bad float in env", nil, map[string]string{"LIVEROOM_RATE_PER_SECOND": "fast"}, []string{"LIVEROOM_RATE_PER_SECOND"}},
		{"bad int flag", []string{"--history-page", "x"}, nil, []string{"--history-page"}},
		{"unknown flag", []string{"--no-such-option", "1"}, nil, []string{"no-such-option"}},
		{"invalid after env", nil, map[string]string{"LIVEROOM_ROOM_MAX_MEMBERS": "0"}, []string{"room_max_members"}},
		{"invalid after flag", []string{"--cluster-provider", "automanaged"}, nil, []string{"cluster_peers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.args, c.env)
			wantErrContaining(t, err, c.want...)
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   []string // nil: valid
	}{
		{"default", func(c *Config) {}, nil},
		{"automanaged without peers", func(c *Config) {
			c.ClusterProvider = "automanaged"
			c.ClusterPort = 7000
		}, []string{"cluster_peers"}},
		{"automanaged with port 0", func(c *Config) {
			c.ClusterProvider = "automanaged"
			c.ClusterPeers = []string{"a:6330"}
		}, []string{"cluster_port"}},
		{"automanaged complete", func(c *Config) {
			c.ClusterProvider = "automanaged"
			c.ClusterPeers = []string{"a:6330", "b:6330"}
			c.ClusterPort = 7000
		}, nil},
		{"unknown provider", func(c *Config) { c.ClusterProvider = "consul" }, []string{"consul", "cluster_provider"}},
		{"tls_cert without tls_key", func(c *Config) { c.TLSCert = "cert.pem" }, []string{"tls_cert", "tls_key"}},
		{"tls_key without tls_cert", func(c *Config) { c.TLSKey = "key.pem" }, []string{"tls_cert", "tls_key"}},
		{"tls both", func(c *Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" }, nil},
		{"zero frame size", func(c *Config) { c.MaxFrameBytes = 0 }, []string{"max_frame_bytes"}},
		{"negative queue", func(c *Config) { c.SessionQueue = -1 }, []string{"session_queue"}},
		{"zero rate", func(c *Config) { c.RatePerSecond = 0 }, []string{"rate_per_second"}},
		{"password cost too low", func(c *Config) { c.PasswordCost = 3 }, []string{"password_cost"}},
		{"password cost too high", func(c *Config) { c.PasswordCost = 15 }, []string{"password_cost"}},
		{"password cost bounds", func(c *Config) { c.PasswordCost = 4 }, nil},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, []string{"data_dir"}},
		{"bad log format", func(c *Config) { c.LogFormat = "xml" }, []string{"log_format", "xml"}},
		{"several at once", func(c *Config) {
			c.HistoryPage = 0
			c.RequestTimeoutMs = 0
			c.TLSKey = "k"
		}, []string{"history_page", "request_timeout_ms", "tls_cert"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			c.change(&cfg)
			err := cfg.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantErrContaining(t, err, c.want...)
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	def := map[string]string{}
	for _, o := range Options() {
		def[o.Key] = o.Default
	}
	for key, want := range map[string]string{
		"addr":             ":8080",
		"max_frame_bytes":  "65536",
		"rate_per_second":  "20",
		"cluster_peers":    "",
		"cluster_provider": "single",
		"secret":           "",
	} {
		if got, ok := def[key]; !ok || got != want {
			t.Errorf("Options default of %s = %q (present %v), want %q", key, got, ok, want)
		}
	}
}

// TestREADMEDocumentsEveryOption checks that ../README.md lists every option.
// For each key there must be a line containing "`key`"; when the default is not
// empty, one such line must also contain the default in backticks, e.g.
//
//	| `addr` | `:8080` | address for pages, API and WebSocket |
func TestREADMEDocumentsEveryOption(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("README.md is missing at the module root: it must document every option (key in backticks with its default in backticks on the same line)")
	}
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	lines := strings.Split(string(raw), "\n")
	for _, o := range Options() {
		key := "`" + o.Key + "`"
		var found, withDefault bool
		for _, l := range lines {
			if !strings.Contains(l, key) {
				continue
			}
			found = true
			if o.Default == "" || strings.Contains(l, "`"+o.Default+"`") {
				withDefault = true
				break
			}
		}
		switch {
		case !found:
			t.Errorf("README.md does not mention option %s", key)
		case !withDefault:
			t.Errorf("README.md mentions %s but not its default `%s` on the same line", key, o.Default)
		}
	}
}

func TestLoadRecordsWhereEachValueCameFrom(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("liveroom.json", []byte(`{"history_page": 30}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LIVEROOM_MAX_CHAT_CHARS": "100"}
	cfg, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"--room-max-members", "5"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"history_page": "file liveroom.json", "max_chat_chars": "env LIVEROOM_MAX_CHAT_CHARS",
		"room_max_members": "flag --room-max-members", "addr": "default"}
	for k, v := range want {
		if cfg.Sources[k] != v {
			t.Errorf("source of %s = %q, want %q", k, cfg.Sources[k], v)
		}
	}
	if len(cfg.Sources) != len(Options()) {
		t.Errorf("%d sources for %d options", len(cfg.Sources), len(Options()))
	}
}

// A secret shorter than the signer accepts fails when the options are read,
// before anything is served.
func TestShortSecretIsRefused(t *testing.T) {
	c := Default()
	c.Secret = "short"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("Validate with a 5-byte secret: %v", err)
	}
	c.Secret = "sixteen-bytes-ok"
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with a 16-byte secret: %v", err)
	}
}

// Recordings go where every node of a cluster reaches them when files_dir is
// shared, never among a room's files, and stay in data_dir on one node.
func TestRecordingsPath(t *testing.T) {
	c := Config{DataDir: "/d"}
	if got := c.RecordingsPath(); got != filepath.Join("/d", "recordings") {
		t.Fatalf("one node: %s", got)
	}
	c.FilesDir = "/shared"
	if got := c.RecordingsPath(); got != filepath.Join("/shared", ".recordings") {
		t.Fatalf("with files_dir: %s", got)
	}
	c.RecordingsDir = "/rec"
	if got := c.RecordingsPath(); got != "/rec" {
		t.Fatalf("recordings_dir: %s", got)
	}
}
