package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The frames the writer builds itself are read by the WebSocket library
// as the messages they carry, at every length form, several to a write,
// with the library's own control frames between them; after the library's
// close frame nothing more goes out.
func TestWriteTextFramesReachALibraryClient(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 200000}
	payload := func(n int) []byte { return bytes.Repeat([]byte{'a' + byte(n%26)}, n) }
	afterClose := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb := &smallBuffers{ResponseWriter: w}
		conn, err := websocket.Accept(sb, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		sb.sock.writeFramesOurs()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The client's reader answers the ping only once it reads on.
		go func() { _ = conn.Ping(ctx) }()
		var batch [][]byte
		for _, n := range sizes {
			batch = append(batch, payload(n))
		}
		if err := sb.sock.writeText(batch[:3]); err != nil {
			t.Error(err)
		}
		for _, f := range batch[3:] {
			if err := sb.sock.writeText([][]byte{f}); err != nil {
				t.Error(err)
			}
		}
		_ = conn.Close(websocket.StatusNormalClosure, "done")
		afterClose <- sb.sock.writeText([][]byte{[]byte("too late")})
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	client.SetReadLimit(1 << 20)
	for _, n := range sizes {
		typ, got, err := client.Read(ctx)
		if err != nil {
			t.Fatalf("reading the %d-byte message: %v", n, err)
		}
		if typ != websocket.MessageText || !bytes.Equal(got, payload(n)) {
			t.Fatalf("the %d-byte message came as %v of %d bytes", n, typ, len(got))
		}
	}
	_, _, err = client.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the messages: %v, want the server's close", err)
	}
	if err := <-afterClose; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a write after the close frame: %v, want net.ErrClosed", err)
	}
}

// A socket whose library writes the data frames (the contact button's) is
// not followed: a payload byte that looks like a close frame's first byte,
// at the start of a write, stops nothing.
func TestSharedConnPassesLibraryDataThrough(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := &sharedConn{Conn: a}
	for _, p := range [][]byte{{0x81, 0x7e, 0x02, 0x00}, {opCloseFinal, 'x'}, {'y'}} {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.writeText([][]byte{[]byte("x")}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("writeText on a socket the library writes data to: %v, want refused", err)
	}
}
