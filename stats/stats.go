// Package stats keeps the last hour of this node's own counters in memory,
// sampled every few seconds, for the admin overview's small charts. It needs
// no outside time-series store; a restart starts a fresh hour.
package stats

import (
	"sync"
	"time"
)

// Sample is one reading of the node's counters.
type Sample struct {
	AtMs       int64   `json:"atMs"`
	Nodes      float64 `json:"nodes"`
	Sockets    float64 `json:"sockets"`
	Rooms      float64 `json:"rooms"`
	Calls      float64 `json:"calls"`
	AgentPages float64 `json:"agentPages"`
	Chat       float64 `json:"chat"` // chat messages stored since start
}

// Ring holds the newest samples, oldest first when read.
type Ring struct {
	mu   sync.Mutex
	buf  []Sample
	next int
	full bool
}

// NewRing keeps size samples.
func NewRing(size int) *Ring { return &Ring{buf: make([]Sample, max(size, 1))} }

// Add stores s, dropping the oldest sample when full.
func (r *Ring) Add(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// Samples returns a copy, oldest first.
func (r *Ring) Samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Sample(nil), r.buf[:r.next]...)
	}
	return append(append([]Sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// Run samples read every interval into r until stop is closed; the first
// sample is taken at once so a fresh server shows a point.
func Run(r *Ring, interval time.Duration, read func() Sample, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s := read()
		s.AtMs = time.Now().UnixMilli()
		r.Add(s)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
