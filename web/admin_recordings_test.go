package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// seedRecording writes a recording's index entry, and its zip when content
// is given, into a data folder before the node starts.
func seedRecording(t *testing.T, dir string, rec *pb.RecordingRecord, content []byte) {
	t.Helper()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := persistence.PutRecording(store, rec); err != nil {
		t.Fatal(err)
	}
	if content == nil {
		return
	}
	rdir := filepath.Join(dir, "recordings", rec.RoomId, rec.Id)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rdir, "recording.zip"), content, 0o644); err != nil {
		t.Fatal(err)
	}
}

type listedRecording struct {
	ID, Room, State, By, URL string
	Size, DurationMs         int64
	CreatedAtMs              int64
}

func listRecordings(t *testing.T, c *caller, url string) (recs map[string]listedRecording, diskBytes int64) {
	t.Helper()
	status, body := c.do(t, "GET", url, "")
	if status != 200 {
		t.Fatalf("%s %s: %d %s", c.name, url, status, body)
	}
	var res struct {
		Recordings []listedRecording
		DiskBytes  int64
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	recs = map[string]listedRecording{}
	for _, r := range res.Recordings {
		recs[r.ID] = r
	}
	return recs, res.DiskBytes
}

// TestAdminRecordings: a supervisor lists every room's recordings with
// who made them, downloads one that is not theirs, sees their bytes in the
// disk use, and deletes one in two steps (audited); a running recording
// cannot be deleted; the owning agent's list loses the deleted one too.
func TestAdminRecordings(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	zip := bytes.Repeat([]byte("PK-recording-"), 4000)
	now := time.Now().UnixMilli()
	seedRecording(t, dir, &pb.RecordingRecord{Id: "rec1", RoomId: "room1", State: persistence.RecordingDone,
		CreatedAtMs: now - 60_000, StartedAtMs: now - 59_000, EndedAtMs: now, DurationMs: 59_000, Size: int64(len(zip)),
		ByMember: "m1", ByName: "Agent Ann", SaveServer: true, OwnerAgentId: "agent1", Node: "elsewhere"}, zip)
	seedRecording(t, dir, &pb.RecordingRecord{Id: "rec2", RoomId: "room2", State: persistence.RecordingActive,
		CreatedAtMs: now, ByName: "Visitor Vic", SaveServer: true, OwnerAgentId: "agent1", Node: "elsewhere"}, nil)
	seedRecording(t, dir, &pb.RecordingRecord{Id: "rec3", RoomId: "room1", State: persistence.RecordingDone,
		CreatedAtMs: now, DurationMs: 1000, Size: 3, ByName: "Agent Ann", SaveServer: true, OwnerAgentId: "agent1",
		Node: "elsewhere"}, []byte("zip"))
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	admin := &caller{name: "admin", client: loggedIn(t, srv.URL, "root", "root-password")}
	for _, a := range []string{`{"id":"sup","role":"supervisor","password":"sup-password"}`, `{"id":"agent1","password":"agent1-password"}`} {
		if status, body := admin.do(t, "POST", srv.URL+"/api/admin/agents", a); status != 201 {
			t.Fatalf("create %s: %d %s", a, status, body)
		}
	}
	sup := &caller{name: "supervisor", client: loggedIn(t, srv.URL, "sup", "sup-password")}
	owner := &caller{name: "agent1", client: loggedIn(t, srv.URL, "agent1", "agent1-password")}

	recs, disk := listRecordings(t, sup, srv.URL+"/api/admin/recordings")
	r1 := recs["rec1"]
	if r1.Room != "room1" || r1.State != "done" || r1.By != "Agent Ann" || r1.Size != int64(len(zip)) ||
		r1.DurationMs != 59_000 || r1.CreatedAtMs != now-60_000 || r1.URL != "/api/admin/recordings/room1/rec1" {
		t.Fatalf("rec1 listed as %+v", r1)
	}
	if r2 := recs["rec2"]; r2.State != "recording" || r2.URL != "" {
		t.Fatalf("rec2 listed as %+v", r2)
	}
	if disk < int64(len(zip)) {
		t.Fatalf("recordings disk use %d, the zip alone is %d", disk, len(zip))
	}
	if only, _ := listRecordings(t, sup, srv.URL+"/api/admin/recordings?room=room2"); len(only) != 1 || only["rec2"].ID == "" {
		t.Fatalf("room2's recordings: %+v", only)
	}
	status, body := sup.do(t, "GET", srv.URL+"/api/admin/files", "")
	var files struct{ DiskBytes, RecordingBytes int64 }
	_ = json.Unmarshal(body, &files)
	if status != 200 || files.RecordingBytes < int64(len(zip)) || files.DiskBytes < files.RecordingBytes {
		t.Fatalf("files disk use: %d %s", status, body)
	}

	// A supervisor downloads a recording of a room they do not own.
	status, body = sup.do(t, "GET", srv.URL+r1.URL, "")
	if status != 200 || !bytes.Equal(body, zip) {
		t.Fatalf("download: %d, %d bytes of %d", status, len(body), len(zip))
	}

	// Deleting: a running recording is refused, the confirmation is needed.
	if status, body := sup.do(t, "DELETE", srv.URL+"/api/admin/recordings/room2/rec2?confirm=rec2", ""); status != http.StatusConflict {
		t.Fatalf("delete running: %d %s", status, body)
	}
	if status, body := sup.do(t, "DELETE", srv.URL+"/api/admin/recordings/room1/rec1", ""); status != http.StatusPreconditionRequired {
		t.Fatalf("delete unconfirmed: %d %s", status, body)
	}
	if status, body := sup.do(t, "DELETE", srv.URL+"/api/admin/recordings/room1/rec1?confirm=rec2", ""); status != http.StatusPreconditionRequired {
		t.Fatalf("delete confirmed for another id: %d %s", status, body)
	}
	if mine, _ := listRecordings(t, owner, srv.URL+"/api/agent/recordings"); mine["rec1"].URL != "/recordings/room1/rec1" {
		t.Fatalf("the owner's list before: %+v", mine)
	}
	if status, body := sup.do(t, "DELETE", srv.URL+"/api/admin/recordings/room1/rec1?confirm=rec1", ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", "room1", "rec1")); !os.IsNotExist(err) {
		t.Fatalf("the recording's files are still there: %v", err)
	}
	if recs, _ := listRecordings(t, admin, srv.URL+"/api/admin/recordings"); recs["rec1"].ID != "" {
		t.Fatalf("deleted recording still listed: %+v", recs)
	}
	if mine, _ := listRecordings(t, owner, srv.URL+"/api/agent/recordings"); mine["rec1"].ID != "" || mine["rec2"].ID == "" {
		t.Fatalf("the owner's list after: %+v", mine)
	}
	// The agent page's delete is the same removal, limited to the owner's.
	for _, c := range []struct {
		path string
		want int
	}{{"room1/rec1", 404}, {"room2/rec2", 409}, {"room1/rec3", 204}} {
		if status, body := owner.do(t, "DELETE", srv.URL+"/api/agent/recordings/"+c.path, ""); status != c.want {
			t.Fatalf("owner deleting %s: %d %s, want %d", c.path, status, body, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", "room1", "rec3")); !os.IsNotExist(err) {
		t.Fatalf("the owner's deleted recording is still on disk: %v", err)
	}
	if status, _ := sup.do(t, "GET", srv.URL+r1.URL, ""); status != http.StatusNotFound {
		t.Fatalf("download after delete: %d", status)
	}
	status, body = admin.do(t, "GET", srv.URL+"/api/admin/audit?q=recording.delete", "")
	if status != 200 || !strings.Contains(string(body), `"actor":"sup"`) || !strings.Contains(string(body), `"target":"room1/rec1"`) {
		t.Fatalf("audit: %d %s", status, body)
	}
}
