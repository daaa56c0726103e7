package actors_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/whiteboard"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// wbCounter counts whiteboard op frames a member receives.
type wbCounter struct {
	pid *actor.PID
	ops chan struct{}
}

func newWbCounter(n *testNode) *wbCounter {
	c := &wbCounter{ops: make(chan struct{}, 1<<20)}
	c.pid = n.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if f, ok := ctx.Message().(*pb.ServerFrame); ok && f.GetWb().GetOp() != nil {
			c.ops <- struct{}{}
		}
	}))
	return c
}

// BenchmarkWhiteboardOps sends strokes into a board with 20 members through
// the real path (cluster request to the whiteboard grain, checks, Pebble write
// synced to disk, snapshot every 256 ops, one send per member) and waits
// until every member has every op.
func BenchmarkWhiteboardOps(b *testing.B) {
	const size = 20
	n := startWbNode(b, b.TempDir(), true, 256)
	key := createRoom(b, n, "wbbench", "")
	members := make([]*wbCounter, size)
	for i := range members {
		members[i] = newWbCounter(n)
		req := &pb.JoinRequest{RoomId: "wbbench", Name: fmt.Sprint("m", i)}
		if i == 0 {
			req.AgentKey = key
		}
		if e := join(b, n, &client{tb: b, pid: members[i].pid}, req); e != nil {
			b.Fatal(e)
		}
		r, err := n.Whiteboard(context.Background(), "wbbench", &pb.WbRequest{Session: members[i].pid,
			Body: &pb.WbClient{Body: &pb.WbClient_Sync{Sync: &pb.WbSync{}}}})
		if err != nil || r.Error != nil {
			b.Fatal(err, r.GetError())
		}
	}
	send := func(i int, op *pb.WbOp) {
		r, err := n.Whiteboard(context.Background(), "wbbench", &pb.WbRequest{Session: members[i%size].pid,
			Body: &pb.WbClient{Body: &pb.WbClient_Op{Op: op}}})
		if err != nil || r.Error != nil {
			b.Fatal(err, r.GetError())
		}
	}
	send(0, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN})
	for _, m := range members {
		for len(m.ops) > 0 {
			<-m.ops
		}
	}
	rng := rand.New(rand.NewSource(1))
	stroke := make([]int32, 2*30)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range stroke {
			stroke[j] = int32(rng.Intn(1600))
		}
		send(i, pen(0, stroke...))
	}
	for _, m := range members {
		deadline := time.After(time.Minute)
		for got := 0; got < b.N; got++ {
			select {
			case <-m.ops:
			case <-deadline:
				b.Fatalf("member got %d of %d ops", got, b.N)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkWhiteboardLoad measures rebuilding a board of 100,000 ops (strokes,
// shapes, text, erases, moves, undos, page turns) from the store: the latest
// snapshot plus the ops after it. It also reports the stored bytes per op.
func BenchmarkWhiteboardLoad(b *testing.B) {
	const total = 100000
	n := startWbNode(b, b.TempDir(), true, 256)
	lim := whiteboard.DefaultLimits()
	board := whiteboard.NewBoard()
	rng := rand.New(rand.NewSource(2))
	who := []whiteboard.Who{{MemberID: "agent", Role: pb.Role_ROLE_AGENT}, {MemberID: "v1", Role: pb.Role_ROLE_VISITOR}, {MemberID: "v2", Role: pb.Role_ROLE_VISITOR}}
	var ids []uint64
	var opBytes, snapBytes int
	var batch persistence.Batch
	flush := func() {
		if err := n.store.Apply(&batch); err != nil {
			b.Fatal(err)
		}
		batch = persistence.Batch{}
	}
	for seq := uint64(1); seq <= total; seq++ {
		w := who[int(seq)%len(who)]
		var op *pb.WbOp
		switch r := rng.Intn(100); {
		case seq == 1:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}
			w = who[0]
		case r < 60 || len(ids) == 0:
			pts := make([]int32, 2*(5+rng.Intn(40)))
			for j := range pts {
				pts[j] = int32(rng.Intn(1600))
			}
			op = pen(0, pts...)
		case r < 68:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_RECT,
				Points: []int32{10, 10, int32(20 + rng.Intn(900)), 300}, Color: "#e53935", Width: 4}}
		case r < 72:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_TEXT,
				Points: []int32{100, 100}, Color: "#000000", Width: 24, Text: "a short note"}}
		case r < 84:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ERASE, Ids: []uint64{ids[rng.Intn(len(ids))]}}
		case r < 94:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_MOVE, Ids: []uint64{ids[rng.Intn(len(ids))]}, Dx: 3, Dy: -2}
		case r < 98:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_UNDO}
		default:
			op = &pb.WbOp{Kind: pb.WbOpKind_WB_OP_PAGE_GO, Page: 0}
		}
		if board.Check(op, w, true, lim, nil) != nil {
			// e.g. nothing to undo: make it a stroke instead
			w = who[0]
			op = pen(0, 1, 2, 3, 4)
		}
		op.Seq, op.MemberId, op.AtMs = seq, w.MemberID, 1700000000000+int64(seq)
		board.Apply(op, lim)
		if op.Kind == pb.WbOpKind_WB_OP_ADD {
			ids = append(ids, seq)
		}
		raw, _ := proto.Marshal(op)
		opBytes += len(raw)
		batch.Set(persistence.WbOpKey("wbload", seq), raw)
		if seq%256 == 0 {
			snap, _ := proto.Marshal(board.Snapshot())
			snapBytes = len(snap)
			batch.Set(persistence.WbSnapKey("wbload"), snap)
		}
		if batch.Len() >= 2000 {
			flush()
		}
	}
	flush()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loaded, tail, err := whiteboard.Load(n.store, "wbload", lim)
		if err != nil || loaded.Seq() != total {
			b.Fatalf("load: %v (seq %d, tail %d)", err, loaded.Seq(), tail)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(opBytes)/total, "bytes/op")
	b.ReportMetric(float64(snapBytes), "snapshot-bytes")
	b.ReportMetric(float64(board.Len()), "elements")
}
