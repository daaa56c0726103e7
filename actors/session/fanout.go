package session

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"

	"liveroom/internal/gopool"
	"liveroom/metrics"
	"liveroom/proto/pb"
)

// FanOutName is the name of the fan-out actor every node runs: grains on
// other nodes address it by this name and the node's address.
const FanOutName = "liveroom-fanout"

// Deliver sends frames (wire form, in order) to every session in pids, and
// to each session in personal its own list instead. The sessions of this
// node get one shared EncodedFrames each; each other node that holds some of
// them gets a single NodeFanOut for all of its sessions, so a frame crosses
// to a node once, not once per member there. m may be nil.
func Deliver(ctx actor.SenderContext, frames [][]byte, pids []*actor.PID, personal map[*actor.PID][][]byte, m *metrics.Metrics) {
	local := ctx.ActorSystem().Address()
	var remote map[string]*pb.NodeFanOut
	toNode := func(addr string) *pb.NodeFanOut {
		if remote == nil {
			remote = map[string]*pb.NodeFanOut{}
		}
		f := remote[addr]
		if f == nil {
			f = &pb.NodeFanOut{Frames: frames}
			remote[addr] = f
		}
		return f
	}
	sessions := localSessions(ctx.ActorSystem())
	if len(frames) > 0 {
		var enc *pb.EncodedFrames
		for _, pid := range pids {
			if pid.Address == local {
				if sessions.push(pid.Id, frames) {
					continue
				}
				if enc == nil {
					enc = &pb.EncodedFrames{Frames: frames}
				}
				ctx.Send(pid, enc)
				continue
			}
			f := toNode(pid.Address)
			f.Sessions = append(f.Sessions, pid.Id)
		}
	}
	for pid, own := range personal {
		if len(own) == 0 {
			continue
		}
		if pid.Address == local {
			if !sessions.push(pid.Id, own) {
				ctx.Send(pid, &pb.EncodedFrames{Frames: own})
			}
			continue
		}
		f := toNode(pid.Address)
		f.Personal = append(f.Personal, &pb.PersonalFrames{Session: pid.Id, Frames: own})
	}
	if len(remote) == 0 {
		return
	}
	now := time.Now().UnixNano()
	for addr, f := range remote {
		if len(f.Sessions) == 0 {
			f.Frames = nil
		}
		f.SentUnixNano = now
		ctx.Send(actor.NewPID(addr, FanOutName), f)
		if m != nil {
			m.Cluster.FanOutMessages.WithLabelValues("sent").Inc()
		}
	}
}

// Send sends one frame to a session. A session on another node gets it
// through that node's fan-out actor, like everything else a grain sends it
// with Deliver, so that what one grain sends one session keeps its order.
func Send(ctx actor.SenderContext, pid *actor.PID, f *pb.ServerFrame, m *metrics.Metrics) {
	if pid.Address == ctx.ActorSystem().Address() {
		if out := localSessions(ctx.ActorSystem()).outbox(pid.Id); out != nil {
			out.Push(f)
			return
		}
		ctx.Send(pid, f)
		return
	}
	Deliver(ctx, nil, nil, map[*actor.PID][][]byte{pid: {Encode(f)}}, m)
}

// fanOut hands what other nodes' grains send to this node's sessions.
type fanOut struct{ m *metrics.Metrics }

func (f *fanOut) Receive(ctx actor.Context) {
	msg, ok := ctx.Message().(*pb.NodeFanOut)
	if !ok {
		return
	}
	local := ctx.ActorSystem().Address()
	sessions := localSessions(ctx.ActorSystem())
	delivered := 0
	if len(msg.Frames) > 0 {
		var enc *pb.EncodedFrames
		for _, id := range msg.Sessions {
			if sessions.push(id, msg.Frames) {
				continue
			}
			if enc == nil {
				enc = &pb.EncodedFrames{Frames: msg.Frames}
			}
			ctx.Send(actor.NewPID(local, id), enc)
		}
		delivered += len(msg.Sessions) * len(msg.Frames)
	}
	for _, p := range msg.Personal {
		if len(p.Frames) > 0 {
			if !sessions.push(p.Session, p.Frames) {
				ctx.Send(actor.NewPID(local, p.Session), &pb.EncodedFrames{Frames: p.Frames})
			}
			delivered += len(p.Frames)
		}
	}
	if f.m != nil {
		f.m.Cluster.FanOutMessages.WithLabelValues("received").Inc()
		f.m.Cluster.FanOutDeliveries.Add(float64(delivered))
		if msg.SentUnixNano > 0 {
			// Wall clocks of two nodes: as good as their synchronisation.
			f.m.Cluster.FanOutLatency.Observe(max(0, time.Since(time.Unix(0, msg.SentUnixNano)).Seconds()))
		}
	}
}

