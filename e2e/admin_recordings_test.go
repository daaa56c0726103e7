package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// TestAdminPanelRecordings: a call recording kept on the server shows in the
// panel's Files section with who made it, its size and length, and counts
// in the disk use; the admin downloads it and deletes it in two steps, and
// the audit log says so.
func TestAdminPanelRecordings(t *testing.T) {
	dataDir := t.TempDir()
	admin(t, dataDir, "root-password-1\n", "admin", "add", "--id", "root", "--password-stdin")
	zip := bytes.Repeat([]byte("PK-recording-"), 20000)
	now := time.Now().UnixMilli()
	store, err := persistence.OpenPebble(filepath.Join(dataDir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = persistence.PutRecording(store, &pb.RecordingRecord{Id: "rec1", RoomId: "taped-room", State: persistence.RecordingDone,
		CreatedAtMs: now - 125_000, StartedAtMs: now - 124_000, EndedAtMs: now, DurationMs: 124_000, Size: int64(len(zip)),
		ByName: "Agent <i>Ann</i>", SaveServer: true, Node: "another-node"})
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	recDir := filepath.Join(dataDir, "recordings", "taped-room", "rec1")
	if err := os.MkdirAll(recDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(recDir, "recording.zip"), zip, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, dataDir)
	adm := newPage(t, newBrowser(t))
	do(t, adm, chromedp.Navigate(srv.URL+"/admin"))
	waitJS(t, adm, "the admin login form", `document.body.dataset.state === "login"`)
	do(t, adm,
		chromedp.SetValue(chromedp.ID("login-id"), "root"),
		chromedp.SetValue(chromedp.ID("login-password"), "root-password-1"),
		chromedp.Click(chromedp.ID("login-button")))
	waitJS(t, adm, "the panel", `document.body.dataset.state === "panel"`)

	do(t, adm, chromedp.Click(`#admin-nav [data-view="files"]`))
	row := `#recordings-table tr[data-id="rec1"]`
	waitJS(t, adm, "the recording listed", `document.querySelector(`+jsString(row)+`)`)
	text := eval[string](t, adm, `document.querySelector(`+jsString(row)+`).textContent`)
	for _, want := range []string{"taped-room", "done", "Agent <i>Ann</i>", "254 KB", "2:04"} {
		if !strings.Contains(text, want) {
			t.Errorf("recording row lacks %q: %s", want, text)
		}
	}
	if eval[bool](t, adm, `!!document.querySelector("#recordings-table i")`) {
		t.Error("a recorder's name was rendered as HTML")
	}
	waitJS(t, adm, "the disk use with recordings", `document.querySelector("#files-disk").textContent.includes("call recordings 254 KB")`)

	got := eval[string](t, adm, `fetch(document.querySelector(`+jsString(row+` a`)+`).href).then(r => r.status + ":" + r.headers.get("Content-Type") + ":" + r.headers.get("Content-Length"))`)
	if want := "200:application/zip:" + strconv.Itoa(len(zip)); got != want {
		t.Fatalf("download: %s, want %s", got, want)
	}

	del := `#recordings-table [data-confirm="rec1"]`
	do(t, adm, chromedp.Click(del))
	waitJS(t, adm, "the armed delete", `document.querySelector(`+jsString(del)+`)?.dataset.armed === "1"`)
	if _, err := os.Stat(recDir); err != nil {
		t.Fatalf("one click removed the recording: %v", err)
	}
	do(t, adm, chromedp.Click(del))
	waitJS(t, adm, "the recording gone", `!document.querySelector(`+jsString(row)+`)`)
	if _, err := os.Stat(recDir); !os.IsNotExist(err) {
		t.Fatalf("the recording's files are still on disk: %v", err)
	}
	do(t, adm, chromedp.Click(`#admin-nav [data-view="audit"]`))
	waitJS(t, adm, "audit recording.delete", `[...document.querySelectorAll("#audit-table tr")].some(tr =>
		tr.children[2]?.textContent === "recording.delete" && tr.children[3]?.textContent === "taped-room/rec1")`)
}
