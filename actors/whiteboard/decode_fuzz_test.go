package whiteboard

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// seedBoard is an open board with a few elements on two pages.
func seedBoard(lim Limits) *Board {
	b := NewBoard()
	agent := Who{MemberID: "a", Role: pb.Role_ROLE_AGENT}
	ops := []*pb.WbOp{
		{Kind: pb.WbOpKind_WB_OP_OPEN},
		{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Shape: pb.WbShape_WB_SHAPE_PEN, Points: []int32{1, 2, 3, 4}, Color: "#000000", Width: 2}},
		{Kind: pb.WbOpKind_WB_OP_PAGE_ADD},
		{Kind: pb.WbOpKind_WB_OP_ADD, Element: &pb.WbElement{Page: 1, Shape: pb.WbShape_WB_SHAPE_TEXT, Points: []int32{5, 5}, Color: "#ff0000", Width: 20, Text: "hi"}},
	}
	for _, op := range ops {
		if perr := b.Check(op, agent, false, lim, nil); perr != nil {
			panic(perr.Message)
		}
		op.Seq, op.MemberId = b.Seq()+1, agent.MemberID
		b.Apply(op, lim)
	}
	return b
}

// FuzzWhiteboardFrame feeds arbitrary bytes to the whiteboard frame decoder
// (protojson, as the socket does) and the board's checks. Whatever passes the
// checks must apply without a panic, stay within the limits, and give a
// client mirror the same board as the server's.
func FuzzWhiteboardFrame(f *testing.F) {
	for _, s := range []string{
		`{"op":{"kind":"WB_OP_ADD","element":{"shape":"WB_SHAPE_PEN","points":[1,2,3,4,5,6],"color":"#123456","width":3}}}`,
		`{"op":{"kind":"WB_OP_ADD","element":{"page":1,"shape":"WB_SHAPE_RECT","points":[0,0,100,50],"color":"#ffffff","width":200}}}`,
		`{"op":{"kind":"WB_OP_ADD","element":{"shape":"WB_SHAPE_TEXT","points":[9,9],"color":"#000000","width":24,"text":"a\nb"}}}`,
		`{"op":{"kind":"WB_OP_ADD","element":{"shape":"WB_SHAPE_IMAGE","points":[0,0,9,9],"imageId":"abc"}}}`,
		`{"op":{"kind":"WB_OP_ERASE","ids":["2","2","99"]}}`,
		`{"op":{"kind":"WB_OP_MOVE","ids":["2"],"dx":100000,"dy":-5}}`,
		`{"op":{"kind":"WB_OP_CLEAR","allPages":true}}`,
		`{"op":{"kind":"WB_OP_UNDO"}}`,
		`{"op":{"kind":"WB_OP_REDO"}}`,
		`{"op":{"kind":"WB_OP_PAGE_GO","page":4294967295}}`,
		`{"op":{"kind":"WB_OP_PAGES_ADD","pages":[{"backgroundId":"x"}]}}`,
		`{"op":{"kind":"WB_OP_MODE","visitors":true}}`,
		`{"live":{"points":[1,2],"laser":true}}`,
		`{"live":{"points":[1,2,3],"color":"#zzzzzz"}}`,
		`{"sync":{"sinceSeq":"18446744073709551615"}}`,
		`{"op":{"kind":7,"seq":"5","memberId":"spoof","restored":[{"id":"1"}]}}`,
		`{"op":{}}`, `{}`, `[]`, `{"op":{"element":{"points":[2147483647,-2147483648]}}}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	lim := DefaultLimits()
	lim.MaxPoints, lim.MaxElements, lim.MaxPages = 64, 8, 4
	f.Fuzz(func(t *testing.T, data []byte, agent bool) {
		msg := &pb.WbClient{}
		if err := protojson.Unmarshal(data, msg); err != nil {
			return
		}
		b := seedBoard(lim)
		who := Who{MemberID: "v", Role: pb.Role_ROLE_VISITOR}
		if agent {
			who = Who{MemberID: "a", Role: pb.Role_ROLE_AGENT}
		}
		if l := msg.GetLive(); l != nil {
			if b.CheckLive(l, lim) == nil && len(l.Points) > lim.MaxPoints {
				t.Fatalf("live frame with %d numbers passed", len(l.Points))
			}
			return
		}
		op := msg.GetOp()
		if op == nil {
			return
		}
		if perr := b.Check(op, who, true, lim, func(string) bool { return false }); perr != nil {
			if perr.Code == "" || perr.Message == "" {
				t.Fatalf("refusal without code or message: %v", perr)
			}
			return
		}
		m := NewMirror(b.View())
		// What the grain does with an accepted op.
		op = proto.Clone(op).(*pb.WbOp)
		op.Seq, op.MemberId, op.Target, op.Restored = b.Seq()+1, who.MemberID, 0, nil
		if op.Kind != pb.WbOpKind_WB_OP_PAGES_ADD {
			op.Pages = nil
		}
		b.Apply(op, lim)
		if b.Len() > lim.MaxElements || len(b.pages) > lim.MaxPages || int(b.page) >= len(b.pages) {
			t.Fatalf("limits broken: %d elements, %d pages, page %d", b.Len(), len(b.pages), b.page)
		}
		for _, e := range b.elems {
			for _, v := range e.Points {
				if v > lim.MaxCoord || v < -lim.MaxCoord {
					t.Fatalf("element %d has a point outside the board: %d", e.Id, v)
				}
			}
		}
		// The op goes over the wire and a client applies it.
		raw, err := protojson.Marshal(op)
		if err != nil {
			t.Fatalf("accepted op cannot be encoded: %v", err)
		}
		wire := &pb.WbOp{}
		if err := protojson.Unmarshal(raw, wire); err != nil {
			t.Fatal(err)
		}
		if !m.Apply(wire) {
			t.Fatal("mirror refused the next op")
		}
		view := b.View()
		if len(view.Elements) != len(m.Elems) || m.Page != view.Page || m.Pages != len(view.Pages) {
			t.Fatalf("mirror differs: %d/%d elements, page %d/%d", len(m.Elems), len(view.Elements), m.Page, view.Page)
		}
		for _, e := range view.Elements {
			if !proto.Equal(m.Elems[e.Id], e) {
				t.Fatalf("mirror element %d differs", e.Id)
			}
		}
	})
}
