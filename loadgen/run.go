package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"liveroom/internal/selfcpu"
	"liveroom/loadgen/mediapeer"
)

// Options are how a run talks to its caller; they are not part of the scenario.
type Options struct {
	// Progress receives a status line every ProgressEvery; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Terminal rewrites the progress line in place instead of adding lines.
	Terminal bool
}

type target struct {
	base      string // http(s)://host[:port][/path]
	ws        string // ws(s)://…/ws
	origin    string // scheme://host, what the server's same-origin check wants
	side      ServerSide
	reachable bool
	// apiDown is set once an API call to this server got no answer, so room
	// creation stops waiting on it: one timeout per server, not per room.
	apiDown   atomic.Bool
	connected atomic.Int64

	peakMu sync.Mutex
}

type roomState struct {
	id       string
	agentKey string
	created  bool
	// live counts members of this room that are joined now: at each
	// acknowledged message it gives how many receptions to expect.
	live atomic.Int32
}

type runner struct {
	cfg        Config
	opt        Options
	runID      string
	t0         time.Time
	targets    []*target
	rooms      []*roomState
	httpClient *http.Client
	wsClient   *http.Client

	phase atomic.Value // string

	connected, failed, dropped               atomic.Int64
	sent, acked, refused, received, expected atomic.Int64
	outOfOrder, foreign                      atomic.Int64
	latency, ackLatency                      Histogram
	errMu                                    sync.Mutex
	errs                                     map[string]int64
	sessMu                                   sync.Mutex
	sessions                                 []*session
	closingAll                               bool
	launches, readers, senders               sync.WaitGroup
	start, stop                              chan struct{}
	rampStart, rampEnd, holdStart, holdEnd   time.Time
	drainEnd, done                           time.Time
	cpuHoldStart, cpuHoldEnd                 time.Duration

	mediaAPI *webrtc.API // shared by every session's peer when the run has media
	peers    atomic.Int64
}

func (r *runner) errorKind(kind string) { r.errorKinds(kind, 1) }

func (r *runner) errorKinds(kind string, n int64) {
	r.errMu.Lock()
	r.errs[kind] += n
	r.errMu.Unlock()
}

func (r *runner) fail(kind string) {
	r.failed.Add(1)
	r.errorKind(kind)
}

// register adds a connected session to the set the run closes at its end; it
// refuses once closing has begun.
func (r *runner) register(s *session) bool {
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	if r.closingAll {
		return false
	}
	r.sessions = append(r.sessions, s)
	return true
}

func newRunID() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "lt" + string(b)
}

func newTarget(base string) *target {
	u, _ := url.Parse(base) // Validate normalised it already
	ws := *u
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	ws.Path = strings.TrimRight(u.Path, "/") + "/ws"
	return &target{base: base, ws: ws.String(), origin: u.Scheme + "://" + u.Host, side: ServerSide{Server: base}}
}

