// Package e2e drives the real liveroom binary from headless Chromium and from
// plain WebSocket clients, on loopback, the way a person or an integrator
// would use it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"liveroom/internal/testserver"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "liveroom-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "liveroom")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/liveroom")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building liveroom:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// server is one liveroom process.
type server struct {
	t       testing.TB
	URL     string
	DataDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
	done    chan error
}

// waitLogCount waits (up to a minute) until the server's log holds needle
// at least n times, and returns how many times it does. What a browser
// shows as sent (its stats count a simulcast layer's bytes as it sends
// them) reaches the server's log a little later on a busy machine: the
// packets still pass ICE, DTLS and the track handler.
func (s *server) waitLogCount(needle string, n int) int {
	got := strings.Count(s.logs.String(), needle)
	for deadline := time.Now().Add(time.Minute); got < n && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		got = strings.Count(s.logs.String(), needle)
	}
	return got
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort is testserver.FreePort under the name the e2e tests use.
func freePort(t testing.TB) int { return testserver.FreePort(t) }

// startServer runs the binary on a free loopback port with dataDir and extra
// flags, and waits until /healthz answers ok.
func startServer(t testing.TB, dataDir string, extra ...string) *server {
	t.Helper()
	return startServerOn(t, "127.0.0.1", dataDir, extra...)
}

// startServerOn is startServer on a loopback address (127.0.0.1, 127.0.0.2, ...).
func startServerOn(t testing.TB, host, dataDir string, extra ...string) *server {
	t.Helper()
	// A port found free can be taken by another process before the server
	// binds it (on a busy machine load runs use tens of thousands): try others.
	for attempt := 1; ; attempt++ {
		s, err := launchServer(t, fmt.Sprintf("%s:%d", host, testserver.FreePortOn(t, host)), dataDir, extra...)
		if err == nil {
			return s
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("port taken before the server bound it; trying another: %v", tail(err.Error(), 300))
	}
}

// startServerAt is startServer on a given address (a restart on the same one).
func startServerAt(t testing.TB, addr, dataDir string, extra ...string) *server {
	t.Helper()
	s, err := launchServer(t, addr, dataDir, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// launchServer starts the server on addr and waits until it is healthy.
func launchServer(t testing.TB, addr, dataDir string, extra ...string) (*server, error) {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "debug", "--password-cost", "4"}, extra...)
	s := &server{t: t, URL: "http://" + addr, DataDir: dataDir, logs: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = t.TempDir() // so no ./liveroom.json is picked up
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server log (last 4000 bytes):\n%s", tail(s.logs.String(), 4000))
		}
	})
	err := testserver.WaitHealthy(s.URL, 30*time.Second, func() error {
		select {
		case err := <-s.done:
			return fmt.Errorf("server exited before it was healthy: %v", err)
		default:
			return nil
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%v\n%s", err, s.logs.String())
	}
	return s, nil
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("server exited with %v after SIGTERM\n%s", err, tail(s.logs.String(), 4000))
		}
	case <-time.After(30 * time.Second):
		s.t.Fatal("server did not stop within 30s of SIGTERM")
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func chromiumPath(t testing.TB) string {
	if p := os.Getenv("LIVEROOM_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: install it (apt-get install -y chromium) or set LIVEROOM_CHROMIUM; scripts/test.sh does this")
	return ""
}

// newBrowser starts headless Chromium with fake camera and microphone.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	return startChromium(t, true)
}

// startChromium starts headless Chromium with fakeDevices as the value of
// its fake-device flag (true, or "device-count=N" for several cameras).
func startChromium(t testing.TB, fakeDevices any) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", fakeDevices),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// newPage opens a tab in a fresh browser context: its own cookies and storage,
// like a second person on another machine.
func newPage(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	t.Cleanup(cancel)
	return ctx
}

func do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("browser: %v\npage: %s", err, pageText(ctx))
	}
}

func eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func pageText(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return tail(s, 1500)
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t testing.TB, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool]("(async () => !!(await ("+js+")))()", chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: not true after 20s (last error %v)\npage: %s", what, lastErr, pageText(ctx))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
