// Package persistence holds Liveroom's durable state behind a small key-value
// interface. The embedded default is Pebble on local disk; a cluster shares
// PostgreSQL (or CockroachDB) through the same interface.
package persistence

import (
	"errors"
	"time"
)

// ErrNotFound is returned by Get when a key has no value.
var ErrNotFound = errors.New("persistence: not found")

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("persistence: store closed")

// ErrConflict is returned by Apply when a condition of the batch (Require,
// RequireAbsent) did not hold; nothing of the batch was written.
var ErrConflict = errors.New("persistence: conditional write lost")

// Store is the durable key-value store. Every write is synced to disk before it
// returns, so a caller may acknowledge what it wrote.
type Store interface {
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Delete(key []byte) error
	// Apply writes all operations of the batch atomically. When the batch has
	// conditions, it writes only if all of them hold at commit time and
	// returns ErrConflict otherwise.
	Apply(b *Batch) error
	// DeleteRange removes every key in [start, end) and syncs.
	DeleteRange(start, end []byte) error
	// Scan visits keys in [start, end) in ascending order, or descending when
	// reverse is set, until fn returns false or limit keys were visited
	// (limit <= 0 means no limit). The slices are only valid during fn.
	Scan(start, end []byte, reverse bool, limit int, fn func(key, value []byte) bool) error
	// Ping reports whether the store can serve reads.
	Ping() error
	Close() error
}

// Batch collects writes to apply atomically, and optionally conditions that
// must hold for them to be applied (compare-and-set). A key guarded by a
// condition must only ever be written through batches that check it, so that
// the check and the write are one step for every writer.
type Batch struct {
	ops    []batchOp
	checks []batchCheck
}

type batchCheck struct {
	key, value []byte
	absent     bool
}

// Require makes the batch apply only if key holds exactly value.
func (b *Batch) Require(key, value []byte) {
	b.checks = append(b.checks, batchCheck{key: key, value: value})
}

// RequireAbsent makes the batch apply only if key has no value.
func (b *Batch) RequireAbsent(key []byte) {
	b.checks = append(b.checks, batchCheck{key: key, absent: true})
}

type batchOp struct {
	key, value []byte
	del        bool
}

// Set queues a write of value at key.
func (b *Batch) Set(key, value []byte) { b.ops = append(b.ops, batchOp{key: key, value: value}) }

// Delete queues a deletion of key.
func (b *Batch) Delete(key []byte) { b.ops = append(b.ops, batchOp{key: key, del: true}) }

// Len is the number of queued operations.
func (b *Batch) Len() int { return len(b.ops) }

// Observer is told how long each store operation took; metrics hang off it.
type Observer func(op string, took time.Duration, err error)
