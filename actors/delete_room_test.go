package actors_test

import (
	"fmt"
	"testing"

	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Deleting a room with a long history must not gather its keys in memory:
// it deletes by range, and leaves nothing of the room behind.
func TestDeleteRoomDeletesByRange(t *testing.T) {
	var counting *countingStore
	n := startNodeOn(t, t.TempDir(), func(s persistence.Store) persistence.Store {
		counting = &countingStore{Store: s}
		return counting
	})
	createRoom(t, n, "big", "")
	createRoom(t, n, "big-2", "") // shares the id's first bytes; must survive
	c := newClient(t, n)
	mustJoin(t, n, c, &pb.JoinRequest{RoomId: "big", Name: "Vic"})
	const messages = 300
	for i := 0; i < messages; i++ {
		say(t, n, "big", c, fmt.Sprint("message ", i))
	}
	c2 := newClient(t, n)
	mustJoin(t, n, c2, &pb.JoinRequest{RoomId: "big-2", Name: "Vic"})
	say(t, n, "big-2", c2, "stays")
	for _, r := range []string{"big", "big-2"} {
		if err := persistence.PutRecording(n.store, &pb.RecordingRecord{Id: "rec", RoomId: r, State: persistence.RecordingDone}); err != nil {
			t.Fatal(err)
		}
	}
	before := counting.largestBatch()

	res, err := n.Cluster.Request("big", room.Kind, &pb.DeleteRoom{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := res.(*pb.DeleteRoomResult); r == nil || r.Error != nil {
		t.Fatalf("delete: %v", res)
	}
	if got := counting.largestBatch(); got > before {
		t.Errorf("deleting the room wrote a batch of %d operations; want range deletes", got)
	}
	for _, p := range [][]byte{persistence.ChatPrefix("big"), persistence.FilePrefix("big"), persistence.EntryPrefix("big"),
		persistence.RecordingPrefix("big")} {
		_ = n.store.Scan(p, persistence.PrefixEnd(p), false, 0, func(k, _ []byte) bool {
			t.Errorf("key %q left after delete", k)
			return false
		})
	}
	if _, err := n.store.Get(persistence.RoomKey("big")); err != persistence.ErrNotFound {
		t.Errorf("room record: %v, want ErrNotFound", err)
	}
	left := 0
	p := persistence.ChatPrefix("big-2")
	_ = n.store.Scan(p, persistence.PrefixEnd(p), false, 0, func(_, _ []byte) bool { left++; return true })
	if left != 1 {
		t.Errorf("room big-2 has %d messages, want 1", left)
	}
	if _, err := n.store.Get(persistence.RecordingKey("big-2", "rec")); err != nil {
		t.Errorf("room big-2's recording: %v", err)
	}
}
