package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// FuzzAdminCursor: a cursor comes from the client; whatever it holds, a
// page only ever returns records under its own prefix, after the cursor,
// and never panics. The seed corpus runs in the normal suite.
func FuzzAdminCursor(f *testing.F) {
	store, err := persistence.OpenPebble(filepath.Join(f.TempDir(), "store"), zap.NewNop(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	for _, id := range []string{"a", "b", "c", "ab"} {
		raw, _ := proto.Marshal(&pb.RoomRecord{Id: id})
		if err := store.Set(persistence.RoomKey(id), raw); err != nil {
			f.Fatal(err)
		}
	}
	_ = store.Set(persistence.AgentKey("zz"), []byte("not a room"))
	for _, seed := range []string{"", "cm9vbS9h", "cm9vbS8", "YWdlbnQvenp6", "!!!", "cm9vbS9i\x00", fmt.Sprint(bytes.Repeat([]byte("A"), 400))} {
		f.Add(seed, 2)
	}
	f.Fuzz(func(t *testing.T, cursor string, limit int) {
		limit = min(max(limit, 1), 10)
		recs, next, err := page(store, persistence.RoomPrefix(), cursor, limit, 100,
			func() *pb.RoomRecord { return &pb.RoomRecord{} }, func([]byte, *pb.RoomRecord) bool { return true })
		if err != nil {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
		if len(recs) > limit {
			t.Fatalf("%d records for limit %d", len(recs), limit)
		}
		after, _ := base64.RawURLEncoding.DecodeString(cursor)
		for _, r := range recs {
			k := persistence.RoomKey(r.Id)
			if bytes.HasPrefix(after, persistence.RoomPrefix()) && bytes.Compare(k, after) <= 0 {
				t.Fatalf("cursor %q returned %q, not after it", cursor, k)
			}
		}
		if next != "" {
			if n, err := base64.RawURLEncoding.DecodeString(next); err != nil || !bytes.HasPrefix(n, persistence.RoomPrefix()) {
				t.Fatalf("next cursor %q is not under the prefix", next)
			}
		}
	})
}
