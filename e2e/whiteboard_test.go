package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"liveroom/internal/pdftest"
)

const wbJS = `window.__liveroomWhiteboard`

// boardElement is what a member's whiteboard holds for one element.
type boardElement struct {
	ID      int     `json:"id"`
	Page    int     `json:"page"`
	Shape   string  `json:"shape"`
	Points  []int32 `json:"points"`
	Color   string  `json:"color"`
	Text    string  `json:"text"`
	ImageID string  `json:"imageId"`
}

type boardState struct {
	Seq      int            `json:"seq"`
	Open     bool           `json:"open"`
	Page     int            `json:"page"`
	Pages    int            `json:"pages"`
	CanDraw  bool           `json:"canDraw"`
	Shown    bool           `json:"shown"`
	Elements []boardElement `json:"elements"`
}

func board(t *testing.T, page context.Context) boardState {
	t.Helper()
	return eval[boardState](t, page, wbJS+`.snapshot()`)
}

// clientXY returns where board point (x, y) is on the page, in CSS pixels.
func clientXY(t *testing.T, page context.Context, x, y int) (float64, float64) {
	t.Helper()
	v := eval[[]float64](t, page, fmt.Sprintf(`(() => { const w = %s; const r = w.canvas.getBoundingClientRect();
		const p = w.toCanvas(%d, %d); return [r.left + p.x, r.top + p.y]; })()`, wbJS, x, y))
	return v[0], v[1]
}

func held(p *input.DispatchMouseEventParams) {
	p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
}

// drag presses the mouse at the first board point, moves through the
// others and lets go at the last, like a person drawing.
func drag(t *testing.T, page context.Context, pts ...[2]int) {
	t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i, p := range pts {
		x, y := clientXY(t, page, p[0], p[1])
		typ := chromedp.MouseMoved
		if i == 0 {
			typ = chromedp.MousePressed
		}
		steps = append(steps, chromedp.MouseEvent(typ, x, y, held))
		if i == len(pts)-1 {
			steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x, y, held))
		}
	}
	do(t, page, steps...)
}

func tool(t *testing.T, page context.Context, name string) {
	t.Helper()
	do(t, page, chromedp.Click(chromedp.CSS(`.wb-btn[data-tool="`+name+`"]`)))
}

// pixelIs is true when the member's canvas shows colour c (within tol) at a board point.
func pixelIs(x, y int, c [3]int, tol int) string {
	return fmt.Sprintf(`(() => { const p = %s.pixelAt(%d, %d);
		return Math.abs(p[0]-%d) <= %d && Math.abs(p[1]-%d) <= %d && Math.abs(p[2]-%d) <= %d; })()`,
		wbJS, x, y, c[0], tol, c[1], tol, c[2], tol)
}

// sameBoard waits until page's board holds exactly want.
func sameBoard(t *testing.T, page context.Context, who string, want []boardElement) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := board(t, page).Elements
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's board differs:\n got %+v\nwant %+v", who, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitLong polls a JavaScript expression for up to d (PDF rendering compiles
// its engine on first use, which takes long on a busy machine under -race).
func waitLong(t *testing.T, ctx context.Context, what, js string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool]("(async () => !!(await ("+js+")))()", chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: not true after %v\npage: %s", what, d, pageText(ctx))
}

// pdfCache is where the compiled PDF engine is kept between test runs (the
// pdfrender tests share it): compiling it under -race takes minutes.
func pdfCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "liveroom-test", "pdfium")
}

