package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// FenceKey is the key of the activation counter of one grain.
func FenceKey(kind, id string) []byte { return []byte("fence/" + kind + "/" + id) }

// Fence is one activation's claim on a grain's records. During a topology
// change two activations of a grain can briefly run at once, on two nodes;
// each takes the next generation of the grain's fence when it starts, and
// writes only through batches that require its generation to still be the
// current one. The older activation's writes then fail with ErrConflict and
// it stops, so it can never overwrite what the newer one wrote.
type Fence struct {
	store Store
	key   []byte
	gen   []byte
}

// TakeFence claims the next generation of the fence at key.
func TakeFence(s Store, key []byte) (*Fence, error) {
	for attempt := 0; attempt < 10; attempt++ {
		cur, err := s.Get(key)
		var b Batch
		switch {
		case errors.Is(err, ErrNotFound):
			cur = nil
			b.RequireAbsent(key)
		case err != nil:
			return nil, err
		default:
			b.Require(key, cur)
		}
		next := make([]byte, 8)
		binary.BigEndian.PutUint64(next, generation(cur)+1)
		b.Set(key, next)
		err = s.Apply(&b)
		if err == nil {
			return &Fence{store: s, key: key, gen: next}, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		// Another activation took it between our read and write: try again
		// from its generation.
	}
	return nil, fmt.Errorf("fence %s: %w", key, ErrConflict)
}

func generation(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Generation is the activation's number: it grows with every activation.
func (f *Fence) Generation() uint64 { return generation(f.gen) }

// Apply writes b only while this activation still holds the fence; it
// returns ErrConflict once a newer activation has taken it.
func (f *Fence) Apply(b *Batch) error {
	b.Require(f.key, f.gen)
	return f.store.Apply(b)
}

// Set writes one value under the fence.
func (f *Fence) Set(key, value []byte) error {
	var b Batch
	b.Set(key, value)
	return f.Apply(&b)
}

// Delete removes one key under the fence.
func (f *Fence) Delete(key []byte) error {
	var b Batch
	b.Delete(key)
	return f.Apply(&b)
}
