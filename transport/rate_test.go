package transport_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/transport"
)

// gatedStore holds every write while its gate is shut: a disk stall.
type gatedStore struct {
	persistence.Store
	mu   sync.Mutex
	gate chan struct{}
}

func (s *gatedStore) shut() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *gatedStore) open() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func (s *gatedStore) wait() {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil {
		<-g
	}
}

func (s *gatedStore) Apply(b *persistence.Batch) error { s.wait(); return s.Store.Apply(b) }
func (s *gatedStore) Set(k, v []byte) error            { s.wait(); return s.Store.Set(k, v) }

// A client that keeps under the documented limit is never refused or
// closed for it, even when the room stalls and the server reads its frames
// late, all at once.
func TestClientUnderTheLimitSurvivesAStalledRoom(t *testing.T) {
	const perSecond, burst = 20, 20
	var store *gatedStore
	e := startEndpoint(t, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 1000,
		RatePerSecond: perSecond, RateBurst: burst, PingInterval: time.Hour},
		room.Settings{}, func(s persistence.Store) persistence.Store {
			store = &gatedStore{Store: s}
			return store
		})
	e.createRoom(t, "stall")
	c := e.dial(t, 0)
	c.join("stall", "Steady")

	results := make(chan wsFrame, 1000)
	readErr := make(chan error, 1)
	go func() {
		for {
			f, err := c.read(2 * time.Minute)
			if err != nil {
				readErr <- err
				return
			}
			results <- f
		}
	}()

	// 19 frames a second for 6 seconds; the disk stalls for the first 4.
	const frames = 6 * 19
	store.shut()
	time.AfterFunc(4*time.Second, store.open)
	tick := time.NewTicker(time.Second / 19)
	for i := 0; i < frames; i++ {
		<-tick.C
		if err := c.send(chatFrame(fmt.Sprint("m", i), fmt.Sprint("message ", i))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	tick.Stop()

	acked := map[string]bool{}
	deadline := time.After(2 * time.Minute)
	for len(acked) < frames {
		select {
		case f := <-results:
			if f.Error != nil {
				t.Fatalf("frame %q refused with %s", f.ReplyTo, f.Error.Code)
			}
			if f.Chat != nil && f.ReplyTo != "" {
				acked[f.ReplyTo] = true
			}
		case err := <-readErr:
			t.Fatalf("connection ended after %d of %d acknowledgements: %v", len(acked), frames, err)
		case <-deadline:
			t.Fatalf("only %d of %d messages acknowledged", len(acked), frames)
		}
	}
	if n := e.counter("liveroom_frame_errors_total"); n != 0 {
		t.Errorf("%v error frames sent", n)
	}
}

// A client over the limit is refused, told which frame was refused, and
// closed with 4029 only when it keeps it up.
func TestClientOverTheLimitIsRefusedByFrame(t *testing.T) {
	e := startEndpoint(t, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 1000,
		RatePerSecond: 5, RateBurst: 5, PingInterval: time.Hour}, room.Settings{}, nil)
	e.createRoom(t, "fast")
	c := e.dial(t, 0)
	c.join("fast", "Hasty")
	for i := 0; i < 8; i++ {
		if err := c.send(chatFrame(fmt.Sprint("f", i), "hi")); err != nil {
			t.Fatal(err)
		}
	}
	refused := map[string]bool{}
	acked := 0
	for acked+len(refused) < 8 {
		f, err := c.read(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Error != nil && f.Error.Code == "rate_limited":
			if f.ReplyTo == "" {
				t.Error("rate_limited without the refused frame's id")
			}
			refused[f.ReplyTo] = true
		case f.Chat != nil && f.ReplyTo != "":
			acked++
		}
	}
	if len(refused) == 0 {
		t.Fatal("8 frames at once with a burst of 5: none refused")
	}
	// Going on far over the limit ends in 4029.
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = c.send(chatFrame("", "spam"))
	}
	for err == nil {
		_, err = c.read(time.Minute)
	}
	if !isClose(err, transport.CloseRateLimited) {
		t.Errorf("connection ended with %v, want close %d", err, transport.CloseRateLimited)
	}
}

// Strikes wear off: bursts over the limit far apart refuse frames but do
// not add up to a close.
func TestRateLimitStrikesWearOff(t *testing.T) {
	const burst = 5 // closing takes more than 2*burst refusals in a row
	e := startEndpoint(t, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 1000,
		RatePerSecond: 5, RateBurst: burst, PingInterval: time.Hour}, room.Settings{}, nil)
	e.createRoom(t, "bursty")
	c := e.dial(t, 0)
	c.join("bursty", "Bursty")
	refusedTotal := 0
	for round := 0; round < 2; round++ {
		if round > 0 {
			time.Sleep(2*burst*time.Second + time.Second) // strikes wear off at one a second
		}
		const sent = 2*burst + 1
		for i := 0; i < sent; i++ {
			if err := c.send(chatFrame(fmt.Sprint("r", round, "-", i), "hi")); err != nil {
				t.Fatal(err)
			}
		}
		for answered := 0; answered < sent; {
			f, err := c.read(time.Minute)
			if err != nil {
				t.Fatalf("round %d after %d refusals in all: %v", round, refusedTotal, err)
			}
			if f.Error != nil && f.Error.Code == "rate_limited" {
				refusedTotal++
				answered++
			} else if f.Chat != nil && f.ReplyTo != "" {
				answered++
			}
		}
	}
	if refusedTotal <= 2*burst {
		t.Fatalf("only %d refusals; the test needs more than %d to mean anything", refusedTotal, 2*burst)
	}
	// Still open: a ping is answered.
	if err := c.send(`{"id":"p","ping":{}}`); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.read(time.Minute)
		if err != nil {
			t.Fatalf("closed after %d refusals spread over time: %v", refusedTotal, err)
		}
		if f.ReplyTo == "p" {
			break
		}
	}
}
