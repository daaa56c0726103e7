package main

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"liveroom/config"
	"liveroom/internal/testserver"
)

func runAdmin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := admin(append(args, "--password-cost", "4"), strings.NewReader(stdin), &out)
	return out.String(), err
}

// TestAdminCLIAgainstARunningServer: with --server the CLI goes through the
// admin API, so an agent added while the server runs can log in at once;
// with the server stopped, the same command falls back to the store.
func TestAdminCLIAgainstARunningServer(t *testing.T) {
	dir := newStore(t)
	t.Setenv("ROOT_PASSWORD", "root-password-1")
	if out, err := runAdmin(t, "", "admin", "add", "--id", "root", "--password-env", "ROOT_PASSWORD", "--data-dir", dir); err != nil {
		t.Fatalf("admin add: %v\n%s", err, out)
	}
	out, err := runAdmin(t, "", "apikey", "add", "--agent", "root", "--name", "cli", "--data-dir", dir)
	if err != nil {
		t.Fatalf("apikey add: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`lrk_[A-Za-z0-9_-]+`).FindString(out)
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })

	// Without an admin key the server refuses, and says how to get one.
	t.Setenv("LIVEROOM_ADMIN_KEY", "")
	if _, err := runAdmin(t, "bob-password-1\n", "agent", "add", "--id", "bob", "--name", "Bob", "--password-stdin",
		"--server", srv.URL, "--data-dir", dir); err == nil || !strings.Contains(err.Error(), "admin API key") {
		t.Fatalf("agent add without a key: %v", err)
	}
	out, err = runAdmin(t, "bob-password-1\n", "agent", "add", "--id", "bob", "--name", "Bob", "--password-stdin",
		"--server", srv.URL, "--key", key, "--data-dir", dir)
	if err != nil || !strings.Contains(out, "agent bob created on "+srv.URL) {
		t.Fatalf("agent add --server: %v\n%s", err, out)
	}
	resp, err := http.Post(srv.URL+"/api/agent/login", "application/json",
		strings.NewReader(`{"agentId":"bob","password":"bob-password-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bob logging in without a restart: %s", resp.Status)
	}
	out, err = runAdmin(t, "", "agent", "list", "--server", srv.URL, "--key", key, "--data-dir", dir)
	if err != nil || !regexp.MustCompile(`(?m)^bob\s+Bob\s+agent\s+offline`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^root\s+root\s+admin`).MatchString(out) {
		t.Fatalf("agent list --server: %v\n%s", err, out)
	}
	// A supervisor's key is not enough to manage accounts.
	if out, err := runAdmin(t, "", "admin", "add", "--id", "sup", "--role", "supervisor", "--server", srv.URL, "--key", key,
		"--data-dir", dir); err != nil {
		t.Fatalf("admin add supervisor: %v\n%s", err, out)
	}
	out, err = runAdmin(t, "", "apikey", "add", "--agent", "sup", "--server", srv.URL, "--key", key, "--data-dir", dir)
	if err != nil {
		t.Fatalf("apikey add --server: %v\n%s", err, out)
	}
	supKey := regexp.MustCompile(`lrk_[A-Za-z0-9_-]+`).FindString(out)
	if _, err := runAdmin(t, "", "agent", "remove", "--id", "bob", "--server", srv.URL, "--key", supKey,
		"--data-dir", dir); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("a supervisor removing an agent: %v", err)
	}

	// Stopped: the same command opens the store.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err = runAdmin(t, "", "agent", "remove", "--id", "bob", "--server", srv.URL, "--key", key, "--data-dir", dir)
	if err != nil || !strings.Contains(out, "does not answer; opening the store") || !strings.Contains(out, "agent bob removed") {
		t.Fatalf("agent remove with the server stopped: %v\n%s", err, out)
	}
}