// Run performs one load run. Its error is only for a configuration that
// cannot run; everything that goes wrong against the servers is in the
// report (see Report.Err).
func Run(ctx context.Context, cfg Config, opt Options) (*Report, error) {
	cfg.Servers = append([]string(nil), cfg.Servers...)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = time.Second
	}
	r := &runner{cfg: cfg, opt: opt, runID: cfg.RunID, t0: time.Now(), errs: map[string]int64{},
		start: make(chan struct{}), stop: make(chan struct{})}
	if r.runID == "" {
		r.runID = newRunID()
	}
	if cfg.Media != "" {
		api, err := mediapeer.NewAPI()
		if err != nil {
			return nil, err
		}
		r.mediaAPI = api
	}
	r.phase.Store("start")
	for _, s := range cfg.Servers {
		r.targets = append(r.targets, newTarget(s))
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout.D(), KeepAlive: 30 * time.Second}
	r.httpClient = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext,
		MaxIdleConnsPerHost: 16, TLSHandshakeTimeout: cfg.ConnectTimeout.D()}, Timeout: cfg.ConnectTimeout.D()}
	wsDial := dialer.DialContext
	if len(cfg.SourceAddrs) > 0 {
		wsDial = sourceDialer(cfg, dialer)
	}
	// WebSocket upgrades need HTTP/1.1; an empty TLSNextProto keeps HTTP/2 off.
	r.wsClient = &http.Client{Transport: &http.Transport{DialContext: wsDial,
		TLSHandshakeTimeout: cfg.ConnectTimeout.D(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	defer r.httpClient.CloseIdleConnections()

	progressDone := make(chan struct{})
	progressCtx, stopProgress := context.WithCancel(context.Background())
	go func() { defer close(progressDone); r.progress(progressCtx) }()

	r.run(ctx)

	stopProgress()
	<-progressDone
	return r.report(ctx.Err() != nil), nil
}

func (r *runner) run(ctx context.Context) {
	if !r.preflight(ctx) {
		r.failed.Add(int64(r.cfg.Sessions()))
		r.errorKinds("not_started:no_server", int64(r.cfg.Sessions()))
		r.done = time.Now()
		return
	}
	r.phase.Store("rooms")
	r.createRooms(ctx)

	// Launches get their own context so the end of the run can cut short a
	// dial or join still waiting, even when ctx itself is fine.
	launchCtx, cancelLaunches := context.WithCancel(ctx)
	defer cancelLaunches()
	r.phase.Store("ramp")
	rampStart := time.Now()
	r.rampStart = rampStart
	total := r.cfg.Sessions()
	order := make([]int, 0, total)
	if r.cfg.Broadcast() {
		// Broadcasters first, live and sending before any viewer joins,
		// so a viewer's time to first frame is its own.
		for i := 0; i < total; i += r.cfg.RoomSize {
			r.launches.Add(1)
			go func(i int) { defer r.launches.Done(); r.launch(launchCtx, i) }(i)
		}
		waitFor(&r.launches, r.cfg.ConnectTimeout.D()+r.cfg.JoinTimeout.D()+time.Second)
		r.awaitPublishers(ctx)
		for i := range total {
			if i%r.cfg.RoomSize != 0 {
				order = append(order, i)
			}
		}
		total = len(order)
		rampStart = time.Now()
		r.rampStart = rampStart
	} else {
		for i := range total {
			order = append(order, i)
		}
	}
	every := time.Duration(float64(time.Second) / r.cfg.Ramp)
	timer := time.NewTimer(0)
	started := 0
ramp:
	for ; started < total; started++ {
		select {
		case <-ctx.Done():
			break ramp
		case <-timer.C:
		}
		r.launches.Add(1)
		go func(i int) { defer r.launches.Done(); r.launch(launchCtx, i) }(order[started])
		timer.Reset(time.Until(rampStart.Add(time.Duration(started+1) * every)))
	}
	timer.Stop()
	if started < total {
		r.failed.Add(int64(total - started))
		r.errorKinds("interrupted", int64(total-started))
	}
	waitFor(&r.launches, r.cfg.ConnectTimeout.D()+r.cfg.JoinTimeout.D()+time.Second)
	r.rampEnd = time.Now()
	r.sampleAll(func(t *target, s Sample) { t.side.EndOfRamp = s })

	r.phase.Store("hold")
	r.holdStart, r.cpuHoldStart = time.Now(), selfcpu.Used()
	close(r.start)
	r.hold(ctx)
	close(r.stop)
	waitFor(&r.senders, writeTimeout+time.Second)
	r.holdEnd, r.cpuHoldEnd = time.Now(), selfcpu.Used()

	r.phase.Store("drain")
	r.drain(ctx)
	r.drainEnd = time.Now()
	r.sampleAll(func(t *target, s Sample) { t.side.End = s })

	r.phase.Store("close")
	cancelLaunches()
	r.closeAll()
	r.sampleAfter()
	r.done = time.Now()
}

// awaitPublishers waits until every broadcaster that joined has its publish
// answer, then a second more for its first frames to reach the server.
func (r *runner) awaitPublishers(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.JoinTimeout.D())
	defer deadline.Stop()
	r.sessMu.Lock()
	sessions := append([]*session(nil), r.sessions...)
	r.sessMu.Unlock()
	for _, s := range sessions {
		p := s.peer.Load()
		if p == nil {
			continue
		}
		select {
		case <-p.Published():
		case <-deadline.C:
			r.errorKind("broadcaster_not_live")
			return
		case <-ctx.Done():
			return
		}
	}
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
}

// preflight takes each server's first sample; a server that does not answer
// is counted unreachable. It reports whether any server answered.
func (r *runner) preflight(ctx context.Context) bool {
	var wg sync.WaitGroup
	for _, t := range r.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := scrape(ctx, r.httpClient, t.base, min(5*time.Second, r.cfg.ConnectTimeout.D()))
			if err != nil {
				t.side.Error = err.Error()
				return
			}
			t.reachable, t.side.Reachable, t.side.Start = true, true, s
			t.peakMu.Lock()
			t.side.Peak.raise(s)
			t.peakMu.Unlock()
		}()
	}
	wg.Wait()
	any := false
	for _, t := range r.targets {
		if t.reachable {
			any = true
		} else {
			r.errorKind("server_unreachable")
		}
	}
	return any
}

