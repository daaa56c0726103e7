package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/server"
)

// memberToken creates room id and joins it over the WebSocket, returning the
// member's upload token; the socket stays open until the test ends.
func memberToken(t *testing.T, srv *testserver.Server, id string) string {
	t.Helper()
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"`+id+`","visitorName":"V"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %v %v", err, resp)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"id":"j","join":{"roomId":"`+id+`","name":"Pat"}}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for joined: %v", err)
		}
		var f struct {
			Joined *struct {
				AccessToken string `json:"accessToken"`
			}
		}
		if json.Unmarshal(b, &f) == nil && f.Joined != nil {
			return f.Joined.AccessToken
		}
	}
}

// startUpload opens a raw connection and sends an upload's headers announcing
// size bytes, so the test controls how the body arrives.
func startUpload(t *testing.T, srv *testserver.Server, room, token string, size int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/rooms/%s/files?name=a.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", room, token, size)
	return conn
}

// readStatus waits (generously) for the response's status code.
func readStatus(t *testing.T, conn net.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the upload: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(dir, "files", "*", "*.part"))
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func waitNoPartFiles(t *testing.T, dir string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); len(partFiles(t, dir)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("unfinished uploads left behind: %v", partFiles(t, dir))
		}
	}
}

// An upload whose body stops arriving is cut and its .part file removed; a
// slow one that keeps sending completes.
func TestStalledUploadIsCutAndSlowOneIsNot(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir; c.BodyStallSeconds = 2 })
	token := memberToken(t, srv, "up")

	stalled := startUpload(t, srv, "up", token, 100000)
	_, _ = stalled.Write([]byte("only the first bytes"))
	if status := readStatus(t, stalled); status != http.StatusRequestTimeout {
		t.Fatalf("stalled upload answered %d, want 408", status)
	}
	waitNoPartFiles(t, dir)

	// Two bytes every 250 ms: the whole body takes twice the stall limit.
	const chunks = 16
	slow := startUpload(t, srv, "up", token, 2*chunks)
	for i := 0; i < chunks; i++ {
		time.Sleep(250 * time.Millisecond)
		if _, err := slow.Write([]byte("ab")); err != nil {
			t.Fatalf("slow upload cut after %d chunks: %v", i, err)
		}
	}
	if status := readStatus(t, slow); status != http.StatusCreated {
		t.Fatalf("slow but moving upload answered %d, want 201", status)
	}
}

// SIGTERM does not wait on a stalled upload, and the upload leaves no file.
func TestShutdownCutsAStalledUpload(t *testing.T) {
	dir := t.TempDir()
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir; c.BodyStallSeconds = 3600 })
	token := memberToken(t, srv, "up")
	stalled := startUpload(t, srv, "up", token, 100000)
	_, _ = stalled.Write([]byte("only the first bytes"))
	for end := time.Now().Add(30 * time.Second); len(partFiles(t, dir)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the upload never started")
		}
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Run has returned: the upload's handler has finished, not been abandoned.
	if left := partFiles(t, dir); len(left) > 0 {
		t.Fatalf("shutdown left the stalled upload running or its file behind: %v", left)
	}
}

// .part files of uploads cut off by a crash are removed when the server
// starts; finished files stay.
func TestLeftoverPartFilesAreRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	room := filepath.Join(dir, "files", "r1")
	if err := os.MkdirAll(room, 0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{"crashed.part", "finished"} {
		p := filepath.Join(room, name)
		if err := os.WriteFile(p, []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	if left := partFiles(t, dir); len(left) > 0 {
		t.Fatalf("leftover upload kept: %v", left)
	}
	if _, err := os.Stat(filepath.Join(room, "finished")); err != nil {
		t.Fatalf("a finished file was removed: %v", err)
	}
}

// An idle keep-alive connection is closed by the server.
func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.HTTPIdleSeconds = 1 })
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want it closed by the server (EOF)", err)
	}
}

// A missing TLS file stops the server before it logs that it is serving.
func TestMissingTLSFileFailsBeforeServing(t *testing.T) {
	logFile, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Addr = fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	cfg.DataDir = t.TempDir()
	cfg.TLSCert, cfg.TLSKey = filepath.Join(cfg.DataDir, "missing-cert.pem"), filepath.Join(cfg.DataDir, "missing-key.pem")
	// The server logs to stderr; catch it.
	stderr := os.Stderr
	os.Stderr = logFile
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	runErr := server.Run(ctx, cfg)
	cancel()
	os.Stderr = stderr
	logged, _ := os.ReadFile(logFile.Name())
	if runErr == nil || !strings.Contains(runErr.Error(), "missing-cert.pem") {
		t.Fatalf("Run with a missing certificate: %v", runErr)
	}
	if strings.Contains(string(logged), "serving") {
		t.Fatalf("the server said it was serving before failing on the certificate:\n%s", logged)
	}
}
