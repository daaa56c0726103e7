package room

import (
	"github.com/asynkron/protoactor-go/actor"

	"liveroom/proto/pb"
	"liveroom/webhook"
)

// callMember is a room member's place in the room's one call.
type callMember struct {
	m     *member
	video bool
	media *pb.MediaState
}

func (g *grain) callState() *pb.CallState {
	st := &pb.CallState{}
	for _, m := range g.members {
		if c := g.call[m.info.MemberId]; c != nil {
			st.Participants = append(st.Participants, &pb.CallParticipant{Member: m.info, Video: c.video, Media: c.media})
		}
	}
	return st
}

func (g *grain) broadcastCallState(ctx actor.Context) {
	g.broadcast(ctx, nil, &pb.ServerFrame{Body: &pb.ServerFrame_CallState{CallState: g.callState()}})
}

// media returns the room's media actor, spawning it on first use as a child
// of the grain so that it lives and dies with the room on this node.
func (g *grain) media(ctx actor.Context) *actor.PID {
	if g.mediaPID == nil {
		g.mediaPID = ctx.Spawn(g.deps.Media.Props(g.id))
	}
	return g.mediaPID
}

func (g *grain) tellMedia(ctx actor.Context, m *member, frameID string, cmd *pb.MediaCommand) {
	cmd.MemberId, cmd.Session, cmd.FrameId = m.info.MemberId, m.pid, frameID
	ctx.Send(g.media(ctx), cmd)
}

func (g *grain) leaveCall(ctx actor.Context, m *member) {
	if g.call[m.info.MemberId] == nil {
		return
	}
	delete(g.call, m.info.MemberId)
	g.deps.Metrics.CallMembers.Dec()
	if len(g.call) == 0 {
		g.emit(webhook.CallEnded, nil)
	}
	g.tellMedia(ctx, m, "", &pb.MediaCommand{Body: &pb.MediaCommand_Leave{Leave: &pb.MediaLeave{}}})
	g.broadcastCallState(ctx)
	g.callChanged(ctx, nil)
}

// peerLost drops a member whose media connection failed from the call state,
// so the others' pages stop showing (and waiting for) a tile that will get no
// media; the member's browser was told and joins the call again.
func (g *grain) peerLost(ctx actor.Context, memberID string) {
	if g.call[memberID] == nil {
		return
	}
	delete(g.call, memberID)
	g.broadcastCallState(ctx)
}

func (g *grain) joinCall(ctx actor.Context, m *member, video bool) {
	if g.call[m.info.MemberId] != nil {
		return
	}
	g.call[m.info.MemberId] = &callMember{m: m, video: video, media: &pb.MediaState{VideoOff: !video}}
	g.deps.Metrics.CallMembers.Inc()
	if len(g.call) == 1 {
		g.emit(webhook.CallStarted, map[string]string{"memberId": m.info.MemberId})
	}
	g.tellMedia(ctx, m, "", &pb.MediaCommand{Body: &pb.MediaCommand_Join{Join: &pb.MediaJoin{Name: m.info.Name}}})
	g.broadcastCallState(ctx)
	g.callChanged(ctx, m)
}

var errNotInCall = errorf("not_in_call", "Join the call first.")

// onCall handles a member's call frame; the reply only says whether it was
// accepted, everything else reaches members as frames.
func (g *grain) onCall(ctx actor.Context, req *pb.CallRequest) *pb.RoomReply {
	m := g.memberBySession(req.Session)
	if m == nil {
		return &pb.RoomReply{Error: errNotJoined}
	}
	if g.deps.Media == nil {
		return &pb.RoomReply{Error: errorf("calls_disabled", "Calls are not enabled on this server.")}
	}
	in := g.call[m.info.MemberId]
	switch b := req.Body.(type) {
	case *pb.CallRequest_Recording:
		return g.onRecording(ctx, m, b.Recording)
	case *pb.CallRequest_Call:
		switch b.Call.Action {
		case pb.CallAction_ACTION_RING:
			ringing := len(g.call) == 0
			g.joinCall(ctx, m, b.Call.Video)
			if ringing {
				ev := &pb.ServerFrame{Body: &pb.ServerFrame_Call{Call: &pb.CallEvent{
					Action: pb.CallAction_ACTION_RING, From: m.info, Video: b.Call.Video}}}
				g.broadcast(ctx, m, ev)
			}
		case pb.CallAction_ACTION_ACCEPT:
			if len(g.call) == 0 {
				return &pb.RoomReply{Error: errorf("no_call", "The call has ended.")}
			}
			g.joinCall(ctx, m, b.Call.Video)
		case pb.CallAction_ACTION_DECLINE:
			ev := &pb.ServerFrame{Body: &pb.ServerFrame_Call{Call: &pb.CallEvent{Action: pb.CallAction_ACTION_DECLINE, From: m.info}}}
			for _, c := range g.call {
				g.send(ctx, c.m.pid, ev)
			}
		case pb.CallAction_ACTION_HANGUP:
			g.leaveCall(ctx, m)
		default:
			return &pb.RoomReply{Error: errorf("invalid", "Unknown call action.")}
		}
	case *pb.CallRequest_MediaState:
		if in == nil {
			return &pb.RoomReply{Error: errNotInCall}
		}
		in.media = b.MediaState
		g.broadcastCallState(ctx)
	case *pb.CallRequest_PublishOffer:
		if in == nil {
			return &pb.RoomReply{Error: errNotInCall}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: b.PublishOffer}})
	case *pb.CallRequest_SubscribeAnswer:
		if in == nil {
			return &pb.RoomReply{Error: errNotInCall}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_SubscribeAnswer{SubscribeAnswer: b.SubscribeAnswer}})
	case *pb.CallRequest_RestartIce:
		if in == nil {
			return &pb.RoomReply{Error: errNotInCall}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_RestartIce{RestartIce: b.RestartIce}})
	case *pb.CallRequest_Ice:
		if in == nil {
			return &pb.RoomReply{Error: errNotInCall}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_Ice{Ice: b.Ice}})
	default:
		return &pb.RoomReply{Error: errorf("invalid", "Empty call request.")}
	}
	return &pb.RoomReply{}
}
