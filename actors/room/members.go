package room

import (
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/session"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// In a cluster a room's grain can move: its node dies, or the cluster
// changes and the room's owner is now another node. The new activation must
// go on where the old one stopped, from the store alone:
//
//   - Fencing. Every activation of an existing room takes the next
//     generation of the room's fence before it reads anything, and every write
//     requires it. An older activation still running somewhere (a paused node
//     that wakes up) finds its writes refused and stops; its last chat seq was
//     read by the newer one, so seqs never repeat or go back.
//   - Members. Each member is stored with the room (who, the session actor's
//     PID, the resume token's hash). The new activation watches the sessions
//     again: those on live nodes carry on without noticing, and those whose
//     node died get Terminated, wait out the resume grace, and come back
//     through any node with their resume token.

// takeFence claims this activation's generation of the room.
func (g *grain) takeFence() error {
	f, err := persistence.TakeFence(g.deps.Store, persistence.FenceKey(Kind, g.id))
	if err != nil {
		return err
	}
	g.fence = f
	return nil
}

// write applies b under this activation's fence. Losing the fence means a
// newer activation owns the room: this one stops at once.
func (g *grain) write(ctx actor.Context, b *persistence.Batch) error {
	if g.fence == nil {
		if err := g.takeFence(); err != nil {
			return err
		}
	}
	err := g.fence.Apply(b)
	if errors.Is(err, persistence.ErrConflict) {
		g.supersede(ctx)
	}
	return err
}

// supersede stops this activation without telling the members anything:
// they belong to the newer activation now.
func (g *grain) supersede(ctx actor.Context) {
	if g.superseded {
		return
	}
	g.superseded = true
	g.log.Warn("a newer activation of this room took over; stopping this one",
		zap.Uint64("generation", g.fence.Generation()))
	if g.deps.Metrics != nil && g.deps.Metrics.Cluster != nil {
		g.deps.Metrics.Cluster.Superseded.WithLabelValues(Kind).Inc()
	}
	for _, m := range g.members {
		ctx.Unwatch(m.pid)
	}
	g.members = nil
	g.call = map[string]*callMember{}
	ctx.Stop(ctx.Self())
}

func memberRecord(m *member) ([]byte, error) {
	return proto.Marshal(&pb.RoomMemberRecord{Member: m.info, Email: m.email,
		SessionAddress: m.pid.GetAddress(), SessionId: m.pid.GetId(), ResumeHash: m.resumeHash[:],
		JoinedAtMs: m.joinedAtMs})
}

// storeMember adds m's record to b.
func (g *grain) storeMember(b *persistence.Batch, m *member) error {
	raw, err := memberRecord(m)
	if err != nil {
		return err
	}
	b.Set(persistence.MemberKey(g.id, m.info.MemberId), raw)
	return nil
}

// loadMembers reads the stored members, oldest first.
func (g *grain) loadMembers() ([]*member, error) {
	var out []*member
	var derr error
	p := persistence.MemberPrefix(g.id)
	err := g.deps.Store.Scan(p, persistence.PrefixEnd(p), false, 0, func(_, v []byte) bool {
		rec := &pb.RoomMemberRecord{}
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		if rec.Member == nil || rec.SessionId == "" || len(rec.ResumeHash) != 32 {
			return true
		}
		m := &member{info: rec.Member, email: rec.Email, pid: actor.NewPID(rec.SessionAddress, rec.SessionId),
			joinedAtMs: rec.JoinedAtMs}
		copy(m.resumeHash[:], rec.ResumeHash)
		out = append(out, m)
		return true
	})
	if err == nil {
		err = derr
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].joinedAtMs < out[j].joinedAtMs })
	return out, err
}

// adoptMembers takes over the members a previous activation stored: their
// sessions are watched again, so one on a dead node is soon known gone.
func (g *grain) adoptMembers(ctx actor.Context) {
	if len(g.members) == 0 {
		return
	}
	gone := 0
	// The call, if there was one, ran on the old node and is gone with it:
	// members still connected are told so, and their pages join it again
	// (on this node's media) as after a reconnect.
	ended := &pb.ServerFrame{Body: &pb.ServerFrame_CallState{CallState: &pb.CallState{}}}
	var live []*actor.PID
	for _, m := range append([]*member(nil), g.members...) {
		addr := m.pid.GetAddress()
		if addr == ctx.Self().GetAddress() || g.deps.Alive == nil || g.deps.Alive(addr) {
			ctx.Watch(m.pid)
			g.send(ctx, m.pid, ended)
			live = append(live, m.pid)
			continue
		}
		// Its node has left the cluster: no use dialling it. The member
		// gets the resume grace to come back through another node.
		gone++
		g.markAway(ctx, m)
	}
	// The activation before may have stored messages and died before
	// sending them: members still connected get the last minute's again
	// (pages ignore a seq they already hold).
	if frames := g.lastMinuteChat(); len(frames) > 0 && len(live) > 0 {
		session.Deliver(ctx, frames, live, nil, g.deps.Metrics)
	}
	g.log.Info("room re-activated with its members", zap.Int("members", len(g.members)), zap.Int("on_nodes_gone", gone),
		zap.Uint64("generation", g.fence.Generation()))
}

// forgetMember deletes a member's record; a failure only leaves a record that
// the next activation will find dead and expire.
func (g *grain) forgetMember(ctx actor.Context, m *member) {
	var b persistence.Batch
	b.Delete(persistence.MemberKey(g.id, m.info.MemberId))
	if err := g.write(ctx, &b); err != nil && !errors.Is(err, persistence.ErrConflict) {
		g.log.Warn("forget member", zap.String("member", m.info.MemberId), zap.Error(err))
	}
}

func nowMs() int64 { return time.Now().UnixMilli() }

// lastMinuteChat is the recent stored messages (see recentChat) sent in the
// last minute, oldest first, encoded, at most maxChatBatch of them.
func (g *grain) lastMinuteChat() [][]byte {
	since := nowMs() - 60_000
	var frames [][]byte
	for i := len(g.recentOrder) - 1; i >= 0 && len(frames) < maxChatBatch; i-- {
		m := g.recentChat[g.recentOrder[i]]
		if m.GetSentAtMs() < since {
			break
		}
		frames = append(frames, session.Encode(&pb.ServerFrame{Body: &pb.ServerFrame_Chat{Chat: m}}))
	}
	slices.Reverse(frames)
	return frames
}
