package room

import "liveroom/proto/pb"

// whiteboard returns the room's whiteboard settings.
func (g *grain) whiteboard() *pb.WhiteboardSettings {
	if g.rec != nil && g.rec.Whiteboard != nil {
		return g.rec.Whiteboard
	}
	if g.deps.Settings.Whiteboard != nil {
		return g.deps.Settings.Whiteboard
	}
	return &pb.WhiteboardSettings{}
}

// whiteboardWho tells the whiteboard grain who a connection is. It only
// answers: the room grain never sends requests to the whiteboard grain, so
// the two cannot wait on each other.
func (g *grain) whiteboardWho(msg *pb.WbWho) *pb.WbWhoReply {
	if g.rec == nil {
		return &pb.WbWhoReply{Error: g.missing()}
	}
	m := g.memberBySession(msg.Session)
	if m == nil || m.away {
		return &pb.WbWhoReply{Error: errNotJoined}
	}
	return &pb.WbWhoReply{MemberId: m.info.MemberId, Role: m.info.Role, Settings: g.whiteboard()}
}
