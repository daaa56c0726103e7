// Package whiteboard is the whiteboard grain: one virtual actor per room id
// that owns the room's board. It orders every operation with a sequence
// number, checks it against the member's role and the board's mode, writes it
// to the store (and a snapshot every SnapshotEvery ops) before anyone sees
// it, and fans it out to the connections that have the board.
//
// Who a connection is comes from the room grain (WbWho): the whiteboard grain
// asks, the room grain answers and never asks back, so there is no request
// cycle between the two.
//
// A board belongs to one generation of its room (RoomRecord.generation). When
// the room is deleted, the room grain removes the board's keys and tells this
// grain one way (WbRoomDeleted), and the grain drops the board and every
// connection that had it. WbWho replies carry the generation too, so should
// that message be lost, the first member of a room made again under the same
// id still never sees the old board (see adopt).
package whiteboard

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/room"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Kind is the cluster kind name of whiteboard grains.
const Kind = room.WhiteboardKind

// Settings tune the grain.
type Settings struct {
	Limits Limits
	// SnapshotEvery is how many ops go between two snapshots.
	SnapshotEvery uint64
	// OpsPerSecond and OpsBurst bound one connection's stored ops and live
	// frames (each counted separately).
	OpsPerSecond float64
	OpsBurst     int
	// RecentOps is how many of the latest ops are kept in memory so that a
	// reconnecting client gets only what it missed.
	RecentOps      int
	IdleTimeout    time.Duration
	RequestTimeout time.Duration
	// Default applies to rooms whose record has no whiteboard settings.
	Default *pb.WhiteboardSettings
}

// DefaultSettings are sensible values for a server.
func DefaultSettings() Settings {
	return Settings{Limits: DefaultLimits(), SnapshotEvery: 256, OpsPerSecond: 30, OpsBurst: 60,
		RecentOps: 2048, IdleTimeout: 2 * time.Minute, RequestTimeout: 5 * time.Second,
		Default: &pb.WhiteboardSettings{Enabled: true}}
}

// Deps are what every whiteboard grain on a node shares.
type Deps struct {
	Store    persistence.Store
	Log      *zap.Logger
	Metrics  *metrics.Metrics
	Settings Settings
}

// NewKind returns the cluster kind that activates whiteboard grains.
func NewKind(d Deps) *cluster.Kind {
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{deps: d, sessions: map[string]*attached{}}
	}))
}

type attached struct {
	pid  *actor.PID
	who  Who
	ops  *rate.Limiter
	live *rate.Limiter
}

type grain struct {
	deps     Deps
	id       string
	log      *zap.Logger
	board    *Board
	loadErr  error
	settings *pb.WhiteboardSettings
	sessions map[string]*attached
	// recent are the latest ops in seq order, for catch-up.
	recent []*pb.WbOp
	// gen is the room generation the board belongs to; "" while none is
	// known. genRead says the room's record was read (so an empty gen means
	// the room did not exist). gone is the generation last deleted, so that
	// a WbWho answer that raced the delete cannot attach to it again.
	gen     string
	genRead bool
	gone    string
	// claim is this activation's fence on the board's records, taken before
	// the board is read: during a topology change two activations can
	// briefly run, and only the newer one may number and store ops (two
	// ops under one seq would each overwrite the other); the older stops.
	claim *persistence.Claim
}

var errInternal = errorf("internal", "The whiteboard could not store that; please try again.")

func pidKey(p *actor.PID) string { return p.GetAddress() + "/" + p.GetId() }

