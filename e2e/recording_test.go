package e2e

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// recordingFlags turn recording on for a test server; the disk floor is low
// so a nearly full test machine still records.
var recordingFlags = []string{"--recording=true", "--recording-min-free-mb", "1"}

// recordedCall is a server with recording on and a video call between the
// agent (Ann) and a visitor (Bob), both decoding each other.
func recordedCall(t *testing.T, srv *server, visitorLink, agentLink string) (agent, visitor context.Context) {
	t.Helper()
	b := newBrowser(t)
	agent, visitor = newPage(t, b), newPage(t, b)
	joinAs(t, agent, agentLink, "Ann")
	visitorID := joinAs(t, visitor, visitorLink, "Bob")
	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	waitGrowing(t, agent, "visitor video", visitorID, "video", "framesDecoded")
	return agent, visitor
}

// downloadsTo lets the page's browser context save downloads into dir.
func downloadsTo(t *testing.T, page context.Context, dir string) {
	t.Helper()
	id := chromedp.FromContext(page).BrowserContextID
	do(t, page, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: id, DownloadPath: dir,
		})
		return err
	}))
}

// waitForFile waits for a finished download whose name ends with suffix.
func waitForFile(t *testing.T, dir, suffix string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), suffix) {
				return filepath.Join(dir, e.Name())
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no *%s in %s after %v", suffix, dir, within)
	return ""
}

type probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobeFile(t *testing.T, path string) (kinds map[string]int, seconds float64) {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal("ffprobe is needed (Debian package ffmpeg; see scripts/deps.sh)")
	}
	out, err := exec.Command(bin, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	kinds = map[string]int{}
	for _, s := range p.Streams {
		kinds[s.CodecType]++
	}
	seconds, _ = strconv.ParseFloat(p.Format.Duration, 64)
	return kinds, seconds
}

// lastPacket is the time of the last packet ffprobe can read from the file:
// how far a player gets.
func lastPacket(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	last := 0.0
	for _, l := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.Trim(l, ","), 64); err == nil && v > last {
			last = v
		}
	}
	return last
}

// unzipOne extracts name from the zip into dir.
func unzipOne(t *testing.T, zipPath, name, dir string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		src, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		out := filepath.Join(dir, filepath.Base(name))
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("%s is not in the zip", name)
	return ""
}

