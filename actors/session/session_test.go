package session

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"liveroom/metrics"
	"liveroom/proto/pb"
)

func TestOutboxQueuesInOrderAndOverflowsOnce(t *testing.T) {
	overflows, starts := 0, 0
	o := NewOutbox(3, func() { overflows++ }, func() { starts++ })
	if o.queue != nil {
		t.Fatal("an empty outbox holds storage")
	}
	frame := func(id string) *pb.ServerFrame { return &pb.ServerFrame{ReplyTo: id} }
	for _, id := range []string{"a", "b"} {
		if !o.Push(frame(id)) {
			t.Fatalf("push %s refused", id)
		}
	}
	if starts != 1 {
		t.Fatalf("two frames started %d writers, want 1", starts)
	}
	got := o.Take()
	if len(got) != 2 || string(got[0]) != `{"replyTo":"a"}` || string(got[1]) != `{"replyTo":"b"}` {
		t.Fatalf("took %q", got)
	}
	if o.queue != nil {
		t.Error("Take kept the queue's storage")
	}
	if len(o.Take()) != 0 {
		t.Fatal("a second Take found frames")
	}
	// The writer found the queue empty and stopped: the next frame starts
	// another.
	for _, id := range []string{"c", "d", "e"} {
		if !o.Push(frame(id)) {
			t.Fatalf("push %s refused", id)
		}
	}
	if starts != 2 {
		t.Errorf("%d writers started, want 2", starts)
	}
	if o.Push(frame("f")) {
		t.Error("a fourth frame fit in a queue of 3")
	}
	if o.Push(frame("g")) {
		t.Error("an overflowed outbox took a frame")
	}
	if overflows != 1 {
		t.Errorf("overflowed ran %d times", overflows)
	}
	o.Release()
	if o.overflowed != nil || o.queue != nil || o.start != nil {
		t.Error("Release kept references")
	}
}

// TestFanOutHandsFramesToSessions: a fan-out message for this node reaches
// each listed session's outbox (through the node's table or the session
// actor), frames in order and shared, not copied; a session that is gone is
// skipped.
func TestFanOutHandsFramesToSessions(t *testing.T) {
	system := actor.NewActorSystem()
	if err := StartFanOut(system, metrics.New()); err != nil {
		t.Fatal(err)
	}
	if err := StartFanOut(system, nil); err == nil {
		t.Error("a second fan-out actor started under the same name")
	}
	outs := make([]*Outbox, 3)
	ids := make([]string, 0, len(outs)+1)
	for i := range outs {
		outs[i] = NewOutbox(10, func() {}, func() {})
		if i == 1 {
			// Entered in the node's table: frames go straight to its outbox.
			ids = append(ids, Spawn(system, outs[i], "direct").Id)
			continue
		}
		ids = append(ids, system.Root.Spawn(Props(outs[i])).Id)
	}
	gone := system.Root.Spawn(Props(NewOutbox(10, func() {}, func() {})))
	if err := system.Root.StopFuture(gone).Wait(); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, gone.Id)
	frames := [][]byte{[]byte(`{"chat":{"seq":"1"}}`), []byte(`{"chat":{"seq":"2"}}`)}
	// The last session posted the second message: it gets its own list.
	own := [][]byte{frames[0], []byte(`{"replyTo":"x","chat":{"seq":"2"}}`)}
	system.Root.Send(actor.NewPID(system.Address(), FanOutName), &pb.NodeFanOut{Frames: frames,
		Sessions: append(ids[:2:2], ids[3]), SentUnixNano: 1,
		Personal: []*pb.PersonalFrames{{Session: ids[2], Frames: own}}})
	for i, o := range outs {
		want := frames
		if i == 2 {
			want = own
		}
		var got [][]byte
		deadline := time.Now().Add(30 * time.Second)
		for len(got) < len(want) {
			if time.Now().After(deadline) {
				t.Fatalf("session %d got %d of %d frames", i, len(got), len(want))
			}
			got = append(got, o.Take()...)
			time.Sleep(10 * time.Millisecond)
		}
		if len(got) != len(want) || &got[0][0] != &want[0][0] || string(got[1]) != string(want[1]) {
			t.Fatalf("session %d got %q", i, got)
		}
	}
}

