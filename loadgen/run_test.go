package loadgen_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/loadgen"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

func smallRun(servers ...string) loadgen.Config {
	cfg := loadgen.Defaults()
	cfg.Servers = servers
	cfg.Rooms, cfg.RoomSize = 5, 10
	cfg.Ramp = 500
	cfg.Duration = loadgen.Duration(2 * time.Second)
	cfg.MsgRate = 2
	// Generous: on a busy machine acknowledgements take seconds, and the
	// tests check what arrives, not how fast.
	cfg.ConnectTimeout = loadgen.Duration(30 * time.Second)
	cfg.JoinTimeout = loadgen.Duration(30 * time.Second)
	cfg.DrainTimeout = loadgen.Duration(60 * time.Second)
	return cfg
}

// runWithin runs cfg and fails the test when the run outlasts limit: the tool
// must never hang, whatever the server does.
// Each progress line goes to onLine when it is not nil.
func runWithin(t *testing.T, limit time.Duration, cfg loadgen.Config, onLine func(string)) *loadgen.Report {
	t.Helper()
	type result struct {
		rep *loadgen.Report
		err error
	}
	out := make(chan result, 1)
	go func() {
		rep, err := loadgen.Run(context.Background(), cfg, loadgen.Options{Progress: lineWriter(onLine), ProgressEvery: 200 * time.Millisecond})
		out <- result{rep, err}
	}()
	select {
	case r := <-out:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.rep
	case <-time.After(limit):
		t.Fatalf("load run still going after %s", limit)
		return nil
	}
}

// runErrors is what went wrong in a run, without the load tool's own
// /metrics scrapes: one that times out on a busy machine only leaves a gap
// in the server figures, which these tests do not check.
func runErrors(rep *loadgen.Report) map[string]int64 {
	errs := map[string]int64{}
	for k, v := range rep.Errors {
		if k != "metrics_failed" {
			errs[k] = v
		}
	}
	return errs
}

func text(rep *loadgen.Report) string {
	var b strings.Builder
	rep.WriteText(&b)
	return b.String()
}

func TestEveryMessageReachesEveryOtherMember(t *testing.T) {
	// 50 sessions from one address: lift the per-address socket bound.
	srv := testserver.Start(t, func(c *config.Config) { c.MaxSocketsPerIP = 0 })
	cfg := smallRun(srv.URL)
	rep := runWithin(t, 3*time.Minute, cfg, nil)
	t.Log("\n" + text(rep))

	if err := rep.Err(); err != nil || !rep.Passed {
		t.Fatalf("run failed: %v", err)
	}
	if errs := runErrors(rep); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
	if rep.Rooms.Created != 5 || rep.Sessions.Planned != 50 || rep.Sessions.Connected != 50 ||
		rep.Sessions.Failed != 0 || rep.Sessions.Dropped != 0 {
		t.Errorf("rooms %+v sessions %+v", rep.Rooms, rep.Sessions)
	}
	m := rep.Messages
	// 50 sessions at 2/s for 2 s, give or take the first tick of each.
	if m.Sent < 100 || m.Acknowledged != m.Sent || m.Refused != 0 || m.Unacknowledged != 0 {
		t.Errorf("messages %+v", m)
	}
	// Every member of every room is present throughout, so each message
	// must reach exactly the 9 others.
	if m.Expected != m.Sent*9 || m.Received != m.Expected || m.Missing != 0 || m.Unexpected != 0 ||
		m.OutOfOrder != 0 || m.Foreign != 0 {
		t.Errorf("receptions %+v", m)
	}
	l := rep.Latency
	if l.Count != uint64(m.Received) || !(l.MinMs > 0 && l.MinMs <= l.P50Ms && l.P50Ms <= l.P95Ms &&
		l.P95Ms <= l.P99Ms && l.P99Ms <= l.MaxMs) || l.MaxMs > 5000 {
		t.Errorf("latency %+v", l)
	}
	if rep.AckLatency.Count != uint64(m.Acknowledged) {
		t.Errorf("ack latency %+v", rep.AckLatency)
	}
	if rep.Failures.Ratio != 0 {
		t.Errorf("failures %+v", rep.Failures)
	}

	if len(rep.Servers) != 1 {
		t.Fatalf("servers %+v", rep.Servers)
	}
	sv := rep.Servers[0]
	if !sv.Reachable || sv.Sessions != 50 || sv.EndOfRamp.Sockets != 50 || sv.Peak.Sockets != 50 ||
		sv.Start.Goroutines == 0 || sv.EndOfRamp.RSSBytes == 0 {
		t.Errorf("server side %+v", sv)
	}
	if sv.After.Sockets != sv.Start.Sockets {
		t.Errorf("server holds %v sockets after the run, %v before", sv.After.Sockets, sv.Start.Sockets)
	}
}

