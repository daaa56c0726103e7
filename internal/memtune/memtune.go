// Package memtune keeps a server's resident memory close to what it really
// uses. Go's collector lets the heap grow to twice its live size between
// collections (GOGC 100) and keeps freed pages until that size is reached
// again, so a node that took on thousands of sessions in a burst and then
// went quiet holds the burst's garbage as resident memory for good: about
// as much again as the sessions themselves. The tuner notices that the node
// has gone quiet and hands that memory back to the operating system once;
// under steady load it does nothing, so it costs no collector time there.
package memtune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"go.uber.org/zap"
)

// Options say how the process's memory is managed.
type Options struct {
	// LimitBytes, when positive, is the soft memory limit handed to the
	// runtime (debug.SetMemoryLimit): the collector works harder as the
	// process nears it instead of letting the heap double. 0 leaves the
	// runtime's own setting (GOMEMLIMIT, or none).
	LimitBytes int64
	// ReleaseWhenQuiet turns on the quiet-time release.
	ReleaseWhenQuiet bool
	// Interval is how often the tuner looks; 5 s when 0.
	Interval time.Duration
}

// Start applies the limit and, with ReleaseWhenQuiet, runs the tuner until
// ctx ends.
func Start(ctx context.Context, o Options, log *zap.Logger) {
	if o.LimitBytes > 0 {
		debug.SetMemoryLimit(o.LimitBytes)
		log.Info("memory limit set", zap.Int64("bytes", o.LimitBytes))
	}
	if !o.ReleaseWhenQuiet {
		return
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	go func() {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		var tn tuner
		tn.step()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if tn.step() {
					log.Info("returned idle memory to the system", zap.Uint64("bytes", tn.lastExcess))
				}
			}
		}
	}()
}

// tuner decides, one look at a time, when to release memory.
type tuner struct {
	samples    []metrics.Sample
	prevAllocs uint64
	looked     bool
	lastExcess uint64
}

const (
	mAllocs  = "/gc/heap/allocs:bytes"
	mLive    = "/gc/heap/live:bytes"
	mObjects = "/memory/classes/heap/objects:bytes"
	mFree    = "/memory/classes/heap/free:bytes"
)

// minExcess is the least retained memory worth a forced collection.
const minExcess = 16 << 20

// step reads the runtime's figures and releases memory when the process
// allocated little since the last look (quiet: under a sixteenth of the heap
// in use, so the sessions it holds are idle) and more than a quarter of the
// live heap (and at least minExcess) is resident without being in use. It
// reports whether it released.
func (t *tuner) step() bool {
	if t.samples == nil {
		t.samples = []metrics.Sample{{Name: mAllocs}, {Name: mLive}, {Name: mObjects}, {Name: mFree}}
	}
	metrics.Read(t.samples)
	v := func(i int) uint64 {
		if t.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return t.samples[i].Value.Uint64()
	}
	allocs, live, objects, free := v(0), v(1), v(2), v(3)
	delta := allocs - t.prevAllocs
	first := !t.looked
	t.prevAllocs, t.looked = allocs, true
	if first || live == 0 {
		return false
	}
	// Free pages not yet given back, and objects dead since the last
	// collection. (Free slots in pages that also hold live objects cannot
	// be given back, so they do not count.)
	excess := free
	if objects > live {
		// Objects found dead at the last collection or allocated since:
		// with little allocated, nearly all garbage.
		excess += objects - live
	}
	if delta > objects/16 || excess < live/4 || excess < minExcess {
		return false
	}
	debug.FreeOSMemory()
	t.lastExcess = excess
	// The forced collection's own figures are not news for the next look.
	metrics.Read(t.samples[:1])
	t.prevAllocs = v(0)
	return true
}
