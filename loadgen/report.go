package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a run; its JSON form is what --json prints.
type Report struct {
	RunID       string    `json:"run_id"`
	StartedAt   time.Time `json:"started_at"`
	Config      Config    `json:"config"`
	Interrupted bool      `json:"interrupted"`

	Phases struct {
		// Setup is the first /metrics samples and the room creation.
		SetupSeconds float64 `json:"setup_seconds"`
		RampSeconds  float64 `json:"ramp_seconds"`
		HoldSeconds  float64 `json:"hold_seconds"`
		DrainSeconds float64 `json:"drain_seconds"`
		TotalSeconds float64 `json:"total_seconds"`
	} `json:"phases"`

	Rooms struct {
		Planned int `json:"planned"`
		Created int `json:"created"`
		Failed  int `json:"failed"`
	} `json:"rooms"`

	Sessions struct {
		Planned   int64 `json:"planned"`
		Connected int64 `json:"connected"`
		Failed    int64 `json:"failed"`
		// Dropped sessions had joined and were closed by the server or the
		// network before the run ended.
		Dropped int64 `json:"dropped"`
	} `json:"sessions"`

	Messages struct {
		Sent int64 `json:"sent"`
		// Acknowledged: the server stored the message and echoed it back.
		Acknowledged int64 `json:"acknowledged"`
		// Refused: answered with an error frame (rate_limited, …).
		Refused int64 `json:"refused"`
		// Unacknowledged: neither, by the end of the drain.
		Unacknowledged int64 `json:"unacknowledged"`
		// Expected receptions: for every acknowledged message, the other
		// members of its room joined at that moment.
		Expected int64 `json:"expected_receptions"`
		Received int64 `json:"received"`
		Missing  int64 `json:"missing"`
		// Unexpected receptions beyond the expected (a sender dropped before
		// its echo arrived, for instance).
		Unexpected int64 `json:"unexpected"`
		// OutOfOrder: a message from a sender at or below the highest seq
		// already seen from it (duplicate or reordered).
		OutOfOrder int64 `json:"out_of_order"`
		// Foreign: chat frames that this run did not send.
		Foreign int64 `json:"foreign"`
	} `json:"messages"`

	// Latency is from the sender's write to each other member's read.
	Latency Latency `json:"latency"`
	// AckLatency is from the sender's write to its own echo.
	AckLatency Latency `json:"ack_latency"`

	// LoadToolCPUCoresHold is this tool's own CPU use during the hold: when
	// it shares a machine with a server, the two compete for its cores.
	LoadToolCPUCoresHold float64 `json:"load_tool_cpu_cores_hold"`

	Errors map[string]int64 `json:"errors"`

	// Media sums the call members' counters when the run has media.
	Media   *MediaReport `json:"media,omitempty"`
	Servers []ServerSide `json:"servers"`
	// MemoryPerSessionBytes is the servers' RSS growth over the ramp divided
	// by the sessions connected.
	MemoryPerSessionBytes float64 `json:"memory_per_session_bytes"`

	Failures struct {
		Sessions   float64 `json:"sessions"`
		Messages   float64 `json:"messages"`
		Receptions float64 `json:"receptions"`
		// Ratio is the largest of the three; the run fails above Max.
		Ratio float64 `json:"ratio"`
		Max   float64 `json:"max"`
	} `json:"failures"`
	Unreachable []string `json:"unreachable,omitempty"`
	Passed      bool     `json:"passed"`
}

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// MediaReport is what the synthetic call members sent and received.
type MediaReport struct {
	Peers           int64 `json:"peers"`
	PacketsSent     int64 `json:"packets_sent"`
	PacketsReceived int64 `json:"packets_received"`
	PacketsLost     int64 `json:"packets_lost"`
	// LossRatio is lost / (received + lost), over all subscribers.
	LossRatio float64 `json:"loss_ratio"`
	// RemoteTracks counts tracks received, summed over the peers.
	RemoteTracks   int64 `json:"remote_tracks"`
	KeyframesAsked int64 `json:"keyframes_asked"`
	NACKsReceived  int64 `json:"nacks_received"`
	// ServerCPUPerStream is the servers' CPU during the hold divided by the
	// forwarded streams (remote tracks), in cores.
	ServerCPUPerStream float64 `json:"server_cpu_cores_per_stream"`
	// Viewers is set in a broadcast run: what each receive-only viewer saw.
	Viewers *ViewerReport `json:"viewers,omitempty"`
}

