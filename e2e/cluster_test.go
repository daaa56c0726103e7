package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"liveroom/internal/etcdtest"
	"liveroom/internal/pgtest"
	"liveroom/internal/testserver"
)

// clusterRig is three liveroom processes on 127.0.0.1, .2 and .3 sharing one
// PostgreSQL, one etcd and one files folder, behind HAProxy.
type clusterRig struct {
	t        *testing.T
	pg       *pgtest.Server
	etcd     *etcdtest.Server
	pgURL    string
	files    string
	name     string
	nodes    []*server
	hosts    []string
	args     [][]string
	proxyURL string
}

const clusterSecret = "cluster-test-secret-0123456789abcdef"

func startCluster(t *testing.T) *clusterRig {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatal("haproxy not found (install the Debian package haproxy; scripts/deps.sh does)")
	}
	r := &clusterRig{t: t, pg: pgtest.New(t), etcd: etcdtest.New(t), files: t.TempDir(),
		name: fmt.Sprintf("c%d", time.Now().UnixNano()), hosts: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}}
	r.pgURL = r.pg.Database(t)
	for _, host := range r.hosts {
		args := []string{"--store", "postgres", "--postgres-url", r.pgURL, "--secret", clusterSecret,
			"--files-dir", r.files, "--cluster-provider", "etcd", "--etcd-endpoints", r.etcd.Endpoint,
			"--cluster-name", r.name, "--cluster-host", host, "--cluster-port", strconv.Itoa(testserver.FreePortOn(t, host)),
			"--resume-grace-seconds", "60", "--request-timeout-ms", "4000", "--history-page", "2000",
			"--rate-per-second", "50", "--rate-burst", "100", "--log-level", "info"}
		args = append(args, recordingFlags...)
		r.args = append(r.args, args)
		r.nodes = append(r.nodes, startServerOn(t, host, t.TempDir(), args...))
	}
	r.waitMembers(3)
	r.startProxy()
	t.Cleanup(func() {
		// The nodes are built with -race. Races inside protoactor's etcd
		// provider are known (see docs/cluster.md); ours fail the test.
		for i, n := range r.nodes {
			for _, report := range strings.Split(n.logs.String(), "WARNING: DATA RACE")[1:] {
				first, _, _ := strings.Cut(report, "Goroutine ")
				if !raceInOurCode(first) {
					t.Logf("node %d: data race inside protoactor:\n%s", i+1, tail(first, 1500))
					continue
				}
				t.Errorf("node %d: data race:\n%s", i+1, first)
			}
		}
		// LIVEROOM_TEST_LOGS=folder keeps every node's whole log of a failed run.
		dir := os.Getenv("LIVEROOM_TEST_LOGS")
		if dir == "" || !t.Failed() {
			return
		}
		for i, n := range r.nodes {
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-node%d.log", t.Name(), i+1)), []byte(n.logs.String()), 0o600)
		}
	})
	return r
}

// raceInOurCode reports whether either racing access of a race report
// happened in a Liveroom function (the top frame of its stack), rather than
// in a library called from ours (protoactor's remote setting grpc's global
// logger while the etcd client's grpc goroutines read it, for instance).
func raceInOurCode(report string) bool {
	lines := strings.Split(report, "\n")
	for i, l := range lines {
		if !strings.Contains(l, " at 0x") {
			continue
		}
		// The first frame outside the runtime (a map write shows as
		// runtime.mapassign first) names the code that raced.
		for _, f := range lines[i+1:] {
			f = strings.TrimSpace(f)
			if f == "" {
				break
			}
			if strings.HasPrefix(f, "/") || strings.HasPrefix(f, "runtime.") || strings.HasPrefix(f, "sync.") || strings.HasPrefix(f, "internal/") {
				continue
			}
			if strings.HasPrefix(f, "liveroom/") || strings.HasPrefix(f, "main.") {
				return true
			}
			break
		}
	}
	return false
}

