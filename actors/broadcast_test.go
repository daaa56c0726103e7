package actors_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/broadcast"
	"liveroom/actors/room"
	"liveroom/media"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

func freeUDP(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	_ = c.Close()
	return port
}

func startBroadcastNode(tb testing.TB, dir string, s broadcast.Settings) *testNode {
	tb.Helper()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	engine, err := media.NewEngine(media.Config{UDPPort: freeUDP(tb)}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	m := metrics.New()
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 5 * time.Second,
		Room: room.Deps{Store: store, Signer: signer, Log: zap.NewNop(), Metrics: m, Settings: room.Settings{
			MaxMembers: 20, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50, IdleTimeout: time.Minute, TokenTTL: time.Hour}},
		Broadcast: &broadcast.Deps{Store: store, Log: zap.NewNop(), Media: engine, Settings: s,
			Viewers: broadcast.NewViewersGauge(m.Registry)},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	n := &testNode{Node: node, store: store}
	tb.Cleanup(func() { n.stop(); engine.Close() })
	return n
}

func bjoin(tb testing.TB, n *testNode, c *client, j *pb.BroadcastJoin) (*pb.BroadcastJoined, *pb.Error) {
	tb.Helper()
	j.BroadcastId = "talk"
	reply, err := n.TellBroadcast(context.Background(), "talk", &pb.BroadcastRequest{Session: c.pid, FrameId: "j",
		Body: &pb.BroadcastRequest_Join{Join: j}})
	if err != nil {
		tb.Fatal(err)
	}
	if reply.Error != nil {
		return nil, reply.Error
	}
	for {
		if f := c.next(); f.GetBroadcastJoined() != nil {
			return f.GetBroadcastJoined(), nil
		}
	}
}

func btell(tb testing.TB, n *testNode, c *client, req *pb.BroadcastRequest) *pb.Error {
	tb.Helper()
	req.Session = c.pid
	reply, err := n.TellBroadcast(context.Background(), "talk", req)
	if err != nil {
		tb.Fatal(err)
	}
	return reply.Error
}

func control(a pb.BroadcastAction) *pb.BroadcastRequest {
	return &pb.BroadcastRequest{Body: &pb.BroadcastRequest_Control{Control: &pb.BroadcastControl{Action: a}}}
}

// waitState reads frames until a broadcast state satisfies ok.
func waitState(tb testing.TB, c *client, what string, ok func(*pb.BroadcastState) bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := c.next().GetBroadcastState(); s != nil && ok(s) {
			return
		}
	}
	tb.Fatalf("no broadcast state with %s", what)
}

