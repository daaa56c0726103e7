package transport

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// CloseJoinTimeout ends a socket that did not join a room (or, on the
// presence sockets, say hello or watch) within the join timeout.
const CloseJoinTimeout websocket.StatusCode = 4408

// Admission is shared by every WebSocket endpoint of a node: it bounds the
// sockets one client address holds open at once, and how long a socket may
// stay open without joining. Without it, sockets that never join cost a file
// descriptor and a few goroutines each, for ever.
type Admission struct {
	// MaxPerIP is the most sockets one address may hold; 0 means no bound.
	MaxPerIP int
	// JoinTimeout closes a socket that has not joined by then; 0 means never.
	JoinTimeout time.Duration

	mu    sync.Mutex
	perIP map[string]int
}

// NewAdmission returns the limits for one node.
func NewAdmission(maxPerIP int, joinTimeout time.Duration) *Admission {
	return &Admission{MaxPerIP: maxPerIP, JoinTimeout: joinTimeout, perIP: map[string]int{}}
}

// acquire counts a socket for ip, or reports false when ip holds its share.
// A nil Admission admits everything.
func (a *Admission) acquire(ip string) bool {
	if a == nil {
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.MaxPerIP > 0 && a.perIP[ip] >= a.MaxPerIP {
		return false
	}
	a.perIP[ip]++
	return true
}

// release gives back a socket counted by acquire.
func (a *Admission) release(ip string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.perIP[ip]--; a.perIP[ip] <= 0 {
		delete(a.perIP, ip)
	}
	a.mu.Unlock()
}

// refuseTooMany answers an upgrade from an address that holds too many sockets.
func refuseTooMany(w http.ResponseWriter) {
	http.Error(w, "too many connections from your address", http.StatusTooManyRequests)
}

// joinWatch closes a socket that has not joined within the join timeout.
type joinWatch struct {
	once   sync.Once
	joined chan struct{}
	// asking counts join requests in flight: a join the grain is still
	// checking (a bcrypt password on a busy node) gets another period.
	asking atomic.Int32

	mu    sync.Mutex // guards timer, set after the callback may already run
	timer *time.Timer
}

// watchJoin starts the join timer for conn; call markJoined once the socket
// has joined and stop when it ends.
func (a *Admission) watchJoin(conn closer) *joinWatch {
	w := &joinWatch{joined: make(chan struct{})}
	if a == nil || a.JoinTimeout <= 0 {
		return w
	}
	limit := a.JoinTimeout
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(limit, func() {
		select {
		case <-w.joined:
			return
		default:
		}
		if w.asking.Load() > 0 {
			w.mu.Lock()
			w.timer.Reset(limit)
			w.mu.Unlock()
			return
		}
		conn.closeWith(CloseJoinTimeout, fmt.Sprintf("join timeout: nothing joined within %s", limit))
	})
	return w
}

// asked brackets a join request: call it when the request is sent and the
// returned func when its answer is in.
func (w *joinWatch) asked() (done func()) {
	if w == nil { // joined already
		return func() {}
	}
	w.asking.Add(1)
	return func() { w.asking.Add(-1) }
}

func (w *joinWatch) markJoined() {
	if w == nil {
		return
	}
	w.once.Do(func() {
		close(w.joined)
		w.stop()
	})
}

func (w *joinWatch) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}