func TestRefusedJoinsAreCountedByCode(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.RoomMaxMembers = 4 })
	cfg := smallRun(srv.URL)
	cfg.Rooms, cfg.RoomSize, cfg.MsgRate = 2, 6, 0
	cfg.Duration = loadgen.Duration(200 * time.Millisecond)
	cfg.MaxFailureRatio = 0.5
	rep := runWithin(t, 3*time.Minute, cfg, nil)
	if rep.Sessions.Connected != 8 || rep.Sessions.Failed != 4 || rep.Errors["join_refused:room_full"] != 4 {
		t.Fatalf("sessions %+v errors %v", rep.Sessions, rep.Errors)
	}
	// A third of the sessions failed, within the 0.5 allowed.
	if !rep.Passed || rep.Err() != nil {
		t.Fatalf("run should pass at max ratio 0.5: %v", rep.Err())
	}
}

func TestClosedPortFailsFastWithCountedFailures(t *testing.T) {
	cfg := smallRun(fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t)))
	start := time.Now()
	rep := runWithin(t, 60*time.Second, cfg, nil)
	// runWithin's deadline is what "fast" means here: generous enough for a
	// busy machine, far below a connect timeout per session.
	t.Logf("closed port: run ended after %s", time.Since(start))
	if rep.Err() == nil || rep.Passed {
		t.Fatal("a run against a closed port passed")
	}
	if rep.Sessions.Failed != 50 || rep.Sessions.Connected != 0 || len(rep.Unreachable) != 1 ||
		rep.Errors["server_unreachable"] != 1 || rep.Failures.Ratio != 1 {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(text(rep), "unreachable") {
		t.Fatalf("text report does not say unreachable:\n%s", text(rep))
	}
}

func TestSilentServerTimesOutInsteadOfHanging(t *testing.T) {
	// Accepts connections and never says a word, like a wedged process.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	cfg := smallRun("http://" + l.Addr().String())
	cfg.ConnectTimeout = loadgen.Duration(time.Second)
	start := time.Now()
	rep := runWithin(t, 60*time.Second, cfg, nil)
	t.Logf("silent server: run ended after %s", time.Since(start))
	if rep.Err() == nil || rep.Sessions.Failed != 50 || len(rep.Unreachable) != 1 {
		t.Fatalf("sessions %+v errors %v", rep.Sessions, rep.Errors)
	}
}

func TestServerStoppingMidRunIsReportedAndDoesNotHang(t *testing.T) {
	srv := testserver.Start(t, nil)
	cfg := smallRun(srv.URL)
	cfg.Duration = loadgen.Duration(10 * time.Minute)
	// Stop the server once every session has joined and chat is flowing;
	// the run must then end early (runWithin's limit), not wait out its
	// 10 minutes.
	var once sync.Once
	stopOnHold := func(line string) {
		if strings.Contains(line, "hold ]") && strings.Contains(line, "acked") && !strings.Contains(line, "acked 0 ") {
			once.Do(func() { go func() { _ = srv.Stop() }() })
		}
	}
	rep := runWithin(t, 3*time.Minute, cfg, stopOnHold)
	t.Log("\n" + text(rep))
	if rep.Err() == nil {
		t.Fatal("a run whose server went away passed")
	}
	if rep.Sessions.Connected != 50 || rep.Sessions.Dropped != 50 || rep.Errors["closed:1001"] != 50 {
		t.Fatalf("sessions %+v errors %v", rep.Sessions, rep.Errors)
	}
}

type lineWriter func(string)

func (f lineWriter) Write(p []byte) (int, error) {
	if f != nil {
		f(string(p))
	}
	return len(p), nil
}

