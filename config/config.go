// Package config holds every server option with its default. Values come from,
// in rising precedence: the defaults here, a JSON config file, LIVEROOM_*
// environment variables, and command-line flags.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// Config is the server configuration. Each field's tags give its JSON key,
// and help; the flag is the key with '-' for '_', the environment variable is
// LIVEROOM_ and the key upper-cased.
type Config struct {
	Addr      string `json:"addr" help:"address for pages, API and WebSocket"`
	DataDir   string `json:"data_dir" help:"folder for the Pebble store and uploaded files (created on first run)"`
	PublicURL string `json:"public_url" help:"base URL used in generated links; empty means taken from each request's Host"`
	TLSCert   string `json:"tls_cert" help:"PEM certificate file; with tls_key serves HTTPS (browsers need it for cameras off localhost)"`
	TLSKey    string `json:"tls_key" help:"PEM private key file for tls_cert"`
	LogLevel  string `json:"log_level" help:"debug, info, warn or error"`
	LogFormat string `json:"log_format" help:"json or console"`
	OpenRooms bool   `json:"open_rooms" help:"anyone may create a room on the start page; false leaves room creation to logged-in agents and API keys"`
	Secret    string `json:"secret" help:"key (at least 16 bytes) that signs member access tokens; empty means one generated and kept in the store (a cluster needs the same value on every node)"`

	PasswordCost       int     `json:"password_cost" help:"bcrypt work factor for room passwords (4-14; each step doubles the time)"`
	MaxFrameBytes      int64   `json:"max_frame_bytes" help:"largest WebSocket frame accepted from a browser"`
	MaxChatChars       int     `json:"max_chat_chars" help:"longest chat message, in characters"`
	MaxNameChars       int     `json:"max_name_chars" help:"longest display name, in characters"`
	MaxUploadBytes     int64   `json:"max_upload_bytes" help:"largest file a member may upload"`
	RoomMaxMembers     int     `json:"room_max_members" help:"members a room admits at once"`
	HistoryPage        int     `json:"history_page" help:"chat messages sent on join and per history request"`
	SessionQueue       int     `json:"session_queue" help:"frames queued for one socket before the client counts as too slow and is disconnected"`
	RatePerSecond      float64 `json:"rate_per_second" help:"frames per second one socket may send, sustained"`
	RateBurst          int     `json:"rate_burst" help:"frames one socket may send in a burst"`
	ResumeGraceSeconds int     `json:"resume_grace_seconds" help:"seconds a member whose connection dropped stays in its room and call, to come back without rejoining; 0 removes it at once"`
	PingSeconds        int     `json:"ping_seconds" help:"seconds between server pings to each socket; a client that misses one is disconnected"`
	RoomIdleSeconds    int     `json:"room_idle_seconds" help:"seconds an empty room stays in memory before it is passivated (its state stays in the store)"`
	RequestTimeoutMs   int     `json:"request_timeout_ms" help:"how long a request to a room actor may take"`
	MemoryLimitMB      int     `json:"memory_limit_mb" help:"soft limit on the process's memory in MiB (Go's memory limit): near it the garbage collector runs more often rather than let the heap double; 0 leaves GOMEMLIMIT or no limit"`
	ReleaseIdleMemory  bool    `json:"release_idle_memory" help:"when the node goes quiet (its sessions idle), hand memory the heap no longer uses back to the system once, instead of keeping up to twice the live heap resident"`

	WebRTCUDPPort     int      `json:"webrtc_udp_port" help:"the one UDP port for every call's media; 0 means the same number as addr's port"`
	WebRTCTCPPort     int      `json:"webrtc_tcp_port" help:"TCP port for ICE over TCP, for networks that block UDP; 0 turns it off"`
	WebRTCPublicIPs   []string `json:"webrtc_public_ips" help:"addresses announced to browsers instead of this host's own, for a server behind 1:1 NAT (comma-separated)"`
	STUNURLs          []string `json:"stun_urls" help:"STUN servers handed to browsers, e.g. stun:stun.example.org:3478 (comma-separated)"`
	TURNURLs          []string `json:"turn_urls" help:"TURN servers handed to browsers, e.g. turn:turn.example.org:3478?transport=udp (comma-separated)"`
	TURNUsername      string   `json:"turn_username" help:"username for turn_urls"`
	TURNCredential    string   `json:"turn_credential" help:"credential for turn_urls"`
	ICETimeoutSeconds int      `json:"ice_timeout_seconds" help:"a call connection that has not connected within this many seconds is dropped"`
	MaxTracksPerPeer  int      `json:"max_tracks_per_peer" help:"tracks one browser may send in a call (microphone, camera, screen)"`

	Broadcasts           bool `json:"broadcasts" help:"one-to-many broadcasts (broadcaster and viewer pages, /api/v1/broadcasts)"`
	BroadcastMaxViewers  int  `json:"broadcast_max_viewers" help:"viewers one broadcast admits at once; more see a \"full\" page"`
	BroadcastNodeViewers int  `json:"broadcast_node_viewers" help:"viewers of all broadcasts hosted on one node; 0 means no node limit"`

	ClusterName     string   `json:"cluster_name" help:"cluster name; nodes with the same name form one cluster"`
	ClusterHost     string   `json:"cluster_host" help:"address this node's actor system listens on for other nodes"`
	ClusterPort     int      `json:"cluster_port" help:"port for actor traffic between nodes; 0 picks a free one (one node only)"`
	ClusterProvider string   `json:"cluster_provider" help:"single (one node, no network), automanaged (several nodes from a fixed peer list) or etcd (members registered in etcd)"`
	ClusterPeers    []string `json:"cluster_peers" help:"automanaged: host:port of every node's membership port, this node included (comma-separated)"`
	ClusterAutoPort int      `json:"cluster_auto_port" help:"automanaged: this node's membership (health) port"`
	EtcdEndpoints   []string `json:"etcd_endpoints" help:"etcd: host:port of the etcd servers that hold the member list (comma-separated)"`
	Store           string   `json:"store" help:"pebble (one node, in data_dir) or postgres (shared by every node of a cluster; also CockroachDB)"`
	PostgresURL     string   `json:"postgres_url" help:"store=postgres: connection URL, e.g. postgres://liveroom:secret@db:5432/liveroom"`
	FilesDir        string   `json:"files_dir" help:"folder for uploaded files and whiteboard images; empty means data_dir/files (a cluster needs a folder every node shares)"`
	RecordingsDir   string   `json:"recordings_dir" help:"folder for call recordings; empty means files_dir/.recordings when files_dir is set (shared by a cluster's nodes), else data_dir/recordings"`

	// Agents, contact button, entry form, offline form.
	SMTPAddr            string   `json:"smtp_addr" help:"host:port of the SMTP server that mails offline-form messages to agents; empty keeps them on the agent page only"`
	SMTPFrom            string   `json:"smtp_from" help:"sender address of offline-form mail"`
	SMTPUsername        string   `json:"smtp_username" help:"SMTP login (PLAIN, only over TLS or to localhost); empty for none"`
	SMTPPassword        string   `json:"smtp_password" help:"password for smtp_username"`
	SMTPTLS             string   `json:"smtp_tls" help:"starttls (when the server offers it), tls (implicit, port 465) or none"`
	SMTPTimeoutMs       int      `json:"smtp_timeout_ms" help:"how long sending one offline-form mail may take"`
	OfflinePerHour      int      `json:"offline_per_hour" help:"offline-form messages one IP address may send per hour"`
	ButtonOrigins       []string `json:"button_origins" help:"origins (scheme://host[:port]) of sites allowed to embed the contact button (comma-separated); empty allows any"`
	EmbedOrigins        []string `json:"embed_origins" help:"origins (scheme://host[:port]) of sites allowed to show room pages in an iframe, such as a WordPress site with the Liveroom plugin (comma-separated); empty allows none"`
	ShortURLs           bool     `json:"short_urls" help:"serve readable room links /r/NAME (visitor) and /a/NAME (agent, after login)"`
	AgentSessionHours   int      `json:"agent_session_hours" help:"how long an agent stays logged in"`
	LoginPerMinute      int      `json:"login_per_minute" help:"login attempts one IP address may make per minute"`
	LoginMaxFailures    int      `json:"login_max_failures" help:"failed logins from one IP address within login_lock_seconds that lock an agent account for that address, for login_lock_seconds and twice as long at each lock after"`
	LoginLockSeconds    int      `json:"login_lock_seconds" help:"how long an agent account stays locked after too many failed logins (for the failing address; for everyone past login_account_max_failures)"`
	EntryFormEnabled    bool     `json:"entry_form_enabled" help:"entry form default for new rooms: ask visitors for details before they join"`
	EntryFormRequired   bool     `json:"entry_form_required" help:"entry form default: every field shown must be filled in"`
	EntryFormPrivate    bool     `json:"entry_form_private" help:"entry form default: show a password field (mandatory anyway when the room has a password)"`
	EntryFormShowEmail  bool     `json:"entry_form_show_email" help:"entry form default: ask for an email address (shown to agents only)"`
	EntryFormShowAvatar bool     `json:"entry_form_show_avatar" help:"entry form default: ask for an avatar image URL (http or https)"`

	// Recording (issue 13): defaults for new rooms, then node-wide limits.
	Recording           bool   `json:"recording" help:"recording default for new rooms: the agent may record calls on the server"`
	RecordingDownload   bool   `json:"recording_download" help:"recording default: the recorder's browser downloads the recording when it ends (otherwise it gets a link)"`
	RecordingSaveServer bool   `json:"recording_save_server" help:"recording default: keep recordings under data_dir/recordings, listed for the agent; otherwise they are removed an hour after they end"`
	RecordingAutoStart  bool   `json:"recording_auto_start" help:"recording default: start recording when the call is established"`
	RecordingVisitors   bool   `json:"recording_visitors" help:"recording default: visitors may start and stop recordings too"`
	RecordingMaxMinutes int    `json:"recording_max_minutes" help:"a recording stops by itself after this many minutes"`
	RecordingMinFreeMB  int    `json:"recording_min_free_mb" help:"no recording starts, and a running one stops, when the disk has less free space than this many MB"`
	RecordingFFmpeg     string `json:"recording_ffmpeg" help:"ffmpeg binary that mixes each finished recording into one file (grid video, mixed audio); empty or missing leaves one file per track"`

	// Limits on what one client address may hold or make.
	MaxSocketsPerIP         int `json:"max_sockets_per_ip" help:"WebSocket connections (room, contact button and agent page together) one IP address may hold open; 0 means no limit"`
	JoinTimeoutSeconds      int `json:"join_timeout_seconds" help:"seconds a WebSocket may stay open without joining a room (or saying hello, or watching) before it is closed with 4408"`
	HTTPIdleSeconds         int `json:"http_idle_seconds" help:"seconds an idle keep-alive HTTP connection is kept open"`
	BodyStallSeconds        int `json:"body_stall_seconds" help:"a request body (such as an upload) that sends nothing for this many seconds is cut; a slow one that keeps moving is not"`
	RoomsPerIPPerMinute     int `json:"rooms_per_ip_per_minute" help:"rooms one IP address may create per minute without logging in (open_rooms); 0 means no limit"`
	RoomsPerIPPerDay        int `json:"rooms_per_ip_per_day" help:"rooms one IP address may create per day without logging in (open_rooms); 0 means no limit"`
	LoginAccountMaxFailures int `json:"login_account_max_failures" help:"failed logins from all addresses within login_lock_seconds that lock an agent account for everyone; high, because agent ids are public"`

	// Whiteboard (issue 12).
	Whiteboard            bool   `json:"whiteboard" help:"new rooms have a shared whiteboard the agent can open"`
	WhiteboardVisitors    bool   `json:"whiteboard_visitors" help:"visitors may draw on the whiteboard too (the agent can switch this live); false keeps it agent-only"`
	WhiteboardImageBytes  int64  `json:"whiteboard_image_bytes" help:"largest image (PNG, JPEG or GIF) a member may place on the whiteboard"`
	WhiteboardPDFBytes    int64  `json:"whiteboard_pdf_bytes" help:"largest PDF the agent may open on the whiteboard"`
	WhiteboardPDFPages    int    `json:"whiteboard_pdf_pages" help:"most pages of a PDF shown on the whiteboard; longer files are refused"`
	WhiteboardPDFSeconds  int    `json:"whiteboard_pdf_seconds" help:"longest time rendering one PDF may take before it is given up"`
	WhiteboardPDFCache    string `json:"whiteboard_pdf_cache" help:"folder for the compiled PDF engine (compiled on the first PDF, seconds of CPU); empty means data_dir/cache/pdfium"`
	WhiteboardSnapshotOps int    `json:"whiteboard_snapshot_ops" help:"board operations between two stored snapshots of a whiteboard (loading replays at most this many)"`

	// Sources says where each option's value came from ("default", "file
	// <path>", "env <NAME>", "flag --name"), for the admin panel. It is not an
	// option itself and must stay the last field.
	Sources map[string]string `json:"-"`
}

