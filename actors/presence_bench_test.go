package actors_test

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"liveroom/actors/room"
	"liveroom/proto/pb"
)

// BenchmarkVisitorHelloLeave is one visitor page arriving at an agent with
// an open agent page and leaving again: the hello (a cluster request to the
// agent grain, frames to the visitor and the agent page) and the leave
// (visitor gone, agent page told). With presence kept in the store, each
// does one synced Pebble write.
func BenchmarkVisitorHelloLeave(b *testing.B) {
	n := startNode(b, b.TempDir(), room.Settings{})
	addAgent(b, n, "alice", "Alice", "", "pw-pw-pw-pw")
	hash := login(b, n, "alice", "pw-pw-pw-pw")
	page, vis := newSink(b, n), newSink(b, n)
	mustOK(b, ask[*pb.AgentReply](b, n, "alice", &pb.AgentAttach{Session: page.pid, SessionHash: hash, Watch: &pb.AgentWatch{}}))
	grain := func() *actor.PID {
		pid := n.Cluster.Get("alice", "agent")
		if pid == nil {
			b.Fatal("no agent grain")
		}
		return pid
	}()
	go func() { // drain the sinks
		for {
			select {
			case <-page.ch:
			case <-vis.ch:
			}
		}
	}()
	hello := &pb.AgentVisitorHello{Session: vis.pid, Hello: &pb.VisitorHello{AgentId: "alice", PageUrl: "http://shop.example/p", PageTitle: "P"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := n.Cluster.Request("alice", "agent", hello)
		if err != nil || r.(*pb.AgentReply).Error != nil {
			b.Fatal(err, r)
		}
		n.System.Root.Send(grain, &pb.AgentDetach{Session: vis.pid})
	}
	b.StopTimer()
	_, _ = n.Cluster.Request("alice", "agent", &pb.AgentAdminStatus{}) // the last leave is done
}
