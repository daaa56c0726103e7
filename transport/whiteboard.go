package transport

import (
	"context"

	"liveroom/proto/pb"
)

// whiteboard forwards a whiteboard frame to the room's whiteboard grain. The
// grain answers sync and op frames itself (state, or the op with replyTo);
// live frames have no answer; a refusal comes back here as an error frame.
func (c *connection) whiteboard(ctx context.Context, id string, body *pb.WbClient) {
	if c.room == "" {
		c.fail(id, "not_joined", "Join a room first.")
		return
	}
	if body == nil || body.Body == nil {
		c.fail(id, "bad_frame", "Whiteboard frame is empty.")
		return
	}
	reply, err := c.srv.node.Whiteboard(ctx, c.room, &pb.WbRequest{Session: c.pid, FrameId: id, Body: body})
	if err != nil {
		c.fail(id, "unavailable", "The whiteboard did not answer in time; please retry.")
		return
	}
	if reply.Error != nil {
		c.fail(id, reply.Error.Code, reply.Error.Message)
	}
}
