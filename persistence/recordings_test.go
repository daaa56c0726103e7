package persistence

import (
	"testing"
	"time"

	"liveroom/proto/pb"
)

// TestMarkInterruptedAfterReopen: recordings this node was writing when it
// died are marked interrupted on the next start; other nodes' running
// recordings and finished ones are left alone.
func TestMarkInterruptedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	for _, r := range []*pb.RecordingRecord{
		{Id: "a", RoomId: "r1", State: RecordingActive, Node: "me"},
		{Id: "b", RoomId: "r1", State: RecordingDone, Node: "me"},
		{Id: "c", RoomId: "r2", State: RecordingActive, Node: "other"},
	} {
		if err := PutRecording(s, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	defer s.Close()
	found, err := MarkInterrupted(s, "me", time.Now())
	if err != nil || len(found) != 1 || found[0].Id != "a" {
		t.Fatalf("marked %v, %v; want only a", found, err)
	}
	states := map[string]string{}
	if err := ListRecordings(s, "", func(r *pb.RecordingRecord) bool { states[r.Id] = r.State; return true }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": RecordingInterrupted, "b": RecordingDone, "c": RecordingActive}
	for id, st := range want {
		if states[id] != st {
			t.Errorf("%s: %s, want %s", id, states[id], st)
		}
	}
	var r1 []string
	_ = ListRecordings(s, "r1", func(r *pb.RecordingRecord) bool { r1 = append(r1, r.Id); return true })
	if len(r1) != 2 {
		t.Errorf("room r1 lists %v, want a and b", r1)
	}
}

// TestInterruptRecordingOnce: when the room's new node and the restarted
// dead node both find a recording cut short, only the first marks it (and
// so only one salvages its files).
func TestInterruptRecordingOnce(t *testing.T) {
	s := openTest(t, t.TempDir())
	defer s.Close()
	if err := PutRecording(s, &pb.RecordingRecord{Id: "a", RoomId: "r1", State: RecordingActive, Node: "dead"}); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := InterruptRecording(s, "r1", "a", time.Now())
	if err != nil || !ok || rec.State != RecordingInterrupted {
		t.Fatalf("first: %v %v %v", rec, ok, err)
	}
	if found, err := MarkInterrupted(s, "dead", time.Now()); err != nil || len(found) != 0 {
		t.Fatalf("the restarted node marked %v again (%v)", found, err)
	}
	if _, ok, err := InterruptRecording(s, "r1", "a", time.Now()); err != nil || ok {
		t.Fatalf("second: %v %v", ok, err)
	}
	if _, ok, err := InterruptRecording(s, "r1", "missing", time.Now()); err != nil || ok {
		t.Fatalf("unknown recording: %v %v", ok, err)
	}
}
