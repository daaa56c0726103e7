package actors_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"liveroom/actors/room"
	"liveroom/actors/session"
	"liveroom/proto/pb"
)

// BenchmarkChatFanout posts chat messages into a room of n members through the
// real path (cluster request to the room grain, Pebble write synced to disk,
// one send per member to its session actor) and waits until every member has
// every message.
func BenchmarkChatFanout(b *testing.B) {
	for _, size := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			n := startNode(b, b.TempDir(), room.Settings{})
			createRoom(b, n, "bench", "")
			counters := make([]*counter, size)
			for i := range counters {
				counters[i] = newCounter(b, n)
				if e := join(b, n, &client{tb: b, pid: counters[i].pid}, &pb.JoinRequest{RoomId: "bench", Name: fmt.Sprint("m", i)}); e != nil {
					b.Fatal(e)
				}
			}
			sender := counters[0].pid
			for _, c := range counters {
				c.reset()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				reply, err := n.Tell(context.Background(), "bench", &pb.PostChat{Session: sender, Text: "hello everyone"})
				if err != nil || reply.Error != nil {
					b.Fatal(err, reply.GetError())
				}
			}
			for _, c := range counters {
				c.wait(b, b.N)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

type counter struct {
	pid  *actor.PID
	msgs chan struct{}
}

// newCounter is a real session (actor, outbox and entry in the node's
// table), as a socket has, with a reader in place of the socket's writer
// that counts chat frames.
func newCounter(b testing.TB, n *testNode) *counter {
	c := &counter{msgs: make(chan struct{}, 1<<20)}
	var out *session.Outbox
	// Like a socket's writer: started when frames arrive, drains until
	// the outbox is empty.
	drain := func() {
		for {
			q := out.Take()
			if len(q) == 0 {
				return
			}
			for _, f := range q {
				if bytes.Contains(f, []byte(`"chat"`)) {
					c.msgs <- struct{}{}
				}
			}
		}
	}
	out = session.NewOutbox(1<<20, func() {}, func() { go drain() })
	c.pid = session.Spawn(n.System, out, "bench")
	return c
}

func (c *counter) reset() {
	for len(c.msgs) > 0 {
		<-c.msgs
	}
}

func (c *counter) wait(b *testing.B, want int) {
	deadline := time.After(time.Minute)
	for i := 0; i < want; i++ {
		select {
		case <-c.msgs:
		case <-deadline:
			b.Fatalf("member got %d of %d messages", i, want)
		}
	}
}

// BenchmarkChatConcurrentPosters has every member of a room of 20 post at
// once (b.N messages in all, each member waiting for its answer before its
// next, as a socket does), the way a busy room does: with the room's writes
// in group commits, messages that arrive during one synced write go
// together in the next.
func BenchmarkChatConcurrentPosters(b *testing.B) {
	const size = 20
	n := startNode(b, b.TempDir(), room.Settings{})
	createRoom(b, n, "busy", "")
	counters := make([]*counter, size)
	for i := range counters {
		counters[i] = newCounter(b, n)
		if e := join(b, n, &client{tb: b, pid: counters[i].pid}, &pb.JoinRequest{RoomId: "busy", Name: fmt.Sprint("m", i)}); e != nil {
			b.Fatal(e)
		}
	}
	for _, c := range counters {
		c.reset()
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range counters {
		share := b.N / size
		if i < b.N%size {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range share {
				reply, err := n.Tell(context.Background(), "busy", &pb.PostChat{Session: c.pid, Text: "hello everyone"})
				if err != nil || reply.Error != nil {
					b.Error(err, reply.GetError())
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range counters {
		c.wait(b, b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "deliveries/s")
}
