package stats

import "testing"

func TestRingKeepsTheNewestInOrder(t *testing.T) {
	r := NewRing(3)
	if got := r.Samples(); len(got) != 0 {
		t.Fatalf("empty ring has %d samples", len(got))
	}
	for i := 1; i <= 5; i++ {
		r.Add(Sample{AtMs: int64(i)})
	}
	got := r.Samples()
	if len(got) != 3 || got[0].AtMs != 3 || got[1].AtMs != 4 || got[2].AtMs != 5 {
		t.Fatalf("samples = %+v, want 3,4,5", got)
	}
}
