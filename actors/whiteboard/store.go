package whiteboard

import (
	"errors"

	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Load rebuilds a room's board from the store: the latest snapshot, then
// every op after it in seq order. It also returns how many ops it replayed.
func Load(s persistence.Store, roomID string, lim Limits) (*Board, int, error) {
	b := NewBoard()
	snap := &pb.WbBoard{}
	found, err := persistence.GetRecord(s, persistence.WbSnapKey(roomID), snap)
	if err != nil {
		return nil, 0, err
	}
	if found {
		b = FromSnapshot(snap)
	}
	tail := 0
	var derr error
	err = s.Scan(persistence.WbOpKey(roomID, b.Seq()+1), persistence.PrefixEnd(persistence.WbOpPrefix(roomID)), false, 0,
		func(_, v []byte) bool {
			op := &pb.WbOp{}
			if derr = proto.Unmarshal(v, op); derr != nil {
				return false
			}
			if op.Seq != b.Seq()+1 {
				derr = errors.New("whiteboard: op log has a gap")
				return false
			}
			b.Apply(op, lim)
			tail++
			return true
		})
	if err = errors.Join(err, derr); err != nil {
		return nil, 0, err
	}
	return b, tail, nil
}

// Replay rebuilds a board from its whole op log, ignoring snapshots: the
// reference that snapshot plus tail must equal.
func Replay(s persistence.Store, roomID string, lim Limits) (*Board, error) {
	b := NewBoard()
	var derr error
	p := persistence.WbOpPrefix(roomID)
	err := s.Scan(p, persistence.PrefixEnd(p), false, 0, func(_, v []byte) bool {
		op := &pb.WbOp{}
		if derr = proto.Unmarshal(v, op); derr != nil {
			return false
		}
		b.Apply(op, lim)
		return true
	})
	return b, errors.Join(err, derr)
}