// waitMembers waits until every running node's /healthz counts n members.
func (r *clusterRig) waitMembers(n int, skip ...int) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for i, node := range r.nodes {
		if contains(skip, i) {
			continue
		}
		for {
			if got := members(node.URL); got == n {
				break
			}
			if time.Now().After(deadline) {
				r.t.Fatalf("node %d does not see %d members (sees %d)\n%s", i+1, n, members(node.URL), tail(node.logs.String(), 3000))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func members(base string) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var h map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&h)
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	n, _ := strconv.Atoi(h["members"])
	return n
}

func (r *clusterRig) startProxy() {
	r.t.Helper()
	port := freePort(r.t)
	var servers strings.Builder
	for i, n := range r.nodes {
		fmt.Fprintf(&servers, "  server n%d %s check\n", i+1, strings.TrimPrefix(n.URL, "http://"))
	}
	cfg := fmt.Sprintf(`global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h
  option redispatch
  retries 2
frontend liveroom
  bind 127.0.0.1:%d
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
%s`, port, servers.String())
	dir := r.t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command("haproxy", "-f", path, "-db")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if r.t.Failed() {
			r.t.Logf("haproxy log:\n%s", tail(logs.String(), 2000))
		}
	})
	r.proxyURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := testserver.WaitHealthy(r.proxyURL, 30*time.Second, nil); err != nil {
		r.t.Fatalf("haproxy: %v\n%s", err, logs.String())
	}
}

