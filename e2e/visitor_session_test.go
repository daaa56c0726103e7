package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestContactButtonVisitorSessionAcrossPageLoads: a visitor opens two pages
// of a site that carries the contact button, one after the other in one tab.
// The button's first-party cookie names one visitor session, so the agent
// page lists the visitor once more with both pages of its visit.
func TestContactButtonVisitorSessionAcrossPageLoads(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "alice", "Alice Agent", "", "correct horse battery")
	srv := startServer(t, dataDir)
	site := hostSite(t, srv, `data-agent-id="alice"`)
	second := strings.Replace(site, "/shop/kettle?id=7", "/shop/cart", 1)
	browser := newBrowser(t)

	agentPage := newPage(t, browser)
	loginAgent(t, agentPage, srv, "alice", "correct horse battery")

	visitor := newPage(t, browser)
	do(t, visitor, chromedp.Navigate(site))
	waitJS(t, visitor, "the button, online", presenceIs("online"))
	waitJS(t, agentPage, "the visitor with its first page", `(() => {
		const v = document.querySelectorAll("#visitors li.visitor");
		return v.length === 1 && v[0].querySelectorAll(".visitor-pages li").length === 1; })()`)
	cookie := eval[string](t, visitor, `document.cookie`)
	if !strings.Contains(cookie, "liveroom_vid=") {
		t.Fatalf("the button set no session cookie: %q", cookie)
	}

	do(t, visitor, chromedp.Navigate(second))
	defer func() {
		if t.Failed() {
			t.Logf("visitors shown: %s", eval[string](t, agentPage, `JSON.stringify([...document.querySelectorAll("#visitors li.visitor")].map((v) => [...v.querySelectorAll(".visitor-pages li a")].map((a) => a.href)))`))
		}
	}()
	waitJS(t, visitor, "the button on the second page, online", presenceIs("online"))
	waitJS(t, agentPage, "one visitor with both pages", `(() => {
		const v = document.querySelectorAll("#visitors li.visitor");
		if (v.length !== 1) return false;
		const pages = [...v[0].querySelectorAll(".visitor-pages li a")].map((a) => a.href);
		return pages.length === 2 && pages[0] === `+jsString(second)+` && pages[1] === `+jsString(site)+`; })()`)
	if got := eval[string](t, agentPage, `document.querySelector("#visitors .visitor-session .muted").textContent`); !strings.HasPrefix(got, "2 page loads") {
		t.Fatalf("session facts shown as %q", got)
	}
	if eval[string](t, visitor, `document.cookie`) != cookie {
		t.Fatal("the session cookie changed between page loads")
	}
}
