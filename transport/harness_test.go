package transport_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/transport"
)

// endpoint is a real node (actors, Pebble) behind the WebSocket endpoint on
// a loopback HTTP server, with the limits and the store wrapper a test picks.
type endpoint struct {
	node    *actors.Node
	metrics *metrics.Metrics
	url     string
}

func startEndpoint(tb testing.TB, limits transport.Limits, settings room.Settings, wrap func(persistence.Store) persistence.Store) *endpoint {
	tb.Helper()
	store, err := persistence.OpenPebble(filepath.Join(tb.TempDir(), "store"), zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	var s persistence.Store = store
	if wrap != nil {
		s = wrap(store)
	}
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	if settings.MaxMembers == 0 {
		settings = room.Settings{MaxMembers: 50, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
			IdleTimeout: time.Minute, TokenTTL: time.Hour}
	}
	m := metrics.New()
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 30 * time.Second,
		Room:           room.Deps{Store: s, Signer: signer, Log: zap.NewNop(), Metrics: m, Settings: settings},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	ws := transport.NewServer(node, limits, zap.NewNop(), m)
	hs := httptest.NewServer(ws)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws.Shutdown(ctx)
		cancel()
		hs.Close()
		node.Stop()
		_ = store.Close()
	})
	return &endpoint{node: node, metrics: m, url: strings.Replace(hs.URL, "http", "ws", 1)}
}

// counter returns the value of the counter name (summed over its labels).
func (e *endpoint) counter(name string) float64 {
	families, _ := e.metrics.Registry.Gather()
	total := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// gauge returns the value of the gauge name.
func (e *endpoint) gauge(name string) float64 {
	families, _ := e.metrics.Registry.Gather()
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func (e *endpoint) createRoom(tb testing.TB, id string) {
	tb.Helper()
	res, err := e.node.CreateRoom(context.Background(), id, "", "", "")
	if err != nil || res.Error != nil {
		tb.Fatalf("create room: %v %v", err, res.GetError())
	}
}

// wsFrame is the part of a server frame the tests look at.
type wsFrame struct {
	ReplyTo string `json:"replyTo"`
	Joined  *struct {
		MemberID string `json:"memberId"`
	} `json:"joined"`
	Chat *struct {
		Text string `json:"text"`
	} `json:"chat"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

type wsClient struct {
	tb   testing.TB
	conn *websocket.Conn
}

// dial opens a socket; a positive rcvbuf shrinks the client's receive buffer
// so that a client which stops reading makes the server's writes block soon.
func (e *endpoint) dial(tb testing.TB, rcvbuf int) *wsClient {
	tb.Helper()
	opts := &websocket.DialOptions{}
	if rcvbuf > 0 {
		d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf) })
			if err != nil {
				return err
			}
			return serr
		}}
		opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, e.url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	conn.SetReadLimit(1 << 24)
	tb.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{tb: tb, conn: conn}
}

func (c *wsClient) send(frame string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, []byte(frame))
}

func (c *wsClient) read(timeout time.Duration) (wsFrame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var f wsFrame
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(b, &f)
}

// join joins room as name and waits for the joined frame.
func (c *wsClient) join(room, name string) {
	c.tb.Helper()
	b, _ := json.Marshal(map[string]any{"id": "join", "join": map[string]string{"roomId": room, "name": name}})
	if err := c.send(string(b)); err != nil {
		c.tb.Fatal(err)
	}
	for {
		f, err := c.read(60 * time.Second)
		if err != nil {
			c.tb.Fatalf("waiting for joined: %v", err)
		}
		if f.Error != nil && f.ReplyTo == "join" {
			c.tb.Fatalf("join refused: %s", f.Error.Code)
		}
		if f.Joined != nil {
			return
		}
	}
}

func chatFrame(id, text string) string {
	b, _ := json.Marshal(map[string]any{"id": id, "chat": map[string]string{"text": text}})
	return string(b)
}

func isClose(err error, code websocket.StatusCode) bool {
	return websocket.CloseStatus(err) == code
}
