package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/loadgen/mediapeer"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// callMember is a WebSocket member of a room with a synthetic media peer.
type callMember struct {
	conn   *websocket.Conn
	peer   *mediapeer.Peer
	mu     sync.Mutex
	n      int
	frames chan map[string]json.RawMessage
	// closing is set when the test is over: frames still arriving then
	// meet a closed peer, which is no failure.
	closing atomic.Bool
}

func (m *callMember) send(body map[string]any) error {
	m.mu.Lock()
	m.n++
	body["id"] = fmt.Sprint("f", m.n)
	m.mu.Unlock()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.conn.Write(ctx, websocket.MessageText, b)
}

// joinCall joins room over the real socket and enters the call with action
// (ring or accept), publishing audio and video.
func joinCall(t *testing.T, base, room, action string) *callMember {
	t.Helper()
	conn, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	m := &callMember{conn: conn, frames: make(chan map[string]json.RawMessage, 256)}
	api, err := mediapeer.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	m.peer = mediapeer.New(api, mediapeer.Options{Video: true, VideoBitrate: 300_000, FPS: 15}, m.send)
	t.Cleanup(func() {
		m.closing.Store(true)
		m.peer.Close()
		_ = conn.CloseNow()
	})
	go func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				close(m.frames)
				return
			}
			var f mediapeer.Frame
			if json.Unmarshal(b, &f) == nil && (f.PublishAnswer != nil || f.SubscribeOffer != nil) {
				if err := m.peer.OnFrame(f); err != nil && !m.closing.Load() {
					t.Errorf("media: %v", err)
				}
				continue
			}
			var raw map[string]json.RawMessage
			if json.Unmarshal(b, &raw) == nil {
				select {
				case m.frames <- raw:
				default: // a slow test reader drops frames it does not wait for
				}
			}
		}
	}()
	if err := m.send(map[string]any{"join": map[string]any{"roomId": room, "name": action}}); err != nil {
		t.Fatal(err)
	}
	m.await(t, "joined", func(json.RawMessage) bool { return true })
	if err := m.send(map[string]any{"call": map[string]any{"action": action, "video": true}}); err != nil {
		t.Fatal(err)
	}
	if err := m.peer.Publish(); err != nil {
		t.Fatal(err)
	}
	return m
}

// await reads frames until one has key and ok accepts its value; an error
// frame fails the test.
func (m *callMember) await(t *testing.T, key string, ok func(json.RawMessage) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case f, open := <-m.frames:
			if !open {
				t.Fatalf("socket closed waiting for %s", key)
			}
			if e, bad := f["error"]; bad && key != "error" {
				t.Fatalf("waiting for %s: error %s", key, e)
			}
			if v, has := f[key]; has && ok(v) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s frame within 60s", key)
		}
	}
}

// TestRecordingReadyReachesAWebhook: a call recorded on a running server
// (two Pion peers through the SFU, the media actor's recorder) ends in a
// signed recording.ready delivery naming the zip, and the zip is there.
func TestRecordingReadyReachesAWebhook(t *testing.T) {
	got := make(chan webhook.Body, 32)
	const secret = "whsec_test"
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature),
			body, time.Now(), time.Minute) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		_ = json.Unmarshal(body, &b)
		got <- b
	}))
	defer recv.Close()

	// The receiver is in the store before the node starts, as one added
	// through the admin panel earlier would be.
	dir := t.TempDir()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = webhook.SaveHook(store, &pb.WebhookRecord{Id: "rechook", Url: recv.URL, Secret: secret,
		Events: []string{webhook.RecordingReady}, CreatedAtMs: time.Now().UnixMilli()})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	srv := testserver.Start(t, func(c *config.Config) {
		c.DataDir = dir
		c.Recording, c.RecordingVisitors, c.RecordingSaveServer = true, true, true
		c.RecordingFFmpeg = "" // one file per track: no mixing to wait for
	})
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"taped"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %s", resp.Status)
	}
	a := joinCall(t, srv.URL, "taped", "ACTION_RING")
	joinCall(t, srv.URL, "taped", "ACTION_ACCEPT")

	if err := a.send(map[string]any{"recording": map[string]any{"start": true}}); err != nil {
		t.Fatal(err)
	}
	var recID string
	a.await(t, "recording", func(v json.RawMessage) bool {
		var s struct{ State, RecordingID string }
		_ = json.Unmarshal(v, &s)
		recID = s.RecordingID
		return s.State == "STATE_RECORDING"
	})
	// Some media into the files before stopping.
	time.Sleep(2 * time.Second)
	if err := a.send(map[string]any{"recording": map[string]any{"start": false}}); err != nil {
		t.Fatal(err)
	}
	var done struct {
		RecordingID string
		Size        string
		URL         string
	}
	a.await(t, "recordingDone", func(v json.RawMessage) bool {
		_ = json.Unmarshal(v, &done)
		return true
	})

	select {
	case b := <-got:
		if b.Type != webhook.RecordingReady || b.RoomID != "taped" {
			t.Fatalf("received %+v", b)
		}
		d := b.Data
		if d["recordingId"] != recID || d["downloadPath"] != "/recordings/taped/"+recID ||
			d["adminPath"] != "/api/admin/recordings/taped/"+recID || d["durationMs"] == "" || d["durationMs"] == "0" {
			t.Fatalf("event data %v (recording %s)", d, recID)
		}
		if d["size"] != done.Size || d["size"] == "0" || d["size"] == "" {
			t.Fatalf("event size %q, the recorder was told %q", d["size"], done.Size)
		}
		info, err := recordingZipSize(dir, "taped", recID)
		if err != nil || fmt.Sprint(info) != d["size"] {
			t.Fatalf("zip on disk: %d bytes (%v), event says %s", info, err, d["size"])
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no recording.ready delivery within 60s of the recording finishing")
	}
}

func recordingZipSize(dataDir, room, id string) (int64, error) {
	info, err := os.Stat(filepath.Join(dataDir, "recordings", room, id, "recording.zip"))
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}