func (g *grain) Receive(ctx actor.Context) {
	defer func() {
		if g.claim != nil && g.claim.Lost() {
			ctx.Stop(ctx.Self())
		}
	}()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		g.deps.Metrics.Whiteboard.Boards.Inc()
	case *cluster.ClusterInit:
		g.id = msg.Identity.Identity
		g.log = g.deps.Log.With(zap.String("room", g.id))
		g.claim = persistence.NewClaim(g.deps.Store, persistence.FenceKey(Kind, g.id), func(gen uint64) {
			g.log.Warn("a newer activation of this whiteboard took over; stopping this one", zap.Uint64("generation", gen))
			if m := g.deps.Metrics; m != nil && m.Cluster != nil {
				m.Cluster.Superseded.WithLabelValues(Kind).Inc()
			}
		})
		g.load()
		ctx.SetReceiveTimeout(g.deps.Settings.IdleTimeout)
	case *actor.Stopped:
		g.deps.Metrics.Whiteboard.Boards.Dec()
	case *actor.ReceiveTimeout:
		if len(g.sessions) == 0 {
			ctx.Poison(ctx.Self())
		}
	case *actor.Terminated:
		delete(g.sessions, pidKey(msg.Who))
		g.armIdle(ctx)
	case *pb.WbRequest:
		g.request(ctx, msg)
	case *pb.WbAddPages:
		ctx.Respond(g.addPages(ctx, msg))
	case *pb.WbCheckMember:
		ctx.Respond(g.checkMember(msg))
	case *pb.WbRoomDeleted:
		g.roomDeleted(ctx, msg.Generation)
	}
}

func (g *grain) armIdle(ctx actor.Context) {
	if len(g.sessions) == 0 {
		ctx.SetReceiveTimeout(g.deps.Settings.IdleTimeout)
	} else {
		ctx.CancelReceiveTimeout()
	}
}

func (g *grain) load() {
	start := time.Now()
	if _, err := g.claim.Ensure(); err != nil {
		g.loadErr = err
		g.log.Error("fence whiteboard", zap.Error(err))
		return
	}
	b, tail, err := Load(g.deps.Store, g.id, g.deps.Settings.Limits)
	if err != nil {
		g.loadErr = err
		g.log.Error("load whiteboard", zap.Error(err))
		return
	}
	g.board = b
	g.deps.Metrics.Whiteboard.Load.Observe(time.Since(start).Seconds())
	if tail > 0 || b.Seq() > 0 {
		g.log.Debug("whiteboard loaded", zap.Uint64("seq", b.Seq()), zap.Int("tail", tail))
	}
	rec := &pb.RoomRecord{}
	// Read-only look at the room's record for its default mode; the room
	// grain stays the record's only writer.
	found, err := persistence.GetRecord(g.deps.Store, persistence.RoomKey(g.id), rec)
	if err != nil {
		return
	}
	g.gen, g.genRead = rec.Generation, true
	if found && rec.Whiteboard != nil {
		g.settings = rec.Whiteboard
	}
}

// roomDeleted drops the board of the room generation that was deleted.
func (g *grain) roomDeleted(ctx actor.Context, generation string) {
	if g.gen != "" && g.gen != generation {
		// A late message about an older room: the board already belongs to
		// the room made since.
		return
	}
	g.gone = generation
	if err := g.reset(ctx); err != nil {
		return
	}
	g.gen, g.genRead = "", true
}

// adopt checks the room generation a WbWho answer names against the board's.
// A board kept for another generation belonged to a deleted room (the
// WbRoomDeleted message did not get here): it is dropped before the new
// room's member is attached. So is anything stored while no room existed.
func (g *grain) adopt(ctx actor.Context, generation string) *pb.Error {
	switch {
	case generation == "" || generation == g.gen:
		return nil
	case generation == g.gone:
		return errorf("room_deleted", "This room was deleted.")
	case g.gen == "" && !g.genRead:
		// The record could not be read at load: nothing says the board is
		// not this room's.
		g.gen = generation
		return nil
	}
	if err := g.reset(ctx); err != nil {
		return errInternal
	}
	g.gen = generation
	return nil
}

// reset forgets the board and its connections and removes what is stored of
// it (the room grain's range delete already did; this also takes ops this
// grain stored after it, from connections that still had the board).
func (g *grain) reset(ctx actor.Context) error {
	for _, s := range g.sessions {
		ctx.Unwatch(s.pid)
	}
	g.sessions = map[string]*attached{}
	g.recent, g.settings = nil, nil
	g.armIdle(ctx)
	p := persistence.WbPrefix(g.id)
	err := g.claim.Check()
	if err == nil {
		err = g.deps.Store.DeleteRange(p, persistence.PrefixEnd(p))
	}
	if err != nil {
		// Refuse everything rather than serve a board that may be the old one.
		g.board = nil
		g.log.Error("drop the deleted room's whiteboard", zap.Error(err))
		return err
	}
	g.board, g.loadErr = NewBoard(), nil
	g.log.Info("whiteboard of a deleted room dropped", zap.String("generation", g.gen))
	return nil
}

