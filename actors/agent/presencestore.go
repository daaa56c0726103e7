package agent

import (
	"errors"
	"sort"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Presence outlives the node: every visitor page the grain tracks (with its
// call request) and every open agent page is kept in the store, under the
// agent's fence. When the node holding the grain dies or pauses, the agent
// re-activates elsewhere, reads them back and watches the pages' sockets
// again: pages on live nodes carry on as before (visitors stay listed,
// requests stay queued in their order, presence stays online); pages whose
// socket was on a node that left the member list are dropped at once (they
// reconnect elsewhere and say hello again), and those that closed meanwhile
// end as usual when their Terminated arrives.

func (g *grain) saveVisitor(v *visitor) error {
	rec := &pb.AgentPresenceVisitor{Session: v.pid, Info: v.info}
	if v.request != nil {
		rec.Request = v.request.info
	}
	raw, err := proto.Marshal(rec)
	if err == nil {
		err = g.set(persistence.AgentPresenceVisitorKey(g.id, v.info.VisitorId), raw)
	}
	return g.logged("store visitor", err)
}

func (g *grain) dropVisitor(v *visitor) {
	_ = g.logged("drop visitor", g.del(persistence.AgentPresenceVisitorKey(g.id, v.info.VisitorId)))
}

func (g *grain) savePage(s *socket) error {
	raw, err := proto.Marshal(&pb.AgentPresencePage{Session: s.pid, Scope: s.scope, Away: s.away})
	if err == nil {
		err = g.set(persistence.AgentPresencePageKey(g.id, pidKey(s.pid)), raw)
	}
	return g.logged("store agent page", err)
}

func (g *grain) dropPage(s *socket) {
	_ = g.logged("drop agent page", g.del(persistence.AgentPresencePageKey(g.id, pidKey(s.pid))))
}

// logged logs a failed presence write (a superseded activation already said
// why it stops) and returns err.
func (g *grain) logged(what string, err error) error {
	if err != nil && !g.superseded {
		g.log.Warn(what, zap.Error(err))
	}
	return err
}

// restorePresence reads back what an earlier activation tracked and watches
// its sockets again.
func (g *grain) restorePresence(ctx actor.Context) {
	prefix := persistence.AgentPresencePrefix(g.id)
	// A socket on a node that has left the cluster is gone with it: its
	// page reconnects through another node and says hello again.
	gone := func(pid *actor.PID) bool {
		a := pid.GetAddress()
		return a != ctx.Self().GetAddress() && g.deps.Alive != nil && !g.deps.Alive(a)
	}
	var bad [][]byte
	err := scan(g.deps.Store, prefix, func(k, v []byte) error {
		rest := string(k[len(prefix):])
		switch {
		case strings.HasPrefix(rest, "v/"):
			rec := &pb.AgentPresenceVisitor{}
			if proto.Unmarshal(v, rec) != nil || rec.Session == nil || rec.Info == nil || gone(rec.Session) ||
				len(g.visitors) >= g.deps.Settings.MaxVisitors || g.byPID[pidKey(rec.Session)] != nil {
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
			vis := &visitor{pid: rec.Session, info: rec.Info}
			if rec.Request != nil && len(g.queue) < g.deps.Settings.MaxRequests {
				vis.request = &request{info: rec.Request, visitor: vis}
				g.queue = append(g.queue, vis.request)
			}
			g.visitors[rec.Info.VisitorId] = vis
			g.byPID[pidKey(vis.pid)] = vis
		case strings.HasPrefix(rest, "p/"):
			rec := &pb.AgentPresencePage{}
			if proto.Unmarshal(v, rec) != nil || rec.Session == nil || gone(rec.Session) {
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
			g.sockets[pidKey(rec.Session)] = &socket{pid: rec.Session, scope: rec.Scope, away: rec.Away}
		}
		return nil
	})
	if err != nil {
		// The agent works on without what it could not read; the pages
		// that were open see no change until they reconnect.
		g.log.Warn("read presence", zap.Error(err))
	}
	if len(bad) > 0 {
		var b persistence.Batch
		for _, k := range bad {
			b.Delete(k)
		}
		_ = g.logged("drop presence of gone or unreadable sockets", errors.Join(g.apply(&b)))
	}
	sort.SliceStable(g.queue, func(i, j int) bool { return g.queue[i].info.AtMs < g.queue[j].info.AtMs })
	for _, v := range g.visitors {
		ctx.Watch(v.pid)
	}
	for _, s := range g.sockets {
		ctx.Watch(s.pid)
	}
	if len(g.visitors)+len(g.sockets) > 0 {
		g.log.Info("presence restored", zap.Int("visitors", len(g.visitors)), zap.Int("pages", len(g.sockets)),
			zap.Int("requests", len(g.queue)))
	}
	// Tell each visitor where it stands now (sent starts unset), and turn
	// away requests no restored agent page can answer.
	g.pushPresence(ctx)
}
