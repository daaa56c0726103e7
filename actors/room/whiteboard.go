package room

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"liveroom/proto/pb"
)

// WhiteboardKind is the cluster kind of whiteboard grains (defined here
// because the whiteboard package imports this one).
const WhiteboardKind = "whiteboard"

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
	return &pb.WbWhoReply{MemberId: m.info.MemberId, Role: m.info.Role, Settings: g.whiteboard(),
		Generation: g.rec.Generation}
}

// whiteboardGone tells the room's whiteboard grain, one way, that the room of
// generation was deleted; deleteRoom has already removed the board's keys.
// Without it the grain would keep the old board in memory, and connections
// that had it could go on drawing (and storing) after the delete.
//
// It is a one-way message, never a request, so the room still never waits on
// the whiteboard grain (which asks the room, WbWho). Finding the grain's PID
// may ask the cluster, so that runs off the room's turn. Should the message be
// lost (a node going away), the whiteboard grain still notices the change:
// every WbWho reply carries the room's generation, and a board kept for
// another generation is dropped before a member of the new room sees it.
func (g *grain) whiteboardGone(ctx actor.Context, generation string) {
	system, id := ctx.ActorSystem(), g.id
	msg := &pb.WbRoomDeleted{Generation: generation}
	go func() {
		c := cluster.GetCluster(system)
		if c == nil {
			return
		}
		if pid := c.Get(id, WhiteboardKind); pid != nil {
			system.Root.Send(pid, msg)
		}
	}()
}