func (g *grain) roomSettings() *pb.WhiteboardSettings {
	if g.settings != nil {
		return g.settings
	}
	if g.deps.Settings.Default != nil {
		return g.deps.Settings.Default
	}
	return &pb.WhiteboardSettings{}
}

// whoReply carries the room grain's answer back into the grain.
type whoReply struct {
	reply *pb.WbWhoReply
}

func (g *grain) request(ctx actor.Context, msg *pb.WbRequest) {
	if g.board == nil {
		ctx.Respond(&pb.WbReply{Error: errInternal})
		return
	}
	if msg.Session == nil || msg.Body == nil || msg.Body.Body == nil {
		ctx.Respond(&pb.WbReply{Error: errorf("invalid", "Empty whiteboard frame.")})
		return
	}
	if a := g.sessions[pidKey(msg.Session)]; a != nil {
		g.handle(ctx, a, msg)
		return
	}
	// A connection the board has not seen: ask the room who it is, off the
	// grain's own turn (the room may be on another node), then continue.
	system := ctx.ActorSystem()
	c := cluster.GetCluster(system)
	timeout := g.deps.Settings.RequestTimeout
	future := actor.NewFuture(system, timeout+time.Second)
	roomID, session := g.id, msg.Session
	go func() {
		res, err := c.Request(roomID, room.Kind, &pb.WbWho{Session: session}, cluster.WithTimeout(timeout))
		r, _ := res.(*pb.WbWhoReply)
		if err != nil || r == nil {
			r = &pb.WbWhoReply{Error: errorf("unavailable", "The room did not answer in time; please retry.")}
		}
		system.Root.Send(future.PID(), &whoReply{reply: r})
	}()
	ctx.ReenterAfter(future, func(res interface{}, err error) {
		w, _ := res.(*whoReply)
		if err != nil || w == nil {
			ctx.Respond(&pb.WbReply{Error: errorf("unavailable", "The room did not answer in time; please retry.")})
			return
		}
		if w.reply.Error != nil {
			ctx.Respond(&pb.WbReply{Error: w.reply.Error})
			return
		}
		if perr := g.adopt(ctx, w.reply.Generation); perr != nil {
			ctx.Respond(&pb.WbReply{Error: perr})
			return
		}
		if w.reply.Settings != nil {
			g.settings = w.reply.Settings
		}
		if !g.roomSettings().Enabled {
			ctx.Respond(&pb.WbReply{Error: errorf("whiteboard_disabled", "This room has no whiteboard.")})
			return
		}
		a := g.sessions[pidKey(session)]
		if a == nil {
			s := g.deps.Settings
			a = &attached{pid: session, who: Who{MemberID: w.reply.MemberId, Role: w.reply.Role},
				ops:  rate.NewLimiter(rate.Limit(s.OpsPerSecond), s.OpsBurst),
				live: rate.NewLimiter(rate.Limit(s.OpsPerSecond), s.OpsBurst)}
			g.sessions[pidKey(session)] = a
			ctx.Watch(session)
			g.armIdle(ctx)
		}
		g.handle(ctx, a, msg)
	})
}

func (g *grain) handle(ctx actor.Context, a *attached, msg *pb.WbRequest) {
	if g.board == nil {
		ctx.Respond(&pb.WbReply{Error: errInternal})
		return
	}
	switch b := msg.Body.Body.(type) {
	case *pb.WbClient_Sync:
		g.sync(ctx, a, msg.FrameId, b.Sync.GetSinceSeq())
		ctx.Respond(&pb.WbReply{Seq: g.board.Seq()})
	case *pb.WbClient_Op:
		if !a.ops.Allow() {
			ctx.Respond(&pb.WbReply{Error: errorf("rate_limited", "Too many whiteboard changes; slow down.")})
			return
		}
		ctx.Respond(g.op(ctx, a.who, b.Op, a.pid, msg.FrameId))
	case *pb.WbClient_Live:
		ctx.Respond(g.live(ctx, a, b.Live))
	default:
		ctx.Respond(&pb.WbReply{Error: errorf("invalid", "Unknown whiteboard frame.")})
	}
}

