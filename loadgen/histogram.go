package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in microseconds in log-linear buckets: values
// below 256 µs are exact, larger ones fall in buckets 1/128 of their octave
// wide, so any reported percentile is within 0.8% of the true value. Min and
// max are exact. Buckets are atomic so thousands of reader goroutines record
// without a lock and the progress line can read percentiles while they do.
type Histogram struct {
	buckets [numBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64
	min     atomic.Uint64 // stored as value+1 so zero means "none yet"
	max     atomic.Uint64
}

const (
	subBits    = 8
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = subCount + (64-subBits)*halfCount
)

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return subCount + (shift-1)*halfCount + int(v>>shift) - halfCount
}

// bucketRange returns the lowest and highest value that fall in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	j := i - subCount
	shift := j/halfCount + 1
	lo = uint64(j%halfCount+halfCount) << shift
	return lo, lo + (uint64(1) << shift) - 1
}

// Record adds one duration; negative ones (impossible with a monotonic clock)
// count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.buckets[bucketOf(us)].Add(1)
	h.count.Add(1)
	h.sum.Add(us)
	for {
		cur := h.max.Load()
		if us <= cur || h.max.CompareAndSwap(cur, us) {
			break
		}
	}
	for {
		cur := h.min.Load()
		if (cur != 0 && us+1 >= cur) || h.min.CompareAndSwap(cur, us+1) {
			break
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Quantile returns the value at q (0..1): the midpoint of the bucket holding
// that rank, kept within the exact min and max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			if mx := h.max.Load(); v > mx {
				v = mx
			}
			if mn := h.min.Load(); mn != 0 && v < mn-1 {
				v = mn - 1
			}
			return time.Duration(v) * time.Microsecond
		}
	}
	// Counts are read one by one while recording goes on, so the total may
	// run ahead of the buckets; the largest value is the honest answer then.
	return h.Max()
}

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Min is the smallest recorded value.
func (h *Histogram) Min() time.Duration {
	v := h.min.Load()
	if v == 0 {
		return 0
	}
	return time.Duration(v-1) * time.Microsecond
}

// Mean is the average of the recorded values.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Latency is a histogram's summary in milliseconds, as reported.
type Latency struct {
	Count  uint64  `json:"count"`
	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000 }

// Summary returns the count and percentiles.
func (h *Histogram) Summary() Latency {
	return Latency{Count: h.Count(), MinMs: ms(h.Min()), MeanMs: ms(h.Mean()),
		P50Ms: ms(h.Quantile(0.50)), P95Ms: ms(h.Quantile(0.95)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
}
