package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"liveroom/persistence"
)

// newStore creates an empty store the way a first `liveroom serve` does.
func newStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// -h at every level prints that level's help and succeeds.
func TestAdminHelpAtEveryLevel(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"agent", "-h"}, {"apikey", "--help"}} {
		var out bytes.Buffer
		if err := admin(args, strings.NewReader(""), &out); err != nil {
			t.Errorf("admin %v: %v", args, err)
		}
		if !strings.Contains(out.String(), "usage: liveroom admin") {
			t.Errorf("admin %v printed %q", args, out.String())
		}
	}
	var group bytes.Buffer
	if err := admin([]string{"apikey", "-h"}, strings.NewReader(""), &group); err != nil ||
		!strings.Contains(group.String(), "apikey add") || strings.Contains(group.String(), "agent passwd") {
		t.Errorf("admin apikey -h: %v\n%s", err, group.String())
	}
	var out bytes.Buffer
	if err := admin([]string{"agent", "add", "-h"}, strings.NewReader(""), &out); err != nil {
		t.Fatalf("admin agent add -h: %v", err)
	}
	help := out.String()
	for _, want := range []string{"-id", "-name", "-email", "-password-stdin", "-data-dir"} {
		if !strings.Contains(help, want) {
			t.Errorf("agent add -h does not show %s:\n%s", want, help)
		}
	}
	for _, other := range []string{"-prefix", "-agent ", "-max-frame-bytes", "-smtp-addr"} {
		if strings.Contains(help, other) {
			t.Errorf("agent add -h shows %s, which is not its own flag:\n%s", other, help)
		}
	}
}

// A mistyped --data-dir is refused; no empty store appears there.
func TestAdminRefusesAFolderWithoutAStore(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "dta")
	var out bytes.Buffer
	err := admin([]string{"agent", "add", "--id", "alice", "--name", "Alice", "--data-dir", typo}, strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "no Liveroom store") || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("admin on a folder without a store: %v", err)
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("admin created %s: %v", typo, err)
	}
	// On a real store the same command works.
	dir := newStore(t)
	if err := admin([]string{"agent", "add", "--id", "alice", "--name", "Alice", "--data-dir", dir, "--password-cost", "4"},
		strings.NewReader(""), &out); err != nil {
		t.Fatalf("admin on a store: %v", err)
	}
}

// TestHelperHoldStore is not a test: TestAdminSaysTheServerHoldsTheStore runs
// it in a child process to hold a store's lock as a running server does.
func TestHelperHoldStore(t *testing.T) {
	dir := os.Getenv("LIVEROOM_TEST_HOLD_STORE")
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Stdout.WriteString("held\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
}

// admin against the store of a running server says so plainly.
func TestAdminSaysTheServerHoldsTheStore(t *testing.T) {
	dir := newStore(t)
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldStore$")
	holder.Env = append(os.Environ(), "LIVEROOM_TEST_HOLD_STORE="+dir)
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = holder.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("holder process: %q %v", line, err)
	}
	var out bytes.Buffer
	err = admin([]string{"agent", "list", "--data-dir", dir}, strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "held by a running liveroom server") {
		t.Fatalf("admin on a held store: %v", err)
	}
}
