// Package agent is the agent grain: one virtual actor per agent account. It
// owns the agent's presence (derived from the agent pages that are open), the
// visitors on pages with the contact button, their call requests, the
// agent's login sessions, its room list and its offline messages.
//
// It sends requests to room and short-name grains but never receives a
// request from them, so no request cycle (and no deadlock) can form.
package agent

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// Kind is the cluster kind name of agent grains.
const Kind = "agent"

// Settings are the limits and defaults an agent grain applies.
type Settings struct {
	// IdleTimeout is how long a grain with no open sockets stays in memory.
	IdleTimeout time.Duration
	SessionTTL  time.Duration
	// MaxFailures failed logins from one address within LockFor lock the
	// account for that address (see loginGuard); MaxAccountFailures from
	// all addresses lock it for everyone.
	MaxFailures        int
	MaxAccountFailures int
	LockFor            time.Duration
	// MaxNameChars bounds visitor names.
	MaxNameChars int
	// CallTimeout bounds requests to room and short-name grains.
	CallTimeout time.Duration
	// EntryForm is given to rooms made when a call request is accepted.
	EntryForm *pb.EntryForm
	// PasswordCost is the bcrypt work factor agent passwords are hashed
	// with (password_cost); logins for unknown ids pay the same.
	PasswordCost int
	// MaxVisitors and MaxRequests bound what one agent tracks at once.
	MaxVisitors int
	MaxRequests int
}

// Deps are what every agent grain on a node shares; all of it is safe for
// concurrent use.
type Deps struct {
	Store    persistence.Store
	Log      *zap.Logger
	Settings Settings
	// Events queues webhook events; nil sends none.
	Events *webhook.Emitter
	// Alive reports whether a node address is in the current member list;
	// a re-activation drops the stored pages whose socket was on a node that
	// is gone (nil keeps them all, to end when their Terminated comes).
	Alive func(address string) bool
	// Metrics counts activations, passivations and superseded activations
	// (liveroom_grain_*_total{kind="agent"}); nil counts nothing.
	Metrics *metrics.Cluster
}

func (d *Deps) defaults() {
	s := &d.Settings
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 2 * time.Minute
	}
	if s.SessionTTL == 0 {
		s.SessionTTL = 24 * time.Hour
	}
	if s.MaxFailures == 0 {
		s.MaxFailures = 5
	}
	if s.MaxAccountFailures == 0 {
		s.MaxAccountFailures = 100
	}
	if s.LockFor == 0 {
		s.LockFor = 5 * time.Minute
	}
	if s.MaxNameChars == 0 {
		s.MaxNameChars = 64
	}
	if s.CallTimeout == 0 {
		s.CallTimeout = 5 * time.Second
	}
	if s.PasswordCost == 0 {
		s.PasswordCost = bcrypt.DefaultCost
	}
	if s.MaxVisitors == 0 {
		s.MaxVisitors = 2000
	}
	if s.MaxRequests == 0 {
		s.MaxRequests = 200
	}
}

// NewKind returns the cluster kind that activates agent grains.
func NewKind(d Deps) *cluster.Kind {
	d.defaults()
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{deps: d}
	}))
}

type grain struct {
	deps    Deps
	id      string
	log     *zap.Logger
	rec     *pb.AgentRecord // nil when there is no such agent
	loadErr error

	sessions map[string]*pb.AgentSession // by token hash (hex)
	rooms    map[string]*pb.AgentRoom    // by room id

	visitors map[string]*visitor // by visitor id
	byPID    map[string]*visitor // by session PID
	sockets  map[string]*socket  // agent pages, by session PID
	queue    []*request          // pending call requests, oldest first

	logins loginGuard // failed-login bookkeeping, per address and account

	// fence is this activation's claim on the agent's records (fence.go).
	fence      *persistence.Fence
	superseded bool
}

func errorf(code, msg string) *pb.Error { return &pb.Error{Code: code, Message: msg} }

var (
	errInternal     = errorf("internal", "The server could not do that now; please try again.")
	errNoAgent      = errorf("agent_not_found", "This agent does not exist.")
	errUnauthorized = errorf("unauthorized", "Please log in again.")
	errNoRoom       = errorf("room_not_found", "This room is not in your list.")
)

