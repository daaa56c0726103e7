// Package testserver runs a real Liveroom node inside a test process, on a
// free loopback port with a temporary data folder, for tests that need the
// whole server (HTTP, WebSocket, actors, Pebble) but not a separate binary.
package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"liveroom/config"
	"liveroom/internal/remotewait"
	"liveroom/server"
)

// FreePort returns a port number that was free a moment ago for TCP on
// 127.0.0.1 and for UDP on every interface: a node serves HTTP on the TCP
// port and, by default (webrtc_udp_port 0), its call media on the UDP port
// of the same number on all interfaces.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return FreePortOn(tb, "127.0.0.1")
}

// FreePortOn is FreePort for TCP on host (another loopback address such as
// 127.0.0.2, where other programs' connections may hold ports that are free
// on 127.0.0.1).
func FreePortOn(tb testing.TB, host string) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	tb.Fatal("no port free for both TCP and UDP after 100 tries")
	return 0
}

// WaitHealthy polls base/healthz until it answers 200, failed() reports the
// server gone, or the deadline passes.
func WaitHealthy(base string, deadline time.Duration, failed func() error) error {
	end := time.Now().Add(deadline)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if failed != nil {
			if err := failed(); err != nil {
				return err
			}
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s not healthy after %s (last error %v)", base, deadline, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Server is a node running in this process.
type Server struct {
	// URL is the node's base URL, http://127.0.0.1:port.
	URL  string
	stop func() error
}

// Stop shuts the node down gracefully (as on SIGTERM) and returns Run's error;
// later calls do nothing.
func (s *Server) Stop() error { return s.stop() }

// Start runs a node with test defaults (quiet logs, cheapest bcrypt) changed
// by adjust, waits until it is healthy, and stops it when the test ends.
func Start(tb testing.TB, adjust func(*config.Config)) *Server {
	tb.Helper()
	cfg := config.Default()
	cfg.Addr = fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
	cfg.DataDir = tb.TempDir()
	cfg.LogLevel = "error"
	cfg.PasswordCost = 4
	// A grain request may wait out a stalled, busy machine (-race beside a
	// CPU hog) in a test; in production 5 s says something is wrong.
	cfg.RequestTimeoutMs = 30000
	if adjust != nil {
		adjust(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	var once sync.Once
	var runErr error
	s := &Server{URL: "http://" + cfg.Addr, stop: func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = fmt.Errorf("server did not stop within 30s")
			}
			// The next node this test binary starts must not meet this
			// one's remote still dialling (see remotewait).
			remotewait.Idle(30 * time.Second)
		})
		return runErr
	}}
	err := WaitHealthy(s.URL, 30*time.Second, func() error {
		select {
		case err := <-done:
			return fmt.Errorf("server exited before it was healthy: %v", err)
		default:
			return nil
		}
	})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("server stopped with %v", err)
		}
	})
	return s
}
