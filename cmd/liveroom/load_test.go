package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"liveroom/internal/testserver"
	"liveroom/loadgen"
)

func TestLoadAgainstClosedPortExitsWithErrorQuickly(t *testing.T) {
	var stdout, stderr bytes.Buffer
	addr := fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t))
	start := time.Now()
	err := runLoad(context.Background(), []string{"--server", addr, "--rooms", "5", "--room-size", "10",
		"--duration", "2s", "--connect-timeout", "2s"}, &stdout, &stderr, false)
	if err == nil {
		t.Fatalf("no error against a closed port\n%s", stdout.String())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s", took)
	}
	if !strings.Contains(err.Error(), "unreachable") || !strings.Contains(stdout.String(), "50 failed") {
		t.Fatalf("error %v\nreport:\n%s", err, stdout.String())
	}
}

func TestScenarioFileWithFlagsOverJSONReport(t *testing.T) {
	srv := testserver.Start(t, nil)
	scenario := filepath.Join(t.TempDir(), "s.json")
	// The file names a server that is not there and 2 rooms; the flags
	// replace both, and the rest of the file stays.
	err := os.WriteFile(scenario, []byte(`{"servers": ["http://127.0.0.1:1"], "rooms": 2, "room_size": 3,
		"duration": "300ms", "msg_rate": 0, "drain_timeout": 2}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = runLoad(context.Background(), []string{"--scenario", scenario, "--server", srv.URL, "--rooms", "3",
		"--ramp", "300/s", "--json", "--quiet"}, &stdout, &stderr, false)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("--quiet still wrote %q", stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	c := rep.Config
	if c.Rooms != 3 || c.RoomSize != 3 || c.Duration.D() != 300*time.Millisecond || c.Ramp != 300 ||
		c.DrainTimeout.D() != 2*time.Second || len(c.Servers) != 1 || c.Servers[0] != srv.URL {
		t.Fatalf("config %+v", c)
	}
	if !rep.Passed || rep.Sessions.Connected != 9 || rep.Messages.Sent != 0 {
		t.Fatalf("report %+v", rep)
	}
}
