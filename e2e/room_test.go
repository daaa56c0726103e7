package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// joinRoom opens link in page and joins with the prefilled name (or name when
// given) and password.
func joinRoom(t *testing.T, page context.Context, link, name, password string) {
	t.Helper()
	do(t, page, chromedp.Navigate(link))
	waitJS(t, page, "the join form", `document.querySelector("#join-button") && ["joining", "joined"].includes(document.body.dataset.state)`)
	// A reload or a link from an accepted request goes straight in: the page
	// submits its own form (the button is disabled while that join is under
	// way, and the form hides once it is done), so there is nothing to click.
	if eval[bool](t, page, `document.body.dataset.state === "joined" || document.querySelector("#join-button").disabled`) {
		waitJS(t, page, "in the room without a click", `document.body.dataset.state === "joined"`)
		return
	}
	if name != "" {
		do(t, page, chromedp.SetValue(chromedp.ID("join-name"), name))
	}
	if password != "" {
		do(t, page, chromedp.SendKeys(chromedp.ID("join-password"), password))
	}
	do(t, page, chromedp.Click(chromedp.ID("join-button")))
}

func sendChat(t *testing.T, page context.Context, text string) {
	t.Helper()
	do(t, page,
		chromedp.SetValue(chromedp.ID("chat-input"), text),
		chromedp.Click(chromedp.ID("chat-send")))
}

// seesMessage is true when the page shows a chat message from name with text.
func seesMessage(name, text string) string {
	return `[...document.querySelectorAll("#messages .msg")].some(m =>
		m.querySelector(".msg-name")?.textContent.includes(` + jsString(name) + `) &&
		m.querySelector(".msg-text")?.textContent === ` + jsString(text) + `)`
}

func seesMember(name string) string {
	return `[...document.querySelectorAll("#members .member")].some(m => m.textContent.includes(` + jsString(name) + `))`
}

func TestAgentAndVisitorMeetChatShareFilesAndKeepHistory(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	browser := newBrowser(t)
	agent := newPage(t, browser)

	// The agent creates a room on the start page.
	do(t, agent, chromedp.Navigate(srv.URL+"/"),
		chromedp.SendKeys(chromedp.ID("room-id"), "consult-1"),
		chromedp.SendKeys(chromedp.ID("visitor-name"), "Vera"),
		chromedp.SendKeys(chromedp.ID("agent-name"), "Dr Alex"),
		chromedp.Click(chromedp.ID("create-room")))
	waitJS(t, agent, "the room links", `document.querySelector("#agent-link")?.href.includes("#agent=")`)
	agentLink := eval[string](t, agent, `document.querySelector("#agent-link").href`)
	visitorLink := eval[string](t, agent, `document.querySelector("#visitor-link").href`)
	if visitorLink != srv.URL+"/room/consult-1" || !strings.HasPrefix(agentLink, visitorLink+"#agent=") {
		t.Fatalf("links: visitor %q agent %q", visitorLink, agentLink)
	}

	joinRoom(t, agent, agentLink, "", "")
	waitJS(t, agent, "agent joined", `document.body.dataset.state === "joined"`)

	visitor := newPage(t, browser)
	joinRoom(t, visitor, visitorLink, "", "")
	waitJS(t, visitor, "visitor joined", `document.body.dataset.state === "joined"`)

	// Names were prefilled from the room; each sees the other.
	waitJS(t, visitor, "visitor sees the agent", seesMember("Dr Alex"))
	waitJS(t, agent, "agent sees the visitor", seesMember("Vera"))

	sendChat(t, agent, "Hello Vera, how can I help?")
	waitJS(t, visitor, "agent's message at the visitor", seesMessage("Dr Alex", "Hello Vera, how can I help?"))
	sendChat(t, visitor, "Hi! I have a question.")
	waitJS(t, agent, "visitor's message at the agent", seesMessage("Vera", "Hi! I have a question."))

	// Names and text are shown as text, never as HTML.
	evil := `<img src=x onerror="window.__pwned=1"><b>bold</b>`
	sendChat(t, visitor, evil)
	waitJS(t, agent, "markup shown literally", seesMessage("Vera", evil))
	if eval[bool](t, agent, `window.__pwned === 1 || !!document.querySelector("#messages img, #messages b")`) {
		t.Fatal("chat text was rendered as HTML")
	}

	// The visitor uploads a file; the agent downloads the same bytes.
	content := make([]byte, 300<<10)
	_, _ = rand.Read(content)
	path := filepath.Join(t.TempDir(), "scan résumé.bin")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	do(t, visitor, chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{path}))
	waitJS(t, agent, "the file message", `document.querySelector("#messages a.file-link")`)
	if text := eval[string](t, agent, `document.querySelector("#messages a.file-link").closest(".msg").textContent`); !strings.Contains(text, "scan résumé.bin") {
		t.Fatalf("file message shows %q", text)
	}
	got := eval[string](t, agent, `(async () => {
		const a = document.querySelector("#messages a.file-link");
		const r = await fetch(a.href);
		const buf = await r.arrayBuffer();
		const d = await crypto.subtle.digest("SHA-256", buf);
		return [r.status, r.headers.get("content-disposition"), r.headers.get("x-content-type-options"),
			[...new Uint8Array(d)].map(b => b.toString(16).padStart(2, "0")).join("")].join("|");
	})()`)
	parts := strings.Split(got, "|")
	if len(parts) != 4 || parts[0] != "200" || !strings.HasPrefix(parts[1], "attachment;") || parts[2] != "nosniff" || parts[3] != hex.EncodeToString(sum[:]) {
		t.Fatalf("download: %q, want sha256 %x", got, sum)
	}
	// The link does not work without the member's token.
	href := eval[string](t, agent, `document.querySelector("#messages a.file-link").href`)
	resp, err := http.Get(strings.Split(href, "?")[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("download without token: %d", resp.StatusCode)
	}

	// A reload goes straight back in and shows the history.
	do(t, visitor, chromedp.Reload())
	waitJS(t, visitor, "back in after reload, without a click", `document.body.dataset.state === "joined"`)
	waitJS(t, visitor, "history after reload", seesMessage("Dr Alex", "Hello Vera, how can I help?"))
	waitJS(t, visitor, "own message after reload", seesMessage("Vera", "Hi! I have a question."))

	// A restart on the same data folder keeps the room and its history.
	srv.stop()
	srv2 := startServer(t, dataDir)
	later := newPage(t, browser)
	joinRoom(t, later, srv2.URL+"/room/consult-1", "Vera", "")
	waitJS(t, later, "history after restart", seesMessage("Dr Alex", "Hello Vera, how can I help?"))
	waitJS(t, later, "file after restart", `document.querySelector("#messages a.file-link")`)
}

