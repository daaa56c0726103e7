// Package session holds the actor that stands for one browser connection on
// the node that holds its socket. Room grains send it frames; it puts them on
// the connection's bounded outbound queue, and a client too slow to drain that
// queue is disconnected rather than allowed to hold up its room.
package session

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/protojson"

	"liveroom/proto/pb"
)

// Outbox is a connection's bounded outbound queue of encoded frames.
type Outbox struct {
	ch         chan []byte
	overflowed func()
	once       sync.Once
	done       chan struct{}
}

// NewOutbox returns a queue of size frames; overflowed runs once, the first
// time a frame does not fit.
func NewOutbox(size int, overflowed func()) *Outbox {
	return &Outbox{ch: make(chan []byte, size), overflowed: overflowed, done: make(chan struct{})}
}

// Frames is read by the connection's writer.
func (o *Outbox) Frames() <-chan []byte { return o.ch }

// Closed is closed once the outbox overflowed.
func (o *Outbox) Closed() <-chan struct{} { return o.done }

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

// Push queues f without ever blocking; it reports false when the queue is
// full, after which the connection is being closed.
func (o *Outbox) Push(f *pb.ServerFrame) bool {
	select {
	case <-o.done:
		return false
	default:
	}
	select {
	case o.ch <- Encode(f):
		return true
	default:
		o.once.Do(func() {
			close(o.done)
			o.overflowed()
		})
		return false
	}
}

// Props returns the props of a session actor feeding out.
func Props(out *Outbox) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if f, ok := ctx.Message().(*pb.ServerFrame); ok {
			out.Push(f)
		}
	})
}
