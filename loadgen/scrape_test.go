package loadgen

import (
	"strings"
	"testing"
)

func TestParseMetricsTakesTheSeriesItNeeds(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_gc_duration_seconds{quantile="0.5"} 1.2e-05
liveroom_frames_in_total{type="chat"} 7
liveroom_sockets_open 3
liveroom_rooms_active 1
process_cpu_seconds_total 1.25
process_resident_memory_bytes 2.5165824e+07 1700000000000
liveroom_store_seconds_bucket{op="apply",le="0.0001"} 1
liveroom_store_seconds_sum{op="apply"} 0.5
liveroom_store_seconds_count{op="apply"} 100
liveroom_store_seconds_sum{op="get"} 9
`
	s, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK || s.Goroutines != 42 || s.Sockets != 3 || s.Rooms != 1 || s.CPUSeconds != 1.25 || s.RSSBytes != 25165824 ||
		s.StoreApplies != 100 || s.StoreApplySeconds != 0.5 {
		t.Fatalf("parsed %+v", s)
	}
	if _, err := parseMetrics(strings.NewReader("<html>not metrics</html>\n")); err == nil {
		t.Fatal("a page without any known series parsed as metrics")
	}
}