func TestWrongPasswordAndUnknownRoom(t *testing.T) {
	srv := startServer(t, t.TempDir())
	body := `{"id":"locked","visitorName":"Pat","agentName":"Sam","password":"open sesame"}`
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ VisitorURL, AgentURL string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %d", resp.StatusCode)
	}

	browser := newBrowser(t)
	// The agent's link admits without the room password: the form does
	// not ask for it.
	agent := newPage(t, browser)
	do(t, agent, chromedp.Navigate(created.AgentURL))
	waitJS(t, agent, "the agent's join form", `document.body.dataset.state === "joining"`)
	if eval[bool](t, agent, `!document.querySelector("#join-password-field").hidden`) {
		t.Fatal("the agent link asks for the room password")
	}
	do(t, agent, chromedp.Click(chromedp.ID("join-button")))
	waitJS(t, agent, "the agent in without a password", `document.body.dataset.state === "joined"`)

	page := newPage(t, browser)
	joinRoom(t, page, srv.URL+"/room/locked", "", "not it")
	waitJS(t, page, "the wrong-password error", `/password/i.test(document.querySelector("#join-error")?.textContent || "")`)
	if eval[string](t, page, `document.body.dataset.state`) == "joined" {
		t.Fatal("joined with a wrong password")
	}
	do(t, page, chromedp.SetValue(chromedp.ID("join-password"), "open sesame"),
		chromedp.Click(chromedp.ID("join-button")))
	waitJS(t, page, "joined with the right password", `document.body.dataset.state === "joined"`)

	other := newPage(t, browser)
	do(t, other, chromedp.Navigate(srv.URL+"/room/no-such-room"))
	waitJS(t, other, "the unknown-room error", `/not exist/i.test(document.querySelector("#room-error")?.textContent || "")`)
}

// A full room says so on the page and lets the visitor try again later.
func TestFullRoomShowsAClearError(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--room-max-members", "1")
	createRoomAPI(t, srv, "tiny")
	browser := newBrowser(t)
	first, second := newPage(t, browser), newPage(t, browser)
	joinRoom(t, first, srv.URL+"/room/tiny", "Una", "")
	waitJS(t, first, "the first member joined", `document.body.dataset.state === "joined"`)
	joinRoom(t, second, srv.URL+"/room/tiny", "Dos", "")
	waitJS(t, second, "the room-full error", `/full/i.test(document.querySelector("#join-error")?.textContent || "")`)
	if state := eval[string](t, second, `document.body.dataset.state`); state == "joined" {
		t.Fatal("joined a full room")
	}
}

// An operator can close the start page's anonymous room creation.
func TestClosedRoomCreation(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--open-rooms=false")
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"nope"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || body.Error.Code != "forbidden" || body.Error.Message == "" {
		t.Fatalf("create with open_rooms off: %d %+v", resp.StatusCode, body)
	}
	if resp, err := http.Get(srv.URL + "/api/rooms/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused room exists: %v %v", err, resp.Status)
	}
	browser := newBrowser(t)
	page := newPage(t, browser)
	do(t, page, chromedp.Navigate(srv.URL+"/"), chromedp.Click(chromedp.ID("create-room")))
	waitJS(t, page, "the refusal on the start page", `/agents/i.test(document.querySelector("#create-error")?.textContent || "")`)
}
