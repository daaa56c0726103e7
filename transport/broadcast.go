package transport

import (
	"context"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// A socket joins either a room or a broadcast. Once in a broadcast, chat and
// media frames go to the broadcast grain instead of a room grain.

// dispatchBroadcast handles f when it concerns a broadcast; it reports
// whether it did.
func (c *connection) dispatchBroadcast(ctx context.Context, f *pb.ClientFrame) bool {
	req := &pb.BroadcastRequest{Session: c.pid, FrameId: f.Id}
	switch b := f.Body.(type) {
	case *pb.ClientFrame_BroadcastJoin:
		if c.room != "" || c.broadcast != "" {
			c.fail(f.Id, "already_joined", "This connection is already in a room or broadcast.")
			return true
		}
		if b.BroadcastJoin == nil || !persistence.ValidID(b.BroadcastJoin.BroadcastId) {
			c.fail(f.Id, "invalid", "Broadcast id must be 1-64 letters, digits, '-' or '_'.")
			return true
		}
		req.Body = &pb.BroadcastRequest_Join{Join: b.BroadcastJoin}
		answered := c.join.asked()
		reply, err := c.srv.node.TellBroadcast(ctx, b.BroadcastJoin.BroadcastId, req)
		answered()
		if c.answer(f.Id, reply, err) {
			c.joined()
			c.broadcast = b.BroadcastJoin.BroadcastId
		}
		return true
	case *pb.ClientFrame_BroadcastControl:
		req.Body = &pb.BroadcastRequest_Control{Control: b.BroadcastControl}
	default:
		if c.broadcast == "" {
			return false
		}
		switch b := f.Body.(type) {
		case *pb.ClientFrame_Chat:
			req.Body = &pb.BroadcastRequest_Chat{Chat: b.Chat}
		case *pb.ClientFrame_PublishOffer:
			req.Body = &pb.BroadcastRequest_PublishOffer{PublishOffer: b.PublishOffer}
		case *pb.ClientFrame_SubscribeAnswer:
			req.Body = &pb.BroadcastRequest_SubscribeAnswer{SubscribeAnswer: b.SubscribeAnswer}
		case *pb.ClientFrame_Ice:
			req.Body = &pb.BroadcastRequest_Ice{Ice: b.Ice}
		case *pb.ClientFrame_RestartIce:
			req.Body = &pb.BroadcastRequest_RestartIce{RestartIce: b.RestartIce}
		default:
			c.fail(f.Id, "bad_frame", "That frame is not used in a broadcast.")
			return true
		}
	}
	if c.broadcast == "" {
		c.fail(f.Id, "not_joined", "Join the broadcast first.")
		return true
	}
	reply, err := c.srv.node.TellBroadcast(ctx, c.broadcast, req)
	if c.answer(f.Id, reply, err) {
		switch f.Body.(type) {
		case *pb.ClientFrame_BroadcastControl, *pb.ClientFrame_RestartIce:
			c.out.Push(&pb.ServerFrame{ReplyTo: f.Id, Body: &pb.ServerFrame_Ack{Ack: &pb.Ack{}}})
		}
	}
	return true
}

// leaveBroadcast tells the grain a client that closed its socket has left.
func (c *connection) leaveBroadcast(ctx context.Context) {
	_, _ = c.srv.node.TellBroadcast(ctx, c.broadcast, &pb.BroadcastRequest{Session: c.pid,
		Body: &pb.BroadcastRequest_Leave{Leave: &pb.BroadcastLeave{}}})
}
