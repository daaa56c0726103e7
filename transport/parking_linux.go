package transport

import (
	"errors"
	"sync"
	"syscall"
)

// parking is the node's one epoll set for idle sockets: a socket whose
// reader has nothing to read is entered here and its goroutine ends; when
// the client sends something (or the socket fails) the parking's goroutine
// starts a new reader. An idle member then costs no goroutine and no stack
// (at least 4 KiB each: the smallest stack the runtime keeps for a
// goroutine parked in its network poller).
//
// The runtime's own poller keeps the descriptor too (edge-triggered, in its
// own set); a descriptor may sit in several epoll sets, and this one is
// level-triggered and one-shot, so readiness that was there before the
// socket was entered is reported at once and each entry wakes at most once.
type parking struct {
	once sync.Once
	epfd int
	err  error

	mu     sync.Mutex
	parked map[uint32]*idleWait
	next   uint32
}

var idleParking parking

// start opens the epoll set and its goroutine, once per process.
func (p *parking) start() error {
	p.once.Do(func() {
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if p.err != nil {
			return
		}
		p.parked = map[uint32]*idleWait{}
		go p.loop()
	})
	return p.err
}

// enter puts w's socket in the set under a new token and reports whether it
// did. The caller holds w.mu; the wake that may follow at once waits for it.
func (p *parking) enter(w *idleWait) bool {
	if p.start() != nil {
		return false
	}
	p.mu.Lock()
	p.next++
	for p.next == 0 || p.parked[p.next] != nil {
		p.next++
	}
	token := p.next
	p.parked[token] = w
	p.mu.Unlock()
	var err error
	cerr := w.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(token)}
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || err != nil {
		p.mu.Lock()
		delete(p.parked, token)
		p.mu.Unlock()
		return false
	}
	w.token = token
	return true
}

// leave takes w's socket out of the set. The caller holds w.mu. A socket
// already closed has left the set by itself (the kernel drops a closed
// descriptor from every set); Control then fails and nothing else is done,
// so a number reused by a newer socket is never touched.
func (p *parking) leave(w *idleWait) {
	p.mu.Lock()
	delete(p.parked, w.token)
	p.mu.Unlock()
	w.token = 0
	_ = w.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// count is how many sockets are parked now.
func (p *parking) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

func (p *parking) loop() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Not expected for a valid set; parked sockets would never
			// wake, so fail loudly rather than hang members.
			panic("transport: epoll_wait: " + err.Error())
		}
		for _, ev := range events[:n] {
			token := uint32(ev.Fd)
			p.mu.Lock()
			w := p.parked[token]
			p.mu.Unlock()
			if w != nil {
				w.wake(token)
			}
		}
	}
}
