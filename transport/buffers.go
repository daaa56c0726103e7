package transport

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"syscall"
)

// Per-socket buffers. After the upgrade, coder/websocket reads frames
// through the bufio.Reader of the hijacked HTTP connection and writes them
// through its bufio.Writer, 4 KiB each, for as long as the socket lives.
// Browser frames here are small JSON (chat lines, signalling), so 512
// bytes each way serve most frames in one read or write; a larger frame
// takes another system call (or goes straight to the socket), never a
// larger buffer.
const (
	socketReadBuffer  = 512
	socketWriteBuffer = 512
)

// smallBuffers wraps the response writer of an upgrade so that the hijacked
// connection comes with small buffers.
type smallBuffers struct {
	http.ResponseWriter
	// gate is what the library reads the socket through, once hijacked
	// with small buffers from a plain socket (see readGate).
	gate *readGate
	// sock is what the library writes through (see sharedConn).
	sock *sharedConn
}

// Unwrap lets http.ResponseController find the other interfaces.
func (w *smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes the connection over with small buffers. Bytes the HTTP
// server had already read past the request (a client may send its first
// frame without waiting for the answer) are carried over: they end up in
// the new reader's buffer, where the WebSocket library looks for them.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	w.sock = &sharedConn{Conn: conn}
	n := brw.Reader.Buffered()
	if n > socketReadBuffer {
		// Rare (a client sent a lot before the upgrade was answered):
		// keep the server's buffers.
		brw.Writer.Reset(w.sock)
		return w.sock, brw, nil
	}
	var src io.Reader = conn
	var early []byte
	if n > 0 {
		early, _ = brw.Reader.Peek(n)
		early = bytes.Clone(early)
		src = io.MultiReader(bytes.NewReader(early), conn)
	}
	// The library reads its buffer's bytes first, then the connection it
	// was given: the gate sits there, and follows the early bytes first.
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.gate = &readGate{conn: conn, raw: raw}
			w.gate.follow(early)
			w.sock.gate = w.gate
		}
	}
	br := bufio.NewReaderSize(src, socketReadBuffer)
	if n > 0 {
		// One read from the MultiReader yields exactly the early bytes.
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	return w.sock, bufio.NewReadWriter(br, bufio.NewWriterSize(w.sock, socketWriteBuffer)), nil
}
