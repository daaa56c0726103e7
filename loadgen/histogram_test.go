package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := uint64(0)
	for i := 0; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d] maps back to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
	if prevHi != ^uint64(0) {
		t.Fatalf("last bucket ends at %d, not the largest uint64", prevHi)
	}
}

func TestQuantilesMatchExactOnesWithinOnePercent(t *testing.T) {
	var h Histogram
	rng := rand.New(rand.NewPCG(1, 2))
	var exact []time.Duration
	for i := 0; i < 100000; i++ {
		// Log-normal-ish spread from tens of microseconds to seconds.
		d := time.Duration(float64(50*time.Microsecond) * (1 + rng.ExpFloat64()*rng.ExpFloat64()*200))
		d = d.Truncate(time.Microsecond)
		exact = append(exact, d)
		h.Record(d)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.01 || diff < -0.01 {
			t.Errorf("q%.3f = %v, exact %v (%.2f%% off)", q, got, want, diff*100)
		}
	}
	if h.Max() != exact[len(exact)-1] || h.Min() != exact[0] {
		t.Errorf("min/max %v/%v, want %v/%v", h.Min(), h.Max(), exact[0], exact[len(exact)-1])
	}
	if h.Count() != uint64(len(exact)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestEmptyAndConcurrentRecording(t *testing.T) {
	var h Histogram
	if s := h.Summary(); s.Count != 0 || s.P99Ms != 0 || s.MaxMs != 0 {
		t.Fatalf("empty summary %+v", s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 1000; i++ {
				h.Record(time.Duration(i) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	s := h.Summary()
	if s.Count != 8000 || s.MinMs != 1 || s.MaxMs != 1000 || s.P50Ms < 495 || s.P50Ms > 505 {
		t.Fatalf("summary %+v", s)
	}
}