// Secret reports whether an option holds a secret the admin panel masks.
func Secret(key string) bool {
	switch key {
	case "secret", "smtp_password", "turn_credential":
		return true
	}
	return false
}

// Default returns the embedded one-node configuration.
func Default() Config {
	return Config{
		Addr:                ":8080",
		DataDir:             "./data",
		LogLevel:            "info",
		LogFormat:           "json",
		OpenRooms:           true,
		PasswordCost:        10,
		MaxFrameBytes:       64 << 10,
		MaxChatChars:        4000,
		MaxNameChars:        64,
		MaxUploadBytes:      100 << 20,
		RoomMaxMembers:      20,
		HistoryPage:         50,
		SessionQueue:        256,
		RatePerSecond:       20,
		RateBurst:           40,
		PingSeconds:         20,
		ResumeGraceSeconds:  15,
		RoomIdleSeconds:     120,
		RequestTimeoutMs:    5000,
		ReleaseIdleMemory:   true,
		ICETimeoutSeconds:   20,
		MaxTracksPerPeer:    3,
		Broadcasts:          true,
		BroadcastMaxViewers: 500,
		ClusterName:         "liveroom",
		ClusterHost:         "127.0.0.1",
		ClusterPort:         0,
		ClusterProvider:     "single",
		ClusterAutoPort:     6330,
		Store:               "pebble",

		SMTPFrom:          "liveroom@localhost",
		SMTPTLS:           "starttls",
		SMTPTimeoutMs:     10000,
		OfflinePerHour:    10,
		ShortURLs:         true,
		AgentSessionHours: 24,
		LoginPerMinute:    10,
		LoginMaxFailures:  5,
		LoginLockSeconds:  300,

		RecordingDownload:       true,
		RecordingMaxMinutes:     240,
		RecordingMinFreeMB:      512,
		RecordingFFmpeg:         "ffmpeg",
		MaxSocketsPerIP:         50,
		JoinTimeoutSeconds:      10,
		HTTPIdleSeconds:         60,
		BodyStallSeconds:        30,
		RoomsPerIPPerMinute:     10,
		RoomsPerIPPerDay:        200,
		LoginAccountMaxFailures: 100,
		Whiteboard:              true,
		WhiteboardImageBytes:    10 << 20,
		WhiteboardPDFBytes:      30 << 20,
		WhiteboardPDFPages:      50,
		WhiteboardPDFSeconds:    60,
		WhiteboardSnapshotOps:   256,
	}
}

