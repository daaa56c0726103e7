package metrics

import "github.com/prometheus/client_golang/prometheus"

// Whiteboard holds the whiteboard grains' collectors.
type Whiteboard struct {
	// Ops counts stored board operations (rate() gives ops/s).
	Ops prometheus.Counter
	// Boards is the number of whiteboard grains in memory on this node.
	Boards prometheus.Gauge
	// Snapshot is how long writing a board snapshot took.
	Snapshot prometheus.Histogram
	// Load is how long rebuilding a board from the store took.
	Load prometheus.Histogram
}

func newWhiteboard() Whiteboard {
	return Whiteboard{
		Ops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_whiteboard_ops_total", Help: "Whiteboard operations stored."}),
		Boards: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveroom_whiteboard_boards_active", Help: "Whiteboards in memory on this node."}),
		Snapshot: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liveroom_whiteboard_snapshot_seconds", Help: "Time to encode and store one board snapshot (with its op).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}),
		Load: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "liveroom_whiteboard_load_seconds", Help: "Time to rebuild a board from its snapshot and op tail.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}),
	}
}
