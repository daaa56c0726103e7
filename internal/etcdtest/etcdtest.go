// Package etcdtest runs a real, throw-away one-member etcd for tests, in a
// temporary folder on free loopback ports. Stop and Start keep its data, so a
// test can take etcd away and bring it back.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one etcd process.
type Server struct {
	// Endpoint is its client address, host:port.
	Endpoint string
	dir      string
	args     []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// New starts etcd for one test and stops it when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		tb.Fatal("etcd not found (install the Debian package etcd-server; scripts/deps.sh does)")
	}
	// A port found free can be taken by another process before etcd binds
	// it (on a busy machine load runs use tens of thousands): try others.
	var s *Server
	for attempt := 1; ; attempt++ {
		var err error
		s, err = newServer(tb.TempDir())
		if err == nil {
			err = s.Start()
		}
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop etcd: %v", err)
		}
	})
	return s
}

// newServer prepares an etcd in dir on two free loopback ports.
func newServer(dir string) (*Server, error) {
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	peer, err := freePort()
	if err != nil {
		return nil, err
	}
	cu, pu := fmt.Sprintf("http://127.0.0.1:%d", client), fmt.Sprintf("http://127.0.0.1:%d", peer)
	return &Server{Endpoint: fmt.Sprintf("127.0.0.1:%d", client), dir: dir, args: []string{
		"--name", "test", "--data-dir", dir + "/data",
		"--listen-client-urls", cu, "--advertise-client-urls", cu,
		"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
		"--initial-cluster", "test=" + pu, "--log-level", "warn",
	}}, nil
}

// Start runs etcd (again) and waits until it answers.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	log, err := os.OpenFile(s.dir+"/etcd.log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command("etcd", s.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+os.Getenv("ETCD_UNSUPPORTED_ARCH"))
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start etcd: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.cmd, s.done, s.log = cmd, done, log
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get("http://" + s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-done:
			s.cmd = nil
			out, _ := os.ReadFile(s.dir + "/etcd.log")
			return fmt.Errorf("etcd exited: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("etcd did not become healthy within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop ends etcd (SIGTERM) and waits for it; its data stays for Start.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return s.log.Close()
}