func (r *runner) createRooms(ctx context.Context) {
	width := len(fmt.Sprint(r.cfg.Rooms - 1))
	r.rooms = make([]*roomState, r.cfg.Rooms)
	for i := range r.rooms {
		r.rooms[i] = &roomState{id: fmt.Sprintf("%s-%0*d", r.runID, width, i)}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(8, r.cfg.Rooms); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r.createRoom(ctx, i)
			}
		}()
	}
	for i := range r.rooms {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
}

// createRoom asks the room's own server first and, when it does not answer,
// the others: any node can create any room.
func (r *runner) createRoom(ctx context.Context, i int) {
	room := r.rooms[i]
	body, _ := json.Marshal(map[string]string{"id": room.id, "visitorName": "Load visitor", "agentName": "Load agent"})
	path := "/api/rooms"
	if r.cfg.Broadcast() {
		body, _ = json.Marshal(map[string]any{"id": room.id, "title": "Load broadcast " + room.id, "chat": true})
		path = "/api/v1/broadcasts"
	}
	kind := "create_room:no_server"
	for k := range r.targets {
		t := r.targets[(i+k)%len(r.targets)]
		if !t.reachable || t.apiDown.Load() {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, bytes.NewReader(body))
		if err != nil {
			break
		}
		req.Header.Set("Content-Type", "application/json")
		if r.cfg.Broadcast() {
			req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
		}
		resp, err := r.httpClient.Do(req)
		if err != nil {
			kind = "create_room:unreachable"
			if ctx.Err() == nil {
				t.apiDown.Store(true)
			}
			continue
		}
		var out struct {
			AgentKey string `json:"agentKey"`
			// A broadcast's key rides in its broadcaster link's fragment.
			BroadcasterURL string `json:"broadcasterUrl"`
			Error          struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		derr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
		resp.Body.Close()
		if _, key, ok := strings.Cut(out.BroadcasterURL, "#key="); ok && r.cfg.Broadcast() {
			out.AgentKey = key
		}
		if resp.StatusCode == http.StatusCreated && derr == nil && out.AgentKey != "" {
			room.agentKey, room.created = out.AgentKey, true
			return
		}
		kind = fmt.Sprintf("create_room:http_%d", resp.StatusCode)
		if out.Error.Code != "" {
			kind = "create_room:" + out.Error.Code
		}
		if resp.StatusCode < 500 {
			break // the request itself was refused; another node would agree
		}
	}
	r.errorKind(kind)
}

// alive is the number of sessions joined and not dropped.
func (r *runner) alive() int64 { return r.connected.Load() - r.dropped.Load() }

// hold keeps the sessions for the run's duration, or less when every one of
// them was dropped: nothing is left to measure then.
func (r *runner) hold(ctx context.Context) {
	end := time.NewTimer(r.cfg.Duration.D())
	defer end.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-tick.C:
			if r.alive() <= 0 {
				return
			}
		}
	}
}

