//go:build !unix

package loadgen

import "time"

// selfCPU is not measured on this platform; the report shows 0.
func selfCPU() time.Duration { return 0 }
