package persistence

import (
	"fmt"
	"testing"
)

func TestPebbleDeleteRange(t *testing.T) {
	p := newTestStore(t)
	for i := uint64(1); i <= 500; i++ {
		for _, room := range []string{"a", "a-b", "b"} {
			if err := p.Set(ChatKey(room, i), []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	prefix := ChatPrefix("a")
	if err := p.DeleteRange(prefix, PrefixEnd(prefix)); err != nil {
		t.Fatal(err)
	}
	count := func(room string) int {
		n := 0
		pre := ChatPrefix(room)
		if err := p.Scan(pre, PrefixEnd(pre), false, 0, func(_, _ []byte) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count("a"); got != 0 {
		t.Errorf("room a keeps %d keys after DeleteRange", got)
	}
	// Neighbours sharing the first bytes of the prefix are untouched.
	for _, room := range []string{"a-b", "b"} {
		if got := count(room); got != 500 {
			t.Errorf("room %s has %d keys, want 500", room, got)
		}
	}
	// A key written after the range delete is visible again.
	if err := p.Set(ChatKey("a", 7), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, p, ChatKey("a", 7)); string(v) != "new" {
		t.Errorf("got %q", v)
	}
	// Survives a reopen (the tombstone was synced).
	dir := t.TempDir()
	q := openTest(t, dir)
	_ = q.Set(ChatKey("x", 1), []byte("1"))
	pre := ChatPrefix("x")
	if err := q.DeleteRange(pre, PrefixEnd(pre)); err != nil {
		t.Fatal(err)
	}
	_ = q.Close()
	q = openTest(t, dir)
	defer q.Close()
	wantNotFound(t, q, ChatKey("x", 1))
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteRange(pre, PrefixEnd(pre)); err != ErrClosed {
		t.Errorf("DeleteRange after Close = %v, want ErrClosed", err)
	}
}

func newTestStore(t *testing.T) *Pebble {
	t.Helper()
	p := openTest(t, t.TempDir())
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}
