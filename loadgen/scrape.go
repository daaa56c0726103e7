package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sample is what one server said about itself at one moment.
type Sample struct {
	At         time.Time `json:"at"`
	OK         bool      `json:"ok"`
	Goroutines float64   `json:"goroutines"`
	RSSBytes   float64   `json:"rss_bytes"`
	Sockets    float64   `json:"sockets_open"`
	Rooms      float64   `json:"rooms_active"`
	CPUSeconds float64   `json:"cpu_seconds"`
	// StoreApplies and StoreApplySeconds count the store's batch writes (a
	// chat message is one, synced) and their total time.
	StoreApplies      float64 `json:"store_applies"`
	StoreApplySeconds float64 `json:"store_apply_seconds"`
}

// The unlabelled series a sample takes; everything else on /metrics is skipped.
var sampleSeries = map[string]func(*Sample, float64){
	"go_goroutines":                            func(s *Sample, v float64) { s.Goroutines = v },
	"process_resident_memory_bytes":            func(s *Sample, v float64) { s.RSSBytes = v },
	"liveroom_sockets_open":                    func(s *Sample, v float64) { s.Sockets = v },
	"liveroom_rooms_active":                    func(s *Sample, v float64) { s.Rooms = v },
	"process_cpu_seconds_total":                func(s *Sample, v float64) { s.CPUSeconds = v },
	`liveroom_store_seconds_count{op="apply"}`: func(s *Sample, v float64) { s.StoreApplies = v },
	`liveroom_store_seconds_sum{op="apply"}`:   func(s *Sample, v float64) { s.StoreApplySeconds = v },
}

// parseMetrics reads the Prometheus text format far enough for a Sample.
func parseMetrics(r io.Reader) (Sample, error) {
	s := Sample{At: time.Now()}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// Label values here never hold spaces, so the series ends at the first.
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		set := sampleSeries[name]
		if set == nil {
			continue
		}
		// A sample line may end with a timestamp after the value.
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return s, fmt.Errorf("metric %s: %w", name, err)
		}
		set(&s, v)
		found++
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if found == 0 {
		return s, fmt.Errorf("no known series: is this a Liveroom /metrics page?")
	}
	s.OK = true
	return s, nil
}

// scrape fetches base/metrics within timeout.
func scrape(ctx context.Context, client *http.Client, base string, timeout time.Duration) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return Sample{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 8<<20))
}

// ServerSide is one server's view of the run, from its /metrics.
type ServerSide struct {
	Server    string `json:"server"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Sessions is how many sessions of this run connected to this server.
	Sessions  int    `json:"sessions"`
	Start     Sample `json:"start"`
	EndOfRamp Sample `json:"end_of_ramp"`
	End       Sample `json:"end"`
	// After is taken once every session was closed, to show what the server
	// gave back.
	After Sample `json:"after_close"`
	// Peak holds the largest value of each series seen in any sample.
	Peak Sample `json:"peak"`
	// MemoryPerSessionBytes is (RSS at end of ramp − RSS at start) / sessions.
	MemoryPerSessionBytes float64 `json:"memory_per_session_bytes"`
	// CPUCoresHold is the server's CPU time during the hold phase divided by
	// its length: 1.0 is one core busy all along.
	CPUCoresHold float64 `json:"cpu_cores_hold"`
	// StoreApplyMsHold is the mean time of one store write during the hold:
	// chat waits for it, so it bounds how fast one room can go.
	StoreApplyMsHold float64 `json:"store_apply_ms_hold"`
}

func (p *Sample) raise(s Sample) {
	if !s.OK {
		return
	}
	p.OK = true
	p.At = s.At
	p.Goroutines = max(p.Goroutines, s.Goroutines)
	p.RSSBytes = max(p.RSSBytes, s.RSSBytes)
	p.Sockets = max(p.Sockets, s.Sockets)
	p.Rooms = max(p.Rooms, s.Rooms)
	p.CPUSeconds = max(p.CPUSeconds, s.CPUSeconds)
	p.StoreApplies = max(p.StoreApplies, s.StoreApplies)
	p.StoreApplySeconds = max(p.StoreApplySeconds, s.StoreApplySeconds)
}