func TestBroadcastGrainRolesLimitsChatPhaseAndRestart(t *testing.T) {
	dir := t.TempDir()
	settings := broadcast.Settings{MaxViewers: 2, MaxChatChars: 100, MaxNameChars: 64, IdleTimeout: time.Minute,
		ResumeGrace: 300 * time.Millisecond}
	n := startBroadcastNode(t, dir, settings)
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("letmein"), 4)
	res, err := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: "talk", Title: "Talk", PasswordHash: string(hash)})
	if err != nil || res.Error != nil || res.BroadcasterKey == "" {
		t.Fatalf("create: %v %v", err, res.GetError())
	}
	if again, _ := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: "talk"}); again.GetError().GetCode() != "broadcast_exists" {
		t.Fatalf("second create: %v", again.GetError())
	}

	host := newClient(t, n)
	if _, perr := bjoin(t, n, host, &pb.BroadcastJoin{BroadcasterKey: "nope"}); perr.GetCode() != "wrong_broadcaster_key" {
		t.Fatalf("wrong key: %v", perr)
	}
	hj, perr := bjoin(t, n, host, &pb.BroadcastJoin{BroadcasterKey: res.BroadcasterKey, Name: "Prof"})
	if perr != nil || hj.Role != pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER {
		t.Fatalf("broadcaster join: %v %v", perr, hj)
	}
	v1, v2, v3 := newClient(t, n), newClient(t, n), newClient(t, n)
	if _, perr := bjoin(t, n, v1, &pb.BroadcastJoin{}); perr.GetCode() != "password_required" {
		t.Fatalf("no password: %v", perr)
	}
	if _, perr := bjoin(t, n, v1, &pb.BroadcastJoin{Password: "wrong"}); perr.GetCode() != "wrong_password" {
		t.Fatalf("wrong password: %v", perr)
	}
	for _, v := range []*client{v1, v2} {
		if j, perr := bjoin(t, n, v, &pb.BroadcastJoin{Password: "letmein"}); perr != nil || j.Role != pb.BroadcastRole_BROADCAST_ROLE_VIEWER {
			t.Fatalf("viewer join: %v %v", perr, j)
		}
	}
	if _, perr := bjoin(t, n, v3, &pb.BroadcastJoin{Password: "letmein"}); perr.GetCode() != "broadcast_full" {
		t.Fatalf("third viewer of two: %v", perr)
	}
	waitState(t, host, "2 viewers", func(s *pb.BroadcastState) bool { return s.Viewers == 2 })

	// Viewers neither control the broadcast nor chat while it is off.
	if perr := btell(t, n, v1, control(pb.BroadcastAction_BROADCAST_ACTION_GO_LIVE)); perr.GetCode() != "forbidden" {
		t.Fatalf("viewer going live: %v", perr)
	}
	say := &pb.BroadcastRequest{Body: &pb.BroadcastRequest_Chat{Chat: &pb.SendChat{Text: "hello"}}}
	if perr := btell(t, n, v1, say); perr.GetCode() != "chat_off" {
		t.Fatalf("chat while off: %v", perr)
	}
	if perr := btell(t, n, host, control(pb.BroadcastAction_BROADCAST_ACTION_CHAT_ON)); perr != nil {
		t.Fatal(perr)
	}
	if perr := btell(t, n, v1, say); perr != nil {
		t.Fatalf("chat while on: %v", perr)
	}
	for {
		if m := v2.next().GetChat(); m != nil {
			if m.Text != "hello" {
				t.Fatalf("chat: %v", m)
			}
			break
		}
	}

	// Live while a broadcaster is; a dropped broadcaster stays live through
	// the grace period when it comes back, and ends the broadcast when not.
	if perr := btell(t, n, host, control(pb.BroadcastAction_BROADCAST_ACTION_GO_LIVE)); perr != nil {
		t.Fatal(perr)
	}
	waitState(t, v1, "live", func(s *pb.BroadcastState) bool { return s.Phase == pb.BroadcastPhase_BROADCAST_PHASE_LIVE })
	n.System.Root.Stop(host.pid) // the socket drops
	back := newClient(t, n)
	if _, perr := bjoin(t, n, back, &pb.BroadcastJoin{ResumeToken: hj.ResumeToken}); perr != nil {
		t.Fatalf("resume: %v", perr)
	}
	time.Sleep(2 * settings.ResumeGrace)
	info, _ := n.BroadcastInfo(ctx, "talk")
	if info.GetState().GetPhase() != pb.BroadcastPhase_BROADCAST_PHASE_LIVE {
		t.Fatalf("after a resumed drop: %v", info.GetState())
	}
	n.System.Root.Stop(back.pid)
	waitState(t, v1, "ended", func(s *pb.BroadcastState) bool { return s.Phase == pb.BroadcastPhase_BROADCAST_PHASE_ENDED })

	// The record survives a restart: ended, chat on.
	n.stop()
	n = startBroadcastNode(t, dir, settings)
	info, err = n.BroadcastInfo(ctx, "talk")
	if err != nil || info.Error != nil || info.State.Phase != pb.BroadcastPhase_BROADCAST_PHASE_ENDED ||
		!info.State.ChatEnabled || info.Broadcast.Title != "Talk" || !info.Broadcast.HasPassword {
		t.Fatalf("after restart: %v %v", err, info)
	}
}

