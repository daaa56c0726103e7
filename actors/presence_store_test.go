package actors_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/internal/pgtest"
	"liveroom/internal/remotewait"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// startNodeStore starts a node on a store the test owns; the store stays
// open when the node stops.
func startNodeStore(tb testing.TB, store persistence.Store) *testNode {
	tb.Helper()
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	settings := room.Settings{MaxMembers: 200, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
		IdleTimeout: time.Minute, TokenTTL: time.Hour, PasswordCost: 4}
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 30 * time.Second,
		Room:           room.Deps{Store: store, Signer: signer, Log: zap.NewNop(), Metrics: metrics.New(), Settings: settings},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		node.Stop()
		remotewait.Idle(30 * time.Second)
	})
	return &testNode{Node: node, store: store}
}

// eachStore runs fn on a Pebble store and on a PostgreSQL store.
func eachStore(t *testing.T, fn func(t *testing.T, store persistence.Store)) {
	t.Run("pebble", func(t *testing.T) {
		s, err := persistence.OpenPebble(filepath.Join(t.TempDir(), "store"), zap.NewNop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.New(t)
		s, err := persistence.OpenPostgres(srv.Database(t), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		fn(t, s)
	})
}

// TestAgentPresenceOutlivesItsActivation: a visitor page and an agent page
// are open, the visitor's call request is queued; then the agent's grain is
// superseded, as when it re-activates on another node (the node holding it
// died or paused): another activation takes the agent's fence, the running
// one stops at its next write, and the next request activates the agent
// afresh from the store. The visitor is still listed with its queued
// request, the first agent page still counts (the visitor still sees the
// agent online, and that page can still answer), and the sockets are
// watched again (a visitor leaving is noticed). Runs on Pebble and on
// PostgreSQL. (Several nodes in one test process race inside grpc's global
// logger, so the moves between real nodes run in e2e.)
func TestAgentPresenceOutlivesItsActivation(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		n := startNodeStore(t, store)
		addAgent(t, n, "alice", "Alice", "", "pw-pw-pw-pw")
		hash := login(t, n, "alice", "pw-pw-pw-pw")

		vis, page := newSink(t, n), newSink(t, n)
		mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentAttach{Session: page.pid, SessionHash: hash, FrameId: "w", Watch: &pb.AgentWatch{}}))
		nextAgent(page, (*pb.AgentServerFrame).GetSnapshot)
		mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentVisitorHello{Session: vis.pid, FrameId: "h",
			Hello: &pb.VisitorHello{AgentId: "alice", PageUrl: "http://shop.example/cart", PageTitle: "Cart", Name: "Vera"}}))
		if p := nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_ONLINE {
			t.Fatalf("presence: %v", p)
		}
		seen := nextAgent(page, (*pb.AgentServerFrame).GetVisitor)
		mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentVisitorCall{Session: vis.pid, FrameId: "c",
			Call: &pb.VisitorCall{Kind: pb.CallKind_CALL_KIND_AUDIO}}))
		q := nextVisitor(vis, (*pb.VisitorServerFrame).GetQueued)
		nextAgent(page, (*pb.AgentServerFrame).GetRequest)

		if _, err := persistence.TakeFence(store, persistence.FenceKey("agent", "alice")); err != nil {
			t.Fatal(err)
		}
		// A second agent page opens: its attach reaches the old activation
		// first (its write fails, it stops), then the new one.
		page2 := newSink(t, n)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := actors.AskAgent[*pb.AgentReply](ctx, n.Node, "alice", &pb.AgentAttach{Session: page2.pid, SessionHash: hash, FrameId: "w2", Watch: &pb.AgentWatch{}})
			cancel()
			if err == nil && r.Error == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent did not come back: %v %v", err, r.GetError())
			}
			time.Sleep(100 * time.Millisecond)
		}
		snap := nextAgent(page2, (*pb.AgentServerFrame).GetSnapshot)
		if len(snap.Visitors) != 1 || snap.Visitors[0].VisitorId != seen.VisitorId || snap.Visitors[0].PageUrl != "http://shop.example/cart" ||
			snap.Visitors[0].Name != "Vera" || snap.Visitors[0].SinceMs != seen.SinceMs {
			t.Fatalf("visitors after re-activation: %v", snap.Visitors)
		}
		if len(snap.Requests) != 1 || snap.Requests[0].RequestId != q.RequestId || snap.Requests[0].Kind != pb.CallKind_CALL_KIND_AUDIO {
			t.Fatalf("requests after re-activation: %v", snap.Requests)
		}
		if p := nextVisitor(vis, (*pb.VisitorServerFrame).GetPresence); p.Presence != pb.Presence_PRESENCE_ONLINE {
			t.Fatalf("presence after re-activation: %v", p)
		}
		st := ask[*pb.AgentAdminResult](t, n, "alice", &pb.AgentAdminStatus{})
		if st.Pages != 2 || st.Visitors != 1 || st.Requests != 1 {
			t.Fatalf("status after re-activation: pages %d visitors %d requests %d", st.Pages, st.Visitors, st.Requests)
		}

		// The page opened before the move answers the request it saw.
		mustOK(t, ask[*pb.AgentReply](t, n, "alice", &pb.AgentSocketAnswer{Session: page.pid, FrameId: "d",
			Answer: &pb.AgentAnswer{RequestId: q.RequestId}}))
		if d := nextVisitor(vis, (*pb.VisitorServerFrame).GetDeclined); d.RequestId != q.RequestId {
			t.Fatalf("declined: %v", d)
		}
		if d := nextAgent(page2, (*pb.AgentServerFrame).GetRequestDone); d.RequestId != q.RequestId || d.Reason != "declined" {
			t.Fatalf("request done: %v", d)
		}

		// The visitor's page closes: the new activation was watching it.
		n.System.Root.Stop(vis.pid)
		if l := nextAgent(page2, (*pb.AgentServerFrame).GetVisitorLeft); l.VisitorId != seen.VisitorId {
			t.Fatalf("left: %v", l)
		}
		// The agent pages close: nothing of them stays in the store.
		n.System.Root.Stop(page.pid)
		n.System.Root.Stop(page2.pid)
		deadline = time.Now().Add(time.Minute)
		prefix := persistence.AgentPresencePrefix("alice")
		for {
			left := 0
			_ = store.Scan(prefix, persistence.PrefixEnd(prefix), false, 0, func(_, _ []byte) bool { left++; return true })
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d presence records left after every page closed", left)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
