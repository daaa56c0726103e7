// Package metrics holds the Prometheus collectors an operator watches.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics is one registry with Liveroom's collectors; each server has its own
// so tests can run several in one process.
type Metrics struct {
	Registry     *prometheus.Registry
	Cluster      *Cluster
	SocketsOpen  prometheus.Gauge
	RoomsActive  prometheus.Gauge
	FramesIn     *prometheus.CounterVec
	FramesOut    prometheus.Counter
	ChatMessages prometheus.Counter
	// ChatRetries counts posts that came again after being stored (a
	// cluster retry) and were answered without storing them twice.
	ChatRetries   prometheus.Counter
	SlowClients   prometheus.Counter
	FrameErrors   *prometheus.CounterVec
	StoreLatency  *prometheus.HistogramVec
	UploadedBytes prometheus.Counter
	// AgentPages and CallMembers feed the admin overview too.
	AgentPages  prometheus.Gauge
	CallMembers prometheus.Gauge
	// Recording (issue 13).
	RecordingsActive prometheus.Gauge
	RecordedBytes    prometheus.Counter
	RecordingErrors  prometheus.Counter
	Whiteboard       Whiteboard
}

// New registers every collector, Go runtime and process ones included.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		SocketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveroom_sockets_open", Help: "WebSocket connections open on this node."}),
		RoomsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveroom_rooms_active", Help: "Room actors in memory on this node."}),
		FramesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_frames_in_total", Help: "Frames received from browsers, by type."}, []string{"type"}),
		FramesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_frames_out_total", Help: "Frames written to browsers."}),
		ChatMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_chat_messages_total", Help: "Chat messages stored."}),
		ChatRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_chat_retries_total",
			Help: "Chat posts that reached their room again after being stored, answered without storing them twice.",
		}),
		SlowClients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_slow_clients_total", Help: "Sockets closed as slow consumers: their outbound queue filled or a write timed out."}),
		FrameErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_frame_errors_total", Help: "Error frames sent to browsers, by code."}, []string{"code"}),
		StoreLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "liveroom_store_seconds", Help: "Store operation latency.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}, []string{"op"}),
		UploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_uploaded_bytes_total", Help: "Bytes of files uploaded."}),
		AgentPages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveroom_agent_pages_open", Help: "Agent pages connected to this node."}),
		CallMembers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveroom_call_members", Help: "Members in calls of rooms held on this node."}),
		Whiteboard: newWhiteboard(),
	}
	m.RecordingsActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "liveroom_recordings_active", Help: "Call recordings being written on this node."})
	m.RecordedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "liveroom_recorded_bytes_total", Help: "Bytes of call recordings written to disk."})
	m.RecordingErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "liveroom_recording_errors_total", Help: "Recordings stopped by a write error or a full disk."})
	r.MustRegister(m.RecordingsActive, m.RecordedBytes, m.RecordingErrors)
	r.MustRegister(m.SocketsOpen, m.RoomsActive, m.FramesIn, m.FramesOut, m.ChatMessages, m.ChatRetries,
		m.SlowClients, m.FrameErrors, m.StoreLatency, m.UploadedBytes, m.AgentPages, m.CallMembers,
		m.Whiteboard.Ops, m.Whiteboard.Boards, m.Whiteboard.Snapshot, m.Whiteboard.Load,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Cluster = newCluster(r)
	return m
}

// ObserveStore records one store operation; it fits persistence.Observer.
func (m *Metrics) ObserveStore(op string, took time.Duration, _ error) {
	m.StoreLatency.WithLabelValues(op).Observe(took.Seconds())
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Read returns the current value of a gauge or counter, for in-process
// readers such as the admin overview.
func Read(c prometheus.Metric) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

// WatchForwarding exports the SFU's forwarding counters: RTP packets read
// from publishers, copies written to subscribers (the figure to divide the
// server's CPU time by), and copies sent again on subscribers' NACKs.
func (m *Metrics) WatchForwarding(stats func() (in, out, resent uint64)) {
	pick := func(i int) func() float64 {
		return func() float64 {
			in, out, resent := stats()
			return float64([]uint64{in, out, resent}[i])
		}
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "liveroom_sfu_packets_in_total",
			Help: "RTP packets the SFU read from publishers."}, pick(0)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "liveroom_sfu_packets_out_total",
			Help: "RTP packets the SFU wrote to subscribers (one per packet and subscriber)."}, pick(1)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "liveroom_sfu_packets_resent_total",
			Help: "RTP packets the SFU sent again because a subscriber reported them lost (NACK)."}, pick(2)))
}

// WatchSimulcast exports how often the SFU moved a subscriber from one
// simulcast layer to another (down on a poor link, up when it recovers).
func (m *Metrics) WatchSimulcast(switches func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "liveroom_simulcast_layer_switches_total",
		Help: "Times a subscriber was moved from one simulcast layer to another."}, func() float64 { return float64(switches()) }))
}
