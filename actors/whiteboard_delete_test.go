package actors_test

import (
	"testing"
	"time"

	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// wbKeys counts what is stored under a room's whiteboard prefix.
func wbKeys(tb testing.TB, n *testNode, roomID string) int {
	tb.Helper()
	count := 0
	p := persistence.WbPrefix(roomID)
	if err := n.store.Scan(p, persistence.PrefixEnd(p), false, 0, func(_, _ []byte) bool { count++; return true }); err != nil {
		tb.Fatal(err)
	}
	return count
}

// TestDeletedRoomTakesItsWhiteboard: a board drawn on in a room that is then
// deleted leaves nothing in the store, and the room made again under the same
// id starts with an empty board, although the old board's grain was active
// and the old agent's connection still had the board: the grain is told of
// the delete, and also sees the new room's generation when asked.
func TestDeletedRoomTakesItsWhiteboard(t *testing.T) {
	n := startWbNode(t, t.TempDir(), true, 2)
	key := createRoom(t, n, "wbdel", "")
	key2 := createRoom(t, n, "wbdel-2", "") // shares the id's first bytes; its board must survive
	agent := newClient(t, n)
	mustJoin(t, n, agent, &pb.JoinRequest{RoomId: "wbdel", Name: "Ann", AgentKey: key})
	wbSync(t, n, "wbdel", agent, 0)
	if r := wbOp(t, n, "wbdel", agent, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); r.Error != nil {
		t.Fatal(r.Error)
	}
	for i := int32(0); i < 5; i++ {
		if r := wbOp(t, n, "wbdel", agent, pen(0, 10, 10, 100+i, 200)); r.Error != nil {
			t.Fatal(r.Error)
		}
	}
	neighbour := newClient(t, n)
	mustJoin(t, n, neighbour, &pb.JoinRequest{RoomId: "wbdel-2", Name: "Ann", AgentKey: key2})
	wbSync(t, n, "wbdel-2", neighbour, 0)
	if r := wbOp(t, n, "wbdel-2", neighbour, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); r.Error != nil {
		t.Fatal(r.Error)
	}
	if got := wbKeys(t, n, "wbdel"); got < 6 {
		t.Fatalf("%d whiteboard keys stored before the delete, want at least 6", got)
	}

	res, err := n.Cluster.Request("wbdel", room.Kind, &pb.DeleteRoom{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.(*pb.DeleteRoomResult); r == nil || r.Error != nil {
		t.Fatalf("delete: %v", res)
	}
	if got := wbKeys(t, n, "wbdel"); got != 0 {
		t.Fatalf("%d whiteboard keys left after the room was deleted", got)
	}
	if got := wbKeys(t, n, "wbdel-2"); got != 1 {
		t.Fatalf("the neighbour room's board has %d keys after the delete, want 1", got)
	}

	// The board's grain hears of the delete one way, so not at once: until
	// then the old agent's connection still has the board. Then it loses it,
	// and what it drew in between goes too.
	deadline := time.Now().Add(time.Minute)
	for {
		r := wbOp(t, n, "wbdel", agent, pen(0, 5, 5, 50, 50))
		if r.Error != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a minute after the delete, the old agent still draws on the deleted room's board")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := wbKeys(t, n, "wbdel"); got != 0 {
		t.Fatalf("%d whiteboard keys stored after the delete", got)
	}

	key = createRoom(t, n, "wbdel", "")
	newAgent := newClient(t, n)
	mustJoin(t, n, newAgent, &pb.JoinRequest{RoomId: "wbdel", Name: "Bea", AgentKey: key})
	st := wbSync(t, n, "wbdel", newAgent, 0)
	if b := st.GetBoard(); b.GetSeq() != 0 || len(b.GetElements()) != 0 || b.GetOpen() {
		t.Fatalf("the new room's board is seq %d with %d elements (open %v); want an empty board",
			b.GetSeq(), len(b.GetElements()), b.GetOpen())
	}
	// The old agent's connection is no member of the new room: its board
	// access went with the old room.
	if r := wbOp(t, n, "wbdel", agent, pen(0, 1, 2, 3, 4)); r.Error == nil {
		t.Fatal("the deleted room's agent drew on the new room's board")
	}
	if got := wbKeys(t, n, "wbdel"); got != 0 {
		t.Fatalf("%d whiteboard keys in the new room before anyone drew", got)
	}
	if r := wbOp(t, n, "wbdel", newAgent, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); r.Error != nil || r.Seq != 1 {
		t.Fatalf("the new room's first op: %v, want seq 1", r)
	}
}
