package actors_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"liveroom/actors"
	"liveroom/actors/broadcast"
	"liveroom/actors/room"
	"liveroom/actors/short"
	"liveroom/actors/whiteboard"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// TestRoomSupersededActivationStops stands in for a topology change: while a
// room's grain runs, another activation takes the room's fence (as a grain
// re-activated on another node would). The running grain's next write is
// refused and it stops without writing; the next request activates the room
// again from the store, with its members (same sessions, still watched) and
// its chat seq going on from where it was, never repeating.
func TestRoomSupersededActivationStops(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	key := createRoom(t, n, "fenced", "")
	agent, visitor := newClient(t, n), newClient(t, n)
	mustJoin(t, n, agent, &pb.JoinRequest{RoomId: "fenced", Name: "Ann", AgentKey: key})
	mustJoin(t, n, visitor, &pb.JoinRequest{RoomId: "fenced", Name: "Vic"})
	say(t, n, "fenced", visitor, "one")
	say(t, n, "fenced", visitor, "two")

	if _, err := persistence.TakeFence(n.store, persistence.FenceKey(room.Kind, "fenced")); err != nil {
		t.Fatal(err)
	}
	reply, err := n.Tell(context.Background(), "fenced", &pb.PostChat{Session: visitor.pid, Text: "lost", FrameId: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Error == nil {
		t.Fatalf("the superseded activation accepted a message: %v", reply.Chat)
	}
	if _, err := n.store.Get(persistence.ChatKey("fenced", 3)); err != persistence.ErrNotFound {
		t.Fatalf("the superseded activation wrote seq 3: %v", err)
	}

	// The next request reaches a new activation that knows both members.
	var chat *pb.ChatMessage
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// A short wait each: a request that reaches the stopping activation
		// times out, and one such wait must not use up the whole deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reply, err = n.Tell(ctx, "fenced", &pb.PostChat{Session: visitor.pid, Text: "three", FrameId: "three"})
		cancel()
		if err == nil && reply.Error == nil {
			chat = reply.Chat
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room did not come back: %v %v", err, reply.GetError())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if chat.Seq != 3 {
		t.Fatalf("first message of the new activation has seq %d, want 3", chat.Seq)
	}
	for {
		m := agent.nextChat()
		if m.Text == "three" {
			if m.Seq != 3 {
				t.Fatalf("agent got seq %d", m.Seq)
			}
			break
		}
		if m.Seq > 2 {
			t.Fatalf("agent got unexpected %q seq %d", m.Text, m.Seq)
		}
	}
	info, err := n.RoomInfo(context.Background(), "fenced")
	if err != nil || info.Error != nil {
		t.Fatalf("room info: %v %v", err, info.GetError())
	}
}

// TestAgentSupersededActivationStops: once another activation took the agent's
// fence, this one's writes are refused and it stops; the next request
// activates the agent again from the store, logins intact.
func TestAgentSupersededActivationStops(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	addAgent(t, n, "fay", "Fay", "", "fay-password")
	hash := login(t, n, "fay", "fay-password")
	if _, err := persistence.TakeFence(n.store, persistence.FenceKey("agent", "fay")); err != nil {
		t.Fatal(err)
	}
	r := ask[*pb.AgentReply](t, n, "fay", &pb.AgentLogout{SessionHash: hash})
	if r.Error == nil {
		t.Fatal("the superseded activation deleted a login session")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// A request that reaches the stopping activation times out; retry
		// with a short wait each, so one lost request cannot use up the
		// whole deadline on a busy machine.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		who, err := actors.AskAgent[*pb.AgentWho](ctx, n.Node, "fay", &pb.AgentCheckSession{SessionHash: hash})
		cancel()
		if err == nil && who.Error == nil && who.Name == "Fay" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not come back with its session: %v %v", err, who.GetError())
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustOK(t, ask[*pb.AgentReply](t, n, "fay", &pb.AgentLogout{SessionHash: hash}))
}

// shortAsk sends msg to the short-name grain name.
func shortAsk(ctx context.Context, n *testNode, name string, msg interface{}) (*pb.ShortReply, error) {
	res, err := n.Cluster.Request(name, short.Kind, msg, cluster.WithTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	r, ok := res.(*pb.ShortReply)
	if !ok {
		return nil, fmt.Errorf("answer %T", res)
	}
	return r, nil
}

// TestShortSupersededActivationStops: a short-name grain whose fence another
// activation took can neither free nor re-give its name; it stops, and the
// next request finds the name still held by its room.
func TestShortSupersededActivationStops(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	ctx := context.Background()
	r, err := shortAsk(ctx, n, "promo", &pb.ShortClaim{RoomId: "room-a", AgentId: "ann"})
	if err != nil || r.Error != nil {
		t.Fatalf("claim: %v %v", err, r.GetError())
	}
	if _, err := persistence.TakeFence(n.store, persistence.FenceKey(short.Kind, "promo")); err != nil {
		t.Fatal(err)
	}
	r, err = shortAsk(ctx, n, "promo", &pb.ShortRelease{RoomId: "room-a"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Error == nil {
		t.Fatal("the superseded activation freed the name")
	}
	rec := &pb.ShortNameRecord{}
	if found, err := persistence.GetRecord(n.store, persistence.ShortKey("promo"), rec); err != nil || !found || rec.RoomId != "room-a" {
		t.Fatalf("record after refused release: %v %v %v", found, err, rec)
	}

	// A new activation serves the name from the store and keeps it for
	// its room.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err = shortAsk(ctx, n, "promo", &pb.ShortClaim{RoomId: "room-b", AgentId: "bob"})
		if err == nil && r.GetError().GetCode() == "short_name_taken" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("short name did not come back: %v %v", err, r.GetError())
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, err = shortAsk(ctx, n, "promo", &pb.ShortResolve{})
	if err != nil || r.GetRecord().GetRoomId() != "room-a" {
		t.Fatalf("resolve: %v %v", err, r)
	}
	r, err = shortAsk(ctx, n, "promo", &pb.ShortRelease{RoomId: "room-a"})
	if err != nil || r.Error != nil {
		t.Fatalf("release by the new activation: %v %v", err, r.GetError())
	}
	if found, _ := persistence.GetRecord(n.store, persistence.ShortKey("promo"), rec); found {
		t.Fatal("name still held after release")
	}
}

// TestShortClaimFencedWhenFree: an activation that loaded a free name and
// then lost its fence (a newer activation claimed the name meanwhile) does
// not hand the name to a second room.
func TestShortClaimFencedWhenFree(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	ctx := context.Background()
	if r, err := shortAsk(ctx, n, "free", &pb.ShortResolve{}); err != nil || r.GetError().GetCode() != "not_found" {
		t.Fatalf("resolve: %v %v", err, r)
	}
	// Another activation claims the name behind this one's back.
	f, err := persistence.TakeFence(n.store, persistence.FenceKey(short.Kind, "free"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(&pb.ShortNameRecord{RoomId: "room-a", AgentId: "ann"})
	if err := f.Set(persistence.ShortKey("free"), raw); err != nil {
		t.Fatal(err)
	}
	r, err := shortAsk(ctx, n, "free", &pb.ShortClaim{RoomId: "room-b", AgentId: "bob"})
	if err != nil || r.GetError().GetCode() != "short_name_taken" {
		t.Fatalf("claim of a name claimed elsewhere: %v %v", err, r)
	}
}

// TestBroadcastSupersededActivationStops: once another activation took a
// broadcast's fence, this one stores no more chat (its seq would clash with
// the newer one's) and stops; the next request reaches a new activation
// whose chat goes on after the last stored seq.
func TestBroadcastSupersededActivationStops(t *testing.T) {
	n := startBroadcastNode(t, t.TempDir(), broadcast.Settings{MaxViewers: 10, MaxChatChars: 100, MaxNameChars: 64,
		IdleTimeout: time.Minute})
	ctx := context.Background()
	res, err := n.CreateBroadcast(ctx, &pb.CreateBroadcast{Id: "talk", ChatEnabled: true})
	if err != nil || res.Error != nil {
		t.Fatalf("create: %v %v", err, res.GetError())
	}
	host := newClient(t, n)
	if _, perr := bjoin(t, n, host, &pb.BroadcastJoin{BroadcasterKey: res.BroadcasterKey, Name: "Prof"}); perr != nil {
		t.Fatal(perr)
	}
	say := func(text string) *pb.BroadcastRequest {
		return &pb.BroadcastRequest{Body: &pb.BroadcastRequest_Chat{Chat: &pb.SendChat{Text: text}}}
	}
	if perr := btell(t, n, host, say("one")); perr != nil {
		t.Fatal(perr)
	}
	if _, err := persistence.TakeFence(n.store, persistence.FenceKey(broadcast.Kind, "talk")); err != nil {
		t.Fatal(err)
	}
	if perr := btell(t, n, host, say("lost")); perr == nil {
		t.Fatal("the superseded activation accepted a message")
	}
	if _, err := n.store.Get(persistence.BroadcastChatKey("talk", 2)); err != persistence.ErrNotFound {
		t.Fatalf("the superseded activation stored seq 2: %v", err)
	}

	// A new activation: the broadcaster joins again and its chat follows seq 1.
	deadline := time.Now().Add(2 * time.Minute)
	again := newClient(t, n)
	ask := func(req *pb.BroadcastRequest) error {
		// A short wait each: a request that reaches the stopping activation
		// times out, and one such wait must not use up the whole deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req.Session = again.pid
		r, err := n.TellBroadcast(ctx, "talk", req)
		if err == nil && r.Error != nil {
			err = fmt.Errorf("%s: %s", r.Error.Code, r.Error.Message)
		}
		return err
	}
	for {
		err := ask(&pb.BroadcastRequest{FrameId: "j", Body: &pb.BroadcastRequest_Join{Join: &pb.BroadcastJoin{
			BroadcastId: "talk", BroadcasterKey: res.BroadcasterKey, Name: "Prof"}}})
		if err == nil || strings.Contains(err.Error(), "already") {
			if err = ask(say("two")); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("broadcast did not come back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var m pb.ChatMessage
	if found, err := persistence.GetRecord(n.store, persistence.BroadcastChatKey("talk", 2), &m); err != nil || !found || m.Text != "two" {
		t.Fatalf("seq 2 after the new activation: %v %v %v", found, err, &m)
	}
}

// TestWhiteboardSupersededActivationStops: a whiteboard grain whose fence
// another activation took stores no op under its next seq and stops; the
// retry reaches a new activation that loads the board from the store and
// numbers the op after the last stored one.
func TestWhiteboardSupersededActivationStops(t *testing.T) {
	n := startWbNode(t, t.TempDir(), true, 256)
	key := createRoom(t, n, "wbf", "")
	agent := newClient(t, n)
	mustJoin(t, n, agent, &pb.JoinRequest{RoomId: "wbf", Name: "Ann", AgentKey: key})
	wbSync(t, n, "wbf", agent, 0)
	if r := wbOp(t, n, "wbf", agent, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); r.Error != nil || r.Seq != 1 {
		t.Fatalf("open: %v %d", r.Error, r.Seq)
	}
	if _, err := persistence.TakeFence(n.store, persistence.FenceKey(whiteboard.Kind, "wbf")); err != nil {
		t.Fatal(err)
	}
	if r := wbOp(t, n, "wbf", agent, pen(0, 1, 2, 3, 4)); r.Error.GetCode() != "unavailable" {
		t.Fatalf("op on the superseded activation: %v seq %d", r.Error, r.Seq)
	}
	if _, err := n.store.Get(persistence.WbOpKey("wbf", 2)); err != persistence.ErrNotFound {
		t.Fatalf("the superseded activation stored op 2: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := n.Whiteboard(ctx, "wbf", &pb.WbRequest{Session: agent.pid, FrameId: "w",
			Body: &pb.WbClient{Body: &pb.WbClient_Op{Op: pen(0, 5, 6, 7, 8)}}})
		cancel()
		if err == nil && r.Error == nil {
			if r.Seq != 2 {
				t.Fatalf("first op of the new activation has seq %d, want 2", r.Seq)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("whiteboard did not come back: %v %v", err, r.GetError())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
