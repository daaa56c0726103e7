package whiteboard

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// A full board whose elements were erased takes new drawing again: the
// erased ones go, with the undo steps that needed them, the same way when
// the log is replayed.
func TestFullBoardDropsErasedElements(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxElements = 10
	agent := Who{MemberID: "a", Role: pb.Role_ROLE_AGENT}
	b := NewBoard()
	var log []*pb.WbOp
	do := func(op *pb.WbOp) *pb.Error {
		t.Helper()
		if perr := b.Check(op, agent, false, lim, nil); perr != nil {
			return perr
		}
		op.Seq, op.MemberId = b.Seq()+1, agent.MemberID
		b.Apply(op, lim)
		log = append(log, proto.Clone(op).(*pb.WbOp))
		return nil
	}
	stroke := func(x int32) *pb.WbOp {
		return &pb.WbOp{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_PEN,
			Points: []int32{x, 1, x, 9}, Color: "#000000", Width: 2}}
	}
	if perr := do(&pb.WbOp{Kind: pb.WbOpKind_WB_OP_OPEN}); perr != nil {
		t.Fatal(perr)
	}
	for i := 0; i < 10; i++ {
		if perr := do(stroke(int32(i))); perr != nil {
			t.Fatal(perr)
		}
	}
	if perr := do(stroke(99)); perr.GetCode() != "board_full" {
		t.Fatalf("eleventh element on a board of ten: %v", perr)
	}
	tenth := b.Elements()[9].Id
	if perr := do(&pb.WbOp{Kind: pb.WbOpKind_WB_OP_CLEAR}); perr != nil {
		t.Fatal(perr)
	}
	if perr := do(&pb.WbOp{Kind: pb.WbOpKind_WB_OP_UNDO}); perr != nil { // the clear
		t.Fatal(perr)
	}
	if perr := do(&pb.WbOp{Kind: pb.WbOpKind_WB_OP_ERASE, Ids: []uint64{b.Elements()[0].Id, b.Elements()[1].Id}}); perr != nil {
		t.Fatal(perr)
	}
	for i := 0; i < 2; i++ {
		if perr := do(stroke(int32(50 + i))); perr != nil {
			t.Fatalf("drawing on a full board with erased elements: %v", perr)
		}
	}
	if b.Len() != 10 || len(b.Elements()) != 10 {
		t.Fatalf("board holds %d elements, %d live; want 10 live", b.Len(), len(b.Elements()))
	}
	// The erase that needed the dropped elements cannot be undone any more;
	// undo goes to the steps before it, which still work.
	for i := 0; i < 2; i++ {
		if perr := do(&pb.WbOp{Kind: pb.WbOpKind_WB_OP_UNDO}); perr != nil {
			t.Fatal(perr)
		}
	}
	if perr := do(&pb.WbOp{Kind: pb.WbOpKind_WB_OP_UNDO}); perr != nil {
		t.Fatal(perr)
	}
	live := b.Elements()
	if len(live) != 7 || live[len(live)-1].Id != tenth-1 {
		t.Fatalf("after undoing the two new strokes and the tenth one: %d live, last %v", len(live), live[len(live)-1])
	}
	replayed := NewBoard()
	for _, op := range log {
		replayed.Apply(proto.Clone(op).(*pb.WbOp), lim)
	}
	if !proto.Equal(replayed.Snapshot(), b.Snapshot()) {
		t.Fatal("replaying the log gives another board")
	}
}
