//go:build unix

// Package selfcpu reads the CPU time this process has used, for the load
// tool's report and the benchmarks that divide work by CPU.
package selfcpu

import (
	"syscall"
	"time"
)

// Used is the CPU time this process has used, user and system.
func Used() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
