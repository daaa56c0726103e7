package persistence

import (
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// The recording index (issue 13) lives under
//
//	recording/<room>/<recording id>   RecordingRecord
//
// so one room's recordings are one prefix scan and every node's are another.

// Recording states kept in RecordingRecord.State.
const (
	RecordingActive      = "recording"
	RecordingDone        = "done"
	RecordingFailed      = "failed"
	RecordingInterrupted = "interrupted"
	RecordingDeleted     = "deleted"
)

// RecordingKey is the key of one recording's index entry.
func RecordingKey(roomID, id string) []byte { return []byte("recording/" + roomID + "/" + id) }

// RecordingPrefix is the prefix of a room's recordings; "" gives every room's.
func RecordingPrefix(roomID string) []byte {
	if roomID == "" {
		return []byte("recording/")
	}
	return []byte("recording/" + roomID + "/")
}

// PutRecording stores a recording's index entry.
func PutRecording(s Store, rec *pb.RecordingRecord) error {
	raw, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	return s.Set(RecordingKey(rec.RoomId, rec.Id), raw)
}

// ListRecordings visits the recordings of a room ("" for all rooms) in key order.
func ListRecordings(s Store, roomID string, fn func(*pb.RecordingRecord) bool) error {
	p := RecordingPrefix(roomID)
	var derr error
	err := s.Scan(p, PrefixEnd(p), false, 0, func(_, v []byte) bool {
		rec := &pb.RecordingRecord{}
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		return fn(rec)
	})
	if err == nil {
		err = derr
	}
	return err
}

// MarkInterrupted marks the recordings this node was still writing when it
// stopped (a crash or kill) as interrupted; their files play up to the last
// cluster written. It returns those it marked.
func MarkInterrupted(s Store, node string, now time.Time) ([]*pb.RecordingRecord, error) {
	var active []*pb.RecordingRecord
	err := ListRecordings(s, "", func(r *pb.RecordingRecord) bool {
		if r.State == RecordingActive && r.Node == node {
			active = append(active, r)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	var marked []*pb.RecordingRecord
	for _, r := range active {
		rec, ok, err := InterruptRecording(s, r.RoomId, r.Id, now)
		if err != nil {
			return nil, err
		}
		if ok {
			marked = append(marked, rec)
		}
	}
	return marked, nil
}

// InterruptRecording marks one recording as interrupted if it is still
// listed as being written, and says whether it did. The write is
// conditional: when a node dies mid-recording, both the room's new node and
// the dead node (should it restart) find the recording, and only the one
// that marks it salvages its files.
func InterruptRecording(s Store, roomID, id string, now time.Time) (*pb.RecordingRecord, bool, error) {
	key := RecordingKey(roomID, id)
	raw, err := s.Get(key)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	rec := &pb.RecordingRecord{}
	if err := proto.Unmarshal(raw, rec); err != nil {
		return nil, false, err
	}
	if rec.State != RecordingActive {
		return rec, false, nil
	}
	rec.State = RecordingInterrupted
	rec.EndedAtMs = now.UnixMilli()
	rec.Error = "The server stopped during the recording; the files end where it stopped."
	next, err := proto.Marshal(rec)
	if err != nil {
		return nil, false, err
	}
	var b Batch
	b.Require(key, raw)
	b.Set(key, next)
	if err := s.Apply(&b); errors.Is(err, ErrConflict) {
		return rec, false, nil
	} else if err != nil {
		return nil, false, err
	}
	return rec, true, nil
}