// StartFanOut spawns this node's fan-out actor under FanOutName, and starts
// the node's table of sessions unless StartTable did; m may be nil. It runs
// once per actor system, before any session is spawned.
func StartFanOut(system *actor.ActorSystem, m *metrics.Metrics) error {
	StartTable(system)
	_, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &fanOut{m: m} }, actor.WithDispatcher(gopool.Dispatcher)), FanOutName)
	return err
}

// sessionTable is a node's sessions by actor id. Frames for a session of
// this node go straight into its outbox instead of through its actor's
// mailbox: that saves every delivery a mailbox push, a goroutine wakeup and
// an actor invocation, a good part of a chat delivery's CPU. Everything a
// room grain sends a session goes through Send and Deliver, so it all takes
// the same way and keeps its order; a session missing from the table (not
// spawned through Spawn, or already gone) is sent to as before.
type sessionTable struct{ outboxes sync.Map } // actor id -> *Outbox

var sessionTableID = extensions.NextExtensionID()

// StartTable gives the actor system its table of local sessions (see
// Spawn). Call it before anything that delivers runs on the system: the
// actor runtime's extensions are not safe to register while being read.
func StartTable(system *actor.ActorSystem) {
	if localSessions(system) == nil {
		system.Extensions.Register(&sessionTable{})
	}
}

func (t *sessionTable) ExtensionID() extensions.ExtensionID { return sessionTableID }

func localSessions(system *actor.ActorSystem) *sessionTable {
	t, _ := system.Extensions.Get(sessionTableID).(*sessionTable)
	return t
}

func (t *sessionTable) outbox(id string) *Outbox {
	if t == nil {
		return nil
	}
	o, ok := t.outboxes.Load(id)
	if !ok {
		return nil
	}
	return o.(*Outbox)
}

// push queues frames for the session with actor id and reports whether it
// knew the session.
func (t *sessionTable) push(id string, frames [][]byte) bool {
	out := t.outbox(id)
	if out == nil {
		return false
	}
	out.PushEncoded(frames...)
	return true
}

// Spawn starts the session actor feeding out, with an id that begins with
// prefix, and enters it in the node's table so that this node's grains push
// straight into out. Stop ends both.
func Spawn(system *actor.ActorSystem, out *Outbox, prefix string) *actor.PID {
	t := localSessions(system)
	if t == nil {
		return system.Root.SpawnPrefix(Props(out), prefix)
	}
	// One Props for every such session (a Props per session was about
	// 350 bytes of every idle member): the actor finds its outbox in the
	// table, which it needs only for frames sent to its mailbox.
	pid := system.Root.SpawnPrefix(tableProps, prefix)
	t.outboxes.Store(pid.Id, out)
	return pid
}

var tableProps = actor.PropsFromProducer(func() actor.Actor { return tableSession{} }, actor.WithDispatcher(gopool.Dispatcher))

// tableSession is the actor of a session in the node's table: frames that
// still come to its mailbox (from grains that send to it directly) go to
// the outbox the table holds for it.
type tableSession struct{}

func (tableSession) Receive(ctx actor.Context) {
	var frames [][]byte
	switch f := ctx.Message().(type) {
	case *pb.ServerFrame:
		frames = [][]byte{Encode(f)}
	case *pb.EncodedFrames:
		frames = f.Frames
	default:
		return
	}
	if len(frames) > 0 {
		localSessions(ctx.ActorSystem()).push(ctx.Self().Id, frames)
	}
}

// Stop takes a session out of the node's table and stops its actor.
func Stop(system *actor.ActorSystem, pid *actor.PID) {
	if t := localSessions(system); t != nil {
		t.outboxes.Delete(pid.Id)
	}
	system.Root.Stop(pid)
}
