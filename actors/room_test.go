package actors_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/internal/remotewait"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

type testNode struct {
	*actors.Node
	store persistence.Store
}

func startNode(tb testing.TB, dir string, settings room.Settings) *testNode {
	tb.Helper()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	if settings.MaxMembers == 0 {
		settings = room.Settings{MaxMembers: 200, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
			IdleTimeout: time.Minute, TokenTTL: time.Hour}
	}
	settings.PasswordCost = 4 // the minimum: tests check behaviour, not work factor
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 30 * time.Second, // generous: -race on a busy machine
		Room:           room.Deps{Store: store, Signer: signer, Log: zap.NewNop(), Metrics: metrics.New(), Settings: settings},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	n := &testNode{Node: node, store: store}
	tb.Cleanup(n.stop)
	return n
}

func (n *testNode) stop() {
	if n.store == nil {
		return
	}
	n.Node.Stop()
	_ = n.store.Close()
	n.store = nil
	// The next node this test binary starts must not meet this one's remote
	// still dialling (see remotewait).
	remotewait.Idle(30 * time.Second)
}

// client stands in for a socket's session actor and keeps what it receives.
type client struct {
	tb     testing.TB
	pid    *actor.PID
	frames chan *pb.ServerFrame
	count  atomic.Int64
}

func newClient(tb testing.TB, n *testNode) *client {
	c := &client{tb: tb, frames: make(chan *pb.ServerFrame, 10000)}
	c.pid = n.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		for _, f := range serverFrames(tb, ctx.Message()) {
			c.count.Add(1)
			c.frames <- f
		}
	}))
	return c
}

// serverFrames returns the frames a session actor would queue for msg:
// grains send frames as messages or already encoded for the wire.
func serverFrames(tb testing.TB, msg interface{}) []*pb.ServerFrame {
	switch m := msg.(type) {
	case *pb.ServerFrame:
		return []*pb.ServerFrame{m}
	case *pb.EncodedFrames:
		out := make([]*pb.ServerFrame, len(m.Frames))
		for i, b := range m.Frames {
			out[i] = &pb.ServerFrame{}
			if err := protojson.Unmarshal(b, out[i]); err != nil {
				tb.Errorf("encoded frame %q: %v", b, err)
			}
		}
		return out
	}
	return nil
}

func (c *client) next() *pb.ServerFrame {
	c.tb.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(30 * time.Second):
		c.tb.Fatal("no frame within 30s")
		return nil
	}
}

// nextChat skips member events and returns the next chat message.
func (c *client) nextChat() *pb.ChatMessage {
	c.tb.Helper()
	for {
		if m := c.next().GetChat(); m != nil {
			return m
		}
	}
}

func createRoom(tb testing.TB, n *testNode, id, password string) string {
	tb.Helper()
	res, err := n.CreateRoom(context.Background(), id, "Vic", "Ann", password)
	if err != nil || res.Error != nil {
		tb.Fatalf("create room: %v %v", err, res.GetError())
	}
	return res.AgentKey
}

func join(tb testing.TB, n *testNode, c *client, req *pb.JoinRequest) *pb.Error {
	tb.Helper()
	reply, err := n.Tell(context.Background(), req.RoomId, &pb.Join{Session: c.pid, Request: req, FrameId: "j"})
	if err != nil {
		tb.Fatalf("join: %v", err)
	}
	return reply.Error
}

func mustJoin(tb testing.TB, n *testNode, c *client, req *pb.JoinRequest) *pb.Joined {
	tb.Helper()
	if e := join(tb, n, c, req); e != nil {
		tb.Fatalf("join refused: %v", e)
	}
	j := c.next().GetJoined()
	if j == nil {
		tb.Fatal("first frame after join is not Joined")
	}
	return j
}

func say(tb testing.TB, n *testNode, room string, c *client, text string) {
	tb.Helper()
	reply, err := n.Tell(context.Background(), room, &pb.PostChat{Session: c.pid, Text: text, FrameId: text})
	if err != nil || reply.Error != nil {
		tb.Fatalf("chat %q: %v %v", text, err, reply.GetError())
	}
}

