package actors_test

import (
	"context"
	"math/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/actors/whiteboard"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// startWbNode starts a node whose rooms have a whiteboard; visitors says
// whether visitors may draw by default. Rate limits are lifted: these tests
// check ordering and storage, not flood control.
func startWbNode(tb testing.TB, dir string, visitors bool, snapshotEvery uint64) *testNode {
	tb.Helper()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	wbs := &pb.WhiteboardSettings{Enabled: true, Visitors: visitors}
	settings := room.Settings{MaxMembers: 200, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
		IdleTimeout: time.Minute, TokenTTL: time.Hour, PasswordCost: 4, Whiteboard: wbs}
	ws := whiteboard.DefaultSettings()
	ws.OpsPerSecond, ws.OpsBurst = 1e9, 1e9
	ws.SnapshotEvery = snapshotEvery
	ws.Default = wbs
	m := metrics.New()
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 10 * time.Second,
		Room:           room.Deps{Store: store, Signer: signer, Log: zap.NewNop(), Metrics: m, Settings: settings},
		Whiteboard:     whiteboard.Deps{Store: store, Log: zap.NewNop(), Metrics: m, Settings: ws},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	n := &testNode{Node: node, store: store}
	tb.Cleanup(n.stop)
	return n
}

func wb(tb testing.TB, n *testNode, roomID string, c *client, body *pb.WbClient) *pb.WbReply {
	tb.Helper()
	reply, err := n.Whiteboard(context.Background(), roomID, &pb.WbRequest{Session: c.pid, FrameId: "w", Body: body})
	if err != nil {
		tb.Fatalf("whiteboard request: %v", err)
	}
	return reply
}

func wbOp(tb testing.TB, n *testNode, roomID string, c *client, op *pb.WbOp) *pb.WbReply {
	tb.Helper()
	return wb(tb, n, roomID, c, &pb.WbClient{Body: &pb.WbClient_Op{Op: op}})
}

// wbSync attaches c to the board and returns the state it is sent.
func wbSync(tb testing.TB, n *testNode, roomID string, c *client, since uint64) *pb.WbState {
	tb.Helper()
	if r := wb(tb, n, roomID, c, &pb.WbClient{Body: &pb.WbClient_Sync{Sync: &pb.WbSync{SinceSeq: since}}}); r.Error != nil {
		tb.Fatalf("sync refused: %v", r.Error)
	}
	for {
		if st := c.next().GetWb().GetState(); st != nil {
			return st
		}
	}
}

func pen(page uint32, pts ...int32) *pb.WbOp {
	return &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Page: page, Shape: pb.WbShape_WB_SHAPE_PEN,
		Points: pts, Color: "#1e88e5", Width: 3}}
}

// drain applies every op frame c has received to its mirror until it reaches seq.
func drain(tb testing.TB, c *client, m *whiteboard.Mirror, seq uint64) {
	tb.Helper()
	for m.Seq < seq {
		op := c.next().GetWb().GetOp()
		if op == nil {
			continue
		}
		if !m.Apply(op) {
			tb.Fatalf("op %d arrived after %d: out of order", op.Seq, m.Seq)
		}
	}
}

func sameElements(tb testing.TB, who string, got map[uint64]*pb.WbElement, want []*pb.WbElement) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s holds %d elements, the board %d", who, len(got), len(want))
	}
	for _, e := range want {
		if !proto.Equal(got[e.Id], e) {
			tb.Fatalf("%s: element %d differs:\n got %v\nwant %v", who, e.Id, got[e.Id], e)
		}
	}
}