// Option describes one setting for documentation and flag parsing.
type Option struct {
	Key, Flag, Env, Help string
	Default              string
}

// Options lists every setting with its default, in declaration order.
func Options() []Option {
	def := Default()
	v := reflect.ValueOf(def)
	t := v.Type()
	out := make([]Option, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("json")
		if key == "-" {
			continue
		}
		out = append(out, Option{
			Key:     key,
			Flag:    strings.ReplaceAll(key, "_", "-"),
			Env:     "LIVEROOM_" + strings.ToUpper(key),
			Help:    f.Tag.Get("help"),
			Default: format(v.Field(i)),
		})
	}
	return out
}

func format(v reflect.Value) string {
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

func set(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported option type %s", v.Kind())
	}
	return nil
}

type flagValue struct {
	v   reflect.Value
	set bool
	raw string
}

func (f *flagValue) String() string { return f.raw }
func (f *flagValue) Set(s string) error {
	f.raw, f.set = s, true
	return nil
}

// Load builds the configuration from defaults, the config file named by
// --config (or LIVEROOM_CONFIG; ./liveroom.json when present), the environment
// and the flags in args. getenv is os.Getenv outside tests.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	cfg := Default()
	v := reflect.ValueOf(&cfg).Elem()
	opts := Options()
	flags := make([]*flagValue, len(opts))
	configPath := fs.String("config", getenv("LIVEROOM_CONFIG"), "JSON config file (default ./liveroom.json when present)")
	for i, o := range opts {
		flags[i] = &flagValue{v: v.Field(i)}
		fs.Var(flags[i], o.Flag, fmt.Sprintf("%s (default %q, env %s)", o.Help, o.Default, o.Env))
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	path, explicit := *configPath, *configPath != ""
	if !explicit {
		path = "liveroom.json"
	}
	sources := make(map[string]string, len(opts))
	for _, o := range opts {
		sources[o.Key] = "default"
	}
	if raw, err := os.ReadFile(path); err == nil {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
		var present map[string]json.RawMessage
		if json.Unmarshal(raw, &present) == nil {
			for k := range present {
				if _, ok := sources[k]; ok {
					sources[k] = "file " + path
				}
			}
		}
	} else if explicit || !errors.Is(err, os.ErrNotExist) {
		return cfg, fmt.Errorf("config file: %w", err)
	}
	for i, o := range opts {
		if s := getenv(o.Env); s != "" {
			if err := set(v.Field(i), s); err != nil {
				return cfg, fmt.Errorf("%s: %w", o.Env, err)
			}
			sources[o.Key] = "env " + o.Env
		}
	}
	for i, o := range opts {
		if flags[i].set {
			if err := set(v.Field(i), flags[i].raw); err != nil {
				return cfg, fmt.Errorf("--%s: %w", o.Flag, err)
			}
			sources[o.Key] = "flag --" + o.Flag
		}
	}
	cfg.Sources = sources
	return cfg, cfg.Validate()
}