func TestWhiteboardSharedLiveAndPersisted(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "--whiteboard-pdf-cache", pdfCache())
	visitorLink, agentLink := createRoomLinks(t, srv, "board")
	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	for _, p := range []context.Context{agent, visitor} {
		do(t, p, chromedp.EmulateViewport(1280, 900))
	}
	joinAs(t, agent, agentLink, "Ann")
	joinAs(t, visitor, visitorLink, "Vic")

	// The agent starts the board; the visitor sees it appear.
	waitJS(t, agent, "the whiteboard button", `!document.querySelector("#wb-toggle").hidden`)
	if eval[bool](t, visitor, `!document.querySelector("#wb-toggle").hidden`) {
		t.Fatal("the visitor sees a whiteboard button before the agent opened the board")
	}
	do(t, agent, chromedp.Click(chromedp.ID("wb-toggle")))
	waitJS(t, visitor, "the board to appear for the visitor", wbJS+`.snapshot().shown`)
	waitJS(t, agent, "the board to appear for the agent", wbJS+`.snapshot().shown`)

	// A stroke, a thick red rectangle and a text.
	tool(t, agent, "pen")
	drag(t, agent, [2]int{100, 100}, [2]int{160, 130}, [2]int{220, 180}, [2]int{300, 200})
	tool(t, agent, "rect")
	do(t, agent, chromedp.Evaluate[chromedp.Void](`(() => { const w = `+wbJS+`;
		w.colorInput.value = "#e53935"; w.colorInput.dispatchEvent(new Event("input"));
		w.widthInput.value = "16"; w.widthInput.dispatchEvent(new Event("change")); })()`))
	drag(t, agent, [2]int{400, 300}, [2]int{600, 400}, [2]int{800, 500})
	tool(t, agent, "text")
	x, y := clientXY(t, agent, 200, 700)
	do(t, agent, chromedp.MouseClickXY(x, y))
	waitJS(t, agent, "the text box", `!document.querySelector(".wb-text-input").hidden`)
	do(t, agent, chromedp.SendKeys(chromedp.CSS(".wb-text-input"), "Hello board"+kb.Enter))
	waitJS(t, agent, "three elements on the agent's board", wbJS+`.snapshot().elements.length === 3`)
	want := board(t, agent).Elements
	shapes := []string{want[0].Shape, want[1].Shape, want[2].Shape}
	if !reflect.DeepEqual(shapes, []string{"WB_SHAPE_PEN", "WB_SHAPE_RECT", "WB_SHAPE_TEXT"}) || want[2].Text != "Hello board" {
		t.Fatalf("agent's board: %+v", want)
	}
	sameBoard(t, visitor, "the visitor", want)
	// The rectangle's left edge (x = 400) is red on the visitor's screen.
	waitJS(t, visitor, "the red rectangle on the visitor's canvas", pixelIs(400, 400, [3]int{0xe5, 0x39, 0x35}, 40))
	waitJS(t, visitor, "white inside the rectangle", pixelIs(600, 400, [3]int{255, 255, 255}, 10))

	// Agent-only (the default): the visitor's tools are off and the server
	// refuses a stroke sent anyway.
	if board(t, visitor).CanDraw {
		t.Fatal("the visitor may draw on an agent-only board")
	}
	refused := eval[bool](t, visitor, wbJS+`.send({kind: "WB_OP_ADD", element: {shape: "WB_SHAPE_PEN", points: [1, 1, 50, 50], color: "#000000", width: 3}}).then(op => op === null)`)
	if !refused {
		t.Fatal("the server accepted a visitor's stroke on an agent-only board")
	}
	waitJS(t, visitor, "the refusal shown", `document.querySelector(".wb-status").textContent.includes("Only the agent")`)

	// Open mode: the agent lets visitors draw; the visitor's stroke reaches the agent.
	do(t, agent, chromedp.Click(chromedp.ID("wb-visitors")))
	waitJS(t, visitor, "drawing allowed", wbJS+`.snapshot().canDraw`)
	tool(t, visitor, "pen")
	drag(t, visitor, [2]int{1000, 150}, [2]int{1100, 250}, [2]int{1200, 150})
	waitJS(t, agent, "the visitor's stroke on the agent's board", wbJS+`.snapshot().elements.length === 4`)

	// A pasted image shows on both sides.
	do(t, visitor, chromedp.Evaluate[chromedp.Void](`(async () => {
		const c = document.createElement("canvas"); c.width = 80; c.height = 60;
		const g = c.getContext("2d"); g.fillStyle = "#00c000"; g.fillRect(0, 0, 80, 60);
		const blob = await new Promise(r => c.toBlob(r, "image/png"));
		const dt = new DataTransfer(); dt.items.add(new File([blob], "green.png", {type: "image/png"}));
		document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt}));
	})()`, chromedp.EvalAwaitPromise))
	waitJS(t, agent, "the pasted image on the agent's board", wbJS+`.snapshot().elements.some(e => e.shape === "WB_SHAPE_IMAGE")`)
	want = board(t, agent).Elements
	img := want[len(want)-1]
	cx, cy := int(img.Points[0]+img.Points[2])/2, int(img.Points[1]+img.Points[3])/2
	for name, p := range map[string]context.Context{"agent": agent, "visitor": visitor} {
		waitJS(t, p, "the green image on the "+name+"'s canvas", pixelIs(cx, cy, [3]int{0, 0xc0, 0}, 40))
	}
	sameBoard(t, visitor, "the visitor", want)

	// Uploads that are not images, too large, or not from a member get a
	// clear refusal; a visitor cannot open a PDF.
	refusals := eval[[]string](t, visitor, `(async () => {
		const r = `+wbJS+`.roomOf();
		const post = async (path, body, token) => {
			const res = await fetch("/api/rooms/" + r.id + "/wb/" + path, {method: "POST", body,
				headers: token ? {Authorization: "Bearer " + token} : {}});
			return res.status + " " + ((await res.json()).error || {}).code;
		};
		return [
			await post("images", new Blob(["GIF89a but nothing more"]), r.token),
			await post("images", new Blob([new Uint8Array(11 << 20)]), r.token),
			await post("images", new Blob(["x"]), ""),
			await post("pdf", new Blob(["%PDF-1.4"]), r.token),
		];
	})()`)
	if !reflect.DeepEqual(refusals, []string{"415 not_an_image", "413 too_large", "401 unauthorized", "403 forbidden"}) {
		t.Fatalf("upload refusals: %v", refusals)
	}

	// A PDF: its pages become board pages; the agent turns to the second
	// page of the PDF and the visitor sees that page's green rectangle.
	pdf := filepath.Join(t.TempDir(), "slides.pdf")
	if err := os.WriteFile(pdf, pdftest.Pages(3), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, agent, chromedp.SetUploadFiles(chromedp.ID("wb-pdf-input"), []string{pdf}))
	waitLong(t, visitor, "the PDF's pages on the visitor's board", wbJS+`.snapshot().pages === 4`, 8*time.Minute)
	do(t, agent, chromedp.Click(chromedp.ID("wb-next")))
	waitJS(t, visitor, "page 3 (the PDF's 2nd) on the visitor's side", wbJS+`.snapshot().page === 2`)
	// PDF pages are drawn 1600 units wide; the PDF's rectangle covers the middle.
	waitJS(t, visitor, "the PDF's 2nd page (green) on the visitor's canvas", pixelIs(800, 533, [3]int{0, 153, 0}, 40))
	if eval[bool](t, visitor, pixelIs(800, 533, [3]int{255, 0, 0}, 40)) {
		t.Fatal("the visitor sees the PDF's first page")
	}
	// A broken PDF gets a clear error and changes nothing.
	broken := filepath.Join(t.TempDir(), "broken.pdf")
	_ = os.WriteFile(broken, []byte("%PDF-1.4 this is not really a PDF"), 0o600)
	do(t, agent, chromedp.SetUploadFiles(chromedp.ID("wb-pdf-input"), []string{broken}))
	waitLong(t, agent, "the broken PDF's error", `document.querySelector(".wb-status").textContent.includes("cannot be shown")`, 3*time.Minute)

	final := board(t, agent)
	sameBoard(t, visitor, "the visitor", final.Elements)

	// A late third member and a reload see the whole board.
	late := newPage(t, browser)
	do(t, late, chromedp.EmulateViewport(1280, 900))
	joinAs(t, late, visitorLink, "Lou")
	sameBoard(t, late, "the late member", final.Elements)
	if s := board(t, late); s.Page != 2 || s.Pages != 4 || !s.Shown {
		t.Fatalf("late member's board: page %d of %d, shown %v", s.Page, s.Pages, s.Shown)
	}
	do(t, visitor, chromedp.Reload())
	joinAs(t, visitor, visitorLink, "Vic")
	sameBoard(t, visitor, "the visitor after a reload", final.Elements)

	// After a server restart the board is still there.
	srv.stop()
	srv2 := startServer(t, dataDir, "--whiteboard-pdf-cache", pdfCache())
	after := newPage(t, browser)
	do(t, after, chromedp.EmulateViewport(1280, 900))
	joinAs(t, after, srv2.URL+strings.TrimPrefix(visitorLink, srv.URL), "Max")
	sameBoard(t, after, "a member after the restart", final.Elements)
	waitJS(t, after, "the PDF page after the restart", pixelIs(800, 533, [3]int{0, 153, 0}, 40))
}

