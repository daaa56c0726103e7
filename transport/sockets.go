package transport

import (
	"context"
	"sync"

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
	return true
}

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