// With --media publisher, the first member of each room sends audio and video
// through the SFU and every other member receives both tracks.
func TestMediaRunForwardsToEverySubscriber(t *testing.T) {
	srv := testserver.Start(t, nil)
	cfg := smallRun(srv.URL)
	cfg.Rooms, cfg.RoomSize, cfg.MsgRate = 2, 4, 0
	// Long enough that a busy machine's slow start still leaves seconds of
	// forwarding to count.
	cfg.Duration = loadgen.Duration(12 * time.Second)
	cfg.Media = "publisher"
	rep := runWithin(t, 60*time.Second, cfg, nil)
	md := rep.Media
	if md == nil {
		t.Fatal("no media section in the report")
	}
	// 2 rooms × 3 subscribers × (audio + video).
	if md.Peers != 8 || md.RemoteTracks != 12 {
		t.Fatalf("peers %d, remote tracks %d; want 8 and 12\n%s", md.Peers, md.RemoteTracks, text(rep))
	}
	if md.PacketsReceived < 6*100 || md.LossRatio > 0.05 || md.KeyframesAsked == 0 {
		t.Fatalf("media: %+v\n%s", *md, text(rep))
	}
	if errs := runErrors(rep); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
}

// startWithAPIKey runs a node whose store already holds an API key for an
// agent, as `liveroom admin apikey add` leaves it, and returns the key.
func startWithAPIKey(t *testing.T, adjust func(*config.Config)) (*testserver.Server, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key := access.NewAPIKey()
	raw, _ := proto.Marshal(&pb.ApiKeyRecord{AgentId: "loadagent", Name: "load", Prefix: key[:12]})
	if err := store.Set(persistence.APIKeyKey(access.HashHex(key)), raw); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t, func(c *config.Config) {
		c.DataDir = dir
		if adjust != nil {
			adjust(c)
		}
	})
	return srv, key
}

// With --media broadcast, each room is a broadcast: its broadcaster goes
// live first and every viewer gets a picture, counted per viewer.
func TestBroadcastRunGivesEveryViewerAPicture(t *testing.T) {
	srv, key := startWithAPIKey(t, func(c *config.Config) { c.MaxSocketsPerIP = 0 })
	cfg := smallRun(srv.URL)
	cfg.Rooms, cfg.RoomSize, cfg.MsgRate = 2, 5, 0
	// The hold is what viewers have to get their first picture in: beside a
	// CPU hog and other test runs, 3 s was once too short for any of them.
	cfg.Duration = loadgen.Duration(20 * time.Second)
	cfg.Media, cfg.APIKey = "broadcast", key
	rep := runWithin(t, 90*time.Second, cfg, nil)
	t.Log("\n" + text(rep))
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if errs := runErrors(rep); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if rep.Config.APIKey != "" {
		t.Error("the report shows the API key")
	}
	v := rep.Media.Viewers
	if v == nil || v.Joined != 8 || v.WithPicture != 8 || v.TimeToFirstFrame.Count != 8 {
		t.Fatalf("viewers: %+v", v)
	}
	// 2 broadcasters' audio+video to 8 viewers.
	if rep.Media.RemoteTracks != 16 || v.Frames.Min == 0 || v.Packets.Min == 0 {
		t.Fatalf("media %+v viewers %+v", *rep.Media, *v)
	}
}

func TestBroadcastRunNeedsAnAPIKey(t *testing.T) {
	cfg := smallRun("127.0.0.1:1")
	cfg.Media = "broadcast"
	if _, err := loadgen.Run(context.Background(), cfg, loadgen.Options{}); err == nil || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("got %v, want an error asking for the API key", err)
	}
}

// Sessions are opened from the given source addresses in turn: with a
// server that admits 10 sockets per address, 20 idle sessions from two
// addresses all get in (from one, 10 would be refused).
func TestSessionsComeFromTheSourceAddresses(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.MaxSocketsPerIP = 10 })
	cfg := smallRun(srv.URL)
	cfg.Rooms, cfg.RoomSize = 2, 10
	cfg.MsgRate = 0
	cfg.Duration = loadgen.Duration(500 * time.Millisecond)
	cfg.SourceAddrs = []string{"127.0.0.2", "127.0.0.3"}
	rep := runWithin(t, 3*time.Minute, cfg, nil)
	if rep.Sessions.Connected != 20 || rep.Sessions.Failed != 0 {
		t.Fatalf("sessions %+v, errors %v", rep.Sessions, rep.Errors)
	}
}
