package e2e

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestClusterCallSurvivesKillOfRoomNode: an agent and a visitor are in a
// video call, each page on its own node, neither of them the node hosting
// the room (so the sockets survive; the call's media runs on the room's
// node). That node is killed with SIGKILL. Without anyone clicking, the room
// comes back on another node and both pages receive and decode each other's
// video again, through the new node's media. The agent was recording the
// call: the new node salvages what reached the shared folder before the
// kill, and the agent's page offers the zip.
func TestClusterCallSurvivesKillOfRoomNode(t *testing.T) {
	r := startCluster(t)
	room := "callkill"
	key := createRoomAt(t, r.proxyURL, room)
	host := r.roomHost()
	var others []int
	for i := range r.nodes {
		if i != host {
			others = append(others, i)
		}
	}
	agentNode, visitorNode := others[0], others[1]
	t.Logf("room on node %d; the agent's page is on node %d, the visitor's on node %d", host+1, agentNode+1, visitorNode+1)

	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	agentID := joinAs(t, agent, r.nodes[agentNode].URL+"/room/"+room+"#agent="+key, "Ann")
	visitorID := joinAs(t, visitor, r.nodes[visitorNode].URL+"/room/"+room, "Vic")
	if h := r.roomHost(); h != host {
		t.Fatalf("the room moved from node %d to node %d before the kill", host+1, h+1)
	}

	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	pages := []struct {
		name  string
		page  context.Context
		other string // the member whose video this page shows
	}{{"agent", agent, visitorID}, {"visitor", visitor, agentID}}
	for _, p := range pages {
		waitGrowing(t, p.page, "video at the "+p.name+" before the kill", p.other, "video", "framesDecoded")
		// The receiving connection of before the kill, to tell a new one from it.
		eval[bool](t, p.page, `(window.liveroomCall.sub.mark = "before") === "before"`)
	}
	do(t, agent, chromedp.Click(chromedp.ID("record-btn")))
	waitJS(t, visitor, "the recording indicator", indicatorRecording)
	time.Sleep(4 * time.Second)

	if err := r.nodes[host].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.nodes[host].done
	killedAt := time.Now()
	killed := map[string]float64{}
	for _, p := range pages {
		killed[p.name] = inbound(t, p.page, p.other, "video", "framesDecoded")
	}
	t.Logf("node %d killed; frames decoded so far: agent %v, visitor %v", host+1, killed["agent"], killed["visitor"])

	for _, p := range pages {
		took := waitDecodingAgain(t, p.name, p.page, p.other, killed[p.name], killedAt)
		t.Logf("the %s's page decodes video again %.1f s after the kill (new receiving connection: %v)", p.name,
			took.Seconds(), eval[bool](t, p.page, `window.liveroomCall.sub.mark !== "before"`))
	}
	newHost := r.roomHost(host)
	t.Logf("room re-activated on node %d", newHost+1)
	for _, p := range pages {
		if eval[string](t, p.page, `window.liveroomCall.memberIdOf()`) != map[string]string{"agent": agentID, "visitor": visitorID}[p.name] {
			t.Errorf("the %s's page was admitted anew instead of keeping its membership", p.name)
		}
	}

	waitJSFor(t, agent, 4*time.Minute, "the salvaged recording offered to the agent", `!!document.querySelector("#recording-link")`)
	href := eval[string](t, agent, `document.querySelector("#recording-link").href`)
	zipPath := fetchTo(t, href, filepath.Join(t.TempDir(), "rec.zip"))
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var tracks []string
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "tracks/") && strings.HasSuffix(f.Name, ".webm") {
			tracks = append(tracks, f.Name)
		}
	}
	zr.Close()
	kinds := map[string]int{}
	for _, name := range tracks {
		file := unzipOne(t, zipPath, name, t.TempDir())
		k, _ := ffprobeFile(t, file)
		last := lastPacket(t, file)
		t.Logf("salvaged %s: %v, packets up to %.2fs", name, k, last)
		// About 4 s were recorded before the kill.
		if last < 1.5 {
			t.Errorf("%s: readable only up to %.2fs of about 4s", name, last)
		}
		for kind, n := range k {
			kinds[kind] += n
		}
	}
	if kinds["video"] < 1 || kinds["audio"] < 1 {
		t.Fatalf("streams in the salvaged recording: %v (tracks %v)", kinds, tracks)
	}
}

