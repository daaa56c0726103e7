package config

import "testing"

func TestValidateAgentOptions(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"smtp complete", func(c *Config) { c.SMTPAddr, c.SMTPTLS = "mail.example:587", "tls" }, nil},
		{"smtp without port", func(c *Config) { c.SMTPAddr = "mail.example" }, []string{"smtp_addr"}},
		{"smtp tls unknown", func(c *Config) { c.SMTPTLS = "maybe" }, []string{"smtp_tls", "maybe"}},
		{"smtp from with name", func(c *Config) { c.SMTPFrom = "Liveroom <x@y.example>" }, []string{"smtp_from"}},
		{"origins ok", func(c *Config) { c.ButtonOrigins = []string{"https://shop.example", "http://127.0.0.2:8000"} }, nil},
		{"origin with path", func(c *Config) { c.ButtonOrigins = []string{"https://shop.example/page"} }, []string{"button_origins"}},
		{"origin not http", func(c *Config) { c.ButtonOrigins = []string{"ftp://shop.example"} }, []string{"button_origins"}},
		{"zero login lock", func(c *Config) { c.LoginLockSeconds = 0 }, []string{"login_lock_seconds"}},
		{"zero offline rate", func(c *Config) { c.OfflinePerHour = 0 }, []string{"offline_per_hour"}},
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

func TestBoolOptionsFromEnvAndFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg := mustLoad(t, []string{"--entry-form-enabled=true", "--short-urls=false"},
		map[string]string{"LIVEROOM_ENTRY_FORM_SHOW_EMAIL": "true"})
	if !cfg.EntryFormEnabled || cfg.ShortURLs || !cfg.EntryFormShowEmail {
		t.Fatalf("bools not applied: %+v", cfg)
	}
	if _, err := load(t, []string{"--short-urls=perhaps"}, nil); err == nil {
		t.Fatal("a bool option took \"perhaps\"")
	}
}
