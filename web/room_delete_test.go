package web_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Deleting a room takes its recordings with it (index entries and zips on
// disk), and only its own: another room whose id starts the same keeps its.
func TestDeletingARoomDeletesItsRecordings(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	now := time.Now().UnixMilli()
	for _, room := range []string{"gone", "gone-2"} {
		seedRecording(t, dir, &pb.RecordingRecord{Id: "rec-" + room, RoomId: room, State: persistence.RecordingDone,
			CreatedAtMs: now, DurationMs: 1000, Size: 3, ByName: "Agent Ann", SaveServer: true,
			OwnerAgentId: "agent1", Node: "elsewhere"}, []byte("zip"))
	}
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	admin := &caller{name: "admin", client: loggedIn(t, srv.URL, "root", "root-password")}
	if status, body := admin.do(t, "POST", srv.URL+"/api/admin/agents", `{"id":"agent1","password":"agent1-password"}`); status != 201 {
		t.Fatalf("create agent: %d %s", status, body)
	}
	owner := &caller{name: "agent1", client: loggedIn(t, srv.URL, "agent1", "agent1-password")}
	if status, body := owner.do(t, "POST", srv.URL+"/api/agent/rooms", `{"id":"gone"}`); status != http.StatusCreated {
		t.Fatalf("create room: %d %s", status, body)
	}
	if mine, _ := listRecordings(t, owner, srv.URL+"/api/agent/recordings"); len(mine) != 2 {
		t.Fatalf("the owner's recordings before: %+v", mine)
	}
	if status, body := owner.do(t, "DELETE", srv.URL+"/api/agent/rooms/gone", ""); status != http.StatusNoContent {
		t.Fatalf("delete room: %d %s", status, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", "gone")); !os.IsNotExist(err) {
		t.Fatalf("the deleted room's recordings are still on disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", "gone-2", "rec-gone-2", "recording.zip")); err != nil {
		t.Fatalf("another room's recording went too: %v", err)
	}
	recs, _ := listRecordings(t, admin, srv.URL+"/api/admin/recordings")
	if len(recs) != 1 || recs["rec-gone-2"].Room != "gone-2" {
		t.Fatalf("recordings listed after the delete: %+v", recs)
	}
}