// ViewerReport describes a broadcast run's viewers.
type ViewerReport struct {
	Joined int64 `json:"joined"`
	// WithPicture counts viewers that received a complete keyframe.
	WithPicture int64 `json:"with_picture"`
	// TimeToFirstFrame is from a viewer's join frame to the end of the
	// first keyframe it received.
	TimeToFirstFrame Latency `json:"time_to_first_frame"`
	// Per viewer over the whole run: minimum, median and maximum.
	Frames  Spread `json:"frames"`
	Packets Spread `json:"packets"`
	Lost    Spread `json:"lost"`
	// FramesPerSecond is the median viewer's frames over the hold.
	FramesPerSecond float64 `json:"frames_per_second_median"`
}

// Spread is the minimum, median and maximum of a per-viewer count.
type Spread struct {
	Min    int64 `json:"min"`
	Median int64 `json:"median"`
	Max    int64 `json:"max"`
}

func spreadOf(v []int64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	return Spread{Min: v[0], Median: v[len(v)/2], Max: v[len(v)-1]}
}

func (r *runner) viewerReport(sessions []*session) *ViewerReport {
	v := &ViewerReport{}
	var ttff Histogram
	var frames, packets, lost []int64
	for _, s := range sessions {
		p := s.peer.Load()
		if p == nil || s.broadcaster() || !s.joined.Load() {
			continue
		}
		v.Joined++
		st := p.Stats()
		if !st.FirstFrameAt.IsZero() {
			v.WithPicture++
			ttff.Record(st.FirstFrameAt.Sub(s.joinSent))
		}
		frames = append(frames, st.VideoFrames)
		packets = append(packets, st.PacketsReceived)
		lost = append(lost, st.PacketsLost)
	}
	v.TimeToFirstFrame = ttff.Summary()
	v.Frames, v.Packets, v.Lost = spreadOf(frames), spreadOf(packets), spreadOf(lost)
	if span := r.drainEnd.Sub(r.rampStart).Seconds(); span > 0 && !r.rampStart.IsZero() {
		// Viewers joined over the ramp: the median one watched from about
		// the middle of it.
		watched := r.drainEnd.Sub(r.rampStart.Add(r.rampEnd.Sub(r.rampStart) / 2)).Seconds()
		if watched > 0 {
			v.FramesPerSecond = round(float64(v.Frames.Median)/watched, 1)
		}
	}
	return v
}

func (r *runner) mediaReport(serverCores float64) *MediaReport {
	m := &MediaReport{Peers: r.peers.Load()}
	r.sessMu.Lock()
	sessions := r.sessions
	r.sessMu.Unlock()
	for _, s := range sessions {
		p := s.peer.Load()
		if p == nil {
			continue
		}
		st := p.Stats()
		m.PacketsSent += st.PacketsSent
		m.PacketsReceived += st.PacketsReceived
		m.PacketsLost += st.PacketsLost
		m.RemoteTracks += st.RemoteTracks
		m.KeyframesAsked += st.KeyframesAsked
		m.NACKsReceived += st.NACKsReceived
	}
	if total := m.PacketsReceived + m.PacketsLost; total > 0 {
		m.LossRatio = round(float64(m.PacketsLost)/float64(total), 5)
	}
	if m.RemoteTracks > 0 {
		m.ServerCPUPerStream = round(serverCores/float64(m.RemoteTracks), 5)
	}
	if r.cfg.Broadcast() {
		m.Viewers = r.viewerReport(sessions)
	}
	return m
}

