package persistence

import (
	"errors"

	"google.golang.org/protobuf/proto"
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
