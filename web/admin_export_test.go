package web_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/audit"
	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// TestExportsStreamEveryRecordAcrossChunks: exports larger than one store
// chunk come out whole, in order, as CSV and as JSON, and ?limit= bounds them.
func TestExportsStreamEveryRecordAcrossChunks(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 700
	var b persistence.Batch
	for i := 1; i <= n; i++ {
		raw, _ := proto.Marshal(&pb.ChatMessage{RoomId: "big", Seq: uint64(i), Name: "Pat", Role: pb.Role_ROLE_VISITOR,
			Text: "=line " + strconv.Itoa(i), SentAtMs: int64(i)})
		b.Set(persistence.ChatKey("big", uint64(i)), raw)
	}
	if err := store.Apply(&b); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := audit.Write(store, &pb.AuditRecord{AtMs: int64(i), Actor: "seed", Action: "test.step", Target: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	admin := &caller{name: "admin", client: loggedIn(t, srv.URL, "root", "root-password")}

	status, body := admin.do(t, "GET", srv.URL+"/api/admin/rooms/big/export?format=csv", "")
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if status != http.StatusOK || err != nil || len(rows) != n+1 {
		t.Fatalf("room CSV: %d, %v, %d rows", status, err, len(rows))
	}
	for i, r := range rows[1:] {
		// A cell a spreadsheet would run as a formula is quoted.
		if r[1] != strconv.Itoa(i+1) || r[6] != "'=line "+strconv.Itoa(i+1) {
			t.Fatalf("row %d = %q", i+1, r)
		}
	}
	status, body = admin.do(t, "GET", srv.URL+"/api/admin/chat/export?q=line&format=json&limit=650", "")
	var msgs []map[string]any
	if status != http.StatusOK || json.Unmarshal(body, &msgs) != nil || len(msgs) != 650 {
		t.Fatalf("search JSON: %d, %d messages", status, len(msgs))
	}

	status, body = admin.do(t, "GET", srv.URL+"/api/admin/audit/export?q=test.step&format=csv", "")
	rows, err = csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if status != http.StatusOK || err != nil || len(rows) != n+1 {
		t.Fatalf("audit CSV: %d, %v, %d rows", status, err, len(rows))
	}
	for i, r := range rows[1:] { // newest first
		if r[4] != strconv.Itoa(n-i) {
			t.Fatalf("audit row %d = %q, want target %d", i+1, r, n-i)
		}
	}
}
