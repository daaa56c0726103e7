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

// Claim is one grain activation's use of its fence. The fence is taken
// once, at load for a grain whose records exist or at its first write for
// a new one, and every write goes through it. The first write refused
// because a newer activation took the fence calls OnLost, once: the grain
// then stops, leaving its records to the newer one.
type Claim struct {
	store  Store
	key    []byte
	onLost func(generation uint64)
	fence  *Fence
	lost   bool
}

// NewClaim prepares a claim on the fence at key; nothing is written yet.
func NewClaim(s Store, key []byte, onLost func(generation uint64)) *Claim {
	return &Claim{store: s, key: key, onLost: onLost}
}

// Ensure takes the fence unless this activation holds it already. taken
// says it was taken just now: what the activation read before may have
// been written over since by an older one, so it reads again.
func (c *Claim) Ensure() (taken bool, err error) {
	if c.fence != nil {
		return false, nil
	}
	f, err := TakeFence(c.store, c.key)
	if err != nil {
		return false, err
	}
	c.fence = f
	return true, nil
}

// Forget drops the fence taken, so that the next write takes one again
// (after a read that should have followed the take failed).
func (c *Claim) Forget() { c.fence = nil }

// Held says whether this activation holds the fence.
func (c *Claim) Held() bool { return c.fence != nil }

// Lost says whether a newer activation has taken over.
func (c *Claim) Lost() bool { return c.lost }

// Generation is the fence's generation held (0 when none).
func (c *Claim) Generation() uint64 {
	if c.fence == nil {
		return 0
	}
	return c.fence.Generation()
}

// Apply writes b under the fence, taking it first if needed.
func (c *Claim) Apply(b *Batch) error {
	if c.lost {
		return ErrConflict
	}
	if _, err := c.Ensure(); err != nil {
		return err
	}
	err := c.fence.Apply(b)
	if errors.Is(err, ErrConflict) {
		c.lost = true
		if c.onLost != nil {
			c.onLost(c.fence.Generation())
		}
	}
	return err
}

// Check fails with ErrConflict once a newer activation has taken the
// fence: for work outside a batch (a range delete) that must not run then.
func (c *Claim) Check() error {
	var b Batch
	return c.Apply(&b)
}
