package e2e

import (
	"context"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// cutProxy is a TCP proxy in front of the server's HTTP and WebSocket port
// that a test can cut: while cut, bytes in both directions are dropped and
// new connections hang, like a network that went away without a goodbye.
// Media does not pass through it (ICE goes straight to the server's UDP port).
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool // client sides of the connections open now
	during map[net.Conn]bool // connections that lived through the cut
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}, during: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *cutProxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func (p *cutProxy) handle(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		_ = c.Close()
	}()
	// A connection made during the cut hangs until the cut ends, then goes
	// through (as a retransmitted SYN would).
	for p.isCut() {
		time.Sleep(50 * time.Millisecond)
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.isCut() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
	_ = io.EOF
}

// Cut starts dropping everything.
func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		p.during[c] = true
	}
}

// Restore ends the cut. Connections that were open when it began lost
// bytes, so they are closed (as a real stack would reset them); ones opened
// during the cut go through now.
func (p *cutProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for c := range p.during {
		_ = c.Close()
	}
	p.during = map[net.Conn]bool{}
}

// framesFrom is the number of video frames page has decoded from whoever is
// now behind other (its member id may have changed by rejoining).
func framesFrom(t *testing.T, page, other context.Context) float64 {
	t.Helper()
	id := eval[string](t, other, `window.liveroomCall.memberIdOf()`)
	return inbound(t, page, id, "video", "framesDecoded")
}

