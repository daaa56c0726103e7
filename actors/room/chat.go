package room

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/session"
	"liveroom/internal/gopool"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Chat is written in group commits. While one synced write of the room's
// messages is under way (off the grain's goroutine, so the grain keeps
// serving joins, history and calls), the messages that arrive queue up and
// go to the store together in the next write. A message gets its sequence
// number when its write starts, and is answered and fanned out only once
// that write is synced: nothing acknowledged can be lost, and seqs stay
// gapless and in the same order for every member (a failed write hands its
// numbers to the next one). A slow disk then costs a message about one or
// two writes, not a queue of them.

// maxChatBatch bounds one write; it is well below the default session
// queue (256 frames), which a member receives a whole batch into.
const maxChatBatch = 64

// recentChatKeep is how many of the newest messages the grain remembers by
// sender and frame id to recognise a post that comes again.
const recentChatKeep = 256

// chatPost is one chat message (or file announcement) waiting to be stored.
type chatPost struct {
	// sameAs is the post of the same batch this one repeats; it is not
	// stored and gets that post's answer.
	sameAs *chatPost
	msg    *pb.ChatMessage
	file   *pb.FileRef
	// sender is the posting member's session, which gets its copy as the
	// answer to frameID; nil for files.
	sender  *actor.PID
	frameID string
	// reply is who asked; it gets a RoomReply once the message is stored.
	reply *actor.PID
}

// chatBatch is a write under way; done receives its result once.
type chatBatch struct {
	posts []*chatPost
	last  uint64
	done  chan error
}

// chatStored comes back to the grain when a batch's write has ended.
type chatStored struct {
	batch *chatBatch
	err   error
}

// post queues a chat message; it is answered when its batch is stored.
func (g *grain) post(ctx actor.Context, msg *pb.ChatMessage, file *pb.FileRef, sender *actor.PID, frameID string) {
	g.chatQueue = append(g.chatQueue, &chatPost{msg: msg, file: file, sender: sender, frameID: frameID, reply: ctx.Sender()})
	g.startChat(ctx)
}

// startChat writes the queued messages unless a write is under way (its end
// starts the next one).
func (g *grain) startChat(ctx actor.Context) {
	if g.chatFlight != nil || len(g.chatQueue) == 0 || g.superseded {
		return
	}
	n := min(len(g.chatQueue), maxChatBatch)
	posts := g.chatQueue[:n:n]
	if n == len(g.chatQueue) {
		g.chatQueue = nil
	} else {
		g.chatQueue = g.chatQueue[n:]
	}
	if g.fence == nil {
		if err := g.takeFence(); err != nil {
			g.log.Error("store chat", zap.Error(err))
			g.answerChat(ctx, posts, errInternal)
			g.failChat(ctx, errInternal)
			return
		}
	}
	var b persistence.Batch
	stored := posts[:0:0]
	seq := g.lastSeq
	now := time.Now().UnixMilli()
	inBatch := map[string]*chatPost{}
	for _, p := range posts {
		if key := retryKey(p); key != "" {
			if orig := g.recentChat[key]; orig != nil {
				g.answerRetry(ctx, p, orig)
				continue
			}
			if first := inBatch[key]; first != nil {
				p.sameAs = first
				stored = append(stored, p)
				continue
			}
			inBatch[key] = p
		}
		p.msg.RoomId = g.id
		p.msg.Seq = seq + 1
		p.msg.SentAtMs = now
		raw, err := proto.Marshal(p.msg)
		var fraw []byte
		if err == nil && p.file != nil {
			fraw, err = proto.Marshal(p.file)
		}
		if err != nil {
			g.answerChat(ctx, []*chatPost{p}, errInternal)
			continue
		}
		seq++
		b.Set(persistence.ChatKey(g.id, seq), raw)
		if p.file != nil {
			b.Set(persistence.FileKey(g.id, p.file.Id), fraw)
		}
		stored = append(stored, p)
	}
	if len(stored) == 0 {
		g.startChat(ctx)
		return
	}
	batch := &chatBatch{posts: stored, last: seq, done: make(chan error, 1)}
	g.chatFlight = batch
	fence, self, system := g.fence, ctx.Self(), ctx.ActorSystem()
	gopool.Go(func() {
		err := fence.Apply(&b)
		batch.done <- err
		system.Root.Send(self, &chatStored{batch: batch, err: err})
	})
}

// send sends one frame to a member's session. Everything this grain sends
// a session goes through session.Send or session.Deliver, which keep it in
// order across nodes.
func (g *grain) send(ctx actor.Context, pid *actor.PID, f *pb.ServerFrame) {
	session.Send(ctx, pid, f, g.deps.Metrics)
}

// chatWritten handles the end of a batch's write.
func (g *grain) chatWritten(ctx actor.Context, msg *chatStored) {
	if msg.batch != g.chatFlight {
		return // already settled by settleChat
	}
	<-msg.batch.done
	g.finishChat(ctx, msg.batch, msg.err)
	g.startChat(ctx)
}

