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
	}
	r.MustRegister(c.Activations, c.Passivations, c.Superseded, c.Requests, c.Members)
	return c
}
