package persistence

import (
	"testing"

	"go.uber.org/zap"
)

// TestPebbleConditionalBatchesLockOnlyTheirKeys: a conditional batch holds
// its checked keys across its synced commit, and only those: a batch that
// checks another key goes through meanwhile (grains never wait for each
// other's syncs), one that checks the same key waits, and nothing stays in
// the lock table afterwards.
func TestPebbleConditionalBatchesLockOnlyTheirKeys(t *testing.T) {
	p, err := OpenPebble(t.TempDir(), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, b := FenceKey("room", "a"), FenceKey("room", "b")
	for _, k := range [][]byte{a, b} {
		if err := p.Set(k, []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	conditional := func(key []byte, v string) *Batch {
		var bt Batch
		bt.Require(key, []byte("1"))
		bt.Set(ChatKey(string(key), 1), []byte(v))
		return &bt
	}

	// Stand in for a batch on key a whose commit is under way.
	unlock := p.keys.lock([]batchCheck{{key: a}})
	sameDone := make(chan error, 1)
	go func() { sameDone <- p.Apply(conditional(a, "same")) }()
	if err := p.Apply(conditional(b, "other")); err != nil {
		t.Fatalf("batch on another key: %v", err)
	}
	select {
	case err := <-sameDone:
		t.Fatalf("batch on the held key went through while it was held (err %v)", err)
	default:
	}
	unlock()
	if err := <-sameDone; err != nil {
		t.Fatalf("batch on the released key: %v", err)
	}
	if v, err := p.Get(ChatKey(string(a), 1)); err != nil || string(v) != "same" {
		t.Fatalf("held key's batch wrote %q, %v", v, err)
	}
	p.keys.mu.Lock()
	left := len(p.keys.locks)
	p.keys.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d keys left in the lock table", left)
	}
}