// sync sends the connection the board, or only the ops it missed.
func (g *grain) sync(ctx actor.Context, a *attached, frameID string, since uint64) {
	st := &pb.WbState{Settings: g.roomSettings(), MemberId: a.who.MemberID, Role: a.who.Role}
	if ops, ok := g.after(since); ok {
		st.Ops = ops
	} else {
		st.Board = g.board.View()
	}
	ctx.Send(a.pid, &pb.ServerFrame{ReplyTo: frameID, Body: &pb.ServerFrame_Wb{Wb: &pb.WbServer{
		Body: &pb.WbServer_State{State: st}}}})
}

// after returns the ops after since when every one of them is still in memory.
func (g *grain) after(since uint64) ([]*pb.WbOp, bool) {
	seq := g.board.Seq()
	if since == 0 || since > seq {
		return nil, false
	}
	missing := seq - since
	if missing > uint64(len(g.recent)) {
		return nil, false
	}
	return append([]*pb.WbOp(nil), g.recent[uint64(len(g.recent))-missing:]...), true
}

func (g *grain) imageOK(id string) bool {
	_, err := g.deps.Store.Get(persistence.WbImageKey(g.id, id))
	return err == nil
}

// op checks, applies, stores and fans out one op.
func (g *grain) op(ctx actor.Context, who Who, op *pb.WbOp, sender *actor.PID, frameID string) *pb.WbReply {
	if !g.roomSettings().Enabled {
		return &pb.WbReply{Error: errorf("whiteboard_disabled", "This room has no whiteboard.")}
	}
	lim := g.deps.Settings.Limits
	if perr := g.board.Check(op, who, g.roomSettings().Visitors, lim, g.imageOK); perr != nil {
		return &pb.WbReply{Error: perr}
	}
	op = proto.Clone(op).(*pb.WbOp)
	op.Seq = g.board.Seq() + 1
	op.MemberId = who.MemberID
	op.AtMs = time.Now().UnixMilli()
	op.Target, op.Restored = 0, nil
	if op.Kind != pb.WbOpKind_WB_OP_PAGES_ADD {
		op.Pages = nil
	}
	g.board.Apply(op, lim)
	if err := g.persist(op); err != nil {
		if g.claim.Lost() {
			// A newer activation owns the board; this one stops after this
			// message, and the retry reaches the newer one.
			return &pb.WbReply{Error: errorf("unavailable", "The whiteboard moved to another server; please try again.")}
		}
		g.log.Error("store whiteboard op", zap.Error(err))
		// The board in memory is ahead of the store: rebuild it from there
		// (if that fails too, the grain refuses everything rather than
		// number new ops from a board that is not the stored one).
		g.board = nil
		g.load()
		return &pb.WbReply{Error: errInternal}
	}
	g.recent = append(g.recent, op)
	if n := g.deps.Settings.RecentOps; len(g.recent) > 2*n {
		g.recent = append([]*pb.WbOp(nil), g.recent[len(g.recent)-n:]...)
	}
	g.deps.Metrics.Whiteboard.Ops.Inc()
	body := &pb.ServerFrame_Wb{Wb: &pb.WbServer{Body: &pb.WbServer_Op{Op: op}}}
	plain := &pb.ServerFrame{Body: body}
	for _, s := range g.sessions {
		if sender != nil && s.pid.Equal(sender) {
			ctx.Send(s.pid, &pb.ServerFrame{ReplyTo: frameID, Body: body})
			continue
		}
		ctx.Send(s.pid, plain)
	}
	return &pb.WbReply{Seq: op.Seq}
}