// waitFramesBothWays waits until each page decodes video from the other and
// the counts keep growing; it returns how long that took.
func waitFramesBothWays(t *testing.T, a, b context.Context, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for _, pair := range [][2]context.Context{{a, b}, {b, a}} {
		page, other := pair[0], pair[1]
		var first float64 = -1
		for {
			n := framesFrom(t, page, other)
			if first < 0 && n > 0 {
				first = n
			} else if first >= 0 && n > first+5 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no growing video after %v (frames %v)\npage: %s", within, n, pageText(page))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// inCallAndNoPrompt checks what a person sees: the call panel, no leftover
// incoming-call prompt, no "Join with video" offer.
const inCallAndNoPrompt = `window.liveroomCall.inCall && !document.querySelector("#call-panel").hidden &&
	document.querySelector("#incoming-call").hidden && document.querySelector("#call-buttons").hidden`

// twoInCall starts a server, a room and a two-person video call. The
// visitor's page goes through the proxy when proxied is true.
func twoInCall(t *testing.T, roomID string, proxied bool, extra ...string) (srv *server, proxy *cutProxy, agent, visitor context.Context) {
	t.Helper()
	srv = startServer(t, t.TempDir(), extra...)
	visitorLink, agentLink := createRoomLinks(t, srv, roomID)
	if proxied {
		proxy = newCutProxy(t, srv.URL[len("http://"):])
		visitorLink = proxy.URL() + visitorLink[len(srv.URL):]
	}
	browser := newBrowser(t)
	agent, visitor = newPage(t, browser), newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	joinAs(t, visitor, visitorLink, "Bob")
	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	waitFramesBothWays(t, agent, visitor, 60*time.Second)
	return srv, proxy, agent, visitor
}

// A visitor whose connection is cut for longer than the resume grace comes
// back into the room and, without a click, into the call; the agent's page
// gets the visitor's video again instead of waiting for good.
func TestCallComesBackAfterLongConnectionCut(t *testing.T) {
	// The server notices the dead link within seconds and keeps the member
	// only briefly, so the 25 s cut outlasts the membership: the page comes
	// back as a new member and must find its way into the call again.
	_, proxy, agent, visitor := twoInCall(t, "cut", true, "--resume-grace-seconds", "5", "--ping-seconds", "5")
	oldID := eval[string](t, visitor, `window.liveroomCall.memberIdOf()`)

	proxy.Cut()
	cut := time.Now()
	// The page notices the dead link by itself (no close event arrives).
	waitLong(t, visitor, "the page saying it lost the link", `document.querySelector("#conn-status").dataset.status !== "connected"`, 40*time.Second)
	// The agent is told who is gone instead of waiting silently.
	waitLong(t, agent, "the agent told that Bob left the call", `/Bob left the call/.test(document.querySelector("#call-status").textContent)`, 40*time.Second)
	if rest := 25*time.Second - time.Since(cut); rest > 0 {
		time.Sleep(rest)
	}
	proxy.Restore()
	back := time.Now()

	waitLong(t, visitor, "the visitor back in the room", `document.body.dataset.state === "joined" && window.liveroomCall.wire.connected`, 60*time.Second)
	took := waitFramesBothWays(t, agent, visitor, 90*time.Second)
	t.Logf("recovery after a 25 s cut: frames both ways %v after the link came back (%v in the frame wait)", time.Since(back), took)
	if id := eval[string](t, visitor, `window.liveroomCall.memberIdOf()`); id == oldID {
		t.Fatalf("the visitor resumed as the same member %s: the cut did not outlast the membership", id)
	}
	for _, page := range []context.Context{agent, visitor} {
		waitJS(t, page, "in the call with no prompt", inCallAndNoPrompt)
	}
}

// The server paused (SIGSTOP) for 20 s in a call: both pages notice, and the
// call comes back by itself once the server runs again.
func TestCallComesBackAfterServerPause(t *testing.T) { pausedCall(t, "pause", 20*time.Second) }

// Paused for 40 s the media connections fail outright (ICE consent runs out
// on both sides); the pages set the call up again by themselves.
func TestCallComesBackAfterLongServerPause(t *testing.T) { pausedCall(t, "long-pause", 40*time.Second) }

func pausedCall(t *testing.T, roomID string, pause time.Duration) {
	srv, _, agent, visitor := twoInCall(t, roomID, false)

	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = srv.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	time.Sleep(pause)
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	back := time.Now()
	took := waitFramesBothWays(t, agent, visitor, 90*time.Second)
	// Frames decoded from buffers before the pause do not count: wait once
	// more for growth well after the server came back.
	time.Sleep(3 * time.Second)
	took2 := waitFramesBothWays(t, agent, visitor, 60*time.Second)
	t.Logf("recovery after a %v server pause: frames both ways %v after SIGCONT (waits %v, %v)", pause, time.Since(back), took, took2)
	for _, page := range []context.Context{agent, visitor} {
		waitLong(t, page, "in the call with no prompt, connected", inCallAndNoPrompt+` && document.querySelector("#conn-status").dataset.status === "connected"`, 60*time.Second)
	}
}

// A server that dies and comes back (same address, same store) forgets the
// call: both pages rejoin the room and the call by themselves.
func TestCallComesBackAfterServerRestart(t *testing.T) {
	srv, _, agent, visitor := twoInCall(t, "restart", false)
	addr := srv.URL[len("http://"):]
	_ = srv.cmd.Process.Kill()
	<-srv.done // its cleanup sees it exited
	startServerAt(t, addr, srv.DataDir)
	back := time.Now()
	took := waitFramesBothWays(t, agent, visitor, 90*time.Second)
	t.Logf("recovery after a server restart: frames both ways %v after the server was healthy (%v)", time.Since(back), took)
	for _, page := range []context.Context{agent, visitor} {
		waitJS(t, page, "in the call with no prompt", inCallAndNoPrompt)
	}
}

// Both people ring each other at the same moment (as both pages do when an
// agent accepts a call request): one call, both ways, no prompt left over.
func TestRingingEachOtherAtOnceMakesOneCall(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "glare")
	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	joinAs(t, visitor, visitorLink, "Bob")
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		for _, page := range []context.Context{agent, visitor} {
			wg.Add(1)
			go func(page context.Context) {
				defer wg.Done()
				tctx, cancel := context.WithTimeout(page, 10*time.Second)
				defer cancel()
				_, _ = chromedp.Run(tctx, chromedp.Evaluate[bool](`(window.liveroomCall.start(true, "ACTION_RING"), true)`))
			}(page)
		}
		wg.Wait()
		waitFramesBothWays(t, agent, visitor, 60*time.Second)
		for _, page := range []context.Context{agent, visitor} {
			waitJS(t, page, "in the call with no prompt", inCallAndNoPrompt)
		}
		// Hang up both; the next round starts from no call.
		for _, page := range []context.Context{agent, visitor} {
			do(t, page, chromedp.Click(chromedp.ID("hangup-btn")))
		}
		for _, page := range []context.Context{agent, visitor} {
			waitJS(t, page, "out of the call", `!window.liveroomCall.inCall && window.liveroomCall.participants.size === 0 && document.querySelector("#incoming-call").hidden`)
		}
	}
}
