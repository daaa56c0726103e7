package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A site owner installs the plugin zip on a real WordPress, sets it up, and
// the contact button and rooms work end to end; when Liveroom hangs, the site
// still answers, with an offline button and a short notice.
func TestWordPressPluginButtonRoomsAndSettings(t *testing.T) {
	tools := needWordPressTools(t)
	dir := shortTempDir(t)
	zip := buildPluginZip(t, dir)

	dataDir := t.TempDir()
	addAgent(t, dataDir, "alice", "Alice Agent", "alice@example.com", "correct horse battery")
	key := addAPIKey(t, dataDir, "alice")
	wpPort := freePort(t)
	wpOrigin := fmt.Sprintf("http://127.0.0.1:%d", wpPort)
	srv := startServer(t, dataDir, "--embed-origins", wpOrigin)

	sock := startMariaDB(t, tools, dir)
	wp := startWordPress(t, tools, dir, sock, wpPort)
	t.Logf("WordPress %s, Liveroom %s", wp.URL, srv.URL)
	browser := newBrowser(t)

	// ---- The site owner logs in and installs the zip from wp-admin.
	owner := newPage(t, browser)
	do(t, owner, chromedp.Navigate(wp.URL+"/wp-login.php"))
	waitJS(t, owner, "the login form", `!!document.querySelector("#user_login")`)
	do(t, owner,
		chromedp.SetValue(chromedp.ID("user_login"), "admin"),
		chromedp.SetValue(chromedp.ID("user_pass"), wpAdminPassword),
		chromedp.Click(chromedp.ID("wp-submit")))
	waitJS(t, owner, "the dashboard", `document.body.classList.contains("wp-admin")`)

	do(t, owner, chromedp.Navigate(wp.URL+"/wp-admin/plugin-install.php?tab=upload"))
	do(t, owner, chromedp.SetUploadFiles(chromedp.CSS(`#pluginzip`), []string{zip}))
	do(t, owner, chromedp.Evaluate[chromedp.Void](`document.querySelector("form.wp-upload-form").submit()`))
	waitJS(t, owner, "the activate link", `!!document.querySelector('a[href*="action=activate"][href*="liveroom"]')`)
	activate := eval[string](t, owner, `document.querySelector('a[href*="action=activate"][href*="liveroom"]').href`)
	do(t, owner, chromedp.Navigate(activate))
	waitJS(t, owner, "the plugin active", `!!document.querySelector('tr.active[data-plugin="liveroom/liveroom.php"]')`)

	// Both blocks register in the block editor (plain scripts, no build step)
	// and draw their placeholders.
	do(t, owner, chromedp.Navigate(wp.URL+"/wp-admin/post-new.php?post_type=page"))
	waitJS(t, owner, "the Liveroom blocks registered", `window.wp && wp.blocks && wp.blocks.getBlockType("liveroom/button") && wp.blocks.getBlockType("liveroom/room")`)
	waitJS(t, owner, "the editor ready", `wp.data.select("core/block-editor") && document.querySelector(".block-editor-block-list__layout")`)
	do(t, owner, chromedp.Evaluate[chromedp.Void](`wp.data.dispatch("core/block-editor").insertBlocks([
		wp.blocks.createBlock("liveroom/button", {text: "Ask"}), wp.blocks.createBlock("liveroom/room", {duration: "30"})])`))
	waitJS(t, owner, "both block placeholders", `document.querySelectorAll(".liveroom-block-placeholder").length === 2`)
	shot(t, owner, "wordpress-editor")

	// ---- Settings: save, and "Test connection" says what is wrong.
	closedPort := freePort(t)
	settings := func(serverURL, agentID, apiKey string) {
		t.Helper()
		do(t, owner, chromedp.Navigate(wp.URL+"/wp-admin/options-general.php?page=liveroom"))
		waitJS(t, owner, "the settings form", `!!document.querySelector("#liveroom-settings")`)
		do(t, owner, chromedp.Evaluate[chromedp.Void](`(() => {
			const f = document.querySelector("#liveroom-settings");
			f.querySelector("#liveroom_server_url").value = `+jsString(serverURL)+`;
			f.querySelector("#liveroom_agent_id").value = `+jsString(agentID)+`;
			f.querySelector("#liveroom_api_key").value = `+jsString(apiKey)+`;
			f.querySelector("#liveroom_sitewide").checked = true;
			f.querySelector("#liveroom_button_text").value = "Ask the shop";
			f.querySelector('input[name="liveroom_settings[offline_mode]"][value="email"]').checked = true;
			f.querySelector("#liveroom_offline_email").value = "alice@example.com";
			f.querySelector("#submit").click(); })()`))
		waitJS(t, owner, "settings saved", `!!document.querySelector("#setting-error-settings_updated")`)
	}
	testConnection := func() (bool, string) {
		t.Helper()
		// Clicked from the page's script: WordPress's admin scripts rework the
		// page after it loads, and a click by node id then finds its node gone
		// (it failed so once beside a CPU hog).
		do(t, owner, chromedp.Evaluate[chromedp.Void](`document.querySelector("#liveroom-test-button").click()`))
		waitJS(t, owner, "the test result", `!!document.querySelector("#liveroom-test-result")`)
		return eval[bool](t, owner, `document.querySelector("#liveroom-test-result").dataset.ok === "1"`),
			eval[string](t, owner, `document.querySelector("#liveroom-test-result").textContent`)
	}
	expectTest := func(wantOK bool, want string) {
		t.Helper()
		ok, msg := testConnection()
		if ok != wantOK || !strings.Contains(msg, want) {
			t.Fatalf("test connection said (ok=%v) %q, want (ok=%v) %q", ok, msg, wantOK, want)
		}
		t.Logf("test connection: %s", strings.TrimSpace(msg))
	}

	settings(fmt.Sprintf("http://127.0.0.1:%d", closedPort), "alice", "lrk_notTheRightKey123")
	expectTest(false, "Server not reachable")
	settings(srv.URL, "alice", "") // an empty key field keeps the saved key
	expectTest(false, "API key refused")
	settings(srv.URL, "bob", key)
	expectTest(false, `belongs to agent "alice"`)
	settings(srv.URL, "alice", "")
	expectTest(true, "Connected: agent Alice Agent (alice) is offline.")
	// The server lets this site frame rooms (embed_origins), so no warning follows.
	if msg := eval[string](t, owner, `document.querySelector("#liveroom-test-result").textContent`); strings.Contains(msg, "cannot be shown") {
		t.Fatalf("test connection warned about framing: %s", msg)
	}
	shot(t, owner, "wordpress-settings")
	// The form kept what was typed, and never shows the key again.
	do(t, owner, chromedp.Navigate(wp.URL+"/wp-admin/options-general.php?page=liveroom"))
	waitJS(t, owner, "the settings form", `!!document.querySelector("#liveroom-settings")`)
	if got := eval[string](t, owner, `[document.querySelector("#liveroom_server_url").value, document.querySelector("#liveroom_agent_id").value,
		document.querySelector("#liveroom_button_text").value, document.querySelector("#liveroom_offline_email").value,
		String(document.querySelector("#liveroom_sitewide").checked), document.querySelector("#liveroom_api_key").value].join("|")`); got != srv.URL+"|alice|Ask the shop|alice@example.com|true|" {
		t.Fatalf("saved settings read back as %q", got)
	}
	if html := eval[string](t, owner, `document.documentElement.outerHTML`); strings.Contains(html, key) {
		t.Fatal("the settings page shows the API key")
	}
	// The admin-post action checks its nonce: a forged form post does nothing.
	if got := eval[string](t, owner, `fetch("/wp-admin/admin-post.php", {method: "POST", body: new URLSearchParams({action: "liveroom_test_connection"})})
		.then(r => r.status + " " + r.url)`); !strings.HasPrefix(got, "403") {
		t.Fatalf("test connection without a nonce answered %s", got)
	}

	// ---- Pages: a shop page (site-wide button), and two room pages.
	ids := strings.Fields(wp.eval(t, `
		$shop = wp_insert_post(array('post_type' => 'page', 'post_status' => 'publish', 'post_title' => 'Blue kettle', 'post_content' => '<p>A kettle that whistles.</p>'));
		$meet = wp_insert_post(array('post_type' => 'page', 'post_status' => 'publish', 'post_title' => 'Meet us', 'post_content' => '[liveroom_room duration="30"]'));
		$book = wp_insert_post(array('post_type' => 'page', 'post_status' => 'publish', 'post_title' => 'Booking', 'post_content' => '<!-- wp:liveroom/room {"start":"2031-05-01 09:00","duration":"45","embed":"no"} /-->'));
		echo get_permalink($shop), ' ', get_permalink($meet), ' ', get_permalink($book);`))
	if len(ids) != 3 {
		t.Fatalf("pages: %v", ids)
	}
	shopURL, meetURL, bookURL := ids[0], ids[1], ids[2]

	// Visitors' HTML carries the button's options, never the key.
	html := httpGetBody(t, http.DefaultClient, shopURL)
	if !strings.Contains(html, `data-agent-id="alice"`) || !strings.Contains(html, srv.URL+"/static/button.js") ||
		!strings.Contains(html, `data-offline_email="alice@example.com"`) || strings.Contains(html, key) {
		t.Fatalf("shop page HTML:\n%s", tail(html, 3000))
	}

	// ---- The button on the WordPress page: visitor and agent meet.
	visitor := newPage(t, browser)
	do(t, visitor, chromedp.Navigate(shopURL))
	waitJS(t, visitor, "the button, offline", presenceIs("offline"))
	shot(t, visitor, "wordpress-button")
	agentPage := newPage(t, browser)
	loginAgent(t, agentPage, srv, "alice", "correct horse battery")
	waitJS(t, visitor, "the button, online", presenceIs("online"))
	if txt := eval[string](t, visitor, btn(`b.querySelector(".fab").textContent`)); !strings.Contains(txt, "Ask the shop") {
		t.Fatalf("button text %q", txt)
	}
	waitJS(t, agentPage, "the WordPress visitor listed", `[...document.querySelectorAll("#visitors li.visitor")].some(v =>
		v.querySelector(".visitor-page").textContent === `+jsString(shopURL)+` && v.querySelector(".visitor-title").textContent.includes("Blue kettle"))`)

	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".fab").click()`)))
	waitJS(t, visitor, "the chat or call choice", btn(`host.dataset.view === "choose"`))
	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`(b.querySelector("#lr-name").value = "Wendy", b.querySelector(".chat").click())`)))
	waitJS(t, visitor, "waiting in line", btn(`host.dataset.view === "waiting"`))
	waitJS(t, agentPage, "the request", `document.querySelector("#requests li.request .item-name")?.textContent === "Wendy"`)
	// Accepting opens the room in a new tab, which goes straight in. Here a
	// popup blocker stops that tab, so the agent uses the page's link.
	eval[bool](t, agentPage, `(window.open = () => null, true)`)
	do(t, agentPage, chromedp.Click(chromedp.CSS(`#requests li.request button.accept`)))
	waitJS(t, agentPage, "the room link", `document.querySelector("#requests a.open-room")`)
	agentLink := eval[string](t, agentPage, `document.querySelector("#requests a.open-room").href`)
	waitJS(t, visitor, "the room is ready", btn(`host.dataset.view === "ready"`))
	visitorLink := eval[string](t, visitor, btn(`b.querySelector("a.join").href`))
	agentRoom := newPage(t, browser)
	joinRoom(t, agentRoom, agentLink, "", "")
	waitJS(t, agentRoom, "agent in the room", `document.body.dataset.state === "joined"`)
	joinRoom(t, visitor, visitorLink, "", "")
	waitJS(t, visitor, "visitor in the room", `document.body.dataset.state === "joined"`)
	waitJS(t, agentRoom, "agent sees Wendy", seesMember("Wendy"))
	sendChat(t, visitor, "Does the kettle whistle?")
	waitJS(t, agentRoom, "the question at the agent", seesMessage("Wendy", "Does the kettle whistle?"))
	sendChat(t, agentRoom, "Loudly.")
	waitJS(t, visitor, "the answer at the visitor", seesMessage("Alice Agent", "Loudly."))

	// ---- [liveroom_room]: a logged-in user gets a room made through the API.
	anon := httpGetBody(t, http.DefaultClient, meetURL)
	if !strings.Contains(anon, `data-state="login"`) || strings.Contains(anon, "<iframe") {
		t.Fatalf("meet page for a visitor who is not logged in:\n%s", tail(anon, 2000))
	}
	do(t, owner, chromedp.Navigate(meetURL))
	waitJS(t, owner, "the room frame", `!!document.querySelector(".liveroom-room iframe")`)
	shot(t, owner, "wordpress-room")
	roomID := eval[string](t, owner, `document.querySelector(".liveroom-room").dataset.roomId`)
	frame := eval[string](t, owner, `document.querySelector(".liveroom-room iframe").src + " " + document.querySelector(".liveroom-room iframe").allow`)
	if !strings.HasPrefix(roomID, "wp-") || frame != srv.URL+"/room/"+roomID+" camera; microphone; display-capture; fullscreen; autoplay" {
		t.Fatalf("room %q frame %q", roomID, frame)
	}
	status, room := apiCall(t, srv, "GET", "/api/v1/rooms/"+roomID, key, "")
	if status != http.StatusOK || room["visitorName"] != "admin" || room["endsAtMs"].(float64)-room["startsAtMs"].(float64) != 30*60*1000 {
		t.Fatalf("the room on the server: %d %v", status, room)
	}
	// The room works inside the WordPress page: the frame's join form joins.
	frames := runBrowser(t, owner, chromedp.Nodes(chromedp.CSS(".liveroom-room iframe")))
	do(t, owner, chromedp.Click(chromedp.CSS("#join-button"), chromedp.FromNode(frames[0])))
	do(t, owner, chromedp.Query(chromedp.CSS(`body[data-state="joined"]`), chromedp.FromNode(frames[0])))

	// Another view of the page reuses the room.
	do(t, owner, chromedp.Navigate(meetURL))
	waitJS(t, owner, "the room frame again", `!!document.querySelector(".liveroom-room iframe")`)
	if again := eval[string](t, owner, `document.querySelector(".liveroom-room").dataset.roomId`); again != roomID {
		t.Fatalf("second view got room %q, first %q", again, roomID)
	}
	_, list := apiCall(t, srv, "GET", "/api/v1/rooms", key, "")
	wpRooms := 0
	for _, r := range list["rooms"].([]any) {
		if strings.HasPrefix(r.(map[string]any)["id"].(string), "wp-") {
			wpRooms++
		}
	}
	if wpRooms != 1 {
		t.Fatalf("%d rooms made for one user and page, want 1", wpRooms)
	}
	// The visitor link works: the user enters the room with their name.
	link := eval[string](t, owner, `document.querySelector("a.liveroom-room-link").href`)
	guest := newPage(t, browser)
	joinRoom(t, guest, link, "", "")
	waitJS(t, guest, "the WordPress user in the room", `document.body.dataset.state === "joined"`)
	if name := eval[string](t, guest, `document.querySelector("#join-name").value`); name != "admin" {
		t.Fatalf("name on the join form %q", name)
	}

	// ---- The dashboard widget: presence and today's room.
	do(t, owner, chromedp.Navigate(wp.URL+"/wp-admin/"))
	waitJS(t, owner, "the Liveroom widget", `!!document.querySelector("#liveroom-dashboard")`)
	shot(t, owner, "wordpress-dashboard")
	if p := eval[string](t, owner, `document.querySelector("#liveroom-dashboard .liveroom-presence")?.dataset.presence || document.querySelector("#liveroom-dashboard").textContent`); p != "online" {
		t.Fatalf("dashboard presence: %q", p)
	}
	if !eval[bool](t, owner, `!!document.querySelector('#liveroom-dashboard li[data-room-id=`+jsString(roomID)+`]')`) {
		t.Fatalf("today's room %s missing from the dashboard: %s", roomID, eval[string](t, owner, `document.querySelector("#liveroom-dashboard").textContent`))
	}

	// ---- Liveroom hangs (stopped, not closed): pages still answer.
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = srv.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	// A new booking needs the API: a short notice instead, after the timeout.
	jar, _ := cookiejar.New(nil)
	ownerHTTP := &http.Client{Jar: jar, Timeout: 60 * time.Second}
	wpLogin(t, ownerHTTP, wp)
	start := time.Now()
	booking := httpGetBody(t, ownerHTTP, bookURL)
	t.Logf("booking page with Liveroom stopped answered in %v", time.Since(start))
	if !strings.Contains(booking, `data-state="unavailable"`) || !strings.Contains(booking, "Booking") {
		t.Fatalf("booking page with Liveroom stopped:\n%s", tail(booking, 2000))
	}
	// The button script cannot load: the page shows an offline button itself.
	late := newPage(t, browser)
	do(t, late, chromedp.Evaluate[chromedp.Void](`location.href = `+jsString(shopURL)))
	waitJS(t, late, "the offline fallback button", `document.querySelector(".liveroom-fallback")?.dataset.presence === "offline" &&
		document.querySelector(".liveroom-fallback").getAttribute("href") === "mailto:alice@example.com"`)
	shot(t, late, "wordpress-fallback")
	resume()
	status, _ = apiCall(t, srv, "GET", "/api/v1/agent", key, "")
	if status != http.StatusOK {
		t.Fatalf("Liveroom after SIGCONT: %d", status)
	}
	// Once Liveroom is back, the booking is made.
	booking = httpGetBody(t, ownerHTTP, bookURL)
	if !strings.Contains(booking, "liveroom-room-link") || strings.Contains(booking, "<iframe class=\"liveroom-room-frame\"") {
		t.Fatalf("booking page after Liveroom came back:\n%s", tail(booking, 2000))
	}

	// A server that does not list the site in embed_origins: the check says so.
	otherDir := t.TempDir()
	addAgent(t, otherDir, "alice", "Alice Agent", "", "another password 1")
	otherKey := addAPIKey(t, otherDir, "alice")
	other := startServer(t, otherDir)
	if got := wp.eval(t, `$r = (new Liveroom_API(`+phpString(other.URL)+`, `+phpString(otherKey)+`))->check('alice');
		echo ($r['ok'] ? 'ok ' : 'fail ') . $r['message'];`); !strings.HasPrefix(got, "ok Connected") ||
		!strings.Contains(got, "Rooms cannot be shown inside your pages yet: start Liveroom with --embed-origins "+wpOrigin) {
		t.Fatalf("check against a server without embed_origins: %s", got)
	}

	// Deleting the plugin removes what it stored (uninstall.php).
	if got := wp.eval(t, `require_once ABSPATH . 'wp-admin/includes/plugin.php';
		echo (get_option('liveroom_api_key') ? 'key' : 'nokey'), ' ', count((array) get_user_meta(1, 'liveroom_rooms', true)), ' ';
		deactivate_plugins('liveroom/liveroom.php');
		uninstall_plugin('liveroom/liveroom.php');
		echo var_export(get_option('liveroom_settings'), true), ' ', var_export(get_option('liveroom_api_key'), true), ' ',
			var_export(get_user_meta(1, 'liveroom_rooms', true), true);`); got != "key 2 false false ''" {
		t.Fatalf("before and after uninstall: %s", got)
	}

	if p := wp.pluginProblems(); len(p) > 0 {
		t.Fatalf("PHP reported problems in the plugin:\n%s", strings.Join(p, "\n"))
	}
}

// phpString quotes s as a PHP single-quoted string literal.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// runBrowser runs one browser action that returns a value.
func runBrowser[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

func httpGetBody(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, tail(string(b), 2000))
	}
	return string(b)
}

// wpLogin logs c in as the site's admin through wp-login.php.
func wpLogin(t *testing.T, c *http.Client, wp *wordpress) {
	t.Helper()
	u, _ := url.Parse(wp.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "wordpress_test_cookie", Value: "WP Cookie check"}})
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(wp.URL+"/wp-login.php", url.Values{"log": {"admin"}, "pwd": {wpAdminPassword},
		"testcookie": {"1"}, "redirect_to": {wp.URL + "/wp-admin/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.CheckRedirect = nil
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("wp-login answered %d", resp.StatusCode)
	}
}