// settleChat waits for the write under way, if any, and answers it; the
// queue stays. Whatever must not overlap a chat write (deleting the room,
// stopping) calls it first.
func (g *grain) settleChat(ctx actor.Context) {
	if b := g.chatFlight; b != nil {
		g.finishChat(ctx, b, <-b.done)
	}
}

// failChat refuses every queued message.
func (g *grain) failChat(ctx actor.Context, perr *pb.Error) {
	q := g.chatQueue
	g.chatQueue = nil
	g.answerChat(ctx, q, perr)
}

func (g *grain) finishChat(ctx actor.Context, b *chatBatch, err error) {
	g.chatFlight = nil
	if err != nil {
		g.log.Error("store chat", zap.Error(err), zap.Int("messages", len(b.posts)))
		g.answerChat(ctx, b.posts, errInternal)
		if errors.Is(err, persistence.ErrConflict) {
			g.failChat(ctx, errInternal)
			g.supersede(ctx)
		}
		return
	}
	g.lastSeq = b.last
	posts := b.posts[:0:0]
	for _, p := range b.posts {
		if p.sameAs != nil {
			g.answerRetry(ctx, p, p.sameAs.msg)
			continue
		}
		g.rememberChat(p.msg)
		posts = append(posts, p)
	}
	b.posts = posts
	g.deps.Metrics.ChatMessages.Add(float64(len(b.posts)))
	// Every member gets the batch's frames, encoded once; a member that
	// posted in it gets its own messages as the answers to its frames.
	frames := make([][]byte, len(b.posts))
	var own map[*member][][]byte
	for i, p := range b.posts {
		frames[i] = session.Encode(&pb.ServerFrame{Body: &pb.ServerFrame_Chat{Chat: p.msg}})
		if p.sender == nil {
			continue
		}
		m := g.memberBySession(p.sender)
		if m == nil {
			continue
		}
		if own == nil {
			own = map[*member][][]byte{}
		}
		f := own[m]
		if f == nil {
			f = make([][]byte, 0, len(b.posts))
		}
		f = append(f, frames[len(f):i]...)
		own[m] = append(f, session.WithReplyTo(frames[i], p.frameID))
	}
	pids := make([]*actor.PID, 0, len(g.members))
	var personal map[*actor.PID][][]byte
	for _, m := range g.members {
		if f, ok := own[m]; ok {
			if personal == nil {
				personal = map[*actor.PID][][]byte{}
			}
			// With the frames after this member's last post of the batch.
			personal[m.pid] = append(f, frames[len(f):]...)
			continue
		}
		pids = append(pids, m.pid)
	}
	session.Deliver(ctx, frames, pids, personal, g.deps.Metrics)
	for _, p := range b.posts {
		if p.reply != nil {
			ctx.Send(p.reply, &pb.RoomReply{Chat: p.msg})
		}
	}
}

// A post can reach the grain twice: the cluster retries a request that
// timed out or met a dead activation, and the first attempt may have been
// stored (by an activation that then died) without its answer getting
// back. A member's frame ids are unique per socket, so the same sender and
// frame id among the newest messages is that post again: it gets the
// stored message as its answer and is not stored a second time.
func retryKey(p *chatPost) string {
	if p.sender == nil || p.msg.GetClientId() == "" || p.msg.GetMemberId() == "" {
		return ""
	}
	return p.msg.MemberId + "\x00" + p.msg.ClientId
}

func (g *grain) rememberChat(m *pb.ChatMessage) {
	if m.GetClientId() == "" || m.GetMemberId() == "" {
		return
	}
	if g.recentChat == nil {
		g.recentChat = map[string]*pb.ChatMessage{}
	}
	key := m.MemberId + "\x00" + m.ClientId
	if _, ok := g.recentChat[key]; !ok {
		g.recentOrder = append(g.recentOrder, key)
	}
	g.recentChat[key] = m
	if len(g.recentOrder) > recentChatKeep {
		delete(g.recentChat, g.recentOrder[0])
		g.recentOrder = g.recentOrder[1:]
	}
}

// answerRetry answers a repeated post with the message stored for it.
func (g *grain) answerRetry(ctx actor.Context, p *chatPost, stored *pb.ChatMessage) {
	g.deps.Metrics.ChatRetries.Inc()
	if p.sender != nil {
		g.send(ctx, p.sender, &pb.ServerFrame{ReplyTo: p.frameID, Body: &pb.ServerFrame_Chat{Chat: stored}})
	}
	if p.reply != nil {
		ctx.Send(p.reply, &pb.RoomReply{Chat: stored})
	}
}

// answerChat refuses posts with perr.
func (g *grain) answerChat(ctx actor.Context, posts []*chatPost, perr *pb.Error) {
	for _, p := range posts {
		if p.reply != nil {
			ctx.Send(p.reply, &pb.RoomReply{Error: perr})
		}
	}
}