// roomHost returns the index of the node whose metrics show the room grain.
func (r *clusterRig) roomHost(skip ...int) int {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for i, n := range r.nodes {
			if !contains(skip, i) && metric(r.t, n, "liveroom_rooms_active") >= 1 {
				return i
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatal("no node reports an active room")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// chatter is one member posting chat through HAProxy; it reconnects and
// resumes (resume token, last seq) whenever its socket drops.
type chatter struct {
	t      *testing.T
	name   string
	room   string
	base   string
	agent  string // agent key for the first member
	mu     sync.Mutex
	resume string
	last   uint64
	seen   map[uint64]string // every chat message received, by seq
	acked  map[string]uint64 // our messages the server acknowledged: text -> seq
	joins  int
	// fresh counts joins after the first that were not resumptions: a
	// member that should have resumed but was admitted anew.
	resumes, fresh int
	refused        int
	errs           []string
	sent           int
	stop           chan struct{}
	done           chan struct{}
	// after counts acknowledgements since mark was called.
	after int
}

func newChatter(t *testing.T, base, room, name, agentKey string) *chatter {
	c := &chatter{t: t, name: name, room: room, base: base, agent: agentKey, seen: map[uint64]string{},
		acked: map[string]uint64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *chatter) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *chatter) run() {
	defer close(c.done)
	for !c.stopped() {
		c.session()
		select {
		case <-c.stop:
		case <-time.After(300 * time.Millisecond):
		}
	}
}

type clusterFrame struct {
	ReplyTo string `json:"replyTo"`
	Error   *struct{ Code, Message string }
	Joined  *struct {
		ResumeToken string `json:"resumeToken"`
		Resumed     bool
		History     []chatJSON
	}
	Chat *chatJSON
}

type chatJSON struct {
	Seq  string
	Text string
}

func (c *chatter) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 200 {
		c.errs = append(c.errs, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

func (c *chatter) record(m chatJSON) {
	seq, _ := strconv.ParseUint(m.Seq, 10, 64)
	if prev, ok := c.seen[seq]; ok && prev != m.Text {
		c.errs = append(c.errs, fmt.Sprintf("seq %d is %q and %q", seq, prev, m.Text))
	}
	c.seen[seq] = m.Text
	if seq > c.last {
		c.last = seq
	}
}

// session is one connection: join (or resume), then post every 250 ms while
// reading everything, until the socket fails or the chatter stops.
func (c *chatter) session() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := websocket.Dial(dctx, strings.Replace(c.base, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {c.base}}})
	dcancel()
	if err != nil {
		c.note("dial: %v", err)
		return
	}
	defer conn.CloseNow()
	conn.SetReadLimit(8 << 20)
	write := func(v any) error {
		b, _ := json.Marshal(v)
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	c.mu.Lock()
	join := map[string]any{"roomId": c.room, "name": c.name, "resumeToken": c.resume, "lastSeq": strconv.FormatUint(c.last, 10)}
	if c.agent != "" {
		join["agentKey"] = c.agent
	}
	c.mu.Unlock()
	if err := write(map[string]any{"id": "join", "join": join}); err != nil {
		c.note("write join: %v", err)
		return
	}
	frames := make(chan clusterFrame, 256)
	go func() {
		defer close(frames)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					c.note("read: %v", err)
				}
				return
			}
			var f clusterFrame
			if json.Unmarshal(b, &f) == nil {
				select {
				case frames <- f:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	joined := false
	pending := map[string]string{} // frame id -> text
	// A node that stops answering (paused, cut off) leaves the socket open:
	// like a browser, give up on it when nothing came back for a while, and
	// resume through the load balancer.
	lastHeard := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			_ = conn.Close(websocket.StatusNormalClosure, "done")
			return
		case f, ok := <-frames:
			if !ok {
				return
			}
			lastHeard = time.Now()
			c.mu.Lock()
			switch {
			case f.Joined != nil:
				joined = true
				c.joins++
				if c.joins > 1 {
					if f.Joined.Resumed {
						c.resumes++
					} else {
						c.fresh++
					}
				}
				c.resume = f.Joined.ResumeToken
				for _, m := range f.Joined.History {
					c.record(m)
				}
			case f.Chat != nil:
				c.record(*f.Chat)
				if text, ok := pending[f.ReplyTo]; ok && f.ReplyTo != "" {
					delete(pending, f.ReplyTo)
					seq, _ := strconv.ParseUint(f.Chat.Seq, 10, 64)
					c.acked[text] = seq
					c.after++
				}
			case f.Error != nil:
				delete(pending, f.ReplyTo)
				c.refused++
				if f.ReplyTo == "join" {
					c.errs = append(c.errs, "join refused: "+f.Error.Code)
					c.mu.Unlock()
					return
				}
			}
			c.mu.Unlock()
		case <-tick.C:
			if (len(pending) > 0 || !joined) && time.Since(lastHeard) > 10*time.Second {
				c.note("no answer for 10 s; reconnecting")
				return
			}
			if !joined || len(pending) > 4 {
				continue
			}
			c.mu.Lock()
			c.sent++
			text := fmt.Sprintf("%s-%d", c.name, c.sent)
			c.mu.Unlock()
			pending[text] = text
			if err := write(map[string]any{"id": text, "chat": map[string]any{"text": text}}); err != nil {
				c.note("write chat: %v", err)
				return
			}
		}
	}
}

func (c *chatter) mark() {
	c.mu.Lock()
	c.after = 0
	c.mu.Unlock()
}

func (c *chatter) ackedSince() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.after
}

func (c *chatter) finish() {
	close(c.stop)
	<-c.done
}

// waitFlowing waits until every chatter had n messages acknowledged since mark.
func waitFlowing(t *testing.T, cs []*chatter, n int, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, c := range cs {
		for c.ackedSince() < n {
			if time.Now().After(deadline) {
				c.mu.Lock()
				errs := strings.Join(c.errs, "\n")
				c.mu.Unlock()
				t.Fatalf("%s: %s has %d acknowledged messages, want %d; its errors:\n%s", what, c.name, c.ackedSince(), n, errs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// history reads the room's whole chat through a fresh member.
func roomHistory(t *testing.T, base, room string) map[uint64]string {
	t.Helper()
	c := newChatter(t, base, room, "reader", "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		j := c.joins
		c.mu.Unlock()
		if j > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reader could not join: %v", c.errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen
}

// checkChat verifies the whole history: every acknowledged message is there
// once, at the seq it was acknowledged with, and seqs are gapless from 1.
func checkChat(t *testing.T, hist map[uint64]string, cs []*chatter) {
	t.Helper()
	seqs := make([]uint64, 0, len(hist))
	texts := map[string]uint64{}
	for seq, text := range hist {
		seqs = append(seqs, seq)
		if prev, dup := texts[text]; dup {
			t.Errorf("message %q stored twice, at %d and %d", text, prev, seq)
		}
		texts[text] = seq
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Errorf("history seqs are not 1..%d: position %d holds %d", len(seqs), i, s)
			break
		}
	}
	acked := 0
	for _, c := range cs {
		c.mu.Lock()
		for text, seq := range c.acked {
			acked++
			if hist[seq] != text {
				t.Errorf("acknowledged %q at seq %d, history has %q there", text, seq, hist[seq])
			}
		}
		// Every member saw every message from its first join on.
		for seq, text := range hist {
			if seq > 0 && seq <= c.last && c.seen[seq] == "" && seq > minSeq(c.seen) {
				t.Errorf("%s never received seq %d (%q)", c.name, seq, text)
			}
		}
		c.mu.Unlock()
	}
	t.Logf("history: %d messages, %d acknowledged", len(hist), acked)
}

func minSeq(m map[uint64]string) uint64 {
	min := ^uint64(0)
	for s := range m {
		if s < min {
			min = s
		}
	}
	return min
}

// createRoomAt creates a room through base. Right after a node joined, the
// room's grain may be placed on a node still settling in and the API answers
// 503 (try again), as it would to any client: retry that for a while.
func createRoomAt(t *testing.T, base, id string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var resp *http.Response
	for {
		var err error
		resp, err = http.Post(base+"/api/rooms", "application/json", strings.NewReader(`{"id":"`+id+`","visitorName":"V"}`))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		resp.Body.Close()
		time.Sleep(500 * time.Millisecond)
	}
	defer resp.Body.Close()
	var body struct{ AgentURL string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room %s: %d", id, resp.StatusCode)
	}
	_, key, _ := strings.Cut(body.AgentURL, "#agent=")
	return key
}

// TestClusterSurvivesKillOfRoomNode: six members post chat through HAProxy
// into one room, spread over three nodes; the node hosting the room is
// killed with SIGKILL. The room comes back on another node from the shared
// store, every member resumes, chat flows again, and no acknowledged message
// is lost or stored twice. Then files and agent accounts are checked across
// nodes, and a node paused for 30 s (SIGSTOP) rejoins.
func TestClusterSurvivesKillOfRoomNode(t *testing.T) {
	r := startCluster(t)
	room := "busy"
	key := createRoomAt(t, r.proxyURL, room)

	var cs []*chatter
	for i := 0; i < 6; i++ {
		agentKey := ""
		if i == 0 {
			agentKey = key
		}
		cs = append(cs, newChatter(t, r.proxyURL, room, fmt.Sprintf("m%d", i), agentKey))
	}
	defer func() {
		for _, c := range cs {
			select {
			case <-c.stop:
			default:
				c.finish()
			}
		}
	}()
	waitFlowing(t, cs, 5, 60*time.Second, "before the kill")
	var fanSent, fanReceived float64
	for i, n := range r.nodes {
		t.Logf("node %d holds %v sockets", i+1, metric(t, n, "liveroom_sockets_open"))
		fanSent += metric(t, n, `liveroom_fanout_messages_total{direction="sent"}`)
		fanReceived += metric(t, n, `liveroom_fanout_messages_total{direction="received"}`)
	}
	// The members sit on more than one node (the balancer takes turns), so
	// chat reaches the others through their nodes' fan-out actors.
	t.Logf("fan-out messages between nodes: %v sent, %v received", fanSent, fanReceived)
	if fanReceived == 0 {
		t.Errorf("no chat crossed to another node's fan-out actor")
	}

	host := r.roomHost()
	t.Logf("room is on node %d; killing it", host+1)
	if err := r.nodes[host].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.nodes[host].done
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 5, 120*time.Second, "after the kill")
	newHost := r.roomHost(host)
	if newHost == host {
		t.Fatalf("room still on the killed node")
	}
	t.Logf("room re-activated on node %d", newHost+1)
	for _, c := range cs {
		c.finish()
	}
	checkChat(t, roomHistory(t, r.proxyURL, room), cs)
	resumed := 0
	for _, c := range cs {
		c.mu.Lock()
		if c.fresh > 0 {
			t.Errorf("%s was admitted anew %d times instead of resuming", c.name, c.fresh)
		}
		if c.resumes > 0 {
			resumed++
		}
		c.mu.Unlock()
	}
	if resumed == 0 {
		t.Errorf("no member resumed, yet the killed node held sockets")
	}
	t.Logf("%d members resumed through HAProxy", resumed)

	// Bring the killed node back, as a supervisor would.
	r.nodes[host] = startServerOn(t, r.hosts[host], t.TempDir(), r.args[host]...)
	r.waitMembers(3)

	t.Run("file uploaded through one node downloads through another", func(t *testing.T) {
		checkFileAcrossNodes(t, r)
	})
	t.Run("whiteboard image put up through node 1 is served by node 3", func(t *testing.T) {
		checkWhiteboardImageAcrossNodes(t, r)
	})
	t.Run("agent created by admin beside the cluster logs in through any node", func(t *testing.T) {
		checkAgentAcrossNodes(t, r)
	})
	t.Run("agent presence survives the kill of the agent grain's node", func(t *testing.T) {
		checkAgentPresenceAcrossKill(t, r)
	})
}

// TestClusterNodePausedRejoins pauses the node hosting a busy room for 30 s
// (SIGSTOP): the others drop it and keep serving the room, and after SIGCONT
// it notices it was dropped and rejoins; no acknowledged message is lost and
// the room never runs twice (its seqs stay one sequence).
func TestClusterNodePausedRejoins(t *testing.T) {
	checkPause(t, startCluster(t))
}

// TestClusterStoreAndMembershipOutages stops etcd for 30 s (rooms keep
// working) and then restarts PostgreSQL (requests fail clearly meanwhile,
// work after, nothing acknowledged lost).
func TestClusterStoreAndMembershipOutages(t *testing.T) {
	r := startCluster(t)
	t.Run("rooms keep working while etcd is down", func(t *testing.T) {
		checkEtcdOutage(t, r)
	})
	t.Run("a PostgreSQL restart fails requests clearly, then they work", func(t *testing.T) {
		checkPostgresRestart(t, r)
	})
}

// flowing starts members in room, waits until chat flows for all, and
// returns them; the caller finishes them.
func flowing(t *testing.T, base, room, key string, n int, what string) []*chatter {
	t.Helper()
	var cs []*chatter
	for i := 0; i < n; i++ {
		agentKey := ""
		if i == 0 {
			agentKey = key
		}
		cs = append(cs, newChatter(t, base, room, fmt.Sprintf("%s%d", room, i), agentKey))
	}
	t.Cleanup(func() {
		for _, c := range cs {
			select {
			case <-c.stop:
			default:
				c.finish()
			}
		}
	})
	waitFlowing(t, cs, 3, 90*time.Second, what)
	return cs
}

func finishAll(cs []*chatter) {
	for _, c := range cs {
		c.finish()
	}
}

func checkPause(t *testing.T, r *clusterRig) {
	key := createRoomAt(t, r.proxyURL, "paused")
	cs := flowing(t, r.proxyURL, "paused", key, 6, "before the pause")
	host := r.roomHost()
	victim := host
	t.Logf("room on node %d; pausing it for 30 s", victim+1)
	if err := r.nodes[victim].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	// The others drop it and keep serving: chat flows again while it sleeps.
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 3, 90*time.Second, "while a node is paused")
	if d := time.Since(paused); d < 30*time.Second {
		time.Sleep(30*time.Second - d)
	}
	if err := r.nodes[victim].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// It notices that it was dropped and rejoins as a new member.
	r.waitMembers(3)
	t.Logf("paused node rejoined (evicted and restarted its membership: %v)",
		strings.Contains(r.nodes[victim].logs.String(), "rejoining as a new member"))
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 3, 90*time.Second, "after the paused node came back")
	finishAll(cs)
	checkChat(t, roomHistory(t, r.proxyURL, "paused"), cs)
	active := 0
	for _, n := range r.nodes {
		active += int(metric(t, n, "liveroom_rooms_active"))
	}
	// "paused" and at most the rooms of the earlier steps; never two copies
	// of one: each copy would have answered with its own seqs above.
	if active < 1 {
		t.Fatalf("no room active after the pause")
	}
}

func checkEtcdOutage(t *testing.T, r *clusterRig) {
	key := createRoomAt(t, r.proxyURL, "etcdless")
	cs := flowing(t, r.proxyURL, "etcdless", key, 3, "before etcd stops")
	if err := r.etcd.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 5, 60*time.Second, "while etcd is down")
	if d := time.Since(stopped); d < 30*time.Second {
		time.Sleep(30*time.Second - d)
	}
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 3, 60*time.Second, "after 30 s without etcd")
	if err := r.etcd.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitMembers(3)
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 3, 90*time.Second, "after etcd came back")
	finishAll(cs)
	checkChat(t, roomHistory(t, r.proxyURL, "etcdless"), cs)
}

func checkPostgresRestart(t *testing.T, r *clusterRig) {
	key := createRoomAt(t, r.proxyURL, "dbdown")
	cs := flowing(t, r.proxyURL, "dbdown", key, 3, "before PostgreSQL stops")
	if err := r.pg.Stop(); err != nil {
		t.Fatal(err)
	}
	// Meanwhile: a clear error, not a hang and not a false success.
	resp, err := http.Post(r.nodes[0].URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"during-outage","visitorName":"V"}`))
	if err != nil {
		t.Fatal(err)
	}
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&apiErr)
	resp.Body.Close()
	if resp.StatusCode < 500 || apiErr.Error.Message == "" {
		t.Errorf("create room with the database down: %d %+v, want a 5xx with a message", resp.StatusCode, apiErr)
	}
	t.Logf("with the database down, creating a room answers %d %q", resp.StatusCode, apiErr.Error.Message)
	for i, n := range r.nodes {
		c := &http.Client{Timeout: 20 * time.Second}
		resp, err := c.Get(n.URL + "/healthz")
		if err != nil {
			t.Fatalf("healthz of node %d: %v", i+1, err)
		}
		var h map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(h["store"], "unavailable") {
			t.Errorf("healthz of node %d with the database down: %d %v", i+1, resp.StatusCode, h)
		}
	}
	time.Sleep(3 * time.Second)
	if err := r.pg.Start(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.mark()
	}
	waitFlowing(t, cs, 3, 90*time.Second, "after PostgreSQL came back")
	finishAll(cs)
	checkChat(t, roomHistory(t, r.proxyURL, "dbdown"), cs)
	refused := 0
	for _, c := range cs {
		c.mu.Lock()
		refused += c.refused
		c.mu.Unlock()
	}
	t.Logf("chat messages refused with an error frame while the database was down: %d", refused)
}

// memberToken joins a room on one node and returns its access token.
func memberToken(t *testing.T, base, room string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(8 << 20)
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"id":"j","join":{"roomId":"`+room+`","name":"Up"}}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("join %s: %v", room, err)
		}
		var f struct {
			Joined *struct {
				AccessToken string `json:"accessToken"`
			}
			Error *struct{ Code string }
		}
		_ = json.Unmarshal(b, &f)
		if f.Error != nil {
			t.Fatalf("join: %s", f.Error.Code)
		}
		if f.Joined != nil {
			return f.Joined.AccessToken
		}
	}
}

func checkFileAcrossNodes(t *testing.T, r *clusterRig) {
	room := "files"
	createRoomAt(t, r.nodes[0].URL, room)
	token := memberToken(t, r.nodes[0].URL, room)
	content := bytes.Repeat([]byte("shared folder "), 5000)
	var ref struct {
		File struct{ ID string }
	}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(60 * time.Second); ; {
		req, _ := http.NewRequest(http.MethodPost, r.nodes[0].URL+"/api/rooms/"+room+"/files?name=notes.txt", bytes.NewReader(content))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", r.nodes[0].URL)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&ref)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusCreated || ref.File.ID == "" {
		t.Fatalf("upload through node 1: %d", resp.StatusCode)
	}
	// Right after a node's death a node may still place the room on it
	// for a few seconds and answer 503 (unavailable), as documented; a
	// client tries again.
	var got []byte
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err = http.Get(r.nodes[2].URL + "/files/" + room + "/" + ref.File.ID + "?t=" + token)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("download through node 3: %d, %d bytes (want %d)", resp.StatusCode, len(got), len(content))
	}
}

func checkAgentAcrossNodes(t *testing.T, r *clusterRig) {
	cmd := exec.Command(binary, "admin", "agent", "add", "--id", "kai", "--name", "Kai", "--password-stdin",
		"--store", "postgres", "--postgres-url", r.pgURL, "--password-cost", "4")
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader("kai-password\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("admin agent add against the running cluster: %v\n%s", err, out)
	}
	for i, n := range r.nodes {
		req, _ := http.NewRequest(http.MethodPost, n.URL+"/api/agent/login",
			strings.NewReader(`{"agentId":"kai","password":"kai-password"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", n.URL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login through node %d: %d", i+1, resp.StatusCode)
		}
	}
}

