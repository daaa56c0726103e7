package transport

import (
	"net"
	"sync"
)

// corkConn lets a connection's writer send the frames it took from the
// outbox together: the WebSocket library flushes every message to the
// socket on its own, one system call (and, on loopback, one trip through
// the receiving side's network stack) per frame, which is most of what a
// chat delivery costs the server. While corked, whatever the library writes
// is kept; flush sends it in one write. A batch of chat messages (a room's
// group commit, or frames that queued while the writer was busy) then
// costs one write instead of one per frame.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    *[]byte
	// onClose, when set, runs before the socket closes (see
	// idleWait.socketClosing); the library closes through here.
	onClose func()
	// gate, when set, is what the library reads through (see readGate).
	gate *readGate
}

func (c *corkConn) Read(p []byte) (int, error) {
	if c.gate != nil {
		return c.gate.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *corkConn) Close() error {
	if c.onClose != nil {
		c.onClose()
	}
	return c.Conn.Close()
}

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.corked {
		*c.buf = append(*c.buf, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// cork keeps writes until flush; on nil it does nothing.
func (c *corkConn) cork() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.corked = true
	if c.buf == nil {
		c.buf = corkBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// flush writes what was kept since cork and stops keeping; with send false
// it drops it instead (the connection is being given up). The write has no
// deadline of its own: the endpoint's write watch cuts it off.
func (c *corkConn) flush(send bool) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.corked = false
	buf := c.buf
	c.buf = nil
	c.mu.Unlock()
	if buf == nil {
		return nil
	}
	defer func() {
		if cap(*buf) <= 256<<10 {
			*buf = (*buf)[:0]
			corkBufs.Put(buf)
		}
	}()
	if len(*buf) == 0 || !send {
		return nil
	}
	_, err := c.Conn.Write(*buf)
	return err
}
