package room

import (
	"crypto/sha256"
	"crypto/subtle"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// A member whose connection drops without a goodbye (a phone switching from
// Wi-Fi to cellular, a tunnel) stays in the room, and in its call, for the
// resume grace period. Coming back with the resume token from its joined
// frame continues the same membership: same member id, same call, and the
// peer connections survive with an ICE restart instead of a new call.

func newResumeToken() (string, [32]byte) {
	tok := randomToken(24)
	return tok, sha256.Sum256([]byte(tok))
}

func (g *grain) memberByResume(token string) *member {
	sum := sha256.Sum256([]byte(token))
	for _, m := range g.members {
		if subtle.ConstantTimeCompare(sum[:], m.resumeHash[:]) == 1 {
			return m
		}
	}
	return nil
}

// away is how the grain learns that a session actor stopped: its socket is
// gone. Without an explicit Leave first, the member gets the grace period.
func (g *grain) away(ctx actor.Context, pid *actor.PID) {
	m := g.memberBySession(pid)
	if m == nil {
		return
	}
	g.markAway(ctx, m)
}

// markAway starts m's resume grace, or removes it when there is none.
func (g *grain) markAway(ctx actor.Context, m *member) {
	grace := g.deps.Settings.ResumeGrace
	m.away = true
	if grace <= 0 {
		g.remove(ctx, m.pid)
		return
	}
	m.awayEpoch++
	msg := &pb.MemberAwayExpired{MemberId: m.info.MemberId, Epoch: m.awayEpoch}
	self, system := ctx.Self(), ctx.ActorSystem()
	time.AfterFunc(grace, func() { system.Root.Send(self, msg) })
}

func (g *grain) expire(ctx actor.Context, msg *pb.MemberAwayExpired) {
	for _, m := range g.members {
		if m.info.MemberId == msg.MemberId && m.away && m.awayEpoch == msg.Epoch {
			g.log.Debug("member did not come back", zap.String("member", m.info.MemberId))
			g.remove(ctx, m.pid)
			return
		}
	}
}

// resume moves member m onto the joining session.
func (g *grain) resume(ctx actor.Context, msg *pb.Join, m *member) {
	history, more, err := g.joinHistory(msg.GetRequest().GetLastSeq())
	if err != nil {
		g.log.Error("read history", zap.Error(err))
		ctx.Respond(&pb.RoomReply{Error: errInternal})
		return
	}
	// The new session and token are stored before anyone relies on them, so
	// the room can move to another node and still know this member.
	token, hash := newResumeToken()
	moved := *m
	moved.pid, moved.resumeHash = msg.Session, hash
	var b persistence.Batch
	if err = g.storeMember(&b, &moved); err == nil {
		err = g.write(ctx, &b)
	}
	if err != nil {
		g.log.Error("store member", zap.Error(err))
		ctx.Respond(&pb.RoomReply{Error: errInternal})
		return
	}
	if !m.away {
		// The old socket is not known dead yet; from now on it is ignored.
		ctx.Unwatch(m.pid)
	}
	m.pid, m.away = msg.Session, false
	m.awayEpoch++ // a pending expiry no longer applies
	ctx.Watch(m.pid)
	m.resumeHash = hash
	if g.call[m.info.MemberId] != nil {
		g.tellMedia(ctx, m, "", &pb.MediaCommand{Body: &pb.MediaCommand_Rebind{Rebind: &pb.MediaRebind{}}})
	}
	role := m.info.Role
	g.send(ctx, m.pid, &pb.ServerFrame{ReplyTo: msg.FrameId, Body: &pb.ServerFrame_Joined{Joined: &pb.Joined{
		MemberId: m.info.MemberId, Role: role, Room: g.info(), Members: g.memberList(role),
		History: history, MoreHistory: more,
		AccessToken: g.issueToken(m),
		Call:        g.callState(), IceServers: g.iceServers(), ResumeToken: token, Resumed: true,
		Recording: g.recordingState(),
	}}})
	ctx.Respond(&pb.RoomReply{})
}
