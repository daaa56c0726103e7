package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// pingSlots is how many groups the sockets of one pinger are pinged in: one
// group per tick (every 156 ms at the default 20 s), so 50,000 sockets make
// about 400 pings at a time rather than all at once; a burst of thousands
// of pings on a starved machine could miss the pings' own 5 s write
// deadline.
const pingSlots = 128

// pingee is a socket the pinger keeps alive.
type pingee interface {
	wsConn() *websocket.Conn
	// missedPing runs when the client did not answer within the interval
	// (not when the socket was closed meanwhile); it closes the socket.
	missedPing(err error)
}

// pinger pings every socket of an endpoint once per interval from one
// ticker, instead of a ticker and a goroutine per socket. The ping itself
// runs on a goroutine of its own that lives until the pong (a round trip)
// or until the interval is over, when the client counts as gone. The
// ticker's goroutine runs only while sockets are registered.
type pinger struct {
	mu      sync.Mutex
	slots   [pingSlots]map[pingee]struct{}
	next    int // slot of the next socket added
	count   int
	running bool
}

// add registers c and returns its slot, for remove. every is the interval;
// it is taken when the ticker starts (the endpoint's value never changes
// while sockets are open).
func (p *pinger) add(c pingee, every time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	slot := p.next
	p.next = (p.next + 1) % pingSlots
	if p.slots[slot] == nil {
		p.slots[slot] = map[pingee]struct{}{}
	}
	p.slots[slot][c] = struct{}{}
	p.count++
	if !p.running {
		p.running = true
		go p.loop(every)
	}
	return slot
}

// remove forgets c, added in slot.
func (p *pinger) remove(c pingee, slot int) {
	p.mu.Lock()
	delete(p.slots[slot], c)
	p.count--
	p.mu.Unlock()
}

func (p *pinger) loop(every time.Duration) {
	tick := time.NewTicker(every / pingSlots)
	defer tick.Stop()
	slot := 0
	var batch []pingee
	for range tick.C {
		p.mu.Lock()
		if p.count == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		batch = batch[:0]
		for c := range p.slots[slot] {
			batch = append(batch, c)
		}
		p.mu.Unlock()
		slot = (slot + 1) % pingSlots
		for _, c := range batch {
			go ping(c, every)
		}
		clear(batch)
	}
}

func ping(c pingee, every time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), every)
	err := c.wsConn().Ping(ctx)
	cancel()
	// A socket closed meanwhile (net.ErrClosed) has ended for another
	// reason, which its own handler reports.
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.missedPing(err)
	}
}
