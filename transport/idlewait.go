package transport

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// idleWait lets a socket's reader wait for the client's next bytes near the
// top of its goroutine, rather than deep inside the WebSocket library's
// frame reader. The runtime shrinks a parked goroutine's stack only while
// it uses under a quarter of it; waiting this shallow, an idle member's
// reader keeps a 4 KiB stack instead of 8 KiB. Only for plain TCP sockets
// (the kernel is asked, without taking anything, whether bytes are there);
// behind TLS the reader waits in the library as before.
//
// While the reader waits here it is not in the library, so a close from
// another goroutine (whose close handshake reads the socket) would race
// with the reader looking at the buffer: closes are handed to the reader
// instead, which wakes (a read deadline in the past) and closes itself.
type idleWait struct {
	raw     syscall.RawConn
	netConn net.Conn
	br      *bufio.Reader

	mu      sync.Mutex
	waiting bool
	// closing is set once the socket is being closed: no more waits here.
	closing bool
	// code and reason are a close handed over while waiting.
	code   websocket.StatusCode
	reason string
	// echoed is set when the handed-over close was answered with its code.
	echoed bool
}

// aLongTimeAgo is a read deadline that wakes a waiting read at once.
var aLongTimeAgo = time.Unix(1, 0)

// interrupt hands a close to the reader if it is waiting here, and reports
// whether it did; otherwise the caller closes the socket itself (the reader
// is in the library, which copes with that) and the reader waits here no
// more.
func (w *idleWait) interrupt(code websocket.StatusCode, reason string) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.waiting {
		w.closing = true
		return false
	}
	if w.code == 0 {
		w.code, w.reason = code, reason
		_ = w.netConn.SetReadDeadline(aLongTimeAgo)
	}
	return true
}

// closingNow is called by the reader before it closes the socket itself.
func (w *idleWait) closingNow() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
}

// echoedGoodbye reports whether the reader closed the socket with "normal"
// or "going away" on another goroutine's behalf and the client answered
// with the same code.
func (w *idleWait) echoedGoodbye() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.echoed && (w.code == websocket.StatusNormalClosure || w.code == websocket.StatusGoingAway)
}

// idleUntilData returns once the client has sent something (or the socket
// failed, or a close was handed over, which it then carries out).
func (c *connection) idleUntilData() {
	w := c.idle
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return
	}
	w.waiting = true
	w.mu.Unlock()
	// Bytes the library has buffered already are a frame to read now. No
	// other goroutine reads the buffer while waiting is set.
	if w.br.Buffered() == 0 {
		w.waitReadable()
	}
	w.mu.Lock()
	w.waiting = false
	code, reason := w.code, w.reason
	if code != 0 {
		w.closing = true
	}
	w.mu.Unlock()
	if code == 0 {
		return
	}
	_ = w.netConn.SetReadDeadline(time.Time{})
	err := c.conn.Close(code, reason)
	if err == nil {
		w.mu.Lock()
		w.echoed = true
		w.mu.Unlock()
	}
}

// waitReadable parks until the socket has bytes, an end or an error, or
// until the read deadline passes.
func (w *idleWait) waitReadable() {
	var b [1]byte
	_ = w.raw.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Bytes (or the end, or an error) are the reader's to see;
			// only "nothing yet" waits.
			return !errors.Is(err, syscall.EAGAIN)
		}
	})
}
