package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"liveroom/config"
	"liveroom/internal/testserver"
)

// churnRoom creates a room, has two members join it, one of them say
// something, and both leave.
func churnRoom(base, id string) error {
	body := fmt.Sprintf(`{"id":%q}`, id)
	resp, err := http.Post(base+"/api/rooms", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create %s: %s", id, resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wsURL := strings.Replace(base, "http", "ws", 1) + "/ws"
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
	}()
	for _, name := range []string{"Ann", "Bob"} {
		c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
		if err != nil {
			return err
		}
		conns = append(conns, c)
		join, _ := json.Marshal(map[string]any{"id": "j", "join": map[string]string{"roomId": id, "name": name}})
		if err := c.Write(ctx, websocket.MessageText, join); err != nil {
			return err
		}
		if err := readUntil(ctx, c, `"joined"`); err != nil {
			return fmt.Errorf("%s joining %s: %w", name, id, err)
		}
	}
	if err := conns[0].Write(ctx, websocket.MessageText, []byte(`{"id":"c","chat":{"text":"hello"}}`)); err != nil {
		return err
	}
	for _, c := range conns {
		if err := readUntil(ctx, c, `"hello"`); err != nil {
			return err
		}
	}
	for _, c := range conns {
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	}
	return nil
}

func readUntil(ctx context.Context, c *websocket.Conn, want string) error {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(want)) {
			return nil
		}
	}
}

func churn(t *testing.T, base, prefix string, rooms int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, rooms)
	sem := make(chan struct{}, 16)
	for i := 0; i < rooms; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := churnRoom(base, fmt.Sprintf("%s-%d", prefix, i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// gauge reads one unlabelled gauge from /metrics.
func gauge(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		var v float64
		if strings.HasPrefix(line, name+" ") {
			_, _ = fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// waitClosed waits until every socket is closed and every room passivated.
func waitClosed(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for gauge(t, base, "liveroom_sockets_open") != 0 || gauge(t, base, "liveroom_rooms_active") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %v sockets and %v rooms after 2 minutes", gauge(t, base, "liveroom_sockets_open"),
				gauge(t, base, "liveroom_rooms_active"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func liveHeap() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Rooms that open and close must give their memory back: after every
// socket is closed and every room passivated, the live heap is back near
// where it started. (Before, each closed room kept its members' sessions,
// outboxes and sockets reachable.)
func TestRoomChurnReturnsMemory(t *testing.T) {
	if os.Getenv("LIVEROOM_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	srv := testserver.Start(t, func(c *config.Config) {
		c.RoomIdleSeconds = 5
		c.ResumeGraceSeconds = 0
		c.RatePerSecond = 1000
		// A long queue, as an operator may set for busy rooms: memory a
		// socket must only take while frames are actually waiting.
		c.SessionQueue = 2048
		// Hundreds of rooms and sockets from this one address.
		c.RoomsPerIPPerMinute, c.RoomsPerIPPerDay, c.MaxSocketsPerIP = 0, 0, 0
	})
	// The first rounds grow what keeps its size once grown (the actor
	// runtime's registry maps, pools), so the baseline is taken after them.
	churn(t, srv.URL, "warm", 200)
	waitClosed(t, srv.URL)
	churn(t, srv.URL, "warm2", 200)
	waitClosed(t, srv.URL)
	before := liveHeap()
	if p := os.Getenv("LIVEROOM_HEAP_PROFILE"); p != "" {
		f, _ := os.Create(p + ".base")
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	const rooms = 400
	churn(t, srv.URL, "churn", rooms)
	waitClosed(t, srv.URL)
	time.Sleep(time.Second) // let stopped actors' last messages drain
	after := liveHeap()
	if p := os.Getenv("LIVEROOM_HEAP_PROFILE"); p != "" {
		f, _ := os.Create(p)
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	grown := int64(after) - int64(before)
	t.Logf("live heap %d KB before, %d KB after %d rooms (%+d bytes per room)", before>>10, after>>10, rooms, grown/rooms)
	// A closed room kept with its members' sockets, outboxes and sessions
	// is tens of KB (a queue of session_queue slots alone is 48 KB); allow
	// 8 KB per room for the actor runtime's process registry, whose many
	// small maps keep growing for a while as new actor ids spread over
	// them (about 3 KB per room here).
	if grown > rooms*8192 {
		t.Errorf("live heap grew by %d KB over %d rooms that all closed (%d bytes per room)", grown>>10, rooms, grown/rooms)
	}
}
