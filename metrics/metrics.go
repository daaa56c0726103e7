// Package metrics holds the Prometheus collectors an operator watches.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one registry with Liveroom's collectors; each server has its own
// so tests can run several in one process.
type Metrics struct {
	Registry      *prometheus.Registry
	SocketsOpen   prometheus.Gauge
	RoomsActive   prometheus.Gauge
	FramesIn      *prometheus.CounterVec
	FramesOut     prometheus.Counter
	ChatMessages  prometheus.Counter
	SlowClients   prometheus.Counter
	FrameErrors   *prometheus.CounterVec
	StoreLatency  *prometheus.HistogramVec
	UploadedBytes prometheus.Counter
	Whiteboard    Whiteboard
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
		SlowClients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_slow_clients_total", Help: "Sockets closed because their outbound queue filled."}),
		FrameErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveroom_frame_errors_total", Help: "Error frames sent to browsers, by code."}, []string{"code"}),
		StoreLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "liveroom_store_seconds", Help: "Store operation latency.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}, []string{"op"}),
		UploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveroom_uploaded_bytes_total", Help: "Bytes of files uploaded."}),
		Whiteboard: newWhiteboard(),
	}
	r.MustRegister(m.SocketsOpen, m.RoomsActive, m.FramesIn, m.FramesOut, m.ChatMessages,
		m.SlowClients, m.FrameErrors, m.StoreLatency, m.UploadedBytes,
		m.Whiteboard.Ops, m.Whiteboard.Boards, m.Whiteboard.Snapshot, m.Whiteboard.Load,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