func (g *grain) Receive(ctx actor.Context) {
	defer func() {
		if g.superseded {
			ctx.Stop(ctx.Self())
		}
	}()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		if m := g.deps.Metrics; m != nil {
			m.Activations.WithLabelValues(Kind).Inc()
		}
	case *actor.Stopped:
		if m := g.deps.Metrics; m != nil {
			m.Passivations.WithLabelValues(Kind).Inc()
		}
	case *cluster.ClusterInit:
		g.id = msg.Identity.Identity
		g.log = g.deps.Log.With(zap.String("agent", g.id))
		g.visitors = map[string]*visitor{}
		g.byPID = map[string]*visitor{}
		g.sockets = map[string]*socket{}
		g.load()
		if g.rec != nil {
			g.restorePresence(ctx)
		}
		g.armIdle(ctx)
	case *actor.ReceiveTimeout:
		if len(g.sockets) == 0 && len(g.visitors) == 0 && !g.logins.live(time.Now(), g.deps.Settings.LockFor) {
			ctx.Poison(ctx.Self())
		}
	case *actor.Terminated:
		g.gone(ctx, msg.Who)

	case *pb.AgentVisitorHello:
		ctx.Respond(g.visitorHello(ctx, msg))
	case *pb.AgentVisitorCall:
		ctx.Respond(g.visitorCall(ctx, msg))
	case *pb.AgentVisitorCancel:
		ctx.Respond(g.visitorCancel(ctx, msg))
	case *pb.AgentAttach:
		ctx.Respond(g.attach(ctx, msg))
	case *pb.AgentSocketAway:
		ctx.Respond(g.setAway(ctx, msg))
	case *pb.AgentSocketAnswer:
		g.answer(ctx, msg)
	case *pb.AgentDetach:
		g.gone(ctx, msg.Session)

	case *pb.AgentLogin:
		g.login(ctx, msg)
	case *pb.AgentCheckSession:
		ctx.Respond(g.checkSession(msg.SessionHash))
	case *pb.AgentLogout:
		ctx.Respond(g.logout(msg.SessionHash))

	case *pb.AgentCreateRoom:
		g.createRoom(ctx, msg)
	case *pb.AgentListRooms:
		ctx.Respond(g.listRooms())
	case *pb.AgentGetRoom:
		ctx.Respond(g.getRoom(msg))
	case *pb.AgentDeleteRoom:
		g.deleteRoom(ctx, msg)
	case *pb.AgentListEntries:
		ctx.Respond(g.listEntries(msg))

	case *pb.AgentStoreOffline:
		ctx.Respond(g.storeOffline(msg))
	case *pb.AgentMarkMailed:
		ctx.Respond(g.markMailed(msg))
	case *pb.AgentListOffline:
		ctx.Respond(g.listOffline())
	case *pb.AgentDeleteOffline:
		ctx.Respond(g.deleteOffline(msg))

	case *pb.AgentOverview:
		ctx.Respond(g.overview())
	case *pb.AgentAdminSave:
		ctx.Respond(g.adminSave(ctx, msg))
	case *pb.AgentAdminRemove:
		ctx.Respond(g.adminRemove(ctx))
	case *pb.AgentAdminStatus:
		ctx.Respond(g.adminStatus())
	case *pb.AgentSetTotp:
		ctx.Respond(g.setTotp(msg))
	}
}

// load reads the account, its sessions and its room list. A failed read
// leaves the grain refusing requests rather than pretending the agent is new.
func (g *grain) load() {
	rec := &pb.AgentRecord{}
	found, err := persistence.GetRecord(g.deps.Store, persistence.AgentKey(g.id), rec)
	if err != nil {
		g.fail("load agent", err)
		return
	}
	if !found {
		return
	}
	if err := g.takeFence(); err != nil {
		g.fail("take agent fence", err)
		return
	}
	g.sessions = map[string]*pb.AgentSession{}
	g.rooms = map[string]*pb.AgentRoom{}
	now := time.Now().UnixMilli()
	var expired [][]byte
	err = scan(g.deps.Store, persistence.AgentSessionPrefix(g.id), func(k, v []byte) error {
		s := &pb.AgentSession{}
		if err := proto.Unmarshal(v, s); err != nil {
			return err
		}
		if s.ExpiresAtMs <= now {
			expired = append(expired, append([]byte(nil), k...))
			return nil
		}
		g.sessions[string(k[len(persistence.AgentSessionPrefix(g.id)):])] = s
		return nil
	})
	if err != nil {
		g.fail("load sessions", err)
		return
	}
	err = scan(g.deps.Store, persistence.AgentRoomPrefix(g.id), func(_, v []byte) error {
		r := &pb.AgentRoom{}
		if err := proto.Unmarshal(v, r); err != nil {
			return err
		}
		g.rooms[r.GetRoom().GetId()] = r
		return nil
	})
	if err != nil {
		g.fail("load rooms", err)
		return
	}
	if len(expired) > 0 {
		var b persistence.Batch
		for _, k := range expired {
			b.Delete(k)
		}
		if err := g.apply(&b); err != nil {
			g.log.Warn("drop expired sessions", zap.Error(err))
		}
	}
	g.rec = rec
}

func (g *grain) fail(what string, err error) {
	g.loadErr = err
	g.log.Error(what, zap.Error(err))
}

// missing is the error for requests that need the account.
func (g *grain) missing() *pb.Error {
	if g.loadErr != nil {
		return errInternal
	}
	return errNoAgent
}

func (g *grain) armIdle(ctx actor.Context) {
	if len(g.sockets) == 0 && len(g.visitors) == 0 {
		ctx.SetReceiveTimeout(g.deps.Settings.IdleTimeout)
	} else {
		ctx.CancelReceiveTimeout()
	}
}

func scan(s persistence.Store, prefix []byte, fn func(k, v []byte) error) error {
	var ferr error
	err := s.Scan(prefix, persistence.PrefixEnd(prefix), false, 0, func(k, v []byte) bool {
		ferr = fn(k, v)
		return ferr == nil
	})
	return errors.Join(err, ferr)
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

func pidKey(p *actor.PID) string { return p.GetAddress() + "/" + p.GetId() }
