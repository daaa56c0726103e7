package server

import (
	"time"

	"liveroom/actors"
	"liveroom/config"
	"liveroom/metrics"
	"liveroom/stats"
	"liveroom/web"
)

// overviewEvery and overviewSamples keep one hour of the node's counters
// for the admin overview.
const (
	overviewEvery   = 10 * time.Second
	overviewSamples = 360
)

// startAdmin starts the overview sampler; close stop to end it.
func startAdmin(cfg config.Config, node *actors.Node, m *metrics.Metrics, stop <-chan struct{}) web.AdminDeps {
	ring := stats.NewRing(overviewSamples)
	go stats.Run(ring, overviewEvery, func() stats.Sample {
		return stats.Sample{Nodes: float64(node.Members()), Sockets: metrics.Read(m.SocketsOpen),
			Rooms: metrics.Read(m.RoomsActive), Calls: metrics.Read(m.CallMembers),
			AgentPages: metrics.Read(m.AgentPages), Chat: metrics.Read(m.ChatMessages)}
	}, stop)
	return web.AdminDeps{Config: cfg, Stats: ring}
}