func TestBroadcastNodeViewerLimitSpansBroadcasts(t *testing.T) {
	n := startBroadcastNode(t, t.TempDir(), broadcast.Settings{MaxViewers: 10, MaxNodeViewers: 1,
		MaxChatChars: 100, MaxNameChars: 64, IdleTimeout: time.Minute})
	ctx := context.Background()
	join := func(id string, c *client) *pb.Error {
		reply, err := n.TellBroadcast(ctx, id, &pb.BroadcastRequest{Session: c.pid, FrameId: "j",
			Body: &pb.BroadcastRequest_Join{Join: &pb.BroadcastJoin{BroadcastId: id}}})
		if err != nil {
			t.Fatal(err)
		}
		return reply.Error
	}
	for _, id := range []string{"one", "two"} {
		if res, err := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: id}); err != nil || res.Error != nil {
			t.Fatalf("create %s: %v %v", id, err, res.GetError())
		}
	}
	first := newClient(t, n)
	if perr := join("one", first); perr != nil {
		t.Fatalf("first viewer: %v", perr)
	}
	if perr := join("two", newClient(t, n)); perr.GetCode() != "broadcast_full" {
		t.Fatalf("second viewer on the node: %v", perr)
	}
	// The first leaves; the node has room again.
	reply, _ := n.TellBroadcast(ctx, "one", &pb.BroadcastRequest{Session: first.pid,
		Body: &pb.BroadcastRequest_Leave{Leave: &pb.BroadcastLeave{}}})
	if reply.GetError() != nil {
		t.Fatal(reply.Error)
	}
	if perr := join("two", newClient(t, n)); perr != nil {
		t.Fatalf("after the first left: %v", perr)
	}
}

// Broadcast chat is stored with sequence numbers: a late viewer gets the
// newest page, a reconnecting one what it missed, and both survive a restart
// on the same Pebble store.
func TestBroadcastChatHistoryAndRestart(t *testing.T) {
	dir := t.TempDir()
	settings := broadcast.Settings{MaxViewers: 10, MaxChatChars: 100, MaxNameChars: 64, HistoryPage: 5,
		IdleTimeout: time.Minute}
	n := startBroadcastNode(t, dir, settings)
	ctx := context.Background()
	res, err := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: "talk", ChatEnabled: true})
	if err != nil || res.Error != nil {
		t.Fatalf("create: %v %v", err, res.GetError())
	}
	host := newClient(t, n)
	if _, perr := bjoin(t, n, host, &pb.BroadcastJoin{BroadcasterKey: res.BroadcasterKey}); perr != nil {
		t.Fatal(perr)
	}
	say := func(c *client, text string) {
		t.Helper()
		if perr := btell(t, n, c, &pb.BroadcastRequest{Body: &pb.BroadcastRequest_Chat{Chat: &pb.SendChat{Text: text}}}); perr != nil {
			t.Fatalf("chat %q: %v", text, perr)
		}
	}
	for i := 1; i <= 8; i++ {
		say(host, fmt.Sprintf("m%d", i))
	}
	seqs := func(h []*pb.ChatMessage) string {
		var b strings.Builder
		for _, m := range h {
			fmt.Fprintf(&b, "%d:%s ", m.Seq, m.Text)
		}
		return b.String()
	}
	late := newClient(t, n)
	j, perr := bjoin(t, n, late, &pb.BroadcastJoin{})
	if perr != nil {
		t.Fatal(perr)
	}
	if got := seqs(j.History); got != "4:m4 5:m5 6:m6 7:m7 8:m8 " || !j.MoreHistory {
		t.Fatalf("late viewer's history: %s more=%v", got, j.MoreHistory)
	}

	// The viewer's socket drops after m8; two more are said; it comes back
	// with a new session and its last seq and gets just those.
	n.System.Root.Stop(late.pid)
	say(host, "m9")
	say(host, "m10")
	again := newClient(t, n)
	j, perr = bjoin(t, n, again, &pb.BroadcastJoin{LastSeq: 8})
	if perr != nil {
		t.Fatal(perr)
	}
	if got := seqs(j.History); got != "9:m9 10:m10 " {
		t.Fatalf("reconnecting viewer's history: %s", got)
	}

	// A restart keeps the messages and the numbering.
	n.stop()
	n = startBroadcastNode(t, dir, settings)
	host = newClient(t, n)
	if _, perr := bjoin(t, n, host, &pb.BroadcastJoin{BroadcasterKey: res.BroadcasterKey}); perr != nil {
		t.Fatal(perr)
	}
	say(host, "m11")
	j, perr = bjoin(t, n, newClient(t, n), &pb.BroadcastJoin{})
	if perr != nil {
		t.Fatal(perr)
	}
	if got := seqs(j.History); got != "7:m7 8:m8 9:m9 10:m10 11:m11 " {
		t.Fatalf("history after restart: %s", got)
	}
}

