// Package session holds the actor that stands for one browser connection on
// the node that holds its socket. Room grains send it frames; it puts them on
// the connection's bounded outbound queue, and a client too slow to drain that
// queue is disconnected rather than allowed to hold up its room.
package session

import (
	"bytes"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/protojson"

	"liveroom/proto/pb"
)

// Outbox is a connection's bounded outbound queue of encoded frames. Its
// storage grows with what is queued (up to size frames) and is given back
// when the writer takes it, and no writer runs while it is empty: the
// connection starts one (see NewOutbox) when frames arrive, and it ends once
// it has taken the last. Thousands of quiet connections cost little.
type Outbox struct {
	size       int
	overflowed func()
	start      func()

	mu      sync.Mutex
	queue   [][]byte
	closed  bool
	writing bool // a writer was started and has not yet found the queue empty
}

// NewOutbox returns a queue of size frames; overflowed runs once, the first
// time a frame does not fit. start runs when a frame is queued while no
// writer is at work; it must start one (a goroutine that calls Take until
// it returns nothing) and not block. It runs under the outbox's lock, so
// the writer may not be running yet when it returns, but never runs twice
// at once.
func NewOutbox(size int, overflowed, start func()) *Outbox {
	return &Outbox{size: size, overflowed: overflowed, start: start}
}

// Take returns every queued frame, oldest first, and empties the queue. When
// it returns none, the writer must stop: the next Push starts another.
func (o *Outbox) Take() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queue
	o.queue = nil
	if len(q) == 0 {
		o.writing = false
	}
	return q
}

var wire = protojson.MarshalOptions{}

// Encode renders a frame in its wire form.
func Encode(f *pb.ServerFrame) []byte {
	b, err := wire.Marshal(f)
	if err != nil {
		// Only invalid UTF-8 can fail here, and every string was validated on
		// the way in; answer with a frame the client can still show.
		b, _ = wire.Marshal(&pb.ServerFrame{ReplyTo: f.ReplyTo, Body: &pb.ServerFrame_Error{
			Error: &pb.Error{Code: "internal", Message: "frame could not be encoded"}}})
	}
	return b
}

// WithReplyTo returns frame (the wire form of a ServerFrame without a
// reply_to) answering the client frame id. A chat message goes to every
// member encoded once; its sender's copy, the answer to the frame that
// posted it, differs only by reply_to, and is made from those bytes rather
// than by encoding the message again.
func WithReplyTo(frame []byte, id string) []byte {
	if id == "" {
		return frame
	}
	head := Encode(&pb.ServerFrame{ReplyTo: id}) // {"replyTo":"..."}
	if len(frame) < 2 || frame[0] != '{' || len(head) < 2 || head[len(head)-1] != '}' {
		return frame // not an object: nothing this package encodes
	}
	rest := bytes.TrimLeft(frame[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] == '}' {
		return head
	}
	out := make([]byte, 0, len(head)+len(frame))
	out = append(out, head[:len(head)-1]...)
	out = append(out, ',')
	return append(out, rest...)
}

// Push queues f without ever blocking; it reports false when the queue is
// full, after which the connection is being closed.
func (o *Outbox) Push(f *pb.ServerFrame) bool { return o.PushEncoded(Encode(f)) }

// PushEncoded queues frames already in wire form, in order, like Push. The
// slices are shared, not copied: a frame going to many connections is
// encoded once, and nobody may change it after.
func (o *Outbox) PushEncoded(frames ...[]byte) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if len(o.queue)+len(frames) > o.size {
		o.closed = true
		o.queue = nil
		overflowed := o.overflowed
		o.overflowed = nil
		o.start = nil
		o.mu.Unlock()
		overflowed()
		return false
	}
	o.queue = append(o.queue, frames...)
	if !o.writing && o.start != nil {
		o.writing = true
		o.start()
	}
	o.mu.Unlock()
	return true
}

// Release drops what the outbox holds (queued frames, the overflow
// callback and what it refers to) once its connection has ended; later
// pushes are refused. A stopped session actor may stay referenced for a
// while by the actor runtime's bookkeeping, and must not keep its socket's
// buffers alive with it.
func (o *Outbox) Release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.queue = nil
	o.overflowed = nil
	o.start = nil
}

// sessionActor feeds frames from grains to its connection's outbox.
type sessionActor struct{ out *Outbox }

func (s *sessionActor) Receive(ctx actor.Context) {
	switch f := ctx.Message().(type) {
	case *pb.ServerFrame:
		if s.out != nil {
			s.out.Push(f)
		}
	case *pb.EncodedFrames:
		if s.out != nil && len(f.Frames) > 0 {
			s.out.PushEncoded(f.Frames...)
		}
	case *actor.Stopped:
		s.out = nil
	}
}

// Props returns the props of a session actor feeding out.
func Props(out *Outbox) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &sessionActor{out: out} })
}
