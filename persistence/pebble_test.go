package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The store contract tests below run against every backend: each test gets a
// location (a fresh Pebble folder, a fresh PostgreSQL database) and an opener
// that opens the store there, as often as the test likes.
type opener func(observe Observer) Store

type backend struct {
	name string
	// place makes a fresh empty location and returns its opener.
	place func(t *testing.T) opener
}

var backends = []backend{
	{"pebble", func(t *testing.T) opener {
		dir := t.TempDir()
		return func(obs Observer) Store {
			t.Helper()
			p, err := OpenPebble(dir, zap.NewNop(), obs)
			if err != nil {
				t.Fatalf("OpenPebble(%s): %v", dir, err)
			}
			return p
		}
	}},
	{"postgres", func(t *testing.T) opener {
		url := pgServer(t).Database(t)
		return func(obs Observer) Store {
			t.Helper()
			p, err := OpenPostgres(url, zap.NewNop(), obs)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			return p
		}
	}},
}

// eachBackend runs test once per backend, as a subtest named after it.
func eachBackend(t *testing.T, test func(t *testing.T, place func(t *testing.T) opener)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.place) })
	}
}

// fresh opens a store in a new location and closes it when the test ends.
func fresh(t *testing.T, place func(t *testing.T) opener) Store {
	t.Helper()
	s := place(t)(nil)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func openTest(t *testing.T, dir string) *Pebble {
	t.Helper()
	p, err := OpenPebble(dir, zap.NewNop(), nil)
	if err != nil {
		t.Fatalf("OpenPebble(%s): %v", dir, err)
	}
	return p
}

func mustGet(t *testing.T, s Store, key []byte) []byte {
	t.Helper()
	v, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func wantNotFound(t *testing.T, s Store, key []byte) {
	t.Helper()
	v, err := s.Get(key)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

// Both backends satisfy the Store interface the rest of the server uses.
var (
	_ Store = (*Pebble)(nil)
	_ Store = (*Postgres)(nil)
)

func TestStoreGetSetDelete(t *testing.T) { eachBackend(t, testStoreGetSetDelete) }

func testStoreGetSetDelete(t *testing.T, place func(t *testing.T) opener) {
	p := fresh(t, place)
	key := RoomKey("room-1")

	wantNotFound(t, p, key)

	if err := p.Set(key, []byte("first")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := mustGet(t, p, key); string(got) != "first" {
		t.Fatalf("Get = %q, want %q", got, "first")
	}

	// Overwrite.
	if err := p.Set(key, []byte("second")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got := mustGet(t, p, key)
	if string(got) != "second" {
		t.Fatalf("Get after overwrite = %q, want %q", got, "second")
	}

	// Get returns a copy: changing it must not change the store, and later
	// writes must not change an earlier result.
	got[0] = 'X'
	if again := mustGet(t, p, key); string(again) != "second" {
		t.Fatalf("store changed through returned slice: %q", again)
	}
	before := mustGet(t, p, key)
	if err := p.Set(key, []byte("third!")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if string(before) != "second" {
		t.Fatalf("earlier Get result changed to %q", before)
	}

	// An empty value is a value, not a missing key.
	empty := MetaKey("empty")
	if err := p.Set(empty, nil); err != nil {
		t.Fatalf("Set empty: %v", err)
	}
	if v := mustGet(t, p, empty); len(v) != 0 {
		t.Fatalf("Get empty = %q, want empty", v)
	}

	if err := p.Delete(key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, p, key)

	// Deleting a missing key is not an error.
	if err := p.Delete(RoomKey("never-written")); err != nil {
		t.Fatalf("Delete missing key: %v", err)
	}

	// Keys of other namespaces are untouched.
	if v := mustGet(t, p, empty); len(v) != 0 {
		t.Fatalf("Get empty after delete = %q", v)
	}

	if err := p.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestStoreApplyBatch(t *testing.T) { eachBackend(t, testStoreApplyBatch) }

func testStoreApplyBatch(t *testing.T, place func(t *testing.T) opener) {
	p := fresh(t, place)
	old := FileKey("r1", "old")
	if err := p.Set(old, []byte("old file")); err != nil {
		t.Fatalf("Set: %v", err)
	}

	var b Batch
	if b.Len() != 0 {
		t.Fatalf("new batch Len = %d", b.Len())
	}
	b.Set(ChatKey("r1", 1), []byte("m1"))
	b.Set(FileKey("r1", "new"), []byte("new file"))
	b.Delete(old)
	b.Set(MetaKey("x"), []byte("v1"))
	b.Set(MetaKey("x"), []byte("v2")) // later op in the batch wins
	b.Set(MetaKey("y"), []byte("gone"))
	b.Delete(MetaKey("y")) // set then delete in one batch: deleted
	if b.Len() != 7 {
		t.Fatalf("Len = %d, want 7", b.Len())
	}
	if err := p.Apply(&b); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	if v := mustGet(t, p, ChatKey("r1", 1)); string(v) != "m1" {
		t.Fatalf("chat = %q", v)
	}
	if v := mustGet(t, p, FileKey("r1", "new")); string(v) != "new file" {
		t.Fatalf("new file = %q", v)
	}
	if v := mustGet(t, p, MetaKey("x")); string(v) != "v2" {
		t.Fatalf("meta/x = %q, want v2", v)
	}
	wantNotFound(t, p, old)
	wantNotFound(t, p, MetaKey("y"))

	// An empty batch is fine.
	if err := p.Apply(&Batch{}); err != nil {
		t.Fatalf("Apply empty: %v", err)
	}
}

// chatSeqs lists the seqs that Scan visits.
func chatSeqs(t *testing.T, s Store, start, end []byte, reverse bool, limit int) []uint64 {
	t.Helper()
	var out []uint64
	err := s.Scan(start, end, reverse, limit, func(key, value []byte) bool {
		seq := ChatSeq(key)
		if want := fmt.Sprintf("msg %d", seq); string(value) != want {
			t.Errorf("value at seq %d = %q, want %q", seq, value, want)
		}
		out = append(out, seq)
		return true
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStoreScanChatOrder(t *testing.T) { eachBackend(t, testStoreScanChatOrder) }

func testStoreScanChatOrder(t *testing.T, place func(t *testing.T) opener) {
	p := fresh(t, place)

	// Written out of order, and chosen so that little-endian or decimal-text
	// keys would sort differently (2 < 10 < 255 < 256 < 257 < 65536 < 1<<40).
	seqs := []uint64{256, 2, 1 << 40, 10, 1, 65536, 257, 255}
	var b Batch
	for _, s := range seqs {
		b.Set(ChatKey("r", s), []byte(fmt.Sprintf("msg %d", s)))
	}
	// Neighbouring rooms and namespaces that must not leak into room "r":
	// "chat/r1/..." and "chat/r_/..." share the text "chat/r" but not the
	// prefix "chat/r/".
	b.Set(ChatKey("r1", 5), []byte("msg 5"))
	b.Set(ChatKey("r_", 7), []byte("msg 7"))
	b.Set(ChatKey("q", 3), []byte("msg 3"))
	b.Set(RoomKey("r"), []byte("room"))
	b.Set(FileKey("r", "f"), []byte("file"))
	if err := p.Apply(&b); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	prefix, end := ChatPrefix("r"), PrefixEnd(ChatPrefix("r"))
	asc := []uint64{1, 2, 10, 255, 256, 257, 65536, 1 << 40}
	desc := []uint64{1 << 40, 65536, 257, 256, 255, 10, 2, 1}

	cases := []struct {
		name       string
		start, end []byte
		reverse    bool
		limit      int
		want       []uint64
	}{
		{"all ascending", prefix, end, false, 0, asc},
		{"all descending", prefix, end, true, 0, desc},
		{"negative limit means none", prefix, end, false, -1, asc},
		{"limit ascending", prefix, end, false, 3, []uint64{1, 2, 10}},
		{"limit descending", prefix, end, true, 3, []uint64{1 << 40, 65536, 257}},
		{"limit above count", prefix, end, false, 100, asc},
		// [start, end): start included, end excluded.
		{"bounds ascending", ChatKey("r", 2), ChatKey("r", 256), false, 0, []uint64{2, 10, 255}},
		{"bounds descending", ChatKey("r", 2), ChatKey("r", 256), true, 0, []uint64{255, 10, 2}},
		// History paging: the newest messages before a seq, newest first.
		{"page before 256", prefix, ChatKey("r", 256), true, 2, []uint64{255, 10}},
		{"page before 3", prefix, ChatKey("r", 3), true, 50, []uint64{2, 1}},
		// Catch-up after reconnect: everything after a seq.
		{"after 10", ChatKey("r", 11), end, false, 0, []uint64{255, 256, 257, 65536, 1 << 40}},
		{"bounds between keys", ChatKey("r", 3), ChatKey("r", 9), false, 0, nil},
		{"empty range", ChatKey("r", 10), ChatKey("r", 10), false, 0, nil},
		{"other room", ChatPrefix("r1"), PrefixEnd(ChatPrefix("r1")), false, 0, []uint64{5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := chatSeqs(t, p, c.start, c.end, c.reverse, c.limit)
			if !equalSeqs(got, c.want) {
				t.Fatalf("Scan = %v, want %v", got, c.want)
			}
		})
	}
}

func TestStoreScanStopsAndCopies(t *testing.T) { eachBackend(t, testStoreScanStopsAndCopies) }

func testStoreScanStopsAndCopies(t *testing.T, place func(t *testing.T) opener) {
	p := fresh(t, place)
	for i := uint64(1); i <= 5; i++ {
		if err := p.Set(ChatKey("r", i), []byte(fmt.Sprintf("msg %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	prefix := ChatPrefix("r")

	// fn returning false stops the scan right after that key.
	var visited []uint64
	err := p.Scan(prefix, PrefixEnd(prefix), false, 0, func(k, v []byte) bool {
		visited = append(visited, ChatSeq(k))
		return len(visited) < 2
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if !equalSeqs(visited, []uint64{1, 2}) {
		t.Fatalf("visited %v, want [1 2]", visited)
	}

	// Callers that keep keys or values copy them; a copy made in fn stays right.
	var keys [][]byte
	err = p.Scan(prefix, PrefixEnd(prefix), true, 0, func(k, v []byte) bool {
		keys = append(keys, bytes.Clone(k))
		return true
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	for i, k := range keys {
		if want := ChatKey("r", uint64(5-i)); !bytes.Equal(k, want) {
			t.Fatalf("key %d = %x, want %x", i, k, want)
		}
	}

	// nil bounds scan the whole store.
	n := 0
	if err := p.Scan(nil, nil, false, 0, func(k, v []byte) bool { n++; return true }); err != nil {
		t.Fatalf("Scan(nil, nil): %v", err)
	}
	if n != 5 {
		t.Fatalf("whole-store scan saw %d keys, want 5", n)
	}
}

func TestStoreReopenKeepsData(t *testing.T) { eachBackend(t, testStoreReopenKeepsData) }

func testStoreReopenKeepsData(t *testing.T, place func(t *testing.T) opener) {
	open := place(t)
	p := open(nil)
	if err := p.Set(RoomKey("r"), []byte("room record")); err != nil {
		t.Fatal(err)
	}
	if err := p.Set(MetaKey("doomed"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := uint64(1); i <= 300; i++ {
		b.Set(ChatKey("r", i), []byte(fmt.Sprintf("msg %d", i)))
	}
	b.Delete(MetaKey("doomed"))
	if err := p.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	p2 := open(nil)
	defer func() {
		if err := p2.Close(); err != nil {
			t.Errorf("Close reopened: %v", err)
		}
	}()
	if v := mustGet(t, p2, RoomKey("r")); string(v) != "room record" {
		t.Fatalf("room after reopen = %q", v)
	}
	wantNotFound(t, p2, MetaKey("doomed"))
	got := chatSeqs(t, p2, ChatPrefix("r"), PrefixEnd(ChatPrefix("r")), true, 3)
	if !equalSeqs(got, []uint64{300, 299, 298}) {
		t.Fatalf("newest after reopen = %v", got)
	}
	all := chatSeqs(t, p2, ChatPrefix("r"), PrefixEnd(ChatPrefix("r")), false, 0)
	if len(all) != 300 || all[0] != 1 || all[299] != 300 {
		t.Fatalf("after reopen: %d messages, want 300 from 1 to 300", len(all))
	}
	// And it is writable again.
	if err := p2.Set(ChatKey("r", 301), []byte("msg 301")); err != nil {
		t.Fatalf("Set after reopen: %v", err)
	}
}

func TestStoreClosed(t *testing.T) { eachBackend(t, testStoreClosed) }

func testStoreClosed(t *testing.T, place func(t *testing.T) opener) {
	p := place(t)(nil)
	if err := p.Set(MetaKey("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := p.Get(MetaKey("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := p.Set(MetaKey("k"), []byte("v")); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Close: %v, want ErrClosed", err)
	}
	if err := p.Delete(MetaKey("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close: %v, want ErrClosed", err)
	}
	var b Batch
	b.Set(MetaKey("k"), []byte("v"))
	if err := p.Apply(&b); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	called := false
	err := p.Scan(nil, nil, false, 0, func(k, v []byte) bool { called = true; return true })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
	if called {
		t.Errorf("Scan after Close called fn")
	}
	if err := p.Ping(); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
}

func TestStoreObserver(t *testing.T) { eachBackend(t, testStoreObserver) }

func testStoreObserver(t *testing.T, place func(t *testing.T) opener) {
	var mu sync.Mutex
	var ops []string
	obs := func(op string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if took < 0 {
			t.Errorf("%s: negative duration %v", op, took)
		}
		ops = append(ops, op)
	}
	p := place(t)(obs)
	_ = p.Set(MetaKey("a"), []byte("1"))
	_, _ = p.Get(MetaKey("a"))
	_ = p.Delete(MetaKey("a"))
	var b Batch
	b.Set(MetaKey("b"), []byte("2"))
	_ = p.Apply(&b)
	_ = p.Scan(nil, nil, false, 0, func(k, v []byte) bool { return true })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_, _ = p.Get(MetaKey("a")) // after Close: not observed

	mu.Lock()
	defer mu.Unlock()
	want := "set,get,delete,apply,scan"
	if got := strings.Join(ops, ","); got != want {
		t.Fatalf("observed %s, want %s", got, want)
	}
}

func TestOpenPebbleBadDir(t *testing.T) {
	// A regular file where the folder should be.
	f := t.TempDir() + "/file"
	if err := os.WriteFile(f, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := OpenPebble(f, zap.NewNop(), nil)
	if err == nil {
		_ = p.Close()
		t.Fatalf("OpenPebble on a regular file succeeded")
	}
	if !strings.Contains(err.Error(), f) {
		t.Errorf("error %q does not name the folder", err)
	}
}

// TestStoreConcurrentClose runs readers and writers while the store is closed
// under them: every call must either succeed or return ErrClosed, nothing may
// panic or race, and once Close has returned every call must get ErrClosed.
func TestStoreConcurrentClose(t *testing.T) { eachBackend(t, testStoreConcurrentClose) }

func testStoreConcurrentClose(t *testing.T, place func(t *testing.T) opener) {
	p := place(t)(nil)
	for i := uint64(0); i < 50; i++ {
		if err := p.Set(ChatKey("r", i), []byte("seed")); err != nil {
			t.Fatal(err)
		}
	}

	const workers = 8
	var wg sync.WaitGroup
	var closedAt sync.Once
	closed := make(chan struct{})
	errs := make(chan error, workers*2+4)
	started := make(chan struct{}, workers)

	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("w%d", w)
			prefix := ChatPrefix(room)
			signalled := false
			for i := uint64(0); ; i++ {
				var err error
				switch i % 5 {
				case 0:
					err = p.Set(ChatKey(room, i), []byte("v"))
				case 1:
					_, err = p.Get(ChatKey(room, i-1))
				case 2:
					err = p.Scan(prefix, PrefixEnd(prefix), i%2 == 0, 10, func(k, v []byte) bool {
						if !bytes.HasPrefix(k, prefix) {
							errs <- fmt.Errorf("scan of %s saw key %q", prefix, k)
							return false
						}
						return true
					})
				case 3:
					var b Batch
					b.Set(MetaKey(room), []byte("b"))
					b.Delete(ChatKey(room, i-3))
					err = p.Apply(&b)
				case 4:
					err = p.Delete(ChatKey(room, i-4))
				}
				if !signalled {
					started <- struct{}{}
					signalled = true
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d op %d: %v", w, i%5, err)
					return
				}
				select {
				case <-closed:
					// Close has returned: the very next call must fail.
					if _, err := p.Get(ChatKey(room, 0)); !errors.Is(err, ErrClosed) {
						errs <- fmt.Errorf("worker %d: Get after Close returned: %v", w, err)
					}
					return
				default:
				}
			}
		}()
	}

	// Let every worker do some work, then close from two goroutines at once.
	for w := 0; w < workers; w++ {
		<-started
	}
	time.Sleep(20 * time.Millisecond)
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Close(); err != nil {
				errs <- fmt.Errorf("Close: %v", err)
			}
			closedAt.Do(func() { close(closed) })
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("workers did not stop after Close")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := p.Set(MetaKey("late"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after concurrent Close: %v", err)
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct {
		in, want []byte
	}{
		{[]byte("chat/r/"), []byte("chat/r0")}, // '/'+1 == '0'
		{[]byte("a"), []byte("b")},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte{'a', 0xff}, []byte{'b'}},
		{[]byte{'a', 0xff, 0xff}, []byte{'b'}},
		{[]byte{0x01, 0xfe, 0xff}, []byte{0x01, 0xff}},
		{[]byte{0xff}, nil},
		{[]byte{0xff, 0xff, 0xff}, nil},
		{[]byte{}, nil},
		{nil, nil},
	}
	for _, c := range cases {
		in := bytes.Clone(c.in)
		got := PrefixEnd(c.in)
		if !bytes.Equal(got, c.want) || (c.want == nil) != (got == nil) {
			t.Errorf("PrefixEnd(%x) = %x (nil %v), want %x (nil %v)", c.in, got, got == nil, c.want, c.want == nil)
		}
		if !bytes.Equal(in, c.in) {
			t.Errorf("PrefixEnd changed its argument %x to %x", in, c.in)
		}
	}

	// The end sorts after every key with the prefix and before the next
	// prefix, whatever bytes follow.
	p := ChatPrefix("room")
	end := PrefixEnd(p)
	for _, k := range [][]byte{ChatKey("room", 0), ChatKey("room", ^uint64(0)), append(bytes.Clone(p), 0xff, 0xff)} {
		if bytes.Compare(k, end) >= 0 {
			t.Errorf("key %x not below PrefixEnd %x", k, end)
		}
	}
	if bytes.Compare(end, ChatPrefix("room0")) > 0 {
		t.Errorf("PrefixEnd %x skips past %x", end, ChatPrefix("room0"))
	}

	// A nil end is "no upper bound": scanning [prefix, nil) still works.
	s := fresh(t, backends[0].place)
	high := []byte{0xff, 0xff, 0x01}
	if err := s.Set(high, []byte("x")); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.Scan([]byte{0xff, 0xff}, PrefixEnd([]byte{0xff, 0xff}), false, 0, func(k, v []byte) bool {
		n++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("scan of 0xffff prefix saw %d keys, want 1", n)
	}
}

func TestChatKeySeq(t *testing.T) {
	for _, seq := range []uint64{0, 1, 2, 10, 255, 256, 1 << 32, ^uint64(0)} {
		k := ChatKey("abc", seq)
		if !bytes.HasPrefix(k, ChatPrefix("abc")) {
			t.Errorf("ChatKey(%d) = %q lacks the prefix", seq, k)
		}
		if len(k) != len(ChatPrefix("abc"))+8 {
			t.Errorf("ChatKey(%d) has length %d", seq, len(k))
		}
		if got := ChatSeq(k); got != seq {
			t.Errorf("ChatSeq(ChatKey(%d)) = %d", seq, got)
		}
	}
	if ChatSeq([]byte("short")) != 0 {
		t.Errorf("ChatSeq of a short key is not 0")
	}
	// Byte order of keys is numeric order of seqs.
	prev := ChatKey("abc", 0)
	for _, seq := range []uint64{1, 2, 10, 255, 256, 257, 1 << 16, 1 << 40, ^uint64(0)} {
		k := ChatKey("abc", seq)
		if bytes.Compare(prev, k) >= 0 {
			t.Errorf("ChatKey(%d) does not sort after the previous key", seq)
		}
		prev = k
	}
}

func TestValidID(t *testing.T) {
	good := []string{
		"a", "Z", "0", "-", "_", "room-1", "Room_2", "abcXYZ019-_",
		strings.Repeat("a", 64),
	}
	bad := []string{
		"", strings.Repeat("a", 65),
		"a/b", "../x", "a b", " a", "a\n", "a.b", "a:b", "a%2F", "a\x00",
		"é", "café", "日本", "room\u00a0", "a+b", "a*", "😀",
	}
	for _, s := range good {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false, want true", s)
		}
	}
	for _, s := range bad {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true, want false", s)
		}
	}
	// The limit is in bytes as well as characters: 64 ASCII characters pass,
	// and any non-ASCII character fails regardless of length.
	if ValidID(strings.Repeat("é", 10)) {
		t.Errorf("non-ASCII id accepted")
	}
}

func TestKeyNamespaces(t *testing.T) {
	if got := string(RoomKey("x")); got != "room/x" {
		t.Errorf("RoomKey = %q", got)
	}
	if !bytes.HasPrefix(RoomKey("x"), RoomPrefix()) {
		t.Errorf("RoomKey not under RoomPrefix")
	}
	if got := string(FileKey("r", "f")); got != "file/r/f" {
		t.Errorf("FileKey = %q", got)
	}
	if got := string(MetaKey("secret")); got != "meta/secret" {
		t.Errorf("MetaKey = %q", got)
	}
	if got := string(ChatPrefix("r")); got != "chat/r/" {
		t.Errorf("ChatPrefix = %q", got)
	}
}
