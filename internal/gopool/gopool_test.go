package gopool

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// Every function given to Go runs once, blocking ones included, and the
// goroutines kept afterwards stay within maxIdle.
func TestGoRunsEverythingAndKeepsFew(t *testing.T) {
	const n = 2000
	var wg sync.WaitGroup
	release := make(chan struct{})
	ran := make([]int, n)
	for i := range n {
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			if i%10 == 0 {
				<-release // some block until the end: the rest still run
			}
			ran[i]++
		})
	}
	close(release)
	wg.Wait()
	for i, r := range ran {
		if r != 1 {
			t.Fatalf("function %d ran %d times", i, r)
		}
	}
	var after int
	for range 100 {
		after = runtime.NumGoroutine()
		if after <= maxIdle+10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after > maxIdle+10 {
		t.Fatalf("%d goroutines after the work, want at most %d kept", after, maxIdle)
	}
	if got := idle.Load(); got < 1 || got > maxIdle {
		t.Fatalf("%d idle, want 1-%d", got, maxIdle)
	}
}

func BenchmarkGoDeepStack(b *testing.B) {
	var wg sync.WaitGroup
	for _, c := range []struct {
		name string
		run  func(func())
	}{{"go", func(f func()) { go f() }}, {"pool", Go}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				wg.Add(1)
				c.run(func() { deep(64); wg.Done() })
				wg.Wait()
			}
		})
	}
}

// deep uses about 64 KiB of stack at n = 64.
func deep(n int) byte {
	var buf [1000]byte
	buf[n%len(buf)] = byte(n)
	if n == 0 {
		return buf[0]
	}
	return deep(n-1) + buf[n%len(buf)]
}
