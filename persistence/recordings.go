package persistence

import (
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
// cluster written. It returns them.
func MarkInterrupted(s Store, node string, now time.Time) ([]*pb.RecordingRecord, error) {
	var found []*pb.RecordingRecord
	err := ListRecordings(s, "", func(r *pb.RecordingRecord) bool {
		if r.State == RecordingActive && r.Node == node {
			found = append(found, r)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	for _, r := range found {
		r.State = RecordingInterrupted
		r.EndedAtMs = now.UnixMilli()
		r.Error = "The server stopped during the recording; the files end where it stopped."
		if err := PutRecording(s, r); err != nil {
			return nil, err
		}
	}
	return found, nil
}
