package persistence

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkFencedGrains is many grains (rooms) each writing through its own
// fence as fast as its previous write allows, as rooms under chat load do:
// one synced, conditional batch at a time per grain, all grains at once.
// It reports batches per second and the mean time of one.
//
//	go test ./persistence -run '^$' -bench FencedGrains -benchtime 3000x
func BenchmarkFencedGrains(b *testing.B) {
	for _, grains := range []int{10, 50} {
		b.Run(fmt.Sprintf("grains=%d", grains), func(b *testing.B) {
			p, err := OpenPebble(b.TempDir(), zap.NewNop(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			fences := make([]*Fence, grains)
			for i := range fences {
				if fences[i], err = TakeFence(p, FenceKey("room", fmt.Sprintf("bench-%d", i))); err != nil {
					b.Fatal(err)
				}
			}
			value := make([]byte, 300)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var total time.Duration
			b.ResetTimer()
			start := time.Now()
			for g := range grains {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var own time.Duration
					for i := g; i < b.N; i += grains {
						var bt Batch
						bt.Set(ChatKey(fmt.Sprintf("bench-%d", g), uint64(i+1)), value)
						t := time.Now()
						if err := fences[g].Apply(&bt); err != nil {
							b.Error(err)
							return
						}
						own += time.Since(t)
					}
					mu.Lock()
					total += own
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "batches/s")
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/batch")
		})
	}
}
