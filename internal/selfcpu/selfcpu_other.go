//go:build !unix

package selfcpu

import "time"

// Used is not measured on this platform: 0.
func Used() time.Duration { return 0 }
