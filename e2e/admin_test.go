package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// adminClick clicks the button with text label inside the element matched
// by scope (a CSS selector), from the page's own script.
func adminClick(t *testing.T, page context.Context, scope, label string) {
	t.Helper()
	js := `(() => { const b = [...document.querySelectorAll(` + jsString(scope+" button") + `)]
		.find(b => b.textContent.trim() === ` + jsString(label) + ` || b.dataset.armed === "1" && b.dataset.confirm);
		if (!b) return false; b.click(); return true; })()`
	if !eval[bool](t, page, js) {
		t.Fatalf("no button %q in %s\npage: %s", label, scope, pageText(page))
	}
}

// TestAdminPanelRunsALiveServer: an admin made from the command line logs in
// at /admin, adds an agent while the server runs, sees the agent online and
// a visitor's room, searches and exports the chat, deletes the room with its
// file, and finds each step in the audit log.
func TestAdminPanelRunsALiveServer(t *testing.T) {
	dataDir := t.TempDir()
	out := admin(t, dataDir, "root-password-1\n", "admin", "add", "--id", "root", "--password-stdin")
	if !strings.Contains(out, "admin root created") {
		t.Fatalf("admin add said %q", out)
	}
	srv := startServer(t, dataDir)
	browser := newBrowser(t)

	// The admin logs in.
	adm := newPage(t, browser)
	do(t, adm, chromedp.Navigate(srv.URL+"/admin"))
	waitJS(t, adm, "the admin login form", `document.body.dataset.state === "login"`)
	do(t, adm,
		chromedp.SetValue(chromedp.ID("login-id"), "root"),
		chromedp.SetValue(chromedp.ID("login-password"), "root-password-1"),
		chromedp.Click(chromedp.ID("login-button")))
	waitJS(t, adm, "the panel", `document.body.dataset.state === "panel" && document.body.dataset.role === "admin"`)

	// It adds an agent; no restart.
	do(t, adm, chromedp.Click(`#admin-nav [data-view="agents"]`))
	waitJS(t, adm, "the accounts table", `document.querySelector('#agents-table tr[data-id="root"]')`)
	do(t, adm,
		chromedp.SetValue(chromedp.ID("agent-new-id"), "alice"),
		chromedp.SetValue(chromedp.ID("agent-new-name"), "Alice <b>Bold</b>"),
		chromedp.SetValue(chromedp.ID("agent-new-password"), "alice-password-1"),
		chromedp.Click(chromedp.ID("agent-add")))
	waitJS(t, adm, "alice in the list", `document.querySelector('#agents-table tr[data-id="alice"]')`)
	if eval[bool](t, adm, `!!document.querySelector("#agents-table b")`) {
		t.Fatal("a name was rendered as HTML in the accounts table")
	}

	// The agent logs in on the agent page at once, and makes a room.
	ag := newPage(t, browser)
	loginAgent(t, ag, srv, "alice", "alice-password-1")
	status := eval[float64](t, ag, `fetch("/api/agent/rooms", {method: "POST", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({id: "adm-room", visitorName: "Pat"})}).then(r => r.status)`)
	if status != 201 {
		t.Fatalf("agent creating a room: %v", status)
	}

	// The admin sees the agent online.
	waitJS(t, adm, "alice online", `(async () => {
		document.querySelector('#admin-nav [data-view="agents"]').click();
		await new Promise(r => setTimeout(r, 300));
		return document.querySelector('#agents-table tr[data-id="alice"] .presence')?.textContent === "online";
	})()`)

	// A visitor joins the room, writes a word and sends a file.
	vis := newPage(t, browser)
	joinRoom(t, vis, srv.URL+"/room/adm-room", "Pat", "")
	waitJS(t, vis, "joined", `document.body.dataset.state === "joined"`)
	sendChat(t, vis, "pineapple-42 is the word")
	waitJS(t, vis, "own message", seesMessage("Pat", "pineapple-42 is the word"))
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("file body"), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, vis, chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{path}))
	waitJS(t, vis, "the file message", `document.querySelector("#messages a.file-link")`)
	fileURL := eval[string](t, vis, `document.querySelector("#messages a.file-link").href`)
	if s := eval[float64](t, vis, `fetch(`+jsString(fileURL)+`).then(r => r.status)`); s != 200 {
		t.Fatalf("file before deletion: %v", s)
	}

	// The admin finds the room (by its agent) with the visitor in it.
	do(t, adm, chromedp.Click(`#admin-nav [data-view="rooms"]`))
	do(t, adm, chromedp.SetValue(chromedp.ID("rooms-agent"), "alice"), chromedp.Click(`#rooms-search button[type="submit"]`))
	waitJS(t, adm, "the room in the list", `document.querySelector('#rooms-table tr[data-id="adm-room"]')`)
	adminClick(t, adm, `#rooms-table tr[data-id="adm-room"]`, "Open")
	waitJS(t, adm, "the visitor among the members", `[...document.querySelectorAll("#room-detail .room-members li")].some(li => li.textContent.includes("Pat (visitor)"))`)
	waitJS(t, adm, "the file in the room", `document.querySelector("#room-detail .room-files") && document.querySelector("#room-detail .room-files").textContent.includes("notes.txt")`)

	// It searches the chat for the word and exports what it found.
	do(t, adm, chromedp.Click(`#admin-nav [data-view="chat"]`))
	do(t, adm, chromedp.SetValue(chromedp.ID("chat-q"), "PINEAPPLE"), chromedp.Click(`#chat-search button[type="submit"]`))
	waitJS(t, adm, "the search hit", `document.querySelector("#chat-table").textContent.includes("pineapple-42 is the word")`)
	csv := eval[string](t, adm, `fetch([...document.querySelectorAll("#chat-exports a")].find(a => a.textContent === "Export CSV").href).then(r => r.text())`)
	if !strings.HasPrefix(csv, "room,seq,sent_at") || !strings.Contains(csv, "adm-room") || !strings.Contains(csv, "pineapple-42 is the word") {
		t.Fatalf("CSV export:\n%s", csv)
	}

	// It deletes the file (two steps): the member's link answers 404.
	fileID := strings.Split(strings.Split(fileURL, "/files/adm-room/")[1], "?")[0]
	do(t, adm, chromedp.Click(`#admin-nav [data-view="rooms"]`))
	waitJS(t, adm, "the room in the list", `document.querySelector('#rooms-table tr[data-id="adm-room"]')`)
	adminClick(t, adm, `#rooms-table tr[data-id="adm-room"]`, "Open")
	fileButton := `#room-detail .room-files [data-confirm=` + jsString(fileID) + `]`
	waitJS(t, adm, "the file's delete button", `document.querySelector(`+jsString(fileButton)+`)`)
	do(t, adm, chromedp.Click(fileButton))
	waitJS(t, adm, "the armed file delete", `document.querySelector(`+jsString(fileButton)+`)?.dataset.armed === "1"`)
	do(t, adm, chromedp.Click(fileButton))
	waitJS(t, adm, "the file gone from the room", `!document.querySelector("#room-detail .room-files").textContent.includes("notes.txt")`)
	if s := eval[float64](t, vis, `fetch(`+jsString(fileURL)+`).then(r => r.status)`); s != 404 {
		t.Fatalf("file link after deleting the file: %v, want 404", s)
	}

	// It deletes the room (two steps); the rest goes with it.
	do(t, adm, chromedp.Click(`#admin-nav [data-view="rooms"]`))
	waitJS(t, adm, "the room in the list", `document.querySelector('#rooms-table tr[data-id="adm-room"]')`)
	adminClick(t, adm, `#rooms-table tr[data-id="adm-room"]`, "Open")
	waitJS(t, adm, "the room detail", `document.querySelector('#room-detail[data-room="adm-room"] [data-confirm="adm-room"]')`)
	do(t, adm, chromedp.Click(`#room-detail [data-confirm="adm-room"]`))
	waitJS(t, adm, "the armed delete", `document.querySelector('#room-detail [data-confirm="adm-room"]')?.dataset.armed === "1"`)
	do(t, adm, chromedp.Click(`#room-detail [data-confirm="adm-room"]`))
	waitJS(t, adm, "the room deleted", `document.querySelector("#room-detail").textContent.includes("was deleted")`)
	waitJS(t, vis, "the visitor told", `document.body.innerText.includes("deleted")`)
	resp, err := http.Get(fileURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The member's token dies with the room (its generation is gone), so the
	// link is refused before any file is looked up: 401, or 404 if a token
	// check ever lets it through to a file that is no longer there.
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusNotFound {
		t.Fatalf("file after the room was deleted: %s, want 401 or 404", resp.Status)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "files", "adm-room")); !os.IsNotExist(err) {
		t.Fatalf("the room's files are still on disk: %v", err)
	}

	// Disabling alice ends her open agent page at once.
	if s := eval[float64](t, adm, `fetch("/api/admin/agents/alice", {method: "PATCH", headers: {"Content-Type": "application/json"},
		body: JSON.stringify({disabled: true})}).then(r => r.status)`); s != 200 {
		t.Fatalf("disabling alice: %v", s)
	}
	waitJS(t, ag, "alice's page back at the login", `document.body.dataset.state === "login"`)
	if s := eval[float64](t, ag, `fetch("/api/agent/me").then(r => r.status)`); s != 401 {
		t.Fatalf("disabled alice's session: %v", s)
	}

	// The audit log lists each step.
	do(t, adm, chromedp.Click(`#admin-nav [data-view="audit"]`))
	for _, step := range []string{"agent.create", "login", "room.create", "chat.export", "file.delete", "room.delete", "agent.update"} {
		waitJS(t, adm, "audit "+step, `[...document.querySelectorAll("#audit-table tr")].some(tr => tr.children[2]?.textContent === `+jsString(step)+`)`)
	}
	auditText := eval[string](t, adm, `document.querySelector("#audit-table").textContent`)
	for _, want := range []string{"root (admin)", "alice", "adm-room", "127.0.0.1"} {
		if !strings.Contains(auditText, want) {
			t.Errorf("audit log lacks %q:\n%s", want, auditText)
		}
	}
}

