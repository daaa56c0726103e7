package transport

import (
	"context"
	"sync"

	"github.com/coder/websocket"
)

// sockets is the set of one endpoint's open connections, so that a shutdown
// can close every one of them with a reason and wait for their handlers.
type sockets struct {
	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	draining bool
	wg       sync.WaitGroup
}

// add registers c; it reports false once shutdown has begun.
func (s *sockets) add(c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	if s.conns == nil {
		s.conns = map[*websocket.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// remove is called when c's handler returns.
func (s *sockets) remove(c *websocket.Conn) {
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
	conns := make([]*websocket.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go func() { _ = c.Close(websocket.StatusGoingAway, "server shutting down") }()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
