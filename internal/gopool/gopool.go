// Package gopool runs short pieces of work on goroutines kept between them.
//
// A goroutine starts with a small stack and grows it by copying as calls go
// deeper. The node's short-lived goroutines (an actor's turn on its
// mailbox, a socket's writer, a reader woken from its parking) started
// fresh for every burst of work and grew their stacks again each time:
// stack copying was about a tenth of a chat delivery's server CPU. Kept
// goroutines keep their grown stacks (until the collector shrinks idle
// ones) and cost nothing while idle beyond that stack.
package gopool

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// maxIdle bounds the goroutines kept waiting for work; past it, a goroutine
// that finishes its work ends. A burst that needs more runs them on new
// goroutines, as before.
const maxIdle = 256

var (
	// handoff gives work to an idle goroutine; unbuffered, so Go never
	// queues work behind a goroutine that is busy.
	handoff = make(chan func())
	idle    atomic.Int32
)

// Go runs f on an idle kept goroutine, or on a new one when none is idle
// (like the go statement, it never waits). f may block: it only keeps its
// goroutine from other work meanwhile.
func Go(f func()) {
	select {
	case handoff <- f:
	default:
		go work(f)
	}
}

func work(f func()) {
	for {
		f()
		if idle.Add(1) > maxIdle {
			idle.Add(-1)
			return
		}
		f = <-handoff
		idle.Add(-1)
	}
}

// Dispatcher is an actor dispatcher that runs mailboxes through Go; it
// processes as many messages per turn as protoactor's default one.
var Dispatcher actor.Dispatcher = dispatcher{}

type dispatcher struct{}

func (dispatcher) Schedule(fn func()) { Go(fn) }

// Throughput is protoactor's default: messages per turn before the
// mailbox yields its goroutine.
func (dispatcher) Throughput() int { return 300 }
