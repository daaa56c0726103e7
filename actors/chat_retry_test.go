package actors_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// A post that reaches its room again (the cluster retries requests whose
// answer was lost) is answered with the message stored the first time and
// not stored again: one after the other, in one batch, and after the room
// was activated again and its member came back on a new socket.
func TestRepeatedPostIsStoredOnce(t *testing.T) {
	dir := t.TempDir()
	settings := room.Settings{MaxMembers: 10, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
		IdleTimeout: time.Minute, TokenTTL: time.Hour, ResumeGrace: time.Minute}
	n := startNode(t, dir, settings)
	createRoom(t, n, "again", "")
	c := newClient(t, n)
	j := mustJoin(t, n, c, &pb.JoinRequest{RoomId: "again", Name: "Vic"})
	post := func(n *testNode, c *client, text, frame string) *pb.ChatMessage {
		t.Helper()
		reply, err := n.Tell(context.Background(), "again", &pb.PostChat{Session: c.pid, Text: text, FrameId: frame})
		if err != nil || reply.Error != nil || reply.Chat == nil {
			t.Fatalf("post %q: %v %v", text, err, reply.GetError())
		}
		return reply.Chat
	}
	first := post(n, c, "hello", "p1-1")
	if again := post(n, c, "hello", "p1-1"); again.Seq != first.Seq {
		t.Fatalf("the same post again got seq %d, the first %d", again.Seq, first.Seq)
	}
	var wg sync.WaitGroup
	seqs := make([]uint64, 4)
	for i := range seqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs[i] = post(n, c, "twice", "p1-2").Seq
		}()
	}
	wg.Wait()
	for _, s := range seqs[1:] {
		if s != seqs[0] {
			t.Fatalf("concurrent copies of one post got seqs %v", seqs)
		}
	}
	if other := post(n, c, "hello", "p1-3"); other.Seq != seqs[0]+1 {
		t.Fatalf("a new post with the same text got seq %d, want %d", other.Seq, seqs[0]+1)
	}
	n.stop()

	n2 := startNode(t, dir, settings)
	back := newClient(t, n2)
	rj := mustJoin(t, n2, back, &pb.JoinRequest{RoomId: "again", Name: "Vic", ResumeToken: j.ResumeToken})
	if rj.MemberId != j.MemberId {
		t.Fatalf("came back as %s, was %s", rj.MemberId, j.MemberId)
	}
	if again := post(n2, back, "hello", "p1-3"); again.Seq != seqs[0]+1 {
		t.Fatalf("after re-activation the repeated post got seq %d, want %d", again.Seq, seqs[0]+1)
	}
	stored := 0
	p := persistence.ChatPrefix("again")
	_ = n2.store.Scan(p, persistence.PrefixEnd(p), false, 0, func(_, _ []byte) bool { stored++; return true })
	if stored != 3 {
		t.Fatalf("%d messages stored, want 3", stored)
	}
}