// waitJSFor is waitJS with a longer deadline, for steps that run ffmpeg.
func waitJSFor(t *testing.T, page context.Context, within time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(page, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool]("(async () => !!(await ("+js+")))()", chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: not true after %v\npage: %s", what, within, pageText(page))
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const indicatorRecording = `(() => { const b = document.querySelector("#recording-indicator");
	return b && !b.hidden && /Recording \d\d:\d\d/.test(b.textContent); })()`

const indicatorGone = `(() => { const b = document.querySelector("#recording-indicator"); return b && b.hidden; })()`

// The agent records a video call; the visitor sees the indicator; when the
// agent stops, the recording downloads in the agent's browser and holds a
// mixed file with video and audio.
func TestRecordingDownloadsInTheAgentsBrowser(t *testing.T) {
	srv := startServer(t, t.TempDir(), recordingFlags...)
	visitorLink, agentLink := createRoomLinks(t, srv, "recorded")
	agent, visitor := recordedCall(t, srv, visitorLink, agentLink)
	downloads := t.TempDir()
	downloadsTo(t, agent, downloads)

	// Visitors may not record unless the room allows it: no button for them,
	// and the server refuses the frame.
	if eval[bool](t, visitor, `!document.querySelector("#record-btn").hidden`) {
		t.Fatal("the visitor is offered a record button")
	}
	refused := eval[string](t, visitor, `window.liveroomCall.wireOf().request({recording: {start: true}}).then(() => "accepted", e => e.code || e.message)`)
	if refused != "not_allowed" {
		t.Fatalf("a visitor's recording request got %q, want not_allowed", refused)
	}

	do(t, agent, chromedp.Click(chromedp.ID("record-btn")))
	waitJS(t, visitor, "the recording indicator at the visitor", indicatorRecording)
	waitJS(t, agent, "the recording indicator at the agent", indicatorRecording)
	time.Sleep(8 * time.Second)
	do(t, agent, chromedp.Click(chromedp.ID("record-btn")))
	waitJS(t, visitor, "the indicator cleared", indicatorGone)

	zipPath := waitForFile(t, downloads, ".zip", 3*time.Minute)
	mixed := unzipOne(t, zipPath, "mixed.webm", t.TempDir())
	kinds, seconds := ffprobeFile(t, mixed)
	t.Logf("mixed.webm: %v, %.2fs", kinds, seconds)
	if kinds["video"] != 1 || kinds["audio"] != 1 {
		t.Fatalf("mixed file has streams %v, want one video and one audio", kinds)
	}
	if seconds < 5 || seconds > 20 {
		t.Fatalf("mixed file lasts %.2fs; about 8s were recorded", seconds)
	}
	var m struct {
		Tracks []struct{ Member, Kind string }
	}
	raw, err := os.ReadFile(unzipOne(t, zipPath, "manifest.json", t.TempDir()))
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil || len(m.Tracks) < 4 {
		t.Fatalf("manifest: %v, tracks %+v (want audio and video of both)", err, m.Tracks)
	}
	// Operators see what was written and that nothing is recording now.
	metrics := getText(t, srv.URL+"/metrics")
	for _, want := range []string{"liveroom_recordings_active 0", "liveroom_recording_errors_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`liveroom_recorded_bytes_total [1-9]`).MatchString(metrics) {
		t.Error("/metrics shows no recorded bytes")
	}
	// A clean exit also says the race detector found nothing.
	srv.stop()
}

// With recording_auto_start the recording starts as soon as the call is
// established, and ends with the call.
func TestRecordingStartsWithTheCall(t *testing.T) {
	srv := startServer(t, t.TempDir(), append(recordingFlags, "--recording-auto-start=true", "--recording-download=false")...)
	visitorLink, agentLink := createRoomLinks(t, srv, "autorec")
	agent, visitor := recordedCall(t, srv, visitorLink, agentLink)
	waitJS(t, visitor, "the recording indicator at the visitor", indicatorRecording)
	time.Sleep(3 * time.Second)
	do(t, agent, chromedp.Click(chromedp.ID("hangup-btn")))
	do(t, visitor, chromedp.Click(chromedp.ID("hangup-btn")))
	waitJS(t, visitor, "the indicator cleared", indicatorGone)
	// Without recording_download the agent is offered a link.
	// Finishing runs ffmpeg (mix, participant files): allow a busy machine time.
	waitJSFor(t, agent, 3*time.Minute, "the recording link", `(() => { const a = document.querySelector("#recording-link");
		return a && a.offsetParent !== null && a.getBoundingClientRect().height > 0; })()`)
	href := eval[string](t, agent, `document.querySelector("#recording-link").href`)
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("recording link: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The link carries the agent's token; without it there is nothing.
	bare, err := http.Get(strings.Split(href, "?")[0])
	if err != nil {
		t.Fatal(err)
	}
	bare.Body.Close()
	if bare.StatusCode != http.StatusNotFound {
		t.Fatalf("recording without a token: %d, want 404", bare.StatusCode)
	}
	srv.stop()
}

// Killing the server mid-recording leaves files that play up to where it
// stopped, and the restarted server lists the recording as interrupted.
func TestRecordingSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "ann", "Ann", "", "secret-pw-1")
	key := addAPIKey(t, dir, "ann")
	srv := startServer(t, dir, recordingFlags...)
	status, room := apiCall(t, srv, "POST", "/api/v1/rooms", key, `{"id":"killed","visitorName":"Bob","agentName":"Ann"}`)
	if status != http.StatusCreated {
		t.Fatalf("create room: %d %v", status, room)
	}
	agent, visitor := recordedCall(t, srv, room["visitorUrl"].(string), room["agentUrl"].(string))
	do(t, agent, chromedp.Click(chromedp.ID("record-btn")))
	waitJS(t, visitor, "the recording indicator", indicatorRecording)
	time.Sleep(5 * time.Second)

	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv2 := startServer(t, dir, recordingFlags...)

	// Every track written so far is readable.
	files, _ := filepath.Glob(filepath.Join(dir, "recordings", "killed", "*", "tracks", "*.webm"))
	if len(files) < 2 {
		t.Fatalf("track files after the kill: %v", files)
	}
	kinds := map[string]int{}
	for _, f := range files {
		k, _ := ffprobeFile(t, f)
		last := lastPacket(t, f)
		t.Logf("%s: %v, packets up to %.2fs", filepath.Base(f), k, last)
		// About 5 s were recorded before the kill; the tracks start within
		// a second or two of each other.
		if last < 2.5 {
			t.Errorf("%s: readable only up to %.2fs of about 5s", filepath.Base(f), last)
		}
		for kind, n := range k {
			kinds[kind] += n
		}
	}
	if kinds["video"] < 1 || kinds["audio"] < 1 {
		t.Fatalf("streams readable after the kill: %v", kinds)
	}

	// The agent page lists it as interrupted; what was recorded is salvaged
	// into the usual zip, which the agent downloads and then deletes.
	page := newPage(t, newBrowser(t))
	loginAgent(t, page, srv2, "ann", "secret-pw-1")
	waitJSFor(t, page, 3*time.Minute, "the interrupted recording listed, salvaged",
		`[...document.querySelectorAll("#recordings li")].some(li => /interrupted/.test(li.textContent) && li.querySelector("a[download]"))`)
	href := eval[string](t, page, `document.querySelector("#recordings li a[download]").href`)
	c := agentClient(t, srv2, "ann", "secret-pw-1")
	resp, err := c.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(t.TempDir(), "rec.zip")
	out, _ := os.Create(zipPath)
	_, err = io.Copy(out, resp.Body)
	resp.Body.Close()
	out.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download of the interrupted recording: %d %v", resp.StatusCode, err)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	if !strings.Contains(strings.Join(names, " "), "tracks/") || !strings.Contains(strings.Join(names, " "), "manifest.json") {
		t.Fatalf("salvaged zip holds %v", names)
	}
	if mixed := unzipOne(t, zipPath, "mixed.webm", t.TempDir()); mixed != "" {
		kinds, seconds := ffprobeFile(t, mixed)
		t.Logf("salvaged mixed.webm: %v, %.2fs", kinds, seconds)
		if kinds["video"] != 1 || kinds["audio"] != 1 || seconds < 3 {
			t.Fatalf("salvaged mix: %v, %.2fs", kinds, seconds)
		}
	}

	do(t, page, chromedp.Click(chromedp.CSS(`#recordings li button`)))
	waitJS(t, page, "the recording gone from the list", `document.querySelectorAll("#recordings li").length === 0`)
	if left, _ := filepath.Glob(filepath.Join(dir, "recordings", "killed", "*", "*")); len(left) != 0 {
		t.Fatalf("files left after delete: %v", left)
	}
}

// On a disk with less free space than recording_min_free_mb the recording
// does not start: the agent is told why, nobody sees an indicator, and the
// call goes on.
func TestRecordingRefusedOnAFullDisk(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--recording=true", "--recording-min-free-mb", "1000000000")
	visitorLink, agentLink := createRoomLinks(t, srv, "fulldisk")
	agent, visitor := recordedCall(t, srv, visitorLink, agentLink)
	do(t, agent, chromedp.Click(chromedp.ID("record-btn")))
	waitJS(t, agent, "the reason at the agent",
		`(() => { const n = document.querySelector("#recording-notice"); return n && !n.hidden && /disk/.test(n.textContent); })()`)
	waitJS(t, visitor, "no indicator at the visitor", indicatorGone)
	waitJS(t, agent, "no indicator at the agent", indicatorGone)
	memberID := eval[string](t, visitor, `window.liveroomCall.memberIdOf()`)
	waitGrowing(t, agent, "the call going on", memberID, "video", "framesDecoded")
}
