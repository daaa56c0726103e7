package agent

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/room"
	"liveroom/actors/short"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// maxEntries bounds one listing of a room's entry-form records.
const maxEntries = 1000

// indexRoom adds a room to the agent's list, durably.
func (g *grain) indexRoom(info *pb.RoomInfo, shortName, agentKey string) (*pb.AgentRoom, *pb.Error) {
	ar := &pb.AgentRoom{Room: info, ShortName: shortName, AgentKey: agentKey, CreatedAtMs: time.Now().UnixMilli()}
	raw, err := proto.Marshal(ar)
	if err == nil {
		err = g.set(persistence.AgentRoomKey(g.id, info.Id), raw)
	}
	if err != nil {
		g.log.Error("store room index", zap.Error(err))
		return nil, errInternal
	}
	g.rooms[info.Id] = ar
	return ar, nil
}

// createRoom claims the short name (if any), creates the room grain, and
// lists the room; each step waits for the previous one without blocking the
// grain, and a failure undoes the claim.
func (g *grain) createRoom(ctx actor.Context, msg *pb.AgentCreateRoom) {
	if g.rec == nil {
		ctx.Respond(&pb.AgentRoomResult{Error: g.missing()})
		return
	}
	c, _ := proto.Clone(msg.GetRoom()).(*pb.CreateRoom)
	if c == nil || !persistence.ValidID(c.Id) {
		ctx.Respond(&pb.AgentRoomResult{Error: errorf("invalid", "Room id must be 1-64 letters, digits, '-' or '_'.")})
		return
	}
	if c.ShortName != "" && !persistence.ValidID(c.ShortName) {
		ctx.Respond(&pb.AgentRoomResult{Error: errorf("invalid", "Short name must be 1-64 letters, digits, '-' or '_'.")})
		return
	}
	c.OwnerAgentId = g.id
	if c.AgentName == "" {
		c.AgentName = g.rec.Name
	}
	if c.ShortName == "" {
		g.createRoomGrain(ctx, c)
		return
	}
	g.call(ctx, c.ShortName, short.Kind, &pb.ShortClaim{RoomId: c.Id, AgentId: g.id}, func(res interface{}, err error) {
		r, _ := res.(*pb.ShortReply)
		if err != nil || r == nil {
			ctx.Respond(&pb.AgentRoomResult{Error: errorf("unavailable", "The server did not answer in time; please retry.")})
			return
		}
		if r.Error != nil {
			ctx.Respond(&pb.AgentRoomResult{Error: r.Error})
			return
		}
		g.createRoomGrain(ctx, c)
	})
}

func (g *grain) createRoomGrain(ctx actor.Context, c *pb.CreateRoom) {
	g.call(ctx, c.Id, room.Kind, c, func(res interface{}, err error) {
		r, _ := res.(*pb.CreateRoomResult)
		if err != nil || r == nil || r.Error != nil {
			if c.ShortName != "" {
				g.releaseShort(ctx, c.ShortName, c.Id, nil)
			}
			perr := r.GetError()
			if perr == nil {
				perr = errorf("unavailable", "The room service did not answer in time; please retry.")
			}
			ctx.Respond(&pb.AgentRoomResult{Error: perr})
			return
		}
		ar, perr := g.indexRoom(r.Room, c.ShortName, r.AgentKey)
		if perr != nil {
			ctx.Respond(&pb.AgentRoomResult{Error: perr})
			return
		}
		g.log.Info("room created for agent", zap.String("room", c.Id))
		ctx.Respond(&pb.AgentRoomResult{Room: ar})
	})
}

func (g *grain) releaseShort(ctx actor.Context, name, roomID string, then func(*pb.Error)) {
	g.call(ctx, name, short.Kind, &pb.ShortRelease{RoomId: roomID}, func(res interface{}, err error) {
		r, _ := res.(*pb.ShortReply)
		var perr *pb.Error
		if err != nil || r == nil || r.Error != nil {
			g.log.Warn("release short name", zap.String("name", name), zap.Error(err), zap.Any("error", r.GetError()))
			perr = errorf("unavailable", "The short name could not be released; please retry.")
		}
		if then != nil {
			then(perr)
		}
	})
}