func (r *runner) report(interrupted bool) *Report {
	rep := &Report{RunID: r.runID, StartedAt: r.t0, Config: r.cfg, Interrupted: interrupted, Errors: map[string]int64{}}
	rep.Config.RunID = r.runID
	rep.Config.APIKey = "" // a secret; the report is for sharing
	span := func(from, to time.Time) float64 {
		if from.IsZero() || to.IsZero() {
			return 0
		}
		return round(to.Sub(from).Seconds(), 3)
	}
	rep.Phases.SetupSeconds = span(r.t0, r.rampStart)
	rep.Phases.RampSeconds = span(r.rampStart, r.rampEnd)
	rep.Phases.HoldSeconds = span(r.holdStart, r.holdEnd)
	rep.Phases.DrainSeconds = span(r.holdEnd, r.drainEnd)
	rep.Phases.TotalSeconds = span(r.t0, r.done)
	if hold := r.holdEnd.Sub(r.holdStart).Seconds(); hold > 0 && !r.holdStart.IsZero() {
		rep.LoadToolCPUCoresHold = round((r.cpuHoldEnd-r.cpuHoldStart).Seconds()/hold, 3)
	}

	rep.Rooms.Planned = r.cfg.Rooms
	for _, room := range r.rooms {
		if room.created {
			rep.Rooms.Created++
		}
	}
	rep.Rooms.Failed = rep.Rooms.Planned - rep.Rooms.Created

	rep.Sessions.Planned = int64(r.cfg.Sessions())
	rep.Sessions.Connected = r.connected.Load()
	rep.Sessions.Failed = r.failed.Load()
	rep.Sessions.Dropped = r.dropped.Load()

	m := &rep.Messages
	m.Sent, m.Acknowledged, m.Refused = r.sent.Load(), r.acked.Load(), r.refused.Load()
	m.Unacknowledged = max(0, m.Sent-m.Acknowledged-m.Refused)
	m.Expected, m.Received = r.expected.Load(), r.received.Load()
	m.Missing = max(0, m.Expected-m.Received)
	m.Unexpected = max(0, m.Received-m.Expected)
	m.OutOfOrder, m.Foreign = r.outOfOrder.Load(), r.foreign.Load()

	rep.Latency = r.latency.Summary()
	rep.AckLatency = r.ackLatency.Summary()

	r.errMu.Lock()
	for k, v := range r.errs {
		rep.Errors[k] = v
	}
	r.errMu.Unlock()
	if m.Unacknowledged > 0 {
		rep.Errors["ack_timeout"] += m.Unacknowledged
	}
	if m.Missing > 0 {
		rep.Errors["reception_missing"] += m.Missing
	}
	if m.OutOfOrder > 0 {
		rep.Errors["out_of_order"] += m.OutOfOrder
	}

	var grew float64
	for _, t := range r.targets {
		side := t.side
		side.Sessions = int(t.connected.Load())
		if side.Start.OK && side.EndOfRamp.OK {
			d := side.EndOfRamp.RSSBytes - side.Start.RSSBytes
			grew += d
			if side.Sessions > 0 {
				side.MemoryPerSessionBytes = math.Round(d / float64(side.Sessions))
			}
		}
		if side.EndOfRamp.OK && side.End.OK && !r.holdStart.IsZero() {
			// CPU is sampled at the end of the ramp and after the drain; the
			// drain is short next to the hold, and so is the error.
			if secs := side.End.At.Sub(side.EndOfRamp.At).Seconds(); secs > 0 {
				side.CPUCoresHold = round((side.End.CPUSeconds-side.EndOfRamp.CPUSeconds)/secs, 3)
			}
			if n := side.End.StoreApplies - side.EndOfRamp.StoreApplies; n > 0 {
				side.StoreApplyMsHold = round((side.End.StoreApplySeconds-side.EndOfRamp.StoreApplySeconds)/n*1000, 3)
			}
		}
		if !t.reachable {
			rep.Unreachable = append(rep.Unreachable, t.base)
		}
		rep.Servers = append(rep.Servers, side)
	}
	if rep.Sessions.Connected > 0 {
		rep.MemoryPerSessionBytes = math.Round(grew / float64(rep.Sessions.Connected))
	}
	if r.cfg.Media != "" {
		var cores float64
		for _, side := range rep.Servers {
			cores += side.CPUCoresHold
		}
		rep.Media = r.mediaReport(cores)
	}

	f := &rep.Failures
	f.Sessions = round(ratio(rep.Sessions.Failed+rep.Sessions.Dropped, rep.Sessions.Planned), 6)
	f.Messages = round(ratio(m.Refused+m.Unacknowledged, m.Sent), 6)
	f.Receptions = round(ratio(m.Missing+m.Unexpected+m.OutOfOrder, m.Expected), 6)
	f.Ratio = max(f.Sessions, f.Messages, f.Receptions)
	f.Max = r.cfg.MaxFailureRatio
	rep.Passed = f.Ratio <= f.Max && len(rep.Unreachable) == 0 && !interrupted
	return rep
}

