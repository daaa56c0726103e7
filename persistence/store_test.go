package persistence

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"liveroom/internal/pgtest"
)

// One PostgreSQL serves every test of this package (each gets its own
// database); it starts on first use and stops when the tests end.
var (
	pgOnce   sync.Once
	pgShared *pgtest.Server
	pgErr    error
)

func pgServer(t *testing.T) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() { pgShared, pgErr = pgtest.Launch() })
	if pgErr != nil {
		t.Fatalf("start PostgreSQL: %v", pgErr)
	}
	return pgShared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgShared != nil {
		if err := pgShared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestStoreDeleteRange(t *testing.T) { eachBackend(t, testStoreDeleteRange) }

func testStoreDeleteRange(t *testing.T, place func(t *testing.T) opener) {
	s := fresh(t, place)
	var b Batch
	for i := uint64(1); i <= 10; i++ {
		b.Set(ChatKey("r", i), []byte(fmt.Sprintf("msg %d", i)))
		b.Set(ChatKey("r2", i), []byte(fmt.Sprintf("msg %d", i)))
	}
	b.Set(RoomKey("r"), []byte("room"))
	if err := s.Apply(&b); err != nil {
		t.Fatal(err)
	}
	// [start, end): 3 goes, 7 stays.
	if err := s.DeleteRange(ChatKey("r", 3), ChatKey("r", 7)); err != nil {
		t.Fatalf("DeleteRange: %v", err)
	}
	got := chatSeqs(t, s, ChatPrefix("r"), PrefixEnd(ChatPrefix("r")), false, 0)
	if !equalSeqs(got, []uint64{1, 2, 7, 8, 9, 10}) {
		t.Fatalf("after DeleteRange: %v", got)
	}
	// A whole prefix, leaving neighbours alone.
	if err := s.DeleteRange(ChatPrefix("r"), PrefixEnd(ChatPrefix("r"))); err != nil {
		t.Fatal(err)
	}
	if got := chatSeqs(t, s, ChatPrefix("r"), PrefixEnd(ChatPrefix("r")), false, 0); len(got) != 0 {
		t.Fatalf("room r chat after prefix delete: %v", got)
	}
	if got := chatSeqs(t, s, ChatPrefix("r2"), PrefixEnd(ChatPrefix("r2")), false, 0); len(got) != 10 {
		t.Fatalf("room r2 chat touched: %v", got)
	}
	if v := mustGet(t, s, RoomKey("r")); string(v) != "room" {
		t.Fatalf("room record = %q", v)
	}
	// An empty range is fine.
	if err := s.DeleteRange(ChatKey("r2", 5), ChatKey("r2", 5)); err != nil {
		t.Fatal(err)
	}
}

func TestStoreConditionalBatch(t *testing.T) { eachBackend(t, testStoreConditionalBatch) }

func testStoreConditionalBatch(t *testing.T, place func(t *testing.T) opener) {
	s := fresh(t, place)
	fence := MetaKey("fence")

	// Absent: the first taker wins, the second loses and writes nothing.
	var b Batch
	b.RequireAbsent(fence)
	b.Set(fence, []byte("1"))
	b.Set(MetaKey("by"), []byte("first"))
	if err := s.Apply(&b); err != nil {
		t.Fatalf("first take: %v", err)
	}
	var b2 Batch
	b2.RequireAbsent(fence)
	b2.Set(fence, []byte("1"))
	b2.Set(MetaKey("by"), []byte("second"))
	if err := s.Apply(&b2); !errors.Is(err, ErrConflict) {
		t.Fatalf("second take: %v, want ErrConflict", err)
	}
	if v := mustGet(t, s, MetaKey("by")); string(v) != "first" {
		t.Fatalf("losing batch wrote: by = %q", v)
	}

	// Equal value: holds for the current value only.
	var ok Batch
	ok.Require(fence, []byte("1"))
	ok.Set(ChatKey("r", 1), []byte("msg 1"))
	if err := s.Apply(&ok); err != nil {
		t.Fatalf("write under current fence: %v", err)
	}
	var stale Batch
	stale.Require(fence, []byte("0"))
	stale.Set(ChatKey("r", 2), []byte("msg 2"))
	if err := s.Apply(&stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("write under stale fence: %v, want ErrConflict", err)
	}
	wantNotFound(t, s, ChatKey("r", 2))
	var gone Batch
	gone.Require(MetaKey("never"), []byte{})
	if err := s.Apply(&gone); !errors.Is(err, ErrConflict) {
		t.Fatalf("require on a missing key: %v, want ErrConflict", err)
	}
	// An empty value is a value: Require(key, empty) holds, RequireAbsent not.
	if err := s.Set(MetaKey("empty"), nil); err != nil {
		t.Fatal(err)
	}
	var e1 Batch
	e1.Require(MetaKey("empty"), nil)
	if err := s.Apply(&e1); err != nil {
		t.Fatalf("require empty value: %v", err)
	}
	var e2 Batch
	e2.RequireAbsent(MetaKey("empty"))
	if err := s.Apply(&e2); !errors.Is(err, ErrConflict) {
		t.Fatalf("require absent on an empty value: %v, want ErrConflict", err)
	}
}

// TestStoreCompareAndSetRace has workers increment one counter by
// compare-and-set: every increment that Apply accepted must be counted once,
// so the final value equals the number of successes.
func TestStoreCompareAndSetRace(t *testing.T) { eachBackend(t, testStoreCompareAndSetRace) }

func testStoreCompareAndSetRace(t *testing.T, place func(t *testing.T) opener) {
	s := fresh(t, place)
	key := MetaKey("counter")
	if err := s.Set(key, []byte("0")); err != nil {
		t.Fatal(err)
	}
	const workers, tries = 6, 15
	var mu sync.Mutex
	wins := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < tries; i++ {
				cur, err := s.Get(key)
				if err != nil {
					t.Error(err)
					return
				}
				n, _ := strconv.Atoi(string(cur))
				var b Batch
				b.Require(key, cur)
				b.Set(key, []byte(strconv.Itoa(n+1)))
				switch err := s.Apply(&b); {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case !errors.Is(err, ErrConflict):
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := strconv.Atoi(string(mustGet(t, s, key)))
	if got != wins || wins == 0 {
		t.Fatalf("counter = %d after %d accepted increments", got, wins)
	}
}

// TestPostgresOutage stops the database under an open store: calls fail with
// ErrUnavailable (promptly, not hanging), and work again once it is back.
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.New(t)
	s, err := OpenPostgres(srv.Database(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set(RoomKey("r"), []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(RoomKey("r"), []byte("during")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Set with the database down: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping with the database down: %v, want ErrUnavailable", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if v := mustGet(t, s, RoomKey("r")); string(v) != "before" {
		t.Fatalf("after restart: %q, want the acknowledged value", v)
	}
	if err := s.Set(RoomKey("r"), []byte("after")); err != nil {
		t.Fatalf("Set after restart: %v", err)
	}
}

// TestPostgresMigrationsIdempotent opens the same database from several
// stores at once (nodes starting together), then again: the schema ends at
// the newest version, applied once.
func TestPostgresMigrationsIdempotent(t *testing.T) {
	url := pgServer(t).Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenPostgres(url, nil, nil)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
	s, err := OpenPostgres(url, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var versions, top int
	ctx, cancel, _ := s.begin()
	defer s.mu.RUnlock()
	defer cancel()
	if err := s.pool.QueryRow(ctx, `SELECT count(*), max(version) FROM liveroom_schema`).Scan(&versions, &top); err != nil {
		t.Fatal(err)
	}
	if versions != SchemaVersion() || top != SchemaVersion() {
		t.Fatalf("schema table has %d versions up to %d, want %d", versions, top, SchemaVersion())
	}
}

// TestStoreFence runs two activations of one grain: once the second has taken
// the fence, the first one's writes fail and leave nothing behind, and
// generations only grow, also across reopening the store.
func TestStoreFence(t *testing.T) { eachBackend(t, testStoreFence) }

func testStoreFence(t *testing.T, place func(t *testing.T) opener) {
	open := place(t)
	s := open(nil)
	key := FenceKey("room", "r")
	first, err := TakeFence(s, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Set(ChatKey("r", 1), []byte("msg 1")); err != nil {
		t.Fatalf("write by the only activation: %v", err)
	}
	second, err := TakeFence(s, key)
	if err != nil {
		t.Fatal(err)
	}
	if second.Generation() <= first.Generation() {
		t.Fatalf("generations %d then %d", first.Generation(), second.Generation())
	}
	if err := first.Set(ChatKey("r", 2), []byte("stale")); !errors.Is(err, ErrConflict) {
		t.Fatalf("write by the superseded activation: %v, want ErrConflict", err)
	}
	if err := first.Delete(ChatKey("r", 1)); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete by the superseded activation: %v, want ErrConflict", err)
	}
	wantNotFound(t, s, ChatKey("r", 2))
	mustGet(t, s, ChatKey("r", 1))
	if err := second.Set(ChatKey("r", 2), []byte("msg 2")); err != nil {
		t.Fatalf("write by the current activation: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(nil)
	defer s.Close()
	third, err := TakeFence(s, key)
	if err != nil {
		t.Fatal(err)
	}
	if third.Generation() != second.Generation()+1 {
		t.Fatalf("after reopen: generation %d, want %d", third.Generation(), second.Generation()+1)
	}

	// Activations racing to start: each gets its own generation.
	var wg sync.WaitGroup
	gens := make([]uint64, 5)
	for i := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := TakeFence(s, FenceKey("room", "race"))
			if err != nil {
				t.Error(err)
				return
			}
			gens[i] = f.Generation()
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, g := range gens {
		if g == 0 || seen[g] {
			t.Fatalf("racing activations got generations %v", gens)
		}
		seen[g] = true
	}
}

// TestStoreClaim: a claim takes its fence on the first write, tells its
// grain once when a newer activation took over, and refuses every write
// after that, including the check that guards a range delete.
func TestStoreClaim(t *testing.T) { eachBackend(t, testStoreClaim) }

func testStoreClaim(t *testing.T, place func(t *testing.T) opener) {
	s := place(t)(nil)
	defer s.Close()
	key := FenceKey("board", "b")
	lost := 0
	older := NewClaim(s, key, func(uint64) { lost++ })
	if older.Held() {
		t.Fatal("a new claim holds a fence before writing")
	}
	var b Batch
	b.Set(WbOpKey("b", 1), []byte("op 1"))
	if err := older.Apply(&b); err != nil || !older.Held() || older.Generation() == 0 {
		t.Fatalf("first write: %v held=%v gen=%d", err, older.Held(), older.Generation())
	}
	newer := NewClaim(s, key, nil)
	if taken, err := newer.Ensure(); err != nil || !taken {
		t.Fatalf("newer activation's fence: %v taken=%v", err, taken)
	}
	if taken, err := newer.Ensure(); err != nil || taken {
		t.Fatalf("fence taken twice: %v taken=%v", err, taken)
	}
	for i := 0; i < 2; i++ {
		var b Batch
		b.Set(WbOpKey("b", 2), []byte("stale"))
		if err := older.Apply(&b); !errors.Is(err, ErrConflict) {
			t.Fatalf("write by the superseded activation: %v", err)
		}
	}
	if err := older.Check(); !errors.Is(err, ErrConflict) || !older.Lost() || lost != 1 {
		t.Fatalf("check: %v lost=%v told %d times, want once", err, older.Lost(), lost)
	}
	wantNotFound(t, s, WbOpKey("b", 2))
	if err := newer.Check(); err != nil {
		t.Fatalf("check by the current activation: %v", err)
	}
	b = Batch{}
	b.Set(WbOpKey("b", 2), []byte("op 2"))
	if err := newer.Apply(&b); err != nil {
		t.Fatalf("write by the current activation: %v", err)
	}
}
