// Package remotewait lets tests that start several actor nodes in one
// process wait for a stopped node's remote connections to wind down.
//
// protoactor's remote.Start replaces grpc's process-wide logger each time a
// node starts, while a stopped node's endpoint writers may still be dialling
// (and logging through that logger) for several seconds, retrying an address
// that is gone. In one process that is a data race inside the libraries; in
// production each process starts one node, so only tests need to wait.
package remotewait

import (
	"bytes"
	"runtime"
	"time"
)

// Idle waits until no goroutine is setting up a remote endpoint writer or
// (re)connecting a grpc connection, or until limit passes. Connections that
// protoactor gave up on go idle after the dial option's idle timeout (see
// actors.StartNode), so this ends within seconds.
func Idle(limit time.Duration) {
	deadline := time.Now().Add(limit)
	buf := make([]byte, 1<<20)
	for {
		for {
			n := runtime.Stack(buf, true)
			if n < len(buf) {
				buf = buf[:n]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		busy := bytes.Contains(buf, []byte("remote.(*endpointWriter).initialize")) ||
			bytes.Contains(buf, []byte("grpc.(*addrConn)"))
		if !busy || time.Now().After(deadline) {
			return
		}
		buf = buf[:cap(buf)]
		time.Sleep(50 * time.Millisecond)
	}
}
