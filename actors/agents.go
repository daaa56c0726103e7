package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"liveroom/actors/agent"
	"liveroom/actors/room"
	"liveroom/actors/short"
	"liveroom/actors/visitor"
	"liveroom/proto/pb"
)

// agentDeps fills what the agent grain shares with rooms when the caller
// left it out (tests that only set up rooms).
func (cfg NodeConfig) agentDeps() agent.Deps {
	d := cfg.Agent
	if d.Store == nil {
		d.Store = cfg.Room.Store
	}
	if d.Log == nil {
		d.Log = cfg.Room.Log.Named("agent")
	}
	if d.Settings.MaxNameChars == 0 {
		d.Settings.MaxNameChars = cfg.Room.Settings.MaxNameChars
	}
	if d.Settings.IdleTimeout == 0 {
		d.Settings.IdleTimeout = cfg.Room.Settings.IdleTimeout
	}
	if d.Settings.PasswordCost == 0 {
		d.Settings.PasswordCost = cfg.Room.Settings.PasswordCost
	}
	if d.Alive == nil {
		d.Alive = cfg.Room.Alive
	}
	if d.Metrics == nil && cfg.Room.Metrics != nil {
		d.Metrics = cfg.Room.Metrics.Cluster
	}
	if d.Settings.CallTimeout == 0 {
		d.Settings.CallTimeout = cfg.RequestTimeout
	}
	return d
}

func (n *Node) requestKind(ctx context.Context, identity, kind string, msg interface{}) (interface{}, error) {
	timeout := n.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	start := time.Now()
	res, err := n.Cluster.Request(identity, kind, msg, cluster.WithTimeout(timeout))
	n.observe(identity, kind, start)
	if err != nil || res == nil {
		n.log.Warn("grain request failed", zap.String("kind", kind), zap.String("identity", identity), zap.Error(err))
		return nil, ErrUnavailable
	}
	return res, nil
}

// AskAgent sends msg to the agent grain agentID and returns its answer as T.
func AskAgent[T any](ctx context.Context, n *Node, agentID string, msg interface{}) (T, error) {
	return typed[T](n.requestKind(ctx, agentID, agent.Kind, msg))
}

// VisitorSession sends msg to the visitor session grain key.
func (n *Node) VisitorSession(ctx context.Context, key string, msg interface{}) (*pb.VisitorSessionReply, error) {
	return typed[*pb.VisitorSessionReply](n.requestKind(ctx, key, visitor.Kind, msg))
}

// ResolveShort returns the room a short name stands for.
func (n *Node) ResolveShort(ctx context.Context, name string) (*pb.ShortReply, error) {
	return typed[*pb.ShortReply](n.requestKind(ctx, name, short.Kind, &pb.ShortResolve{}))
}

// HashPassword hashes a room password with the configured cost, on the
// caller's goroutine so the slow hash never holds up a grain.
func (n *Node) HashPassword(password string) (string, *pb.Error, error) {
	if password == "" {
		return "", nil, nil
	}
	if len(password) > 72 {
		return "", &pb.Error{Code: "invalid", Message: "password must be at most 72 bytes"}, nil
	}
	cost := n.passwordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(hash), nil, err
}

// AskRoom sends msg to the room grain roomID and returns its answer as T.
func AskRoom[T any](ctx context.Context, n *Node, roomID string, msg interface{}) (T, error) {
	return typed[T](n.requestKind(ctx, roomID, room.Kind, msg))
}
