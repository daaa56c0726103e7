package room

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// adminMembers is who is in the room now, for the admin panel.
func (g *grain) adminMembers() *pb.RoomAdminResult {
	if g.rec == nil {
		return &pb.RoomAdminResult{Error: g.missing()}
	}
	rec := proto.Clone(g.rec).(*pb.RoomRecord)
	rec.PasswordHash, rec.AgentKeyHash = "", nil
	return &pb.RoomAdminResult{Members: g.memberList(pb.Role_ROLE_AGENT), InCall: int32(len(g.call)), Record: rec}
}

// adminClose ends the visitor window now (visitors are refused from then
// on) and sends every member out with a room_closed error.
func (g *grain) adminClose(ctx actor.Context) *pb.RoomAdminResult {
	if g.rec == nil {
		return &pb.RoomAdminResult{Error: g.missing()}
	}
	rec := proto.Clone(g.rec).(*pb.RoomRecord)
	rec.EndsAtMs = time.Now().UnixMilli()
	if rec.StartsAtMs > rec.EndsAtMs {
		rec.StartsAtMs = 0
	}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return &pb.RoomAdminResult{Error: errInternal}
	}
	if err := g.deps.Store.Set(persistence.RoomKey(g.id), raw); err != nil {
		g.log.Error("close room", zap.Error(err))
		return &pb.RoomAdminResult{Error: errInternal}
	}
	g.rec = rec
	closed := &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: errorf("room_closed", "An administrator closed this room.")}}
	for _, m := range append([]*member(nil), g.members...) {
		if m.pid != nil {
			g.send(ctx, m.pid, closed)
			g.remove(ctx, m.pid)
		}
	}
	g.log.Info("room closed by admin")
	return g.adminMembers()
}

// emit queues a webhook event about this room, for its owner's receivers
// and the server-wide ones; it never waits on a receiver.
func (g *grain) emit(typ string, data map[string]string) {
	owner := ""
	if g.rec != nil {
		owner = g.rec.OwnerAgentId
	}
	g.deps.Events.Emit(typ, g.id, owner, data)
}

func (g *grain) emitMember(typ string, m *member) {
	g.emit(typ, map[string]string{"memberId": m.info.MemberId, "name": m.info.Name,
		"role": strings.ToLower(strings.TrimPrefix(m.info.Role.String(), "ROLE_"))})
}