// Validate rejects values the server cannot run with.
func (c Config) Validate() error {
	var errs []error
	positive := map[string]int64{
		"max_frame_bytes": c.MaxFrameBytes, "max_chat_chars": int64(c.MaxChatChars),
		"max_name_chars": int64(c.MaxNameChars), "max_upload_bytes": c.MaxUploadBytes,
		"room_max_members": int64(c.RoomMaxMembers), "history_page": int64(c.HistoryPage),
		"session_queue": int64(c.SessionQueue), "rate_burst": int64(c.RateBurst),
		"room_idle_seconds": int64(c.RoomIdleSeconds), "ping_seconds": int64(c.PingSeconds), "request_timeout_ms": int64(c.RequestTimeoutMs),
		"smtp_timeout_ms": int64(c.SMTPTimeoutMs), "offline_per_hour": int64(c.OfflinePerHour),
		"agent_session_hours": int64(c.AgentSessionHours), "login_per_minute": int64(c.LoginPerMinute),
		"login_max_failures": int64(c.LoginMaxFailures), "login_lock_seconds": int64(c.LoginLockSeconds),
		"ice_timeout_seconds": int64(c.ICETimeoutSeconds), "max_tracks_per_peer": int64(c.MaxTracksPerPeer),
		"recording_max_minutes": int64(c.RecordingMaxMinutes),
		"join_timeout_seconds":  int64(c.JoinTimeoutSeconds), "http_idle_seconds": int64(c.HTTPIdleSeconds),
		"body_stall_seconds": int64(c.BodyStallSeconds), "login_account_max_failures": int64(c.LoginAccountMaxFailures),
		"whiteboard_image_bytes": c.WhiteboardImageBytes, "whiteboard_pdf_bytes": c.WhiteboardPDFBytes,
		"whiteboard_pdf_pages": int64(c.WhiteboardPDFPages), "whiteboard_pdf_seconds": int64(c.WhiteboardPDFSeconds),
		"whiteboard_snapshot_ops": int64(c.WhiteboardSnapshotOps),
	}
	if c.MemoryLimitMB < 0 {
		errs = append(errs, errors.New("memory_limit_mb must not be negative (0 means no limit)"))
	}
	for k, n := range map[string]int{"max_sockets_per_ip": c.MaxSocketsPerIP,
		"rooms_per_ip_per_minute": c.RoomsPerIPPerMinute, "rooms_per_ip_per_day": c.RoomsPerIPPerDay} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative (0 means no limit)", k))
		}
	}
	for k, n := range positive {
		if n <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", k))
		}
	}
	if c.PasswordCost < 4 || c.PasswordCost > 14 {
		errs = append(errs, errors.New("password_cost must be between 4 and 14"))
	}
	if c.RecordingMinFreeMB < 0 {
		errs = append(errs, errors.New("recording_min_free_mb must not be negative"))
	}
	if c.RatePerSecond <= 0 {
		errs = append(errs, errors.New("rate_per_second must be positive"))
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, errors.New("secret must be at least 16 bytes"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must be set"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key go together"))
	}
	switch c.ClusterProvider {
	case "single":
	case "automanaged":
		if len(c.ClusterPeers) == 0 {
			errs = append(errs, errors.New("cluster_peers must list the nodes for automanaged"))
		}
		if c.ClusterPort == 0 {
			errs = append(errs, errors.New("cluster_port must be fixed for automanaged"))
		}
	case "etcd":
		if len(c.EtcdEndpoints) == 0 {
			errs = append(errs, errors.New("etcd_endpoints must list the etcd servers for cluster_provider etcd"))
		}
		if c.ClusterPort == 0 {
			errs = append(errs, errors.New("cluster_port must be fixed for etcd"))
		}
	default:
		errs = append(errs, fmt.Errorf("cluster_provider %q: want single, automanaged or etcd", c.ClusterProvider))
	}
	switch c.Store {
	case "pebble":
	case "postgres":
		if c.PostgresURL == "" {
			errs = append(errs, errors.New("postgres_url must be set for store postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("store %q: want pebble or postgres", c.Store))
	}
	errs = append(errs, c.validateAgents()...)
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want json or console", c.LogFormat))
	}
	return errors.Join(errs...)
}

func (c Config) validateAgents() []error {
	var errs []error
	switch c.SMTPTLS {
	case "starttls", "tls", "none":
	default:
		errs = append(errs, fmt.Errorf("smtp_tls %q: want starttls, tls or none", c.SMTPTLS))
	}
	if c.SMTPAddr != "" {
		if _, port, err := net.SplitHostPort(c.SMTPAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("smtp_addr %q: want host:port", c.SMTPAddr))
		}
	}
	if a, err := mail.ParseAddress(c.SMTPFrom); err != nil || a.Address != c.SMTPFrom {
		errs = append(errs, fmt.Errorf("smtp_from %q: want a plain email address", c.SMTPFrom))
	}
	for _, o := range c.ButtonOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("button_origins: %q is not an origin like https://shop.example", o))
		}
	}
	for _, o := range c.EmbedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("embed_origins: %q is not an origin like https://shop.example", o))
		}
	}
	return errs
}

// Values returns every option's effective value as text, by key.
func Values(c Config) map[string]string {
	v := reflect.ValueOf(c)
	out := map[string]string{}
	for i, o := range Options() {
		out[o.Key] = format(v.Field(i))
	}
	return out
}

// RecordingsPath is the folder for call recordings: recordings_dir; or, with
// a files_dir (which a cluster's nodes share), its .recordings folder (no
// room id starts with a dot, so it never meets a room's files); else
// data_dir/recordings.
func (c Config) RecordingsPath() string {
	switch {
	case c.RecordingsDir != "":
		return c.RecordingsDir
	case c.FilesDir != "":
		return filepath.Join(c.FilesDir, ".recordings")
	}
	return filepath.Join(c.DataDir, "recordings")
}

// FilesPath is the folder for uploaded files: files_dir, or data_dir/files.
func (c Config) FilesPath() string {
	if c.FilesDir != "" {
		return c.FilesDir
	}
	return filepath.Join(c.DataDir, "files")
}
