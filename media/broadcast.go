package media

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"liveroom/proto/pb"
)

// BroadcastProps returns the media actor of one broadcast: the room's
// forwarding (every published track goes to every other peer) with
// receive-only viewers. A viewer's offer to send anything is refused, so a
// viewer link can never put media in front of the audience.
func (e *Engine) BroadcastProps(broadcastID string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &broadcastMedia{
			room: room{e: e, id: broadcastID, log: e.log.With(zap.String("broadcast", broadcastID)),
				peers: map[string]*peer{}, tracks: map[string]*forwarded{}, stripExtensions: true},
			viewers: map[string]bool{}, whep: map[string]*whepPlayer{},
		}
	})
}

type broadcastMedia struct {
	room
	viewers map[string]bool
	// whep holds WHEP players: answered once, never renegotiated; their
	// slots follow the broadcast's tracks (whep.go).
	whep map[string]*whepPlayer
}

func (b *broadcastMedia) Receive(ctx actor.Context) {
	if c, ok := ctx.Message().(*pb.MediaCommand); ok {
		switch body := c.Body.(type) {
		case *pb.MediaCommand_Join:
			if b.peers[c.MemberId] == nil {
				if body.Join.GetReceiveOnly() {
					b.viewers[c.MemberId] = true
				} else {
					delete(b.viewers, c.MemberId)
				}
			}
		case *pb.MediaCommand_Leave:
			delete(b.viewers, c.MemberId)
			if b.whep[c.MemberId] != nil {
				b.closeWHEP(c.MemberId)
				return
			}
		case *pb.MediaCommand_WhepOffer:
			b.whepOffer(ctx, c, body.WhepOffer)
			return
		case *pb.MediaCommand_PublishOffer:
			if b.viewers[c.MemberId] && offersToSend(body.PublishOffer.GetSdp()) {
				b.fail(ctx, c.Session, c.FrameId, "receive_only", "Viewers cannot send media.")
				return
			}
		}
	}
	switch msg := ctx.Message().(type) {
	case *connectionBad:
		if q := b.whep[msg.member]; q != nil && q.pc == msg.pc {
			b.closeWHEP(msg.member)
			b.fail(ctx, q.session, "", msg.code, "The media connection was lost.")
			return
		}
	case *iceDeadline:
		if q := b.whep[msg.member]; q != nil && q.pc == msg.pc {
			if s := msg.pc.ICEConnectionState(); s != webrtc.ICEConnectionStateConnected && s != webrtc.ICEConnectionStateCompleted {
				ctx.Send(b.self, &connectionBad{member: msg.member, pc: msg.pc, code: "ice_timeout"})
			}
			return
		}
	case *actor.Stopping:
		for id := range b.whep {
			b.closeWHEP(id)
		}
	}
	b.room.Receive(ctx)
	if len(b.whep) > 0 {
		// A track may have come or gone: the players' slots follow.
		b.syncWHEP()
	}
}

// offersToSend reports whether an offer has a section that sends media, or
// cannot be read (which is refused the same way).
func offersToSend(raw string) bool {
	d := &sdp.SessionDescription{}
	if d.UnmarshalString(raw) != nil {
		return true
	}
	return sendingSections(d) > 0
}
