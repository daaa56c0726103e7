package transport

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"liveroom/internal/gopool"
)

// idleWait lets a socket's reader stop between messages without keeping
// its goroutine: when the client has sent nothing more, the WebSocket
// library's read returns errIdle (see readGate), the socket is parked (see
// parking) and the goroutine ends; bytes arriving start a new one. Where
// parking is not available the reader waits near the top of its goroutine,
// rather than deep inside the library's frame reader, so the runtime can
// shrink its stack to 4 KiB. Only for plain TCP sockets; behind TLS the
// reader waits in the library.
//
// The library itself reads every frame, control frames included: the pong
// that answers a ping is read when it wakes the socket, and the read
// returns errIdle again behind it.
//
// While the reader waits here it is not in the library, so a close from
// another goroutine (whose close handshake reads the socket) would race
// with the reader: closes are handed to the reader instead, which wakes (a
// parked socket is taken out and a reader started; a waiting one gets a
// read deadline in the past) and closes itself.
type idleWait struct {
	conn    *connection
	raw     syscall.RawConn
	netConn net.Conn

	mu      sync.Mutex
	waiting bool
	// token is the socket's entry in the parking while it is parked.
	token uint32
	// closing is set once the socket is being closed: no more waits here,
	// and reads block again (a close handshake reads through the library).
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
		if !w.unpark() {
			_ = w.netConn.SetReadDeadline(aLongTimeAgo)
		}
	}
	return true
}

// unpark takes a parked socket out of the parking and starts its reader,
// and reports whether the socket was parked. The caller holds w.mu.
func (w *idleWait) unpark() bool {
	if w.token == 0 {
		return false
	}
	idleParking.leave(w)
	gopool.Go(func() { w.conn.run(true) })
	return true
}

// wake is the parking's call when the socket's entry token reported input.
func (w *idleWait) wake(token uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.token == token {
		w.unpark()
	}
}

// socketClosing is called when the library closes the socket (a write that
// timed out, a close handshake): a closed descriptor leaves the parking
// without a wake, so a parked reader is started here to see the end.
func (w *idleWait) socketClosing() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing = true
	w.unpark()
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

func (w *idleWait) isClosing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closing
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

// park is called by the reader when the client has sent nothing more. It
// returns true when the socket was parked: the goroutine must end, and the
// parking starts c.run(true) when bytes arrive. Otherwise it returns once
// there is something to read (or a close handed over was carried out).
func (c *connection) park() (parked bool) {
	w := c.idle
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return false
	}
	w.waiting = true
	if idleParking.enter(w) {
		w.mu.Unlock()
		return true
	}
	w.mu.Unlock()
	w.waitReadable()
	c.stopWaiting()
	return false
}

// stopWaiting ends a wait and carries out a close handed over meanwhile.
func (c *connection) stopWaiting() {
	w := c.idle
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

// waitReadable parks the goroutine until the socket has bytes, an end or an
// error, or until the read deadline passes.
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

// errIdle is what the library's read returns when the client has sent no
// further message; the reader then parks the socket.
var errIdle = errors.New("no message waiting")

// readGate is what the library reads the socket through (under its
// buffer). Between messages, when nothing has arrived, it answers errIdle
// instead of waiting: the library's read then returns with nothing taken
// (it fails while reading the first byte of a frame header, which leaves it
// as it was), and the reader can let go of its goroutine. Anywhere else
// (inside a frame, between the fragments of a message, or while the socket
// closes) it waits as a socket read does. It follows the client's frames
// as their bytes pass to know where messages end.
type readGate struct {
	conn net.Conn
	raw  syscall.RawConn
	// idle is set once the connection runs; until then reads just wait.
	idle *idleWait
	frames
}

func (g *readGate) Read(p []byte) (int, error) {
	if g.idle != nil && g.betweenMessages() && !g.idle.isClosing() {
		n, err, waiting := g.readNow(p)
		if waiting {
			return 0, errIdle
		}
		if n > 0 {
			g.follow(p[:n])
		}
		return n, err
	}
	n, err := g.conn.Read(p)
	g.follow(p[:n])
	return n, err
}

// readNow reads what the socket has without waiting; waiting reports that
// it had nothing.
func (g *readGate) readNow(p []byte) (n int, err error, waiting bool) {
	cerr := g.raw.Read(func(fd uintptr) bool {
		for {
			n, err = syscall.Read(int(fd), p)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			waiting = errors.Is(err, syscall.EAGAIN)
			return true
		}
	})
	switch {
	case cerr != nil:
		return 0, cerr, false
	case waiting:
		return 0, nil, true
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: err}, false
	case n == 0 && len(p) > 0:
		return 0, io.EOF, false
	}
	return n, nil, false
}

// frames follows the frame structure of a client's byte stream (RFC 6455,
// section 5.2): where each frame's header and payload end, and whether a
// fragmented message is open.
type frames struct {
	header [14]byte
	have   int    // header bytes seen of the frame being read
	left   uint64 // payload bytes still to come of that frame
	// fragmented is set between a data frame without FIN and the
	// continuation frame with it.
	fragmented bool
}

// betweenMessages reports whether the bytes so far end with a whole
// message (control frames count: they cannot split one).
func (f *frames) betweenMessages() bool {
	return f.have == 0 && f.left == 0 && !f.fragmented
}

func (f *frames) follow(b []byte) {
	for len(b) > 0 {
		if f.have == 0 && f.left > 0 {
			n := min(uint64(len(b)), f.left)
			f.left -= n
			b = b[n:]
			continue
		}
		f.header[f.have] = b[0]
		f.have++
		b = b[1:]
		if size := headerSize(f.header[:f.have]); size == f.have {
			f.endHeader()
		}
	}
}

// headerSize is the size of the header that starts with h, or 0 while h is
// too short to tell.
func headerSize(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	size := 2
	switch h[1] & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h[1]&0x80 != 0 {
		size += 4
	}
	return size
}

// endHeader takes in a complete header.
func (f *frames) endHeader() {
	h := f.header[:f.have]
	f.have = 0
	switch n := h[1] & 0x7f; n {
	case 126:
		f.left = uint64(h[2])<<8 | uint64(h[3])
	case 127:
		f.left = 0
		for _, v := range h[2:10] {
			f.left = f.left<<8 | uint64(v)
		}
	default:
		f.left = uint64(n)
	}
	fin, opcode := h[0]&0x80 != 0, h[0]&0x0f
	if opcode < 0x8 {
		// A data frame (or a continuation): a message ends with FIN.
		f.fragmented = !fin
	}
}
