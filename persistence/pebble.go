package persistence

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// Pebble is the embedded Store on local disk.
type Pebble struct {
	db      *pebble.DB
	observe Observer

	mu     sync.RWMutex // guards closed against calls racing Close
	closed bool
	// keys makes a conditional batch's checks and its commit one step
	// against every other conditional batch of this process that checks one
	// of the same keys. The lock is held across the synced commit, so it is
	// per key: batches of different grains never wait for each other's disk
	// syncs (with a fixed set of stripes, grains sharing a stripe queued
	// their syncs one behind the other instead of sharing Pebble's).
	keys keyLocks
}

// ErrStoreInUse is returned when another process, such as a running server,
// holds the store's lock.
var ErrStoreInUse = errors.New("the store is in use by another process (a running liveroom server holds it)")

// ErrNoStore is returned by OpenExistingPebble when dir holds no store.
var ErrNoStore = errors.New("no store found")

// OpenPebble opens (creating if needed) a Pebble store in dir.
func OpenPebble(dir string, log *zap.Logger, observe Observer) (*Pebble, error) {
	return openPebble(dir, log, observe, false)
}

// OpenExistingPebble opens the Pebble store in dir and never creates one, so
// a mistyped folder is reported instead of silently getting an empty store.
func OpenExistingPebble(dir string, log *zap.Logger) (*Pebble, error) {
	return openPebble(dir, log, nil, true)
}

func openPebble(dir string, log *zap.Logger, observe Observer, mustExist bool) (*Pebble, error) {
	if observe == nil {
		observe = func(string, time.Duration, error) {}
	}
	if mustExist {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s", ErrNoStore, dir)
		}
	}
	opts := &pebble.Options{
		// Pinned so that a Pebble upgrade never rewrites the on-disk format
		// without us choosing to.
		FormatMajorVersion: pebble.FormatTableFormatV6,
		Logger:             pebbleLogger{log.Sugar()},
		ErrorIfNotExists:   mustExist,
	}
	db, err := pebble.Open(dir, opts)
	switch {
	case err == nil:
		return &Pebble{db: db, observe: observe}, nil
	case errors.Is(err, pebble.ErrDBDoesNotExist):
		return nil, fmt.Errorf("%w in %s", ErrNoStore, dir)
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || strings.Contains(err.Error(), "lock held"):
		// Pebble locks its LOCK file (fcntl) for as long as it is open.
		return nil, fmt.Errorf("%w: %s (%v)", ErrStoreInUse, dir, err)
	}
	return nil, fmt.Errorf("open store in %s: %w", dir, err)
}

func (p *Pebble) begin() error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (p *Pebble) end(op string, start time.Time, err error) {
	p.mu.RUnlock()
	p.observe(op, time.Since(start), err)
}

// Get returns a copy of the value at key or ErrNotFound.
func (p *Pebble) Get(key []byte) (v []byte, err error) {
	if err := p.begin(); err != nil {
		return nil, err
	}
	defer func(start time.Time) { p.end("get", start, err) }(time.Now())
	val, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v = append([]byte(nil), val...)
	return v, closer.Close()
}

// Set writes value at key and syncs.
func (p *Pebble) Set(key, value []byte) (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func(start time.Time) { p.end("set", start, err) }(time.Now())
	return p.db.Set(key, value, pebble.Sync)
}

// Delete removes key and syncs.
func (p *Pebble) Delete(key []byte) (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func(start time.Time) { p.end("delete", start, err) }(time.Now())
	return p.db.Delete(key, pebble.Sync)
}

// DeleteRange removes every key in [start, end) and syncs. Pebble writes one
// range tombstone, so the cost does not grow with the number of keys.
func (p *Pebble) DeleteRange(start, end []byte) (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func(start time.Time) { p.end("delete_range", start, err) }(time.Now())
	return p.db.DeleteRange(start, end, pebble.Sync)
}

// Apply commits the batch atomically and syncs.
func (p *Pebble) Apply(b *Batch) (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func(start time.Time) { p.end("apply", start, err) }(time.Now())
	if len(b.checks) > 0 {
		unlock := p.keys.lock(b.checks)
		defer unlock()
		for _, c := range b.checks {
			if err := p.check(c); err != nil {
				return err
			}
		}
	}
	if len(b.ops) == 0 {
		return nil // only checks: nothing to write
	}
	pb := p.db.NewBatch()
	defer pb.Close()
	for _, op := range b.ops {
		if op.del {
			err = pb.Delete(op.key, nil)
		} else {
			err = pb.Set(op.key, op.value, nil)
		}
		if err != nil {
			return err
		}
	}
	return pb.Commit(pebble.Sync)
}

// keyLocks locks keys one by one; an entry lives while someone holds or
// waits for its key.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int // holders and waiters; guarded by keyLocks.mu
}

// lock locks the checked keys in key order (so that two batches can never
// wait on each other) and returns the function that unlocks them.
func (k *keyLocks) lock(checks []batchCheck) func() {
	keys := make([]string, 0, len(checks))
	for _, c := range checks {
		keys = append(keys, string(c.key))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	held := make([]*keyLock, len(keys))
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	for i, key := range keys {
		l := k.locks[key]
		if l == nil {
			l = &keyLock{}
			k.locks[key] = l
		}
		l.users++
		held[i] = l
	}
	k.mu.Unlock()
	for _, l := range held {
		l.Lock()
	}
	return func() {
		for _, l := range held {
			l.Unlock()
		}
		k.mu.Lock()
		for i, l := range held {
			if l.users--; l.users == 0 {
				delete(k.locks, keys[i])
			}
		}
		k.mu.Unlock()
	}
}

func (p *Pebble) check(c batchCheck) error {
	val, closer, err := p.db.Get(c.key)
	if errors.Is(err, pebble.ErrNotFound) {
		if c.absent {
			return nil
		}
		return ErrConflict
	}
	if err != nil {
		return err
	}
	same := !c.absent && bytes.Equal(val, c.value)
	if err := closer.Close(); err != nil {
		return err
	}
	if !same {
		return ErrConflict
	}
	return nil
}

// Scan iterates [start, end).
func (p *Pebble) Scan(start, end []byte, reverse bool, limit int, fn func(key, value []byte) bool) (err error) {
	if err := p.begin(); err != nil {
		return err
	}
	defer func(start time.Time) { p.end("scan", start, err) }(time.Now())
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	valid := it.First
	next := it.Next
	if reverse {
		valid, next = it.Last, it.Prev
	}
	n := 0
	for ok := valid(); ok; ok = next() {
		v, verr := it.ValueAndErr()
		if verr != nil {
			_ = it.Close()
			return verr
		}
		n++
		if !fn(it.Key(), v) || (limit > 0 && n >= limit) {
			break
		}
	}
	return it.Close()
}

// Ping checks that the store answers a read.
func (p *Pebble) Ping() error {
	_, err := p.Get(MetaKey("ping"))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Close flushes memtables and closes the database; later calls get ErrClosed.
func (p *Pebble) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	ferr := p.db.Flush()
	cerr := p.db.Close()
	return errors.Join(ferr, cerr)
}

type pebbleLogger struct{ s *zap.SugaredLogger }

func (l pebbleLogger) Infof(format string, args ...interface{})  { l.s.Debugf(format, args...) }
func (l pebbleLogger) Errorf(format string, args ...interface{}) { l.s.Errorf(format, args...) }
func (l pebbleLogger) Fatalf(format string, args ...interface{}) { l.s.Fatalf(format, args...) }
