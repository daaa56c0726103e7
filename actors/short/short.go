// Package short is the short-name grain: one virtual actor per short name, so
// that claiming a name is decided in one place even when two rooms ask for it
// at the same moment on different nodes.
package short

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Kind is the cluster kind name of short-name grains.
const Kind = "short"

// Deps are shared by every short-name grain on a node.
type Deps struct {
	Store persistence.Store
	Log   *zap.Logger
}

// NewKind returns the cluster kind that activates short-name grains.
func NewKind(d Deps) *cluster.Kind {
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{deps: d}
	}))
}

type grain struct {
	deps    Deps
	name    string
	rec     *pb.ShortNameRecord
	loadErr error

	// fenced is this activation's claim on the name's record. Like room and
	// agent grains, a short-name grain can briefly run twice during a
	// topology change; each activation that writes first takes the next
	// generation of the name's fence and writes only under it, so an older
	// activation (a paused node waking up) can neither give the name to a
	// second room nor free a name the newer one gave out. Its write fails
	// and it stops after the message at hand.
	fenced *persistence.Claim
}

func errorf(code, msg string) *pb.Error { return &pb.Error{Code: code, Message: msg} }

var (
	errInternal = errorf("internal", "The server could not store that; please try again.")
	errNotFound = errorf("not_found", "No room has this short name.")
)

func (g *grain) Receive(ctx actor.Context) {
	defer func() {
		if g.fenced != nil && g.fenced.Lost() {
			ctx.Stop(ctx.Self())
		}
	}()
	switch msg := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.name = msg.Identity.Identity
		g.fenced = persistence.NewClaim(g.deps.Store, persistence.FenceKey(Kind, g.name), func(gen uint64) {
			g.deps.Log.Warn("a newer activation of this short name took over; stopping this one",
				zap.String("name", g.name), zap.Uint64("generation", gen))
		})
		g.load()
		// Names are looked up rarely; nothing needs to stay in memory.
		ctx.SetReceiveTimeout(idleTimeout)
	case *actor.ReceiveTimeout:
		ctx.Poison(ctx.Self())
	case *pb.ShortResolve:
		switch {
		case g.loadErr != nil:
			ctx.Respond(&pb.ShortReply{Error: errInternal})
		case g.rec == nil:
			ctx.Respond(&pb.ShortReply{Error: errNotFound})
		default:
			ctx.Respond(&pb.ShortReply{Record: g.rec})
		}
	case *pb.ShortClaim:
		ctx.Respond(g.claim(msg))
	case *pb.ShortRelease:
		ctx.Respond(g.release(msg))
	}
}

// load reads the name's record. A name in use is fenced at once: its
// activation may release it. A free name is fenced only when it is claimed
// (most activations just resolve a name, and need not write).
func (g *grain) load() {
	rec, err := g.read()
	if err == nil && rec != nil {
		if _, err = g.fenced.Ensure(); err == nil {
			rec, err = g.read()
		}
	}
	if err != nil {
		g.loadErr = err
		g.deps.Log.Error("load short name", zap.String("name", g.name), zap.Error(err))
		return
	}
	g.rec = rec
}

func (g *grain) read() (*pb.ShortNameRecord, error) {
	rec := &pb.ShortNameRecord{}
	found, err := persistence.GetRecord(g.deps.Store, persistence.ShortKey(g.name), rec)
	if err != nil || !found {
		return nil, err
	}
	return rec, nil
}

func (g *grain) claim(msg *pb.ShortClaim) *pb.ShortReply {
	if g.loadErr != nil {
		return &pb.ShortReply{Error: errInternal}
	}
	if !persistence.ValidID(g.name) || !persistence.ValidID(msg.RoomId) {
		return &pb.ShortReply{Error: errorf("invalid", "short name must be 1-64 letters, digits, '-' or '_'")}
	}
	if g.rec != nil {
		if g.rec.RoomId == msg.RoomId && g.rec.AgentId == msg.AgentId {
			return &pb.ShortReply{Record: g.rec} // a retried claim
		}
		return &pb.ShortReply{Error: errorf("short_name_taken", "This short name is already in use.")}
	}
	// The first write of this activation: fence, then read again, as
	// another activation may have claimed the name since load.
	if taken, err := g.fenced.Ensure(); err != nil || taken {
		var cur *pb.ShortNameRecord
		if err == nil {
			cur, err = g.read()
		}
		if err != nil {
			g.fenced.Forget()
			g.deps.Log.Error("fence short name", zap.String("name", g.name), zap.Error(err))
			return &pb.ShortReply{Error: errInternal}
		}
		if cur != nil {
			g.rec = cur
			return g.claim(msg)
		}
	}
	rec := &pb.ShortNameRecord{RoomId: msg.RoomId, AgentId: msg.AgentId}
	raw, err := proto.Marshal(rec)
	if err == nil {
		var b persistence.Batch
		b.Set(persistence.ShortKey(g.name), raw)
		err = g.fenced.Apply(&b)
	}
	if err != nil {
		g.deps.Log.Error("store short name", zap.String("name", g.name), zap.Error(err))
		return &pb.ShortReply{Error: errInternal}
	}
	g.rec = rec
	return &pb.ShortReply{Record: rec}
}

func (g *grain) release(msg *pb.ShortRelease) *pb.ShortReply {
	if g.loadErr != nil {
		return &pb.ShortReply{Error: errInternal}
	}
	if g.rec == nil || g.rec.RoomId != msg.RoomId {
		return &pb.ShortReply{} // already free, or someone else's: nothing to do
	}
	var b persistence.Batch
	b.Delete(persistence.ShortKey(g.name))
	if err := g.fenced.Apply(&b); err != nil {
		g.deps.Log.Error("delete short name", zap.String("name", g.name), zap.Error(err))
		return &pb.ShortReply{Error: errInternal}
	}
	g.rec = nil
	return &pb.ShortReply{}
}

const idleTimeout = 30 * time.Second
