package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/transport"
	"liveroom/web"
)

// stack is a whole node in this process (actors, Pebble, WebSocket, HTTP
// handlers) with the node at hand, so tests can also talk to grains.
type stack struct {
	node *actors.Node
	url  string
}

func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	m := metrics.New()
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 30 * time.Second,
		Room: room.Deps{Store: store, Signer: signer, Log: zap.NewNop(), Metrics: m, Settings: room.Settings{
			MaxMembers: 10, MaxChatChars: 1000, MaxNameChars: 64, HistoryPage: 50, IdleTimeout: time.Minute,
			TokenTTL: 12 * time.Hour, PasswordCost: 4}},
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ws := transport.NewServer(node, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 256, RatePerSecond: 100,
		RateBurst: 100, PingInterval: time.Hour}, zap.NewNop(), m)
	h := web.New(web.Deps{Node: node, Store: store, Signer: signer, Metrics: m, Log: zap.NewNop(), WebSocket: ws,
		FilesDir: filepath.Join(dir, "files"), MaxUploadBytes: 1 << 20})
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws.Shutdown(ctx)
		cancel()
		hs.Close()
		node.Stop()
		_ = store.Close()
	})
	return &stack{node: node, url: hs.URL}
}

func (s *stack) createRoom(t *testing.T, id string) {
	t.Helper()
	res, err := s.node.CreateRoom(context.Background(), id, "", "", "")
	if err != nil || res.Error != nil {
		t.Fatalf("create %s: %v %v", id, err, res.GetError())
	}
}

func (s *stack) deleteRoom(t *testing.T, id string) {
	t.Helper()
	res, err := s.node.Cluster.Request(id, room.Kind, &pb.DeleteRoom{})
	if r, _ := res.(*pb.DeleteRoomResult); err != nil || r == nil || r.Error != nil {
		t.Fatalf("delete %s: %v %v", id, err, res)
	}
}

// member joins room over a WebSocket and returns its socket and access token.
func (s *stack) member(t *testing.T, roomID, name string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(s.url, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {s.url}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	join, _ := json.Marshal(map[string]any{"id": "j", "join": map[string]string{"roomId": roomID, "name": name}})
	if err := c.Write(ctx, websocket.MessageText, join); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Joined *struct {
				AccessToken string `json:"accessToken"`
			} `json:"joined"`
			Error *pb.Error `json:"error"`
		}
		_ = json.Unmarshal(b, &f)
		if f.Error != nil {
			t.Fatalf("join %s: %v", roomID, f.Error)
		}
		if f.Joined != nil {
			return c, f.Joined.AccessToken
		}
	}
}

// upload posts a small file with token and returns the status and, on
// success, the new file's id.
func (s *stack) upload(t *testing.T, roomID, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.url+"/api/rooms/"+roomID+"/files?name=a.txt", bytes.NewReader([]byte("hello")))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg struct {
		File struct {
			ID string `json:"id"`
		} `json:"file"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&msg)
	return resp.StatusCode, msg.File.ID
}

func (s *stack) download(t *testing.T, roomID, fileID, token string) int {
	t.Helper()
	resp, err := http.Get(s.url + "/files/" + roomID + "/" + fileID + "?t=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// leave closes a member's socket the way a page does when it leaves.
func leave(t *testing.T, c *websocket.Conn) {
	t.Helper()
	_ = c.Close(websocket.StatusNormalClosure, "bye")
}

// An access token works while its holder is a member, and not after: not
// once the member left, and not in a room deleted and made again under
// the same id.
func TestAccessTokensEndWithMembershipAndRoom(t *testing.T) {
	s := startStack(t)
	s.createRoom(t, "roomA")
	stayer, stayToken := s.member(t, "roomA", "Stay")
	leaver, leaveToken := s.member(t, "roomA", "Leave")
	_ = stayer

	status, fileID := s.upload(t, "roomA", leaveToken)
	if status != http.StatusCreated {
		t.Fatalf("member upload: %d", status)
	}
	if got := s.download(t, "roomA", fileID, leaveToken); got != http.StatusOK {
		t.Fatalf("member download: %d", got)
	}

	leave(t, leaver)
	deadline := time.Now().Add(time.Minute)
	for {
		status, _ = s.upload(t, "roomA", leaveToken)
		if status == http.StatusUnauthorized || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the leave reaches the room after the socket closed
	}
	if status != http.StatusUnauthorized {
		t.Errorf("upload after leaving: %d, want 401", status)
	}
	if got := s.download(t, "roomA", fileID, leaveToken); got != http.StatusUnauthorized {
		t.Errorf("download after leaving: %d, want 401", got)
	}
	if got := s.download(t, "roomA", fileID, stayToken); got != http.StatusOK {
		t.Errorf("download by a member still there: %d, want 200", got)
	}

	// Delete the room and make it again under the same id: the old
	// member's token is worth nothing in the new room.
	s.deleteRoom(t, "roomA")
	s.createRoom(t, "roomA")
	_, _ = s.member(t, "roomA", "Newcomer")
	if got, _ := s.upload(t, "roomA", stayToken); got != http.StatusUnauthorized {
		t.Errorf("upload into the re-created room with an old token: %d, want 401", got)
	}
	if got := s.download(t, "roomA", fileID, stayToken); got != http.StatusUnauthorized {
		t.Errorf("download from the re-created room with an old token: %d, want 401", got)
	}
}