func TestMembershipRolesAndLeave(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	key := createRoom(t, n, "r1", "")
	agent, visitor := newClient(t, n), newClient(t, n)

	ja := mustJoin(t, n, agent, &pb.JoinRequest{RoomId: "r1", Name: "Ann", AgentKey: key})
	if ja.Role != pb.Role_ROLE_AGENT || len(ja.Members) != 1 || ja.AccessToken == "" {
		t.Fatalf("agent joined = %v", ja)
	}
	jv := mustJoin(t, n, visitor, &pb.JoinRequest{RoomId: "r1", Name: " Vic "})
	if jv.Role != pb.Role_ROLE_VISITOR || len(jv.Members) != 2 || jv.Members[1].Name != "Vic" {
		t.Fatalf("visitor joined = %v", jv)
	}
	ev := agent.next().GetMember()
	if ev.GetKind() != pb.MemberEvent_KIND_JOINED || ev.Member.Name != "Vic" {
		t.Fatalf("agent saw %v", ev)
	}

	if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "r1", Name: "Eve", AgentKey: "forged"}); e.GetCode() != "wrong_agent_key" {
		t.Fatalf("forged agent key: %v", e)
	}
	if e := join(t, n, visitor, &pb.JoinRequest{RoomId: "r1", Name: "Vic"}); e.GetCode() != "already_joined" {
		t.Fatalf("second join on one session: %v", e)
	}
	if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "r1", Name: "\x00bad"}); e.GetCode() != "invalid" {
		t.Fatalf("control character in name: %v", e)
	}

	// A session actor that stops (socket gone) leaves the room.
	n.System.Root.Stop(visitor.pid)
	ev = agent.next().GetMember()
	if ev.GetKind() != pb.MemberEvent_KIND_LEFT || ev.Member.MemberId != jv.MemberId {
		t.Fatalf("agent saw %v after visitor left", ev)
	}
	// A non-member cannot post.
	reply, _ := n.Tell(context.Background(), "r1", &pb.PostChat{Session: newClient(t, n).pid, Text: "hi"})
	if reply.GetError().GetCode() != "not_joined" {
		t.Fatalf("non-member chat: %v", reply)
	}
}

func TestPasswordUnknownRoomAndFull(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{MaxMembers: 2, MaxChatChars: 10, MaxNameChars: 64,
		HistoryPage: 50, IdleTimeout: time.Minute, TokenTTL: time.Hour})
	key := createRoom(t, n, "locked", "s3cret")

	if res, _ := n.CreateRoom(context.Background(), "locked", "", "", ""); res.GetError().GetCode() != "room_exists" {
		t.Fatalf("second create: %v", res)
	}
	for _, tc := range []struct{ password, code string }{{"", "password_required"}, {"wrong", "wrong_password"}} {
		if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "locked", Name: "V", Password: tc.password}); e.GetCode() != tc.code {
			t.Fatalf("password %q: got %v want %s", tc.password, e, tc.code)
		}
	}
	if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "nope", Name: "V"}); e.GetCode() != "room_not_found" {
		t.Fatalf("unknown room: %v", e)
	}
	v := newClient(t, n)
	mustJoin(t, n, v, &pb.JoinRequest{RoomId: "locked", Name: "V", Password: "s3cret"})
	mustJoin(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "locked", Name: "A", AgentKey: key}) // agent needs no password
	if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "locked", Name: "X", Password: "s3cret"}); e.GetCode() != "room_full" {
		t.Fatalf("third member: %v", e)
	}
	reply, _ := n.Tell(context.Background(), "locked", &pb.PostChat{Session: v.pid, Text: "this is longer than ten"})
	if reply.GetError().GetCode() != "too_large" {
		t.Fatalf("long chat: %v", reply)
	}
	reply, _ = n.Tell(context.Background(), "locked", &pb.PostChat{Session: v.pid, Text: "  \n "})
	if reply.GetError().GetCode() != "invalid" {
		t.Fatalf("blank chat: %v", reply)
	}
}

func TestChatOrderIsTheSameForEveryMember(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	createRoom(t, n, "order", "")
	a, b := newClient(t, n), newClient(t, n)
	mustJoin(t, n, a, &pb.JoinRequest{RoomId: "order", Name: "A"})
	mustJoin(t, n, b, &pb.JoinRequest{RoomId: "order", Name: "B"})
	a.next() // B joined

	const perSender = 100
	done := make(chan struct{})
	for _, s := range []*client{a, b} {
		go func() {
			for i := range perSender {
				reply, err := n.Tell(context.Background(), "order", &pb.PostChat{Session: s.pid, Text: fmt.Sprintf("%d", i)})
				if err != nil || reply.Error != nil {
					t.Errorf("chat: %v %v", err, reply.GetError())
				}
			}
			done <- struct{}{}
		}()
	}
	<-done
	<-done
	var seenA, seenB []string
	for i := range 2 * perSender {
		ma, mb := a.nextChat(), b.nextChat()
		if ma.Seq != uint64(i+1) || mb.Seq != uint64(i+1) {
			t.Fatalf("message %d: seqs %d and %d", i, ma.Seq, mb.Seq)
		}
		seenA = append(seenA, ma.MemberId+ma.Text)
		seenB = append(seenB, mb.MemberId+mb.Text)
	}
	for i := range seenA {
		if seenA[i] != seenB[i] {
			t.Fatalf("members disagree at %d: %s vs %s", i, seenA[i], seenB[i])
		}
	}
}

func TestHistoryPagingAndRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, room.Settings{})
	createRoom(t, n, "hist", "")
	a := newClient(t, n)
	mustJoin(t, n, a, &pb.JoinRequest{RoomId: "hist", Name: "A"})
	for i := 1; i <= 120; i++ {
		say(t, n, "hist", a, fmt.Sprintf("m%d", i))
	}

	late := newClient(t, n)
	j := mustJoin(t, n, late, &pb.JoinRequest{RoomId: "hist", Name: "Late"})
	if len(j.History) != 50 || j.History[0].Seq != 71 || j.History[49].Seq != 120 || !j.MoreHistory {
		t.Fatalf("join history: %d messages from %d, more=%v", len(j.History), j.History[0].Seq, j.MoreHistory)
	}
	page := func(before uint64) *pb.History {
		reply, err := n.Tell(context.Background(), "hist", &pb.GetHistory{Session: late.pid,
			Request: &pb.HistoryRequest{BeforeSeq: before, Limit: 50}, FrameId: "h"})
		if err != nil || reply.Error != nil {
			t.Fatalf("history: %v %v", err, reply.GetError())
		}
		for {
			if h := late.next().GetHistory(); h != nil {
				return h
			}
		}
	}
	h := page(71)
	if len(h.Messages) != 50 || h.Messages[0].Seq != 21 || h.Messages[49].Seq != 70 || !h.More {
		t.Fatalf("page 2: %d from %d more=%v", len(h.Messages), h.Messages[0].Seq, h.More)
	}
	h = page(21)
	if len(h.Messages) != 20 || h.Messages[0].Text != "m1" || h.More {
		t.Fatalf("page 3: %d more=%v", len(h.Messages), h.More)
	}

	// Resume after a reconnect: only what was missed.
	again := newClient(t, n)
	j = mustJoin(t, n, again, &pb.JoinRequest{RoomId: "hist", Name: "Again", LastSeq: 115})
	if len(j.History) != 5 || j.History[0].Seq != 116 {
		t.Fatalf("resume history: %d from %v", len(j.History), j.History)
	}

	// A restart on the same folder keeps the room and its history, and new
	// messages continue the sequence.
	n.stop()
	n = startNode(t, dir, room.Settings{})
	b := newClient(t, n)
	j = mustJoin(t, n, b, &pb.JoinRequest{RoomId: "hist", Name: "B"})
	if len(j.History) != 50 || j.History[49].Text != "m120" {
		t.Fatalf("history after restart: %d messages", len(j.History))
	}
	say(t, n, "hist", b, "after restart")
	if m := b.nextChat(); m.Seq != 121 {
		t.Fatalf("seq after restart = %d", m.Seq)
	}
}

func TestDroppedMemberResumesWithinGrace(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{MaxMembers: 10, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
		IdleTimeout: time.Minute, TokenTTL: time.Hour, ResumeGrace: 500 * time.Millisecond})
	createRoom(t, n, "net", "")
	a, b := newClient(t, n), newClient(t, n)
	mustJoin(t, n, a, &pb.JoinRequest{RoomId: "net", Name: "A"})
	jb := mustJoin(t, n, b, &pb.JoinRequest{RoomId: "net", Name: "B"})
	a.next() // B joined
	if jb.ResumeToken == "" {
		t.Fatal("joined frame has no resume token")
	}
	say(t, n, "net", a, "before the drop")

	// B's connection drops (no Leave) and comes back on a new session.
	n.System.Root.Stop(b.pid)
	b2 := newClient(t, n)
	j := mustJoin(t, n, b2, &pb.JoinRequest{RoomId: "net", Name: "ignored", ResumeToken: jb.ResumeToken, LastSeq: 0})
	if !j.Resumed || j.MemberId != jb.MemberId || j.ResumeToken == "" || j.ResumeToken == jb.ResumeToken {
		t.Fatalf("resume: resumed=%v member %s (was %s)", j.Resumed, j.MemberId, jb.MemberId)
	}
	// A saw neither a leave nor a join, and B keeps getting messages.
	say(t, n, "net", a, "after the drop")
	if f := a.next(); f.GetChat().GetText() != "before the drop" {
		t.Fatalf("A got %v", f)
	}
	if f := a.next(); f.GetChat().GetText() != "after the drop" {
		t.Fatalf("A got %v, want only the chat", f)
	}
	if m := b2.nextChat(); m.Text != "after the drop" {
		t.Fatalf("B got %q", m.Text)
	}
	// The old token is spent.
	if e := join(t, n, newClient(t, n), &pb.JoinRequest{RoomId: "net", Name: "X", ResumeToken: jb.ResumeToken}); e != nil {
		t.Fatalf("plain join with a spent token: %v", e)
	}
	a.next() // X joined as a new member

	// A member that does not come back leaves when the grace ends.
	n.System.Root.Stop(b2.pid)
	ev := a.next().GetMember()
	if ev.GetKind() != pb.MemberEvent_KIND_LEFT || ev.Member.MemberId != jb.MemberId {
		t.Fatalf("after the grace A saw %v", ev)
	}
}
