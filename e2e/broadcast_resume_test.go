package e2e

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// cutProxy forwards TCP to target and can cut every open connection, as a
// network change does; new connections are accepted after a cut.
type cutProxy struct {
	lis   net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{lis: lis}
	t.Cleanup(func() { _ = lis.Close(); p.cut() })
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) url() string { return "http://" + p.lis.Addr().String() }

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func TestBroadcasterDropsAndReturnsWithinGraceViewersNeverSeeEnded(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "nia", "Nia", "", "nia-password")
	key := addAPIKey(t, dir, "nia")
	srv := startServer(t, dir, "--resume-grace-seconds", "30")
	_, broadcasterURL := createBroadcast(t, srv, key, "radio")
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "http://"))

	browser := newBrowser(t)
	host := newPage(t, browser)
	do(t, host, chromedp.Navigate(strings.Replace(broadcasterURL, srv.URL, proxy.url(), 1)))
	waitLong(t, host, "the broadcaster preview", `!document.querySelector("#live").hidden &&
		document.querySelector("#preview").srcObject !== null`)
	viewer := newPage(t, browser)
	do(t, viewer, chromedp.Navigate(srv.URL+"/watch/radio"))
	waitLong(t, viewer, "viewer waiting", `document.body.dataset.phase === "waiting"`)
	do(t, host, chromedp.Click(chromedp.ID("go-live")))
	decoding(t, viewer, "the viewer decodes", 1)
	eval[bool](t, viewer, `(() => { window.sawEnded = false;
		setInterval(() => { if (document.body.dataset.phase !== "live") window.sawEnded = true; }, 20); return true; })()`)
	before := eval[[]float64](t, viewer, `window.liveroomViewer.stats().then(s => s.map(x => x.ssrc))`)

	// The broadcaster's socket drops; its page reconnects and sends again.
	proxy.cut()
	old, _ := json.Marshal(before)
	waitLong(t, viewer, "video from the returned broadcaster (a new stream)",
		`window.liveroomViewer.stats().then(s => s.some(x => !`+string(old)+`.includes(x.ssrc) && x.framesDecoded > 5))`)
	decoding(t, viewer, "the viewer decodes again", 1)
	if eval[bool](t, viewer, `window.sawEnded`) {
		t.Fatal("the viewer saw the broadcast leave the live phase while the broadcaster came back")
	}
	waitLong(t, host, "the broadcaster still live", `!document.querySelector("#stop").hidden`)
}
