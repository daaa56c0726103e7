package transport

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// clientFrame builds one masked client frame.
func clientFrame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	f = append(f, 9, 8, 7, 6)
	return append(f, payload...)
}

// The gate may answer errIdle only where a whole message ends: it must
// follow headers of every length form, control frames between fragments,
// and bytes arriving in any split.
func TestFramesFindMessageEnds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var stream []byte
		// ends[i] is true when a message ends after byte i-1.
		ends := map[int]bool{0: true}
		for range 1 + rng.IntN(8) {
			size := func() int {
				switch rng.IntN(4) {
				case 0:
					return rng.IntN(126)
				case 1:
					return 126 + rng.IntN(1000)
				case 2:
					return 1<<16 + rng.IntN(100)
				}
				return 0
			}
			switch rng.IntN(3) {
			case 0: // a control frame on its own
				stream = append(stream, clientFrame(true, 0xa, bytes.Repeat([]byte{'p'}, rng.IntN(126)))...)
				ends[len(stream)] = true
			case 1: // a whole message in one frame
				stream = append(stream, clientFrame(true, 0x1, bytes.Repeat([]byte{'x'}, size()))...)
				ends[len(stream)] = true
			default: // a fragmented message with a ping in the middle
				stream = append(stream, clientFrame(false, 0x2, bytes.Repeat([]byte{'a'}, size()))...)
				stream = append(stream, clientFrame(true, 0x9, []byte("ping"))...)
				stream = append(stream, clientFrame(false, 0x0, bytes.Repeat([]byte{'b'}, size()))...)
				stream = append(stream, clientFrame(true, 0x0, bytes.Repeat([]byte{'c'}, size()))...)
				ends[len(stream)] = true
			}
		}
		var f frames
		for at := 0; at < len(stream); {
			n := 1 + rng.IntN(600)
			if rng.IntN(4) == 0 {
				n = 1
			}
			n = min(n, len(stream)-at)
			f.follow(stream[at : at+n])
			at += n
			if got := f.betweenMessages(); got != ends[at] {
				t.Fatalf("round %d: after %d of %d bytes betweenMessages = %v, want %v", round, at, len(stream), got, ends[at])
			}
		}
	}
}

// However the bytes are split, following them ends in the same place.
func FuzzFramesSplit(f *testing.F) {
	f.Add(clientFrame(true, 0x1, []byte("hello")), uint16(3))
	f.Add(append(clientFrame(false, 0x1, make([]byte, 300)), clientFrame(true, 0x0, nil)...), uint16(7))
	f.Fuzz(func(t *testing.T, stream []byte, step uint16) {
		var whole, split frames
		whole.follow(stream)
		n := int(step%64) + 1
		for at := 0; at < len(stream); at += n {
			split.follow(stream[at:min(at+n, len(stream))])
		}
		if whole != split {
			t.Fatalf("whole %+v, split by %d %+v", whole, n, split)
		}
	})
}
