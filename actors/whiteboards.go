package actors

import (
	"context"

	"liveroom/actors/whiteboard"
	"liveroom/proto/pb"
)

// whiteboardDeps fills what the whiteboard grain shares with rooms when the
// caller left it out (tests that only set up rooms).
func (cfg NodeConfig) whiteboardDeps() whiteboard.Deps {
	d := cfg.Whiteboard
	if d.Store == nil {
		d.Store = cfg.Room.Store
	}
	if d.Log == nil {
		d.Log = cfg.Room.Log.Named("whiteboard")
	}
	if d.Metrics == nil {
		d.Metrics = cfg.Room.Metrics
	}
	if d.Settings.SnapshotEvery == 0 {
		def := whiteboard.DefaultSettings()
		def.Default = cfg.Room.Settings.Whiteboard
		if def.Default == nil {
			def.Default = &pb.WhiteboardSettings{Enabled: true}
		}
		if cfg.Room.Settings.IdleTimeout > 0 {
			def.IdleTimeout = cfg.Room.Settings.IdleTimeout
		}
		if cfg.RequestTimeout > 0 {
			def.RequestTimeout = cfg.RequestTimeout
		}
		d.Settings = def
	}
	return d
}

// Whiteboard sends msg (WbRequest, WbAddPages, WbCheckMember) to a room's
// whiteboard grain and returns its reply.
func (n *Node) Whiteboard(ctx context.Context, roomID string, msg interface{}) (*pb.WbReply, error) {
	return typed[*pb.WbReply](n.requestKind(ctx, roomID, whiteboard.Kind, msg))
}
