package transport

import (
	"encoding/binary"
	"net"
	"sync"
)

// sharedConn is a member's socket as the WebSocket library sees it, and as
// the connection's writer writes to it. The library reads every frame and
// writes the control frames (pings, pongs, close); the writer writes the
// data frames itself, each batch it takes from the outbox in one system
// call. Through the library, each message cost two of its locks (each a
// select), a copy into its buffer and a system call of its own: about a
// sixth of a chat delivery's server CPU, besides the call per frame when
// several were queued.
type sharedConn struct {
	net.Conn
	// wmu keeps one writer on the socket at a time: a frame, the library's
	// or ours, goes out whole, in one Write.
	wmu sync.Mutex
	// framesOurs is set when the writer writes every data frame (through
	// writeText) and the library only control frames; closeSent is then
	// set once the library has written a close frame: nothing may follow.
	framesOurs bool
	closeSent  bool
	// onClose, when set, runs before the socket closes (see
	// idleWait.socketClosing); the library closes through here.
	onClose func()
	// gate, when set, is what the library reads through (see readGate).
	gate *readGate
}

func (c *sharedConn) Read(p []byte) (int, error) {
	if c.gate != nil {
		return c.gate.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *sharedConn) Close() error {
	if c.onClose != nil {
		c.onClose()
	}
	return c.Conn.Close()
}

// opCloseFinal is the first byte of a close frame (FIN and opcode 8).
const opCloseFinal = 0x88

// Write is the library's. With framesOurs, the library writes only control
// frames, and it flushes each whole from its buffer, which holds the
// largest (127 bytes from a server): every call here is then one whole
// frame, and its first byte tells a close frame. (A data frame longer than
// the buffer comes in two calls, the second starting inside its payload:
// sockets whose library writes data frames are not followed.)
func (c *sharedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.framesOurs {
		if c.closeSent {
			return 0, net.ErrClosed
		}
		if len(p) > 0 && p[0] == opCloseFinal {
			c.closeSent = true
		}
	}
	return c.Conn.Write(p)
}

// writeFramesOurs makes the writer the only one to write data frames (see
// writeText); call it before anything is written after the upgrade.
func (c *sharedConn) writeFramesOurs() {
	c.wmu.Lock()
	c.framesOurs = true
	c.wmu.Unlock()
}

var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// writeText sends frames (the payloads of text messages, in order) to the
// client in one write: each as a single unmasked frame (RFC 6455, 5.2), as
// a server sends them. After a close frame it sends nothing and answers
// net.ErrClosed (as it does unless writeFramesOurs was called). The write has no deadline of its own: the endpoint's write
// watch cuts it off (see writeWatched).
func (c *sharedConn) writeText(frames [][]byte) error {
	bp := frameBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, f := range frames {
		buf = appendTextHeader(buf, len(f))
		buf = append(buf, f...)
	}
	c.wmu.Lock()
	var err error
	if !c.framesOurs || c.closeSent {
		err = net.ErrClosed
	} else {
		_, err = c.Conn.Write(buf)
	}
	c.wmu.Unlock()
	if cap(buf) <= 256<<10 {
		*bp = buf[:0]
		frameBufs.Put(bp)
	}
	return err
}

// appendTextHeader appends the header of a final, unmasked text frame with
// a payload of n bytes.
func appendTextHeader(b []byte, n int) []byte {
	const finText = 0x81
	switch {
	case n < 126:
		return append(b, finText, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, finText, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, finText, 127), uint64(n))
	}
}
