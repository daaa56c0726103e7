package session

import (
	"testing"

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