// TestClusterRoomPageSurvivesNodeKill: an agent and a visitor chat in the
// room page (headless Chromium) through HAProxy; the node hosting the room is
// killed. Both pages carry on by themselves and chat reaches the other side
// again, and what was said before is still on screen.
func TestClusterRoomPageSurvivesNodeKill(t *testing.T) {
	r := startCluster(t)
	key := createRoomAt(t, r.proxyURL, "pages")
	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	do(t, agent, chromedp.Navigate(r.proxyURL+"/room/pages#agent="+key))
	waitJS(t, agent, "the agent's join form", `document.querySelector("#join-button") && document.body.dataset.state === "joining"`)
	do(t, agent, chromedp.SetValue(chromedp.ID("join-name"), "Ann"), chromedp.Click(chromedp.ID("join-button")))
	joinRoom(t, visitor, r.proxyURL+"/room/pages", "Vic", "")
	waitJS(t, agent, "the visitor in the member list", seesMember("Vic"))
	sendChat(t, visitor, "before the kill")
	waitJS(t, agent, "the first message", seesMessage("Vic", "before the kill"))

	host := r.roomHost()
	t.Logf("room on node %d; killing it", host+1)
	if err := r.nodes[host].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.nodes[host].done

	// Each side says something until the other side shows it: a message
	// sent while the page is still reconnecting may be refused, as a person
	// would see, and they would say it again.
	say := func(from, to context.Context, name, text string) {
		t.Helper()
		deadline := time.Now().Add(120 * time.Second)
		for i := 1; ; i++ {
			msg := fmt.Sprintf("%s %d", text, i)
			eval[bool](t, from, `(() => { const i = document.querySelector("#chat-input"); i.value = `+jsString(msg)+`;
				document.querySelector("#chat-send").click(); return true })()`)
			end := time.Now().Add(8 * time.Second)
			for time.Now().Before(end) {
				if eval[bool](t, to, seesMessage(name, msg)) {
					return
				}
				time.Sleep(250 * time.Millisecond)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q from %s never arrived after the kill; page says:\n%s", text, name, pageText(to))
			}
		}
	}
	say(visitor, agent, "Vic", "after the kill")
	say(agent, visitor, "Ann", "answer")
	for _, p := range []context.Context{agent, visitor} {
		if !eval[bool](t, p, seesMessage("Vic", "before the kill")) {
			t.Fatalf("the message from before the kill is gone from a page:\n%s", pageText(p))
		}
	}
}
