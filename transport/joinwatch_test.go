package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A join still being answered when the timeout passes is given more time;
// once it is answered (and failed), the socket is closed.
func TestJoinTimeoutWaitsForAJoinInFlight(t *testing.T) {
	a := NewAdmission(0, 100*time.Millisecond)
	answered := make(chan func(), 1)
	closed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		watch := a.watchJoin(plainCloser{conn})
		defer watch.stop()
		answered <- watch.asked()
		_, _, _ = conn.Read(context.Background())
		close(closed)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	done := <-answered
	clientErr := make(chan error, 1)
	go func() {
		_, _, err := conn.Read(ctx)
		clientErr <- err
	}()

	// Ten timeouts pass while the join is in flight: the socket stays.
	select {
	case <-closed:
		t.Fatal("the socket was closed while its join was being answered")
	case <-time.After(time.Second):
	}
	done()
	err = <-clientErr
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseJoinTimeout {
		t.Fatalf("after the join was answered: %v, want close %d", err, CloseJoinTimeout)
	}
}