// TestWhiteboardInterleavedOpsSameBoardEverywhere: 5,000 ops from three
// members at once end as the same board for every member, the stored
// snapshot plus tail equals the whole log replayed, and a restart keeps it.
func TestWhiteboardInterleavedOpsSameBoardEverywhere(t *testing.T) {
	dir := t.TempDir()
	n := startWbNode(t, dir, true, 256)
	key := createRoom(t, n, "wb1", "")
	members := []*client{newClient(t, n), newClient(t, n), newClient(t, n)}
	mustJoin(t, n, members[0], &pb.JoinRequest{RoomId: "wb1", Name: "Ann", AgentKey: key})
	mustJoin(t, n, members[1], &pb.JoinRequest{RoomId: "wb1", Name: "Vic"})
	mustJoin(t, n, members[2], &pb.JoinRequest{RoomId: "wb1", Name: "Val"})
	mirrors := make([]*whiteboard.Mirror, 3)
	for i, c := range members {
		mirrors[i] = whiteboard.NewMirror(wbSync(t, n, "wb1", c, 0).Board)
	}
	if r := wbOp(t, n, "wb1", members[0], &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); r.Error != nil {
		t.Fatal(r.Error)
	}
	const total = 5000
	per := (total - 1) / 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 1
	for i, c := range members {
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i)))
			var mine []uint64
			for k := 0; k < per; k++ {
				var op *pb.WbOp
				switch r := rng.Intn(100); {
				case r < 55 || len(mine) == 0:
					pts := make([]int32, 2*(2+rng.Intn(20)))
					for j := range pts {
						pts[j] = int32(rng.Intn(1600))
					}
					op = pen(0, pts...)
				case r < 62:
					op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_RECT,
						Points: []int32{10, 10, int32(20 + rng.Intn(500)), 300}, Color: "#e53935", Width: 2}}
				case r < 66:
					op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_TEXT,
						Points: []int32{100, 100}, Color: "#000000", Width: 24, Text: "note"}}
				case r < 78:
					op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ERASE, Ids: []uint64{mine[rng.Intn(len(mine))]}}
				case r < 90:
					op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_MOVE, Ids: []uint64{mine[rng.Intn(len(mine))]},
						Dx: int32(rng.Intn(21) - 10), Dy: int32(rng.Intn(21) - 10)}
				case r < 96:
					op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_UNDO}
				default:
					op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_REDO}
				}
				r := wbOp(t, n, "wb1", c, op)
				if r.Error != nil {
					switch r.Error.Code {
					case "nothing_to_undo", "nothing_to_redo":
						continue
					}
					t.Errorf("op refused: %v", r.Error)
					return
				}
				if op.Kind == pb.WbOpKind_WB_OP_ADD {
					mine = append(mine, r.Seq)
				}
				mu.Lock()
				stored++
				mu.Unlock()
			}
		}(i, c)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Fill up to exactly `total` stored ops, from the agent.
	for stored < total {
		if r := wbOp(t, n, "wb1", members[0], pen(0, 1, 2, 3, 4)); r.Error != nil {
			t.Fatal(r.Error)
		}
		stored++
	}
	final := wbSync(t, n, "wb1", newJoined(t, n, "wb1", "Late"), 0).Board
	if final.Seq != total {
		t.Fatalf("board is at seq %d, want %d", final.Seq, total)
	}
	for i, c := range members {
		drain(t, c, mirrors[i], total)
		sameElements(t, []string{"agent", "visitor 1", "visitor 2"}[i], mirrors[i].Elems, final.Elements)
	}

	loaded, tail, err := whiteboard.Load(n.store, "wb1", whiteboard.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if tail >= 256 {
		t.Fatalf("loading replayed %d ops after the snapshot; at most 255 expected", tail)
	}
	replayed, err := whiteboard.Replay(n.store, "wb1", whiteboard.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(loaded.Snapshot(), replayed.Snapshot()) {
		t.Fatal("snapshot + tail differs from the whole log replayed")
	}
	if !proto.Equal(loaded.View(), final) {
		t.Fatal("the stored board differs from the one members were sent")
	}

	n.stop()
	n2 := startWbNode(t, dir, true, 256)
	after := wbSync(t, n2, "wb1", newJoined(t, n2, "wb1", "Back"), 0).Board
	if !proto.Equal(after, final) {
		t.Fatal("after a restart the board differs")
	}
}

func newJoined(tb testing.TB, n *testNode, roomID, name string) *client {
	tb.Helper()
	c := newClient(tb, n)
	mustJoin(tb, n, c, &pb.JoinRequest{RoomId: roomID, Name: name})
	return c
}

// TestWhiteboardModesAndCatchUp: agent-only refuses a visitor's stroke, the
// agent's switch lets it through; a reconnecting client gets only what it
// missed; live frames reach the others and are not stored; a non-member is
// refused.
func TestWhiteboardModesAndCatchUp(t *testing.T) {
	n := startWbNode(t, t.TempDir(), false, 4)
	key := createRoom(t, n, "wb2", "")
	agent, vis := newClient(t, n), newClient(t, n)
	mustJoin(t, n, agent, &pb.JoinRequest{RoomId: "wb2", Name: "Ann", AgentKey: key})
	mustJoin(t, n, vis, &pb.JoinRequest{RoomId: "wb2", Name: "Vic"})
	wbSync(t, n, "wb2", agent, 0)
	st := wbSync(t, n, "wb2", vis, 0)
	if st.Role != pb.Role_ROLE_VISITOR || st.Board.Open {
		t.Fatalf("visitor state: %v", st)
	}
	if r := wbOp(t, n, "wb2", agent, pen(0, 1, 1, 5, 5)); r.Error.GetCode() != "whiteboard_closed" {
		t.Fatalf("op on a closed board: %v", r.Error)
	}
	if r := wbOp(t, n, "wb2", vis, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); r.Error.GetCode() != "forbidden" {
		t.Fatalf("visitor opened the board: %v", r.Error)
	}
	wbOp(t, n, "wb2", agent, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN})
	if r := wbOp(t, n, "wb2", vis, pen(0, 1, 1, 5, 5)); r.Error.GetCode() != "whiteboard_agent_only" {
		t.Fatalf("visitor drew on an agent-only board: %v", r.Error)
	}
	for _, bad := range []*pb.WbOp{
		pen(0, 1),                // odd number of coordinates
		pen(7, 1, 1, 2, 2),       // no such page
		pen(0, 1, 1, 2, 2000000), // outside the board
		{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_PEN, Points: []int32{1, 1}, Color: "red", Width: 2}},
		{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_TEXT, Points: []int32{1, 1}, Color: "#000000", Width: 20, Text: "\x00"}},
		{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_IMAGE, Points: []int32{1, 1, 9, 9}, ImageId: "nope"}},
		{Kind: pb.WbOpKind(99)},
	} {
		if r := wbOp(t, n, "wb2", agent, bad); r.Error == nil {
			t.Fatalf("accepted %v", bad)
		}
	}
	r := wbOp(t, n, "wb2", agent, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_MODE, Visitors: true})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	if r := wbOp(t, n, "wb2", vis, pen(0, 1, 1, 5, 5)); r.Error != nil {
		t.Fatalf("open mode refused the visitor: %v", r.Error)
	}
	seenSeq := r.Seq + 1

	// The visitor undoes its stroke; the agent cannot undo it for them.
	wbOp(t, n, "wb2", agent, pen(0, 9, 9, 10, 10))
	if r := wbOp(t, n, "wb2", vis, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_UNDO}); r.Error != nil || r.Seq == 0 {
		t.Fatalf("undo: %v", r.Error)
	}
	// Live frames go to the others only, and are not stored.
	if r := wb(t, n, "wb2", agent, &pb.WbClient{Body: &pb.WbClient_Live{Live: &pb.WbLive{Laser: true, Points: []int32{3, 4}}}}); r.Error != nil {
		t.Fatal(r.Error)
	}
	for {
		f := vis.next().GetWb()
		if l := f.GetLive(); l != nil {
			if !l.Laser || l.MemberId == "" {
				t.Fatalf("live frame: %v", l)
			}
			break
		}
	}
	// A reconnecting visitor that holds seenSeq gets only the ops after it.
	back := newJoined(t, n, "wb2", "Vic again")
	st = wbSync(t, n, "wb2", back, seenSeq)
	if st.Board != nil || len(st.Ops) != 2 || st.Ops[0].Seq != seenSeq+1 {
		t.Fatalf("catch-up after %d: board %v, %d ops", seenSeq, st.Board != nil, len(st.Ops))
	}
	if st.Ops[1].Kind != pb.WbOpKind_WB_OP_UNDO || len(st.Ops[1].Ids) != 1 {
		t.Fatalf("undo op carries no effect: %v", st.Ops[1])
	}
	final := wbSync(t, n, "wb2", back, 0).Board
	if len(final.Elements) != 1 || final.Elements[0].Points[0] != 9 {
		t.Fatalf("after the visitor's undo the board holds %v", final.Elements)
	}
	// A connection that never joined the room gets nothing.
	stranger := newClient(t, n)
	if r := wb(t, n, "wb2", stranger, &pb.WbClient{Body: &pb.WbClient_Sync{Sync: &pb.WbSync{}}}); r.Error.GetCode() != "not_joined" {
		t.Fatalf("stranger: %v", r.Error)
	}
}
