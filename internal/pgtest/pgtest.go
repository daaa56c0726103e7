// Package pgtest runs a real, throw-away PostgreSQL server for tests: initdb in
// a temporary folder, pg_ctl start on a free loopback port, and a fresh
// database per caller. It imports nothing of Liveroom's, so any package's tests
// (the store's own included) can use it.
//
// PostgreSQL refuses to run as root. When the tests run as root (as on CI), the
// server runs as the "postgres" user when it exists, else as "nobody", with
// its folder handed to that user.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one running PostgreSQL.
type Server struct {
	// Port is the loopback TCP port it listens on.
	Port int
	dir  string
	bin  string
	cred *syscall.Credential

	mu      sync.Mutex
	running bool
	dbs     atomic.Int64
}

// Binaries returns the folder that holds initdb and pg_ctl: the PATH first,
// then Debian's /usr/lib/postgresql/<version>/bin (newest version), where the
// postgresql package puts them without linking them into the PATH.
func Binaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi > vj
	})
	for _, p := range found {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "pg_ctl")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("initdb and pg_ctl not found (install the Debian package postgresql; scripts/deps.sh does)")
}

// unprivileged returns the credentials to run PostgreSQL with when we are root.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Launch creates and starts a new server. Stop it with Close.
func Launch() (*Server, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are private to root, and the server may run
	// as another user.
	dir, err := os.MkdirTemp("", "liveroom-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{Port: port, dir: dir, bin: bin, cred: cred}
	if out, err := s.run("initdb", "-D", s.dataDir(), "-U", "liveroom", "--auth=trust", "-E", "UTF8", "--no-locale"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// A port found free can be taken by another process before the server
	// binds it (on a busy machine load runs use tens of thousands): try others.
	for attempt := 1; ; attempt++ {
		err := s.Start()
		if err == nil {
			return s, nil
		}
		if attempt == 5 || !strings.Contains(strings.ToLower(err.Error()), "already in use") {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if s.Port, err = freePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

// New launches a server for one test and closes it when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := Launch()
	if err != nil {
		tb.Fatalf("start PostgreSQL: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// Start (re)starts a stopped server on the same port and folder.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	opts := fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c max_connections=200", s.Port, s.dir)
	if out, err := s.run("pg_ctl", "start", "-w", "-t", "120", "-D", s.dataDir(), "-l", filepath.Join(s.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	s.running = true
	return nil
}

// Stop shuts the server down (fast mode: clients are disconnected, committed
// work is kept). Start brings it back.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if out, err := s.run("pg_ctl", "stop", "-w", "-t", "120", "-m", "fast", "-D", s.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	s.running = false
	return nil
}

// Close stops the server and removes its folder.
func (s *Server) Close() error {
	err := s.Stop()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// URL returns the connection URL of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://liveroom@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase makes a new empty database and returns its URL.
func (s *Server) CreateDatabase() (string, error) {
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return s.URL(name), nil
}

// Database makes a new empty database for one test and returns its URL.
func (s *Server) Database(tb testing.TB) string {
	tb.Helper()
	url, err := s.CreateDatabase()
	if err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return url
}
