// Command table turns the JSON reports that bench/run.sh collected into the
// one benchmark table, with the median of each figure over repeated runs.
//
//	table DIR
//
// DIR holds <scenario>-<run>.json files written by `liveroom load --json`.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"liveroom/loadgen"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: table DIR")
		os.Exit(2)
	}
	runs, err := readRuns(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
	write(os.Stdout, runs)
}

// readRuns groups the reports by scenario: the file name up to its last '-'.
func readRuns(dir string) (map[string][]*loadgen.Report, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	runs := map[string][]*loadgen.Report{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rep := &loadgen.Report{}
		if err := json.Unmarshal(b, rep); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		runs[name] = append(runs[name], rep)
	}
	return runs, nil
}

func median(reps []*loadgen.Report, get func(*loadgen.Report) float64) float64 {
	v := make([]float64, len(reps))
	for i, r := range reps {
		v[i] = get(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func serverSum(r *loadgen.Report, get func(loadgen.ServerSide) float64) float64 {
	var s float64
	for _, sv := range r.Servers {
		s += get(sv)
	}
	return s
}

func describe(name string, c loadgen.Config) string {
	n := c.Rooms * c.RoomSize
	switch {
	case c.Media == "publisher":
		return fmt.Sprintf("%s: 1 publisher (audio + %d kbit/s video) to %d subscribers per room, %d room(s), %s",
			name, c.VideoBitrate/1000, c.RoomSize-1, c.Rooms, c.Duration)
	case c.MsgRate == 0:
		return fmt.Sprintf("%s: %d idle sessions in %d rooms of %d", name, n, c.Rooms, c.RoomSize)
	default:
		return fmt.Sprintf("%s: %d sessions in %d rooms of %d, %g msg/s each, %s", name, n, c.Rooms, c.RoomSize, c.MsgRate, c.Duration)
	}
}

func write(w io.Writer, runs map[string][]*loadgen.Report) {
	fmt.Fprintln(w, "| scenario | runs | sessions held | server memory per session | server RSS at end of ramp | server goroutines | chat latency p50 / p95 / p99 / max | server CPU | server store write (mean) | load tool CPU | failure ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	// The standard scenarios first, in their order, then anything else found.
	order := []string{"idle", "chat"}
	for name := range runs {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	slices.Sort(order[2:])
	for _, name := range order {
		reps := runs[name]
		if len(reps) == 0 {
			fmt.Fprintf(w, "| %s | 0 | not run | | | | | | | | |\n", name)
			continue
		}
		m := func(get func(*loadgen.Report) float64) float64 { return median(reps, get) }
		held := m(func(r *loadgen.Report) float64 { return float64(r.Sessions.Connected - r.Sessions.Dropped) })
		latency := "no chat"
		if reps[0].Config.MsgRate > 0 {
			latency = fmt.Sprintf("%.2f / %.2f / %.2f / %.2f ms",
				m(func(r *loadgen.Report) float64 { return r.Latency.P50Ms }),
				m(func(r *loadgen.Report) float64 { return r.Latency.P95Ms }),
				m(func(r *loadgen.Report) float64 { return r.Latency.P99Ms }),
				m(func(r *loadgen.Report) float64 { return r.Latency.MaxMs }))
		}
		if reps[0].Media != nil {
			latency = fmt.Sprintf("media: %.0f tracks received, loss %.3f%%, %.2f%% of a core per forwarded track",
				m(func(r *loadgen.Report) float64 { return float64(r.Media.RemoteTracks) }),
				m(func(r *loadgen.Report) float64 { return r.Media.LossRatio * 100 }),
				m(func(r *loadgen.Report) float64 { return r.Media.ServerCPUPerStream * 100 }))
		}
		store := "-"
		if reps[0].Config.MsgRate > 0 {
			store = fmt.Sprintf("%.2f ms", m(func(r *loadgen.Report) float64 {
				var sum float64
				for _, s := range r.Servers {
					sum += s.StoreApplyMsHold
				}
				return sum / float64(max(1, len(r.Servers)))
			}))
		}
		fmt.Fprintf(w, "| %s | %d | %.0f / %d | %.1f KiB | %.1f MiB | %.0f | %s | %.2f cores | %s | %.2f cores | %.4f |\n",
			describe(name, reps[0].Config), len(reps), held, reps[0].Sessions.Planned,
			m(func(r *loadgen.Report) float64 { return r.MemoryPerSessionBytes })/1024,
			m(func(r *loadgen.Report) float64 {
				return serverSum(r, func(s loadgen.ServerSide) float64 { return s.EndOfRamp.RSSBytes })
			})/(1<<20),
			m(func(r *loadgen.Report) float64 {
				return serverSum(r, func(s loadgen.ServerSide) float64 { return s.EndOfRamp.Goroutines })
			}),
			latency,
			m(func(r *loadgen.Report) float64 {
				return serverSum(r, func(s loadgen.ServerSide) float64 { return s.CPUCoresHold })
			}),
			store,
			m(func(r *loadgen.Report) float64 { return r.LoadToolCPUCoresHold }),
			m(func(r *loadgen.Report) float64 { return r.Failures.Ratio }))
	}
}
