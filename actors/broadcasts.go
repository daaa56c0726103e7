package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"

	"liveroom/actors/broadcast"
	"liveroom/proto/pb"
)

func (n *Node) requestBroadcast(ctx context.Context, id string, msg interface{}) (interface{}, error) {
	timeout := n.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	res, err := n.Cluster.Request(id, broadcast.Kind, msg, cluster.WithTimeout(timeout))
	if err != nil || res == nil {
		n.log.Warn("broadcast request failed", zap.String("broadcast", id), zap.Error(err))
		return nil, ErrUnavailable
	}
	return res, nil
}

// CreateBroadcast asks the broadcast grain req.Id to create itself; a
// password must already be hashed (HashPassword).
func (n *Node) CreateBroadcast(ctx context.Context, req *pb.CreateBroadcast) (*pb.CreateBroadcastResult, error) {
	return typed[*pb.CreateBroadcastResult](n.requestBroadcast(ctx, req.Id, req))
}

// BroadcastInfo returns the public description and state of a broadcast.
func (n *Node) BroadcastInfo(ctx context.Context, id string) (*pb.GetBroadcastInfoResult, error) {
	return typed[*pb.GetBroadcastInfoResult](n.requestBroadcast(ctx, id, &pb.GetBroadcastInfo{}))
}

// TellBroadcast sends one frame of a broadcast page to its grain.
func (n *Node) TellBroadcast(ctx context.Context, id string, req *pb.BroadcastRequest) (*pb.RoomReply, error) {
	return typed[*pb.RoomReply](n.requestBroadcast(ctx, id, req))
}

// DeleteBroadcast ends broadcast id and deletes its stored state when
// agentID owns it; otherwise the result says broadcast_not_found.
func (n *Node) DeleteBroadcast(ctx context.Context, id, agentID string) (*pb.DeleteBroadcastResult, error) {
	return typed[*pb.DeleteBroadcastResult](n.requestBroadcast(ctx, id, &pb.DeleteBroadcast{AgentId: agentID}))
}
