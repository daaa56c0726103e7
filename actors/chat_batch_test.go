package actors_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// gatedStore holds writes while its gate is closed, the way a slow disk
// holds a synced write, and records the size of each write.
type gatedStore struct {
	persistence.Store
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	entered chan struct{} // gets a value when a write starts waiting
	sizes   []int
}

func (s *gatedStore) close() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.entered = make(chan struct{}, 100)
	s.mu.Unlock()
}

func (s *gatedStore) open() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func (s *gatedStore) Apply(b *persistence.Batch) error {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.sizes = append(s.sizes, b.Len())
	s.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	return s.Store.Apply(b)
}

// TestChatGroupCommit posts while a chat write is held: the grain keeps
// answering other requests, answers no message before its write is done,
// then writes what queued meanwhile together; every member sees the same
// gapless sequence, and it continues after a restart.
func TestChatGroupCommit(t *testing.T) {
	dir := t.TempDir()
	gs := &gatedStore{}
	n := startNodeOn(t, dir, func(s persistence.Store) persistence.Store { gs.Store = s; return gs })
	createRoom(t, n, "batch", "")
	const members = 5
	clients := make([]*client, members)
	for i := range clients {
		clients[i] = newClient(t, n)
		mustJoin(t, n, clients[i], &pb.JoinRequest{RoomId: "batch", Name: fmt.Sprint("m", i)})
	}

	gs.close()
	type answer struct {
		reply *pb.RoomReply
		err   error
	}
	answers := make(chan answer, 100)
	post := func(c *client, text string) {
		reply, err := n.Tell(context.Background(), "batch", &pb.PostChat{Session: c.pid, Text: text, FrameId: text})
		answers <- answer{reply, err}
	}
	go post(clients[0], "first")
	<-gs.entered // the first message's write is under way and held
	for i, c := range clients {
		go post(c, fmt.Sprint("queued-", i))
	}
	// The grain still answers while its write is held.
	info, err := n.RoomInfo(context.Background(), "batch")
	if err != nil || info.Error != nil {
		t.Fatalf("room info during a chat write: %v %v", err, info.GetError())
	}
	reply, err := n.Tell(context.Background(), "batch", &pb.GetHistory{Session: clients[1].pid, Request: &pb.HistoryRequest{}, FrameId: "h"})
	if err != nil || reply.Error != nil {
		t.Fatalf("history during a chat write: %v %v", err, reply.GetError())
	}
	select {
	case a := <-answers:
		t.Fatalf("a message was answered before its write was done: %v %v", a.reply, a.err)
	default:
	}
	gs.open()

	seqs := map[uint64]string{}
	for range members + 1 {
		a := <-answers
		if a.err != nil || a.reply.Error != nil {
			t.Fatalf("chat: %v %v", a.err, a.reply.GetError())
		}
		if prev, dup := seqs[a.reply.Chat.Seq]; dup {
			t.Fatalf("seq %d given to %q and %q", a.reply.Chat.Seq, prev, a.reply.Chat.Text)
		}
		seqs[a.reply.Chat.Seq] = a.reply.Chat.Text
	}
	if seqs[1] != "first" {
		t.Fatalf("seq 1 is %q, want the message whose write was held", seqs[1])
	}
	for s := uint64(1); s <= members+1; s++ {
		if seqs[s] == "" {
			t.Fatalf("seqs are not gapless: %v", seqs)
		}
	}
	var order []string
	for i, c := range clients {
		var got []string
		for len(got) < members+1 {
			f := c.next()
			m := f.GetChat()
			if m == nil {
				continue
			}
			if m.Seq != uint64(len(got)+1) {
				t.Fatalf("member %d got seq %d after %d messages", i, m.Seq, len(got))
			}
			if want := fmt.Sprint("queued-", i); m.Text == want && f.ReplyTo != want {
				t.Fatalf("member %d's own message came without its frame id: %q", i, f.ReplyTo)
			}
			got = append(got, m.Text)
		}
		if i == 0 {
			order = got
		}
		for j := range got {
			if got[j] != order[j] {
				t.Fatalf("members 0 and %d disagree at %d: %q vs %q", i, j, order[j], got[j])
			}
		}
	}
	gs.mu.Lock()
	t.Logf("write sizes (operations): %v", gs.sizes)
	gs.mu.Unlock()

	// Everything acknowledged is on disk, and the sequence goes on.
	n.stop()
	n = startNode(t, dir, room.Settings{})
	c := newClient(t, n)
	j := mustJoin(t, n, c, &pb.JoinRequest{RoomId: "batch", Name: "later"})
	if len(j.History) != members+1 {
		t.Fatalf("history after restart has %d messages, want %d", len(j.History), members+1)
	}
	for i, m := range j.History {
		if m.Seq != uint64(i+1) || m.Text != order[i] {
			t.Fatalf("history %d after restart: seq %d %q, want seq %d %q", i, m.Seq, m.Text, i+1, order[i])
		}
	}
	reply, err = n.Tell(context.Background(), "batch", &pb.PostChat{Session: c.pid, Text: "after", FrameId: "after"})
	if err != nil || reply.Error != nil {
		t.Fatalf("chat after restart: %v %v", err, reply.GetError())
	}
	if reply.Chat.Seq != members+2 {
		t.Fatalf("first message after restart has seq %d, want %d", reply.Chat.Seq, members+2)
	}
}