// fetchTo downloads url to path and returns path.
func fetchTo(t *testing.T, url, path string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitDecodingAgain waits until page decodes the video of member other
// again after a kill, and returns how long after killedAt it did: on a new
// receiving connection (the page set the call up again on the new node), or
// on the same one well past the frames it had decoded at the kill (an ICE
// restart in place; frames already under way when the node died are few).
func waitDecodingAgain(t *testing.T, name string, page context.Context, other string, atKill float64, killedAt time.Time) time.Duration {
	t.Helper()
	again := fmt.Sprintf(`(async () => {
		const c = window.liveroomCall;
		if (!c.inCall || !c.sub) return false;
		const v = ((await c.stats())[%s] || {}).framesDecoded || 0;
		return c.sub.mark !== "before" ? v > 5 : v > %v + 60;
	})()`, jsString(other+":video"), atKill)
	deadline := time.Now().Add(150 * time.Second)
	for !eval[bool](t, page, again) {
		if time.Now().After(deadline) {
			t.Fatalf("the %s's page never decoded video again after the kill (%v frames when it died, now %v)\npage: %s",
				name, atKill, inbound(t, page, other, "video", "framesDecoded"), pageText(page))
		}
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(killedAt)
	waitGrowing(t, page, "video at the "+name+" after the kill", other, "video", "framesDecoded")
	return took
}

// failover forwards HTTP and WebSocket traffic to one node until told to
// use another, as a balancer does once its health check finds a node dead;
// unlike the rig's round-robin HAProxy it puts a page's socket on a chosen
// node.
type failover struct {
	URL    string
	target atomic.Pointer[url.URL]
}

func startFailover(t *testing.T, first string) *failover {
	t.Helper()
	f := &failover{}
	f.use(t, first)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(f.target.Load())
		pr.Out.Host = pr.In.Host // the page's origin is the proxy's
	}}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *failover) use(t *testing.T, base string) {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	f.target.Store(u)
}

// TestClusterCallRejoinsFromTheKilledNode: like the test above, but the
// agent's page reaches the room's node itself (through a balancer), so its
// socket dies with the node. It reconnects through the balancer to another
// node, resumes as the same member, finds the call gone with the node and
// joins it again there; the visitor's page (socket on a surviving node)
// rejoins too, and both decode each other's video again.
func TestClusterCallRejoinsFromTheKilledNode(t *testing.T) {
	r := startCluster(t)
	room := "callmove"
	key := createRoomAt(t, r.proxyURL, room)
	host := r.roomHost()
	other := (host + 1) % len(r.nodes)
	lb := startFailover(t, r.nodes[host].URL)
	t.Logf("room on node %d; the agent's page is on it (through a balancer), the visitor's on node %d", host+1, other+1)

	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	agentID := joinAs(t, agent, lb.URL+"/room/"+room+"#agent="+key, "Ann")
	visitorID := joinAs(t, visitor, r.nodes[other].URL+"/room/"+room, "Vic")
	if h := r.roomHost(); h != host {
		t.Fatalf("the room moved from node %d to node %d before the kill", host+1, h+1)
	}
	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	waitGrowing(t, agent, "video at the agent before the kill", visitorID, "video", "framesDecoded")
	waitGrowing(t, visitor, "video at the visitor before the kill", agentID, "video", "framesDecoded")
	for _, p := range []context.Context{agent, visitor} {
		eval[bool](t, p, `(window.liveroomCall.sub.mark = "before") === "before"`)
	}

	if err := r.nodes[host].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.nodes[host].done
	killedAt := time.Now()
	lb.use(t, r.nodes[other].URL)
	agentAtKill := inbound(t, agent, visitorID, "video", "framesDecoded")
	visitorAtKill := inbound(t, visitor, agentID, "video", "framesDecoded")
	took := waitDecodingAgain(t, "agent", agent, visitorID, agentAtKill, killedAt)
	t.Logf("the agent's page (socket on the killed node) decodes video again %.1f s after the kill", took.Seconds())
	took = waitDecodingAgain(t, "visitor", visitor, agentID, visitorAtKill, killedAt)
	t.Logf("the visitor's page decodes video again %.1f s after the kill", took.Seconds())
	if id := eval[string](t, agent, `window.liveroomCall.memberIdOf()`); id != agentID {
		t.Errorf("the agent's page came back as member %s instead of resuming as %s", id, agentID)
	}
}
