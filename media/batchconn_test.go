package media

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"
)

func udpPair(t *testing.T) (*batchConn, *net.UDPConn) {
	t.Helper()
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = recv.SetReadBuffer(4 << 20)
	bc := newBatchConn(send)
	t.Cleanup(func() { _ = bc.Close(); _ = recv.Close() })
	return bc, recv
}

// readAll reads n packets (each numbered in its first 4 bytes) or fails
// after a generous deadline.
func readAll(t *testing.T, recv *net.UDPConn, n int) []uint32 {
	t.Helper()
	_ = recv.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 2048)
	got := make([]uint32, 0, n)
	for len(got) < n {
		m, err := recv.Read(buf)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(got), n, err)
		}
		got = append(got, binary.BigEndian.Uint32(buf[:m]))
	}
	return got
}

func TestBatchConnSendsHeldWritesInOrder(t *testing.T) {
	bc, recv := udpPair(t)
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 1200)
	const n = 3*maxBatch + 5 // several full batches and a partial one
	bc.hold()
	for i := range n {
		binary.BigEndian.PutUint32(pkt, uint32(i))
		if w, err := bc.WriteToAddrPort(pkt, to); err != nil || w != len(pkt) {
			t.Fatalf("write %d: %d, %v", i, w, err)
		}
	}
	bc.release()
	// Not held: this one goes out at once, after the queue.
	binary.BigEndian.PutUint32(pkt, n)
	if _, err := bc.WriteTo(pkt, recv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for i, v := range readAll(t, recv, n+1) {
		if v != uint32(i) {
			t.Fatalf("packet %d carries %d: out of order", i, v)
		}
	}
}

func TestBatchConnOversizedWriteKeepsOrder(t *testing.T) {
	bc, recv := udpPair(t)
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	bc.hold()
	small := make([]byte, 100)
	big := make([]byte, slotSize+100)
	binary.BigEndian.PutUint32(small, 0)
	_, _ = bc.WriteToAddrPort(small, to)
	binary.BigEndian.PutUint32(big, 1)
	_, _ = bc.WriteToAddrPort(big, to)
	bc.release()
	if got := readAll(t, recv, 2); got[0] != 0 || got[1] != 1 {
		t.Fatalf("got %v, want [0 1]", got)
	}
}

// Writers in several goroutines, held and not, never lose or duplicate a
// packet, and each writer's packets arrive in its order.
func TestBatchConnConcurrentWriters(t *testing.T) {
	bc, recv := udpPair(t)
	to := recv.LocalAddr().(*net.UDPAddr).AddrPort()
	const writers, each = 6, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pkt := make([]byte, 200)
			for i := range each {
				binary.BigEndian.PutUint32(pkt, uint32(w<<16|i))
				held := w%3 != 0
				if held {
					bc.hold()
				}
				_, _ = bc.WriteToAddrPort(pkt, to)
				if held {
					bc.release()
				}
			}
		}()
	}
	wg.Wait()
	next := make([]int, writers)
	for _, v := range readAll(t, recv, writers*each) {
		w, i := int(v>>16), int(v&0xffff)
		if i != next[w] {
			t.Fatalf("writer %d: packet %d arrived when %d was next", w, i, next[w])
		}
		next[w]++
	}
}

// A packet goes again to a subscriber a bounded number of times, and not
// twice within resendGap (the marks are moved back in time instead of
// sleeping).
func TestResendsPerPacketAreBounded(t *testing.T) {
	b := &binding{}
	const seq = 700
	age := func() { b.resent[seq%histSize].at -= 10 * resendGap.Milliseconds() }
	if _, ok, _ := b.allowResend(seq); !ok {
		t.Fatal("first resend refused")
	}
	if _, ok, stop := b.allowResend(seq); ok || stop {
		t.Fatalf("resend at once allowed (ok %v, stop %v)", ok, stop)
	}
	for i := 2; i <= maxResendsPerPacket; i++ {
		age()
		if _, ok, _ := b.allowResend(seq); !ok {
			t.Fatalf("resend %d refused", i)
		}
	}
	age()
	if _, ok, _ := b.allowResend(seq); ok {
		t.Fatal("resend beyond the limit allowed")
	}
	// Another packet in the same slot starts afresh.
	if _, ok, _ := b.allowResend(seq + histSize); !ok {
		t.Fatal("a newer packet in the same slot refused")
	}
}