// Deleting a broadcast ends it for the people in it and removes its record,
// its chat and its place in the owner's list from the store; only the owner
// may, and someone else's broadcast looks like none.
func TestBroadcastDeleteRemovesStoredState(t *testing.T) {
	dir := t.TempDir()
	n := startBroadcastNode(t, dir, broadcast.Settings{MaxViewers: 10, MaxChatChars: 100, MaxNameChars: 64, IdleTimeout: time.Minute})
	ctx := context.Background()
	res, err := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: "talk", ChatEnabled: true, OwnerAgentId: "ann"})
	if err != nil || res.Error != nil {
		t.Fatalf("create: %v %v", err, res.GetError())
	}
	if _, err := n.store.Get(persistence.AgentBroadcastKey("ann", "talk")); err != nil {
		t.Fatalf("not in the owner's list: %v", err)
	}
	viewer := newClient(t, n)
	if _, perr := bjoin(t, n, viewer, &pb.BroadcastJoin{}); perr != nil {
		t.Fatal(perr)
	}
	for i := range 3 {
		if perr := btell(t, n, viewer, &pb.BroadcastRequest{Body: &pb.BroadcastRequest_Chat{Chat: &pb.SendChat{Text: fmt.Sprint("m", i)}}}); perr != nil {
			t.Fatal(perr)
		}
	}
	count := func(prefix []byte) int {
		c := 0
		if err := n.store.Scan(prefix, persistence.PrefixEnd(prefix), false, 0, func(_, _ []byte) bool { c++; return true }); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := count(persistence.BroadcastChatPrefix("talk")); c != 3 {
		t.Fatalf("%d chat messages stored, want 3", c)
	}

	if d, err := n.DeleteBroadcast(ctx, "talk", "bob"); err != nil || d.GetError().GetCode() != "broadcast_not_found" {
		t.Fatalf("delete by another agent: %v %v", err, d.GetError())
	}
	if d, err := n.DeleteBroadcast(ctx, "talk", "ann"); err != nil || d.Error != nil {
		t.Fatalf("delete by its owner: %v %v", err, d.GetError())
	}
	for {
		if e := viewer.next().GetError(); e != nil {
			if e.Code != "broadcast_deleted" {
				t.Fatalf("the viewer heard %v", e)
			}
			break
		}
	}
	for _, p := range [][]byte{persistence.BroadcastChatPrefix("talk"), persistence.BroadcastKey("talk"),
		persistence.AgentBroadcastPrefix("ann")} {
		if c := count(p); c != 0 {
			t.Errorf("%d keys left under %q", c, p)
		}
	}
	// Gone for good, across a restart too; the id can be used again, with
	// none of the old chat.
	n.stop()
	n = startBroadcastNode(t, dir, broadcast.Settings{MaxViewers: 10, MaxChatChars: 100, MaxNameChars: 64, IdleTimeout: time.Minute})
	if info, err := n.BroadcastInfo(ctx, "talk"); err != nil || info.GetError().GetCode() != "broadcast_not_found" {
		t.Fatalf("after delete and restart: %v %v", err, info)
	}
	if res, err := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: "talk", ChatEnabled: true, OwnerAgentId: "ann"}); err != nil || res.Error != nil {
		t.Fatalf("create again: %v %v", err, res.GetError())
	}
	j, perr := bjoin(t, n, newClient(t, n), &pb.BroadcastJoin{})
	if perr != nil || len(j.History) != 0 {
		t.Fatalf("rejoin: %v, history %v", perr, j.GetHistory())
	}
}
