package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestContactButtonVisitorSessionAcrossPageLoads: a visitor opens two pages
// of a site that carries the contact button, one after the other in one tab.
// The button's first-party cookie names one visitor session, so the agent
// page lists the visitor once more with both pages of its visit; a second
// tab of the same browser joins that entry instead of making another.
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

	// A second tab of the same browser is the same visitor: one entry with
	// both tabs' pages; when the tab closes, the entry is back to one page.
	// (The tab is a page of its own with the first one's cookie: what makes
	// two tabs one visitor is that cookie, and headless Chromium does not
	// run a second tab of one profile in the foreground.)
	tab, closeTab := openPage(t, browser)
	_, vid, _ := strings.Cut(cookie, "liveroom_vid=")
	vid, _, _ = strings.Cut(vid, ";")
	if _, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{Name: "liveroom_vid", Value: vid, URL: site}); err != nil {
		t.Fatal(err)
	}
	do(t, tab, chromedp.Navigate(site))
	waitJS(t, tab, "the button in the second tab, online", presenceIs("online"))
	waitJS(t, agentPage, "one visitor with two tabs", `(() => {
		const v = document.querySelectorAll("#visitors li.visitor");
		if (v.length !== 1) return false;
		const open = [...v[0].querySelectorAll(".visitor-page")].map((a) => a.textContent);
		return /^2 tabs$/.test(v[0].querySelector(".visitor-tabs")?.textContent || "") &&
			open.length === 2 && open.includes(`+jsString(site)+`) && open.includes(`+jsString(second)+`); })()`)
	closeTab()
	waitJS(t, agentPage, "one visitor with one tab again", `(() => {
		const v = document.querySelectorAll("#visitors li.visitor");
		return v.length === 1 && !v[0].querySelector(".visitor-tabs") && v[0].querySelectorAll(".visitor-page").length === 1; })()`)
}
