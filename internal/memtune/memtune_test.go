package memtune

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

var sink [][]byte

func readRuntime(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestReleaseAfterBurst: after a burst of allocation that left most of it
// garbage (sessions joining, then idle), the first quiet look hands the
// freed memory back; a look that finds the process busy does not.
func TestReleaseAfterBurst(t *testing.T) {
	var tn tuner
	tn.step()
	// Keep some live heap, and make four times as much garbage.
	keep := make([][]byte, 0, 512)
	for i := 0; i < 2560; i++ {
		b := make([]byte, 64<<10)
		if i%5 == 0 {
			keep = append(keep, b)
		} else {
			sink = append(sink, b)
		}
	}
	sink = nil
	runtime.GC()
	if tn.step() {
		t.Fatal("released right after the burst, while allocating")
	}
	before := readRuntime(mFree)
	if !tn.step() {
		t.Fatalf("no release on the first quiet look (free %d bytes)", before)
	}
	after := readRuntime(mFree)
	if after >= before/2 {
		t.Fatalf("free heap %d bytes before the release, %d after", before, after)
	}
	if tn.step() {
		t.Fatal("released again with nothing new to give back")
	}
	runtime.KeepAlive(keep)
}
