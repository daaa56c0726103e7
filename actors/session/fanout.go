package session

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"liveroom/metrics"
	"liveroom/proto/pb"
)

// FanOutName is the name of the fan-out actor every node runs: grains on
// other nodes address it by this name and the node's address.
const FanOutName = "liveroom-fanout"

// Deliver sends frames (wire form, in order) to every session in pids. The
// sessions of this node get one shared EncodedFrames each; each other node
// that holds some of them gets a single NodeFanOut for all of its sessions,
// so a frame crosses to a node once, not once per member there. m may be
// nil.
func Deliver(ctx actor.SenderContext, frames [][]byte, pids []*actor.PID, m *metrics.Metrics) {
	if len(frames) == 0 || len(pids) == 0 {
		return
	}
	local := ctx.ActorSystem().Address()
	enc := &pb.EncodedFrames{Frames: frames}
	var remote map[string][]string
	for _, pid := range pids {
		if pid.Address == local {
			ctx.Send(pid, enc)
			continue
		}
		if remote == nil {
			remote = map[string][]string{}
		}
		remote[pid.Address] = append(remote[pid.Address], pid.Id)
	}
	if len(remote) == 0 {
		return
	}
	now := time.Now().UnixNano()
	for addr, ids := range remote {
		ctx.Send(actor.NewPID(addr, FanOutName), &pb.NodeFanOut{Frames: frames, Sessions: ids, SentUnixNano: now})
		if m != nil {
			m.Cluster.FanOutMessages.WithLabelValues("sent").Inc()
		}
	}
}

// fanOut hands what other nodes' grains send to this node's sessions.
type fanOut struct{ m *metrics.Metrics }

func (f *fanOut) Receive(ctx actor.Context) {
	msg, ok := ctx.Message().(*pb.NodeFanOut)
	if !ok {
		return
	}
	if f.m != nil {
		f.m.Cluster.FanOutMessages.WithLabelValues("received").Inc()
		f.m.Cluster.FanOutDeliveries.Add(float64(len(msg.Sessions) * len(msg.Frames)))
		if msg.SentUnixNano > 0 {
			// Wall clocks of two nodes: as good as their synchronisation.
			f.m.Cluster.FanOutLatency.Observe(max(0, time.Since(time.Unix(0, msg.SentUnixNano)).Seconds()))
		}
	}
	if len(msg.Frames) == 0 {
		return
	}
	local := ctx.ActorSystem().Address()
	enc := &pb.EncodedFrames{Frames: msg.Frames}
	for _, id := range msg.Sessions {
		ctx.Send(actor.NewPID(local, id), enc)
	}
}

// StartFanOut spawns this node's fan-out actor under FanOutName; m may be nil.
func StartFanOut(system *actor.ActorSystem, m *metrics.Metrics) error {
	_, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &fanOut{m: m} }), FanOutName)
	return err
}
