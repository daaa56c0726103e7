package server

import (
	"context"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"

	"liveroom/actors"
	"liveroom/config"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/stats"
	"liveroom/web"
	"liveroom/webhook"
)

// overviewEvery and overviewSamples keep one hour of the node's counters
// for the admin overview.
const (
	overviewEvery   = 10 * time.Second
	overviewSamples = 360
)

// startAdmin starts the overview sampler; close stop to end it.
func startAdmin(cfg config.Config, node *actors.Node, m *metrics.Metrics, events *webhook.Emitter, stop <-chan struct{}) web.AdminDeps {
	ring := stats.NewRing(overviewSamples)
	go stats.Run(ring, overviewEvery, func() stats.Sample {
		return stats.Sample{Nodes: float64(node.Members()), Sockets: metrics.Read(m.SocketsOpen),
			Rooms: metrics.Read(m.RoomsActive), Calls: metrics.Read(m.CallMembers),
			AgentPages: metrics.Read(m.AgentPages), Chat: metrics.Read(m.ChatMessages)}
	}, stop)
	return web.AdminDeps{Config: cfg, Stats: ring, Webhooks: events}
}

// startWebhooks makes the node's event emitter and starts its dispatcher;
// stop waits for the dispatcher, so it must run before the store closes.
// The queue partition is named after the node's cluster address, which a
// restarted node keeps, so it picks up what it had not delivered.
func startWebhooks(cfg config.Config, store persistence.Store, log *zap.Logger) (*webhook.Emitter, func()) {
	name := "local"
	if cfg.ClusterProvider != "single" && cfg.ClusterProvider != "" {
		name = net.JoinHostPort(cfg.ClusterHost, strconv.Itoa(cfg.ClusterPort))
	}
	e := webhook.NewEmitter(store, name, log.Named("webhook"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&webhook.Dispatcher{Emitter: e}).Run(ctx)
	}()
	return e, func() { cancel(); <-done }
}
