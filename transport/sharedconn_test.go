package transport

import (
	"net"
	"testing"
)

func TestCorkGathersWritesIntoOne(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &corkConn{Conn: a}
	reads := make(chan string, 10)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				close(reads)
				return
			}
			reads <- string(buf[:n])
		}
	}()
	// Not corked: each write goes through as it is.
	if _, err := c.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if got := <-reads; got != "one" {
		t.Fatalf("read %q", got)
	}
	c.cork()
	for _, s := range []string{"two", "three"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-reads:
		t.Fatalf("%q went out while corked", got)
	default:
	}
	if err := c.flush(true); err != nil {
		t.Fatal(err)
	}
	if got := <-reads; got != "twothree" {
		t.Fatalf("the corked writes came as %q, want one write", got)
	}
	// Dropping (the connection is given up) writes nothing.
	c.cork()
	_, _ = c.Write([]byte("dropped"))
	if err := c.flush(false); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if got, ok := <-reads; ok {
		t.Fatalf("read %q after a dropped batch", got)
	}
	var nilConn *corkConn
	nilConn.cork()
	if err := nilConn.flush(true); err != nil {
		t.Fatal(err)
	}
}