func (g *grain) listRooms() *pb.AgentRoomList {
	if g.rec == nil {
		return &pb.AgentRoomList{Error: g.missing()}
	}
	out := make([]*pb.AgentRoom, 0, len(g.rooms))
	for _, r := range g.rooms {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAtMs != out[j].CreatedAtMs {
			return out[i].CreatedAtMs > out[j].CreatedAtMs
		}
		return out[i].Room.GetId() < out[j].Room.GetId()
	})
	return &pb.AgentRoomList{Rooms: out}
}

func (g *grain) getRoom(msg *pb.AgentGetRoom) *pb.AgentRoomResult {
	if g.rec == nil {
		return &pb.AgentRoomResult{Error: g.missing()}
	}
	if ar := g.rooms[msg.RoomId]; msg.RoomId != "" && ar != nil {
		return &pb.AgentRoomResult{Room: ar}
	}
	if msg.ShortName != "" {
		for _, ar := range g.rooms {
			if ar.ShortName == msg.ShortName {
				return &pb.AgentRoomResult{Room: ar}
			}
		}
	}
	return &pb.AgentRoomResult{Error: errNoRoom}
}

// deleteRoom deletes the room grain's data, frees its short name, and drops
// it from the list, in that order, so a failure halfway can be retried.
func (g *grain) deleteRoom(ctx actor.Context, msg *pb.AgentDeleteRoom) {
	if g.rec == nil {
		ctx.Respond(&pb.AgentReply{Error: g.missing()})
		return
	}
	ar := g.rooms[msg.RoomId]
	if ar == nil {
		ctx.Respond(&pb.AgentReply{Error: errNoRoom})
		return
	}
	id := msg.RoomId
	g.call(ctx, id, room.Kind, &pb.DeleteRoom{}, func(res interface{}, err error) {
		r, _ := res.(*pb.DeleteRoomResult)
		if err != nil || r == nil {
			ctx.Respond(&pb.AgentReply{Error: errorf("unavailable", "The room service did not answer in time; please retry.")})
			return
		}
		if r.Error != nil && r.Error.Code != "room_not_found" {
			ctx.Respond(&pb.AgentReply{Error: r.Error})
			return
		}
		finish := func(perr *pb.Error) {
			if perr != nil {
				ctx.Respond(&pb.AgentReply{Error: perr})
				return
			}
			if err := g.del(persistence.AgentRoomKey(g.id, id)); err != nil {
				g.log.Error("delete room index", zap.Error(err))
				ctx.Respond(&pb.AgentReply{Error: errInternal})
				return
			}
			delete(g.rooms, id)
			g.dropScope(ctx, id)
			g.log.Info("room deleted by agent", zap.String("room", id))
			ctx.Respond(&pb.AgentReply{})
		}
		if ar.ShortName != "" {
			g.releaseShort(ctx, ar.ShortName, id, finish)
			return
		}
		finish(nil)
	})
}

// dropScope ends what watched a deleted room: visitors of its button are told
// no one is there, and agent pages watching only it fall back to all rooms.
func (g *grain) dropScope(ctx actor.Context, roomID string) {
	for _, s := range g.sockets {
		if s.scope == roomID {
			s.scope = ""
			ctx.Send(s.pid, &pb.AgentServerFrame{Body: &pb.AgentServerFrame_Status{Status: g.status(s)}})
		}
	}
	for _, r := range append([]*request(nil), g.queue...) {
		if r.info.RoomId == roomID && !r.accepting {
			g.decline(ctx, r, "This room no longer exists.", "declined")
		}
	}
}

func (g *grain) listEntries(msg *pb.AgentListEntries) *pb.AgentEntryList {
	if g.rec == nil {
		return &pb.AgentEntryList{Error: g.missing()}
	}
	if g.rooms[msg.RoomId] == nil {
		return &pb.AgentEntryList{Error: errNoRoom}
	}
	var out []*pb.EntryRecord
	p := persistence.EntryPrefix(msg.RoomId)
	var derr error
	err := g.deps.Store.Scan(p, persistence.PrefixEnd(p), false, maxEntries, func(_, v []byte) bool {
		e := &pb.EntryRecord{}
		if derr = proto.Unmarshal(v, e); derr != nil {
			return false
		}
		out = append(out, e)
		return true
	})
	if err != nil || derr != nil {
		g.log.Error("list entries", zap.Error(err), zap.NamedError("decode", derr))
		return &pb.AgentEntryList{Error: errInternal}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JoinedAtMs > out[j].JoinedAtMs })
	return &pb.AgentEntryList{Entries: out}
}