// touch sends one touch event with the given fingers (page CSS pixels).
func touch(t *testing.T, page context.Context, typ input.DispatchTouchEventType, fingers ...[2]float64) {
	t.Helper()
	pts := []*input.TouchPoint{}
	for i, f := range fingers {
		id := float64(i + 1)
		pts = append(pts, &input.TouchPoint{X: f[0], Y: f[1], ID: &id})
	}
	tctx, cancel := context.WithTimeout(page, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(tctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts}); err != nil {
		t.Fatalf("touch: %v", err)
	}
}

// TestWhiteboardOnAPhone: on a phone the board fits the screen, a finger
// draws a stroke the agent sees, and two fingers pinch to zoom.
func TestWhiteboardOnAPhone(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--whiteboard-visitors", "true")
	visitorLink, agentLink := createRoomLinks(t, srv, "phoneboard")
	browser := newBrowser(t)
	agent := newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	visitor := phone(t, browser)
	joinAs(t, visitor, visitorLink, "Vic")
	waitJS(t, agent, "the whiteboard button", `!document.querySelector("#wb-toggle").hidden`)
	do(t, agent, chromedp.Click(chromedp.ID("wb-toggle")))
	waitJS(t, visitor, "the board on the phone", wbJS+`.snapshot().shown && `+wbJS+`.snapshot().canDraw`)
	size := eval[[]float64](t, visitor, `(() => { const r = `+wbJS+`.canvas.getBoundingClientRect();
		return [r.left, r.right, r.width, r.height, document.documentElement.scrollWidth, innerWidth]; })()`)
	if size[0] < 0 || size[1] > size[5]+1 || size[2] < 300 || size[3] < 200 || size[4] > size[5]+1 {
		t.Fatalf("board on a 390 px phone: left %v right %v, %vx%v, page width %v of %v", size[0], size[1], size[2], size[3], size[4], size[5])
	}
	shot(t, visitor, "whiteboard-phone")

	// One finger draws.
	var path [][2]float64
	for _, p := range [][2]int{{300, 300}, {500, 400}, {700, 300}, {900, 500}} {
		x, y := clientXY(t, visitor, p[0], p[1])
		path = append(path, [2]float64{x, y})
	}
	touch(t, visitor, input.DispatchTouchEventTypeTouchStart, path[0])
	for _, p := range path[1:] {
		touch(t, visitor, input.DispatchTouchEventTypeTouchMove, p)
	}
	touch(t, visitor, input.DispatchTouchEventTypeTouchEnd)
	waitJS(t, agent, "the phone's stroke on the agent's board", wbJS+`.snapshot().elements.some(e => e.shape === "WB_SHAPE_PEN")`)
	sameBoard(t, visitor, "the phone", board(t, agent).Elements)

	// Two fingers moving apart zoom in on the phone only.
	before := eval[float64](t, visitor, wbJS+`.view.scale`)
	cx, cy := clientXY(t, visitor, 800, 500)
	touch(t, visitor, input.DispatchTouchEventTypeTouchStart, [2]float64{cx - 20, cy}, [2]float64{cx + 20, cy})
	for d := 30.0; d <= 90; d += 20 {
		touch(t, visitor, input.DispatchTouchEventTypeTouchMove, [2]float64{cx - d, cy}, [2]float64{cx + d, cy})
	}
	touch(t, visitor, input.DispatchTouchEventTypeTouchEnd)
	if after := eval[float64](t, visitor, wbJS+`.view.scale`); after < before*1.5 {
		t.Fatalf("pinch: scale %v -> %v", before, after)
	}
	if n := len(board(t, agent).Elements); n != 1 {
		t.Fatalf("the pinch drew something: %d elements", n)
	}
}