// Err says why the run failed, or nil when it passed.
func (rep *Report) Err() error {
	var why []string
	if len(rep.Unreachable) > 0 {
		why = append(why, "unreachable: "+strings.Join(rep.Unreachable, ", "))
	}
	if rep.Failures.Ratio > rep.Failures.Max {
		why = append(why, fmt.Sprintf("failure ratio %.4f is above the maximum %.4f", rep.Failures.Ratio, rep.Failures.Max))
	}
	if rep.Interrupted {
		why = append(why, "interrupted")
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("load run %s failed: %s", rep.RunID, strings.Join(why, "; "))
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }

// WriteText writes the report for people.
func (rep *Report) WriteText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	c := rep.Config
	p("liveroom load run %s against %s", rep.RunID, strings.Join(c.Servers, ", "))
	p("  scenario     %d rooms × %d members, ramp %g/s, hold %s, %g msg/s per session, %d-byte messages",
		c.Rooms, c.RoomSize, c.Ramp, c.Duration, c.MsgRate, c.MsgBytes)
	p("  phases       setup %.1fs, ramp %.1fs, hold %.1fs, drain %.1fs, total %.1fs%s", rep.Phases.SetupSeconds, rep.Phases.RampSeconds, rep.Phases.HoldSeconds,
		rep.Phases.DrainSeconds, rep.Phases.TotalSeconds, map[bool]string{true: " (interrupted)"}[rep.Interrupted])
	p("  rooms        %d created, %d failed", rep.Rooms.Created, rep.Rooms.Failed)
	s := rep.Sessions
	p("  sessions     %d planned, %d connected, %d failed, %d dropped", s.Planned, s.Connected, s.Failed, s.Dropped)
	m := rep.Messages
	p("  messages     %d sent, %d acknowledged, %d refused, %d unacknowledged", m.Sent, m.Acknowledged, m.Refused, m.Unacknowledged)
	p("  receptions   %d expected, %d received, %d missing, %d unexpected, %d out of order", m.Expected, m.Received, m.Missing, m.Unexpected, m.OutOfOrder)
	lat := func(name string, l Latency) {
		if l.Count == 0 {
			p("  %-12s no samples", name)
			return
		}
		p("  %-12s p50 %.2fms  p95 %.2fms  p99 %.2fms  max %.2fms  (min %.2fms, mean %.2fms, %d samples)",
			name, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, l.MinMs, l.MeanMs, l.Count)
	}
	lat("latency", rep.Latency)
	lat("ack latency", rep.AckLatency)
	if md := rep.Media; md != nil {
		p("  media        %d peers, %d packets sent, %d received, %d lost (%.3f%%), %d remote tracks, %d keyframe requests, %d NACKs",
			md.Peers, md.PacketsSent, md.PacketsReceived, md.PacketsLost, md.LossRatio*100, md.RemoteTracks, md.KeyframesAsked, md.NACKsReceived)
		p("  forwarding   %.4f server cores per received track during the hold", md.ServerCPUPerStream)
		if v := md.Viewers; v != nil {
			p("  viewers      %d joined, %d got a picture; time to first frame p50 %.0fms p99 %.0fms max %.0fms",
				v.Joined, v.WithPicture, v.TimeToFirstFrame.P50Ms, v.TimeToFirstFrame.P99Ms, v.TimeToFirstFrame.MaxMs)
			p("  per viewer   frames %d/%d/%d, packets %d/%d/%d, lost %d/%d/%d (min/median/max); median %.1f frames/s",
				v.Frames.Min, v.Frames.Median, v.Frames.Max, v.Packets.Min, v.Packets.Median, v.Packets.Max,
				v.Lost.Min, v.Lost.Median, v.Lost.Max, v.FramesPerSecond)
		}
	}
	p("  load tool    %.2f cores of CPU during the hold", rep.LoadToolCPUCoresHold)
	if len(rep.Errors) == 0 {
		p("  errors       none")
	} else {
		var parts []string
		for _, k := range sortedKinds(rep.Errors) {
			parts = append(parts, fmt.Sprintf("%s %d", k, rep.Errors[k]))
		}
		p("  errors       %s", strings.Join(parts, ", "))
	}
	for _, sv := range rep.Servers {
		if !sv.Reachable {
			p("  server %s: unreachable (%s)", sv.Server, sv.Error)
			continue
		}
		p("  server %s: %d sessions, memory per session %s, CPU during hold %.2f cores, store write %.2fms mean",
			sv.Server, sv.Sessions, kib(sv.MemoryPerSessionBytes), sv.CPUCoresHold, sv.StoreApplyMsHold)
		p("    %-12s %12s %12s %12s %12s %12s", "", "start", "end of ramp", "end", "peak", "after close")
		row := func(name string, get func(Sample) string) {
			cell := func(x Sample) string {
				if !x.OK {
					return "-"
				}
				return get(x)
			}
			p("    %-12s %12s %12s %12s %12s %12s", name, cell(sv.Start), cell(sv.EndOfRamp), cell(sv.End), cell(sv.Peak), cell(sv.After))
		}
		row("goroutines", func(x Sample) string { return fmt.Sprintf("%.0f", x.Goroutines) })
		row("rss", func(x Sample) string { return mib(x.RSSBytes) })
		row("sockets", func(x Sample) string { return fmt.Sprintf("%.0f", x.Sockets) })
	}
	if len(rep.Servers) > 1 {
		p("  memory per session (all servers) %s", kib(rep.MemoryPerSessionBytes))
	}
	verdict := "PASS"
	if !rep.Passed {
		verdict = "FAIL"
	}
	f := rep.Failures
	p("  failures     sessions %.4f, messages %.4f, receptions %.4f; ratio %.4f, max %.4f: %s",
		f.Sessions, f.Messages, f.Receptions, f.Ratio, f.Max, verdict)
}