// TestAdminPanelOnAPhone opens every section on a phone-sized screen: none
// makes the page wider than the screen (wide tables scroll in their box).
func TestAdminPanelOnAPhone(t *testing.T) {
	dataDir := t.TempDir()
	admin(t, dataDir, "root-password-1\n", "admin", "add", "--id", "root", "--password-stdin")
	addAgent(t, dataDir, "gina", "Gina with a rather long display name", "gina@example.com", "gina-password")
	srv := startServer(t, dataDir)
	browser := newBrowser(t)
	page := phone(t, browser)
	do(t, page, chromedp.Navigate(srv.URL+"/admin"))
	waitJS(t, page, "the admin login form", `document.body.dataset.state === "login"`)
	shot(t, page, "phone-admin-login")
	do(t, page,
		chromedp.SetValue(chromedp.ID("login-id"), "root"),
		chromedp.SetValue(chromedp.ID("login-password"), "root-password-1"),
		chromedp.Click(chromedp.ID("login-button")))
	waitJS(t, page, "the panel", `document.body.dataset.state === "panel"`)
	for _, view := range []string{"overview", "agents", "rooms", "chat", "files", "records", "audit", "webhooks", "settings"} {
		do(t, page, chromedp.Click(`#admin-nav [data-view="`+view+`"]`))
		waitJS(t, page, view, `document.body.dataset.view === `+jsString(view)+` && !document.querySelector("#view-`+view+`").hidden`)
		if view == "agents" {
			waitJS(t, page, "the accounts", `document.querySelector('#agents-table tr[data-id="gina"]')`)
		}
		shot(t, page, "phone-admin-"+view)
		if eval[bool](t, page, `!document.querySelector("#admin-error").hidden`) {
			t.Errorf("%s shows an error: %s", view, eval[string](t, page, `document.querySelector("#admin-error").textContent`))
		}
		if w := eval[float64](t, page, `document.documentElement.scrollWidth - window.innerWidth`); w > 1 {
			t.Errorf("%s: the page is %v px wider than the screen", view, w)
		}
	}
}
