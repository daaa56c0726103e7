package media

import (
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
)

// batchConn is one of the node's UDP sockets as the ICE mux sees it. While a
// forwarding loop holds it (hold ... release around the fan-out of one
// packet), writes are queued, and release sends everything queued in one
// sendmmsg instead of one sendto per subscriber. Writes made while nobody
// holds it leave at once, as before (through the queue, so that packets
// always leave in the order they were written).
//
// A write from another goroutine (DTLS, STUN, RTCP) that arrives while a
// fan-out is running waits for the end of that fan-out: at most the time it
// takes to encrypt one packet per subscriber.
type batchConn struct {
	*net.UDPConn
	batch *ipv4.PacketConn

	// sendMu lets one flush run at a time, so packets leave in the order
	// they were queued.
	sendMu sync.Mutex

	mu    sync.Mutex
	holds int
	fill  *outQueue // collecting writes; swapped with spare by a flush
	spare *outQueue
	// onError, when set, is told about a failed batch send (the packets of
	// that batch are lost, as a failed sendto would lose one).
	onError func(error)
}

// maxBatch bounds one sendmmsg call; a full queue is sent at once.
const maxBatch = 64

// slotSize holds any packet the mux writes (RTP, RTCP, DTLS records and STUN
// are all kept under the path MTU); a larger one is sent on its own.
const slotSize = 1500

type outSlot struct {
	buf  [slotSize]byte
	ip   [16]byte
	addr net.UDPAddr
}

type outQueue struct {
	slots [maxBatch]outSlot
	msgs  [maxBatch]ipv4.Message
	n     int
}

func newOutQueue() *outQueue {
	q := &outQueue{}
	for i := range q.msgs {
		q.msgs[i].Buffers = make([][]byte, 1)
		q.msgs[i].Addr = &q.slots[i].addr
	}
	return q
}

// add copies b into the next slot; the caller has checked there is one.
func (q *outQueue) add(b []byte, to netip.AddrPort) {
	s := &q.slots[q.n]
	n := copy(s.buf[:], b)
	a := to.Addr().Unmap()
	if a.Is4() {
		v := a.As4()
		copy(s.ip[:], v[:])
		s.addr.IP = s.ip[:4]
	} else {
		v := a.As16()
		copy(s.ip[:], v[:])
		s.addr.IP = s.ip[:16]
	}
	s.addr.Port = int(to.Port())
	s.addr.Zone = a.Zone()
	q.msgs[q.n].Buffers[0] = s.buf[:n]
	q.n++
}

func newBatchConn(c *net.UDPConn) *batchConn {
	return &batchConn{UDPConn: c, batch: ipv4.NewPacketConn(c), fill: newOutQueue(), spare: newOutQueue()}
}

// ReadFromAddrPort and WriteToAddrPort let the ICE mux read and write
// without allocating an address per packet.
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

func (c *batchConn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if len(b) > slotSize {
		// Too big for a slot: sent on its own, after what is queued.
		c.sendMu.Lock()
		defer c.sendMu.Unlock()
		c.sendQueued()
		return c.WriteToUDPAddrPort(b, to)
	}
	for {
		c.mu.Lock()
		if c.fill.n < maxBatch {
			c.fill.add(b, to)
			// Unheld writes leave at once; they still go through the queue
			// so that they never overtake a packet queued before them.
			send := c.holds == 0 || c.fill.n == maxBatch
			c.mu.Unlock()
			if send {
				c.flush()
			}
			return len(b), nil
		}
		// Another writer filled the queue and is about to send it.
		c.mu.Unlock()
		c.flush()
	}
}

// WriteTo is the net.PacketConn write; it takes the same path.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(b, ua.AddrPort())
	}
	return c.UDPConn.WriteTo(b, addr)
}

func (c *batchConn) hold() {
	c.mu.Lock()
	c.holds++
	c.mu.Unlock()
}

// release ends one hold and sends whatever is queued, including writes
// other goroutines queued during it, so nothing waits for the last holder.
func (c *batchConn) release() {
	c.mu.Lock()
	c.holds--
	queued := c.fill.n > 0
	c.mu.Unlock()
	if queued {
		c.flush()
	}
}

// flush sends the queue. Writers keep filling the other queue meanwhile.
func (c *batchConn) flush() {
	c.sendMu.Lock()
	c.sendQueued()
	c.sendMu.Unlock()
}

// sendQueued does flush's work; the caller holds sendMu.
func (c *batchConn) sendQueued() {
	c.mu.Lock()
	q := c.fill
	c.fill, c.spare = c.spare, q
	c.mu.Unlock()
	sent := 0
	for sent < q.n {
		n, err := c.batch.WriteBatch(q.msgs[sent:q.n], 0)
		if err != nil {
			if c.onError != nil {
				c.onError(err)
			}
			// Skip the packet that failed (a closed socket fails them all,
			// one call each, which only happens at shutdown).
			n++
		}
		sent += n
	}
	q.n = 0
}

// batchGroup is every socket of the node: a fan-out may reach subscribers
// through any of them.
type batchGroup []*batchConn

func (g batchGroup) hold() {
	for _, c := range g {
		c.hold()
	}
}

func (g batchGroup) release() {
	for _, c := range g {
		c.release()
	}
}