// drain waits until every sent message was answered and every expected
// reception arrived, or the drain timeout passes.
func (r *runner) drain(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.DrainTimeout.D())
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if r.acked.Load()+r.refused.Load() >= r.sent.Load() && r.received.Load() >= r.expected.Load() {
			return
		}
		if r.alive() <= 0 {
			return // no socket left to deliver anything
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// closeAll closes every socket with a normal close, in parallel, and gives
// up waiting for the closing handshakes after a deadline.
func (r *runner) closeAll() {
	waitFor(&r.launches, r.cfg.ConnectTimeout.D()+time.Second)
	r.sessMu.Lock()
	r.closingAll = true
	sessions := r.sessions
	r.sessMu.Unlock()
	var wg sync.WaitGroup
	gate := make(chan struct{}, 256)
	for _, s := range sessions {
		s.closing.Store(true)
		wg.Add(1)
		gate <- struct{}{}
		go func() {
			defer func() { <-gate; wg.Done() }()
			_ = s.conn.Close(websocket.StatusNormalClosure, "load test done")
			if p := s.peer.Load(); p != nil {
				p.Close()
			}
		}()
	}
	if !waitFor(&wg, 10*time.Second) {
		for _, s := range sessions {
			_ = s.conn.CloseNow()
		}
	}
	waitFor(&r.readers, 5*time.Second)
}

// sampleAfter waits a little for the servers to let go of the closed sockets
// (their goroutines exit asynchronously) and samples once more.
func (r *runner) sampleAfter() {
	deadline := time.Now().Add(5 * time.Second)
	for {
		settled := true
		r.sampleAll(func(t *target, s Sample) {
			t.side.After = s
			if s.OK && s.Sockets > t.side.Start.Sockets {
				settled = false
			}
		})
		if settled || time.Now().After(deadline) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sampleAll scrapes every reachable server at once and hands each sample to
// set; it also raises the peaks.
func (r *runner) sampleAll(set func(*target, Sample)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, t := range r.targets {
		if !t.reachable {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := scrape(context.Background(), r.httpClient, t.base, 3*time.Second)
			if err != nil {
				r.errorKind("metrics_failed")
			}
			t.peakMu.Lock()
			t.side.Peak.raise(s)
			t.peakMu.Unlock()
			if set != nil {
				mu.Lock()
				set(t, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// waitFor waits for wg at most d and reports whether it finished.
func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func (r *runner) progress(ctx context.Context) {
	tick := time.NewTicker(r.opt.ProgressEvery)
	defer tick.Stop()
	printed := false
	for {
		select {
		case <-ctx.Done():
			if printed && r.opt.Terminal {
				fmt.Fprintln(r.opt.Progress)
			}
			return
		case <-tick.C:
		}
		if ph := r.phase.Load().(string); ph == "ramp" || ph == "hold" || ph == "drain" {
			r.sampleAll(nil)
		}
		if r.opt.Progress == nil {
			continue
		}
		line := r.progressLine()
		if r.opt.Terminal {
			fmt.Fprint(r.opt.Progress, "\r\033[K"+line)
		} else {
			fmt.Fprintln(r.opt.Progress, line)
		}
		printed = true
	}
}

func (r *runner) progressLine() string {
	var rss, gor float64
	for _, t := range r.targets {
		t.peakMu.Lock()
		rss += t.side.Peak.RSSBytes
		gor += t.side.Peak.Goroutines
		t.peakMu.Unlock()
	}
	return fmt.Sprintf("[%5.1fs %-5s] sessions %d/%d failed %d dropped %d | sent %d acked %d | received %d/%d | p50 %s p99 %s | server peak rss %.0f MiB",
		time.Since(r.t0).Seconds(), r.phase.Load(), r.connected.Load(), r.cfg.Sessions(), r.failed.Load(), r.dropped.Load(),
		r.sent.Load(), r.acked.Load(), r.received.Load(), r.expected.Load(),
		fmtDur(r.latency.Quantile(0.5)), fmtDur(r.latency.Quantile(0.99)), rss/(1<<20))
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func sortedKinds(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sourceDialer opens each socket from the next of cfg.SourceAddrs.
func sourceDialer(cfg Config, base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dialers := make([]*net.Dialer, len(cfg.SourceAddrs))
	for i, a := range cfg.SourceAddrs {
		d := *base
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a)}
		dialers[i] = &d
	}
	var next atomic.Uint64
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := dialers[(next.Add(1)-1)%uint64(len(dialers))]
		return d.DialContext(ctx, network, addr)
	}
}
