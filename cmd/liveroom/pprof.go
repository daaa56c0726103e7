//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // profiling endpoints, only in binaries built with -tags pprof
	"os"
)

// A binary built with -tags pprof serves Go's profiling endpoints on
// $LIVEROOM_PPROF_ADDR (for example 127.0.0.1:6060), for the server and for
// the load tool alike. Release builds carry none of this.
func init() {
	addr := os.Getenv("LIVEROOM_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