func TestPushEncodedOverflowsAsPush(t *testing.T) {
	overflows := 0
	o := NewOutbox(3, func() { overflows++ }, func() {})
	if !o.PushEncoded([]byte("a"), []byte("b")) {
		t.Fatal("two frames refused by a queue of 3")
	}
	if o.PushEncoded([]byte("c"), []byte("d")) {
		t.Fatal("four frames fit in a queue of 3")
	}
	if overflows != 1 || o.PushEncoded([]byte("e")) {
		t.Fatalf("overflowed %d times; pushes after the overflow must be refused", overflows)
	}
}

// TestLocalSessionsGetFramesInOrder: what a grain sends a session of its own
// node with Send and Deliver goes straight into the session's outbox, in the
// order sent; once its connection ended and the session stopped, it leaves
// the node's table.
func TestLocalSessionsGetFramesInOrder(t *testing.T) {
	system := actor.NewActorSystem()
	if err := StartFanOut(system, nil); err != nil {
		t.Fatal(err)
	}
	out := NewOutbox(10, func() {}, func() {})
	pid := Spawn(system, out, "s")
	other := NewOutbox(10, func() {}, func() {})
	otherPID := Spawn(system, other, "s")
	root := system.Root
	Send(root, pid, &pb.ServerFrame{ReplyTo: "a"}, nil)
	shared := [][]byte{[]byte(`{"replyTo":"b"}`)}
	Deliver(root, shared, []*actor.PID{otherPID}, map[*actor.PID][][]byte{pid: {[]byte(`{"replyTo":"own"}`)}}, nil)
	Deliver(root, [][]byte{[]byte(`{"replyTo":"c"}`)}, []*actor.PID{pid, otherPID}, nil, nil)
	got := out.Take()
	if len(got) != 3 || string(got[0]) != `{"replyTo":"a"}` || string(got[1]) != `{"replyTo":"own"}` || string(got[2]) != `{"replyTo":"c"}` {
		t.Fatalf("session got %q", got)
	}
	if got := other.Take(); len(got) != 2 || &got[0][0] != &shared[0][0] {
		t.Fatalf("other session got %q", got)
	}
	// As a connection ends: its outbox refuses frames, then its session stops.
	out.Release()
	Stop(system, pid)
	if localSessions(system).outbox(pid.Id) != nil {
		t.Fatal("a stopped session is still in the node's table")
	}
	Send(root, pid, &pb.ServerFrame{ReplyTo: "late"}, nil)
	if got := out.Take(); len(got) != 0 {
		t.Fatalf("a stopped session got %q", got)
	}
}

// TestTableSessionTakesMailboxFrames: a session in the node's table still
// gets what is sent to its actor's mailbox (as the whiteboard grain does).
func TestTableSessionTakesMailboxFrames(t *testing.T) {
	system := actor.NewActorSystem()
	if err := StartFanOut(system, nil); err != nil {
		t.Fatal(err)
	}
	out := NewOutbox(10, func() {}, func() {})
	pid := Spawn(system, out, "s")
	system.Root.Send(pid, &pb.ServerFrame{ReplyTo: "a"})
	system.Root.Send(pid, &pb.EncodedFrames{Frames: [][]byte{[]byte(`{"replyTo":"b"}`)}})
	var got [][]byte
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("got %q", got)
		}
		got = append(got, out.Take()...)
		time.Sleep(10 * time.Millisecond)
	}
	if string(got[0]) != `{"replyTo":"a"}` || string(got[1]) != `{"replyTo":"b"}` {
		t.Fatalf("got %q", got)
	}
}
