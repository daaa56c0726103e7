package session

import (
	"testing"

	"liveroom/proto/pb"
)

func TestOutboxQueuesInOrderAndOverflowsOnce(t *testing.T) {
	overflows := 0
	o := NewOutbox(3, func() { overflows++ })
	if o.queue != nil {
		t.Fatal("an empty outbox holds storage")
	}
	frame := func(id string) *pb.ServerFrame { return &pb.ServerFrame{ReplyTo: id} }
	for _, id := range []string{"a", "b"} {
		if !o.Push(frame(id)) {
			t.Fatalf("push %s refused", id)
		}
	}
	<-o.Ready()
	got := o.Take()
	if len(got) != 2 || string(got[0]) != `{"replyTo":"a"}` || string(got[1]) != `{"replyTo":"b"}` {
		t.Fatalf("took %q", got)
	}
	if o.queue != nil {
		t.Error("Take kept the queue's storage")
	}
	for _, id := range []string{"c", "d", "e"} {
		if !o.Push(frame(id)) {
			t.Fatalf("push %s refused", id)
		}
	}
	if o.Push(frame("f")) {
		t.Error("a fourth frame fit in a queue of 3")
	}
	select {
	case <-o.Closed():
	default:
		t.Error("overflow did not close the outbox")
	}
	o.Push(frame("g"))
	if overflows != 1 {
		t.Errorf("overflowed ran %d times", overflows)
	}
	o.Release()
	if o.overflowed != nil || o.queue != nil {
		t.Error("Release kept references")
	}
}
