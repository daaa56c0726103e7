package persistence

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// GetRecord reads the protobuf record at key into rec. It reports false, with
// no error, when the key has no value, so a caller can tell "new" from
// "unreadable".
func GetRecord(s Store, key []byte, rec proto.Message) (bool, error) {
	raw, err := s.Get(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err == nil {
		err = proto.Unmarshal(raw, rec)
	}
	return err == nil, err
}

// ScanChat reads the chat messages stored in [start, end), as Store.Scan
// orders and limits them; an unreadable one ends the scan with its error.
func ScanChat(s Store, start, end []byte, reverse bool, limit int) ([]*pb.ChatMessage, error) {
	var out []*pb.ChatMessage
	var derr error
	err := s.Scan(start, end, reverse, limit, func(_, v []byte) bool {
		m := &pb.ChatMessage{}
		if derr = proto.Unmarshal(v, m); derr != nil {
			return false
		}
		out = append(out, m)
		return true
	})
	return out, errors.Join(err, derr)
}
