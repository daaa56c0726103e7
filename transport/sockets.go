package transport

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// closer closes a socket with a close frame from any goroutine.
type closer interface {
	closeWith(code websocket.StatusCode, reason string)
}

// plainCloser closes a socket that has nothing to coordinate.
type plainCloser struct{ conn *websocket.Conn }

func (p plainCloser) closeWith(code websocket.StatusCode, reason string) {
	_ = p.conn.Close(code, reason)
}

// sockets is the set of one endpoint's open connections, so that a shutdown
// can close every one of them with a reason and wait for their handlers.
type sockets struct {
	mu       sync.Mutex
	conns    map[closer]struct{}
	draining bool
	wg       sync.WaitGroup
	// writeTimeout, when set, is how long a write to one of these sockets
	// may take (see writeWatched); watching is set while the watch runs.
	writeTimeout time.Duration
	watching     bool
}

// writeWatched is a socket whose writes the endpoint times out: a write
// that has taken longer than the timeout is cut short by a deadline in the
// past (see connection.writeStalled).
//
// One watch per endpoint instead of a deadline per write: setting and
// clearing a socket's deadline around every write moved a runtime timer
// twice per delivered frame, about a microsecond each, a twentieth of
// what a chat delivery costs the server.
type writeWatched interface {
	// writeStalled cuts short a write begun before since, if one is
	// still under way.
	writeStalled(since int64)
}

// add registers c; it reports false once shutdown has begun.
func (s *sockets) add(c closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	if s.conns == nil {
		s.conns = map[closer]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	if _, ok := c.(writeWatched); ok && s.writeTimeout > 0 && !s.watching {
		s.watching = true
		go s.watchWrites()
	}
	return true
}

// watchWrites looks for stalled writes a few times per write timeout while
// any socket is open; a stalled write is cut off between one timeout and
// about a quarter more.
func (s *sockets) watchWrites() {
	tick := time.NewTicker(min(time.Second, s.writeTimeout/4))
	defer tick.Stop()
	for range tick.C {
		since := nowNanos() - s.writeTimeout.Nanoseconds()
		s.mu.Lock()
		if len(s.conns) == 0 {
			s.watching = false
			s.mu.Unlock()
			return
		}
		for c := range s.conns {
			if w, ok := c.(writeWatched); ok {
				w.writeStalled(since)
			}
		}
		s.mu.Unlock()
	}
}

// clockStart anchors nowNanos, a monotonic clock that fits an atomic.
var clockStart = time.Now()

func nowNanos() int64 { return int64(time.Since(clockStart)) }

// remove is called when c's handler returns.
func (s *sockets) remove(c closer) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// shutdown closes every socket with "going away" and waits for the handlers
// until ctx ends.
func (s *sockets) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.draining = true
	conns := make([]closer, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go c.closeWith(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