// persist writes op, and every SnapshotEvery ops the board with it in one
// atomic batch.
func (g *grain) persist(op *pb.WbOp) error {
	raw, err := proto.Marshal(op)
	if err != nil {
		return err
	}
	var b persistence.Batch
	b.Set(persistence.WbOpKey(g.id, op.Seq), raw)
	every := g.deps.Settings.SnapshotEvery
	if every == 0 || op.Seq%every != 0 {
		return g.claim.Apply(&b)
	}
	start := time.Now()
	snap, err := proto.Marshal(g.board.Snapshot())
	if err != nil {
		return err
	}
	b.Set(persistence.WbSnapKey(g.id), snap)
	err = g.claim.Apply(&b)
	g.deps.Metrics.Whiteboard.Snapshot.Observe(time.Since(start).Seconds())
	return err
}

func (g *grain) live(ctx actor.Context, a *attached, l *pb.WbLive) *pb.WbReply {
	if !g.board.CanDraw(a.who, g.roomSettings().Visitors) {
		return &pb.WbReply{Error: errorf("whiteboard_agent_only", "Only the agent can draw on this whiteboard.")}
	}
	if !g.board.Open() {
		return &pb.WbReply{Error: errorf("whiteboard_closed", "The whiteboard is not open.")}
	}
	if perr := g.board.CheckLive(l, g.deps.Settings.Limits); perr != nil {
		return &pb.WbReply{Error: perr}
	}
	if !a.live.Allow() {
		// Live frames are a preview; dropping some under a flood loses nothing.
		return &pb.WbReply{}
	}
	l = proto.Clone(l).(*pb.WbLive)
	l.MemberId = a.who.MemberID
	f := &pb.ServerFrame{Body: &pb.ServerFrame_Wb{Wb: &pb.WbServer{Body: &pb.WbServer_Live{Live: l}}}}
	for _, s := range g.sessions {
		if !s.pid.Equal(a.pid) {
			ctx.Send(s.pid, f)
		}
	}
	return &pb.WbReply{}
}

// attachedMember finds a connection of member id that has the board.
func (g *grain) attachedMember(id string) *attached {
	for _, s := range g.sessions {
		if s.who.MemberID == id {
			return s
		}
	}
	return nil
}

// checkMember tells the HTTP upload whether the member may add to the board.
func (g *grain) checkMember(msg *pb.WbCheckMember) *pb.WbReply {
	if g.board == nil {
		return &pb.WbReply{Error: errInternal}
	}
	if perr := g.memberMay(msg.MemberId, msg.AgentOnly); perr != nil {
		return &pb.WbReply{Error: perr}
	}
	return &pb.WbReply{Seq: g.board.Seq()}
}

func (g *grain) memberMay(memberID string, agentOnly bool) *pb.Error {
	if !g.roomSettings().Enabled {
		return errorf("whiteboard_disabled", "This room has no whiteboard.")
	}
	a := g.attachedMember(memberID)
	if a == nil {
		return errorf("not_joined", "Open the room's whiteboard first.")
	}
	if agentOnly && a.who.Role != pb.Role_ROLE_AGENT {
		return errorf("forbidden", "Only the agent can do that on the whiteboard.")
	}
	if !g.board.CanDraw(a.who, g.roomSettings().Visitors) {
		return errorf("whiteboard_agent_only", "Only the agent can draw on this whiteboard.")
	}
	if !g.board.Open() {
		return errorf("whiteboard_closed", "The whiteboard is not open.")
	}
	return nil
}

// addPages appends rendered PDF pages for the agent who uploaded them.
func (g *grain) addPages(ctx actor.Context, msg *pb.WbAddPages) *pb.WbReply {
	if g.board == nil {
		return &pb.WbReply{Error: errInternal}
	}
	if perr := g.memberMay(msg.MemberId, true); perr != nil {
		return &pb.WbReply{Error: perr}
	}
	a := g.attachedMember(msg.MemberId)
	return g.op(ctx, a.who, &pb.WbOp{Kind: pb.WbOpKind_WB_OP_PAGES_ADD, Pages: msg.Pages}, nil, "")
}
