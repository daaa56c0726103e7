package metrics

import "github.com/prometheus/client_golang/prometheus"

// Cluster holds what an operator watches on each node of a cluster: grain
// activations and passivations per kind, activations that found themselves
// superseded by a newer one on another node, and requests to grains.
type Cluster struct {
	Activations  *prometheus.CounterVec
	Passivations *prometheus.CounterVec
	Superseded   *prometheus.CounterVec
	Requests     *prometheus.HistogramVec
	Members      prometheus.Gauge
	// Node-local fan-out (actors/session): frames for members on another
	// node cross to it once per node and are handed out there.
	FanOutMessages   *prometheus.CounterVec
	FanOutDeliveries prometheus.Counter
	FanOutLatency    prometheus.Histogram
}

func newCluster(r *prometheus.Registry) *Cluster {
	c := &Cluster{
		Activations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_grain_activations_total", Help: "Grains activated on this node, by kind."}, []string{"kind"}),
		Passivations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_grain_passivations_total", Help: "Grains stopped on this node, by kind."}, []string{"kind"}),
		Superseded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_grain_superseded_total", Help: "Grain activations stopped because a newer activation elsewhere took their fence, by kind."}, []string{"kind"}),
		Requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "liveroom_grain_request_seconds", Help: "Requests from this node to grains, by whether the grain was on this node or another.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 12)}, []string{"where"}),
		Members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveroom_cluster_members", Help: "Members of the cluster in this node's latest topology."}),
		FanOutMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_fanout_messages_total", Help: "Fan-out messages (frames for the sessions of one node) sent by this node's grains to other nodes, and received by this node from other nodes' grains."}, []string{"direction"}),
		FanOutDeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_fanout_deliveries_total", Help: "Frames handed to this node's sessions for grains on other nodes (frames times sessions)."}),
		FanOutLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liveroom_fanout_latency_seconds", Help: "Time from a grain on another node sending a fan-out message to its arrival here (wall clocks of both nodes).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2.5, 12)}),
	}
	r.MustRegister(c.Activations, c.Passivations, c.Superseded, c.Requests, c.Members,
		c.FanOutMessages, c.FanOutDeliveries, c.FanOutLatency)
	return c
}
