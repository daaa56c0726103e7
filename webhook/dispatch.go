package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Dispatcher delivers this node's queued events. It owns its state; one
// worker per receiver delivers that receiver's jobs strictly in order (a
// failing head blocks the ones behind it, so a receiver never sees events
// out of order), and receivers do not wait on one another.
type Dispatcher struct {
	Emitter *Emitter
	Client  *http.Client
	// Backoff is the wait after the n-th failed attempt (n from 1).
	Backoff     func(n int) time.Duration
	MaxAttempts int
	// KeepLog is how many delivery attempts are kept per receiver.
	KeepLog int
}

// DefaultBackoff doubles from 2 s up to one hour.
func DefaultBackoff(n int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func (d *Dispatcher) defaults() {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if d.Backoff == nil {
		d.Backoff = DefaultBackoff
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 15
	}
	if d.KeepLog == 0 {
		d.KeepLog = 100
	}
}

// Run delivers until ctx ends; in-flight deliveries are cancelled with it
// and stay queued.
func (d *Dispatcher) Run(ctx context.Context) {
	d.defaults()
	e := d.Emitter
	busy := map[string]bool{}
	done := make(chan string)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		hooks, err := LoadHooks(e.store)
		if err != nil {
			e.log.Warn("webhook receivers unreadable", zap.Error(err))
		}
		for _, h := range hooks {
			if busy[h.Id] || !d.due(h.Id) {
				continue
			}
			busy[h.Id] = true
			go func(h *pb.WebhookRecord) {
				d.drain(ctx, h)
				select {
				case done <- h.Id:
				case <-ctx.Done():
				}
			}(h)
		}
		select {
		case <-ctx.Done():
			return
		case id := <-done:
			delete(busy, id)
		case <-e.wake:
		case <-tick.C:
		}
	}
}

// head returns the first job of a receiver's queue on this node.
func (d *Dispatcher) head(hook string) (key []byte, job *pb.WebhookJob, err error) {
	p := QueuePrefix(d.Emitter.node, hook)
	var derr error
	err = d.Emitter.store.Scan(p, persistence.PrefixEnd(p), false, 1, func(k, v []byte) bool {
		key = append([]byte(nil), k...)
		job = &pb.WebhookJob{}
		derr = proto.Unmarshal(v, job)
		return false
	})
	if err == nil {
		err = derr
	}
	return key, job, err
}

func (d *Dispatcher) due(hook string) bool {
	_, job, err := d.head(hook)
	return err == nil && job != nil && job.NextAtMs <= time.Now().UnixMilli()
}

// drain delivers the receiver's due jobs in order, and stops at the first
// one that is not due (waiting for its retry) or when the queue is empty.
func (d *Dispatcher) drain(ctx context.Context, h *pb.WebhookRecord) {
	log := d.Emitter.log.With(zap.String("webhook", h.Id))
	for ctx.Err() == nil {
		key, job, err := d.head(h.Id)
		if err != nil {
			log.Error("read webhook queue", zap.Error(err))
			return
		}
		if job == nil || job.NextAtMs > time.Now().UnixMilli() {
			return
		}
		job.Attempts++
		status, answer, derr := d.deliver(ctx, h, job.Event)
		if ctx.Err() != nil {
			return // shutting down: the job stays as it was
		}
		entry := &pb.WebhookDelivery{EventId: job.Event.GetId(), Type: job.Event.GetType(), AtMs: time.Now().UnixMilli(),
			Status: int32(status), Attempt: job.Attempts, Answer: answer}
		var b persistence.Batch
		ok := derr == nil && status >= 200 && status < 300
		switch {
		case ok:
			b.Delete(key)
		case int(job.Attempts) >= d.MaxAttempts:
			entry.Error = errText(derr, status) + "; given up"
			b.Delete(key)
		default:
			entry.Error = errText(derr, status)
			job.LastError = entry.Error
			job.NextAtMs = time.Now().Add(d.Backoff(int(job.Attempts))).UnixMilli()
			raw, _ := proto.Marshal(job)
			b.Set(key, raw)
		}
		if raw, err := proto.Marshal(entry); err == nil {
			b.Set([]byte(fmt.Sprintf("%s%016x-%s", LogPrefix(h.Id), entry.AtMs, newID()[:8])), raw)
		}
		if err := d.Emitter.store.Apply(&b); err != nil {
			log.Error("record webhook delivery", zap.Error(err))
			return
		}
		d.trimLog(h.Id)
		if !ok {
			log.Info("webhook delivery failed", zap.String("event", job.Event.GetType()), zap.Int32("attempt", job.Attempts),
				zap.String("error", entry.Error))
			return
		}
	}
}

func errText(err error, status int) string {
	if err != nil {
		return err.Error()
	}
	return "answered " + strconv.Itoa(status)
}

// Body is the JSON a receiver gets.
type Body struct {
	ID      string            `json:"id"`
	Type    string            `json:"type"`
	AtMs    int64             `json:"atMs"`
	RoomID  string            `json:"roomId,omitempty"`
	AgentID string            `json:"agentId,omitempty"`
	Data    map[string]string `json:"data,omitempty"`
}

func (d *Dispatcher) deliver(ctx context.Context, h *pb.WebhookRecord, ev *pb.WebhookEvent) (int, string, error) {
	body, err := json.Marshal(Body{ev.GetId(), ev.GetType(), ev.GetAtMs(), ev.GetRoomId(), ev.GetAgentId(), ev.GetData()})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.Url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Liveroom-Webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(h.Secret, ts, body))
	req.Header.Set(HeaderEvent, ev.GetType())
	req.Header.Set(HeaderDelivery, ev.GetId())
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, string(answer), nil
}

// trimLog keeps the newest KeepLog attempts of a receiver.
func (d *Dispatcher) trimLog(hook string) {
	p := LogPrefix(hook)
	var keys [][]byte
	_ = d.Emitter.store.Scan(p, persistence.PrefixEnd(p), true, 0, func(k, _ []byte) bool {
		keys = append(keys, append([]byte(nil), k...))
		return true
	})
	if len(keys) <= d.KeepLog {
		return
	}
	var b persistence.Batch
	for _, k := range keys[d.KeepLog:] {
		b.Delete(k)
	}
	_ = d.Emitter.store.Apply(&b)
}

// Deliveries returns a receiver's newest attempts, newest first.
func Deliveries(s persistence.Store, hook string, limit int) ([]*pb.WebhookDelivery, error) {
	var out []*pb.WebhookDelivery
	var derr error
	p := LogPrefix(hook)
	err := s.Scan(p, persistence.PrefixEnd(p), true, limit, func(_, v []byte) bool {
		e := &pb.WebhookDelivery{}
		if derr = proto.Unmarshal(v, e); derr != nil {
			return false
		}
		out = append(out, e)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// Pending counts a receiver's queued jobs on node.
func Pending(s persistence.Store, node, hook string) (int, error) {
	n := 0
	p := QueuePrefix(node, hook)
	err := s.Scan(p, persistence.PrefixEnd(p), false, 10000, func(_, _ []byte) bool { n++; return true })
	return n, err
}

// RemoveHook deletes a receiver, its queue on node and its log.
func RemoveHook(s persistence.Store, node, hook string) error {
	var b persistence.Batch
	b.Delete(HookKey(hook))
	for _, p := range [][]byte{QueuePrefix(node, hook), LogPrefix(hook)} {
		if err := s.Scan(p, persistence.PrefixEnd(p), false, 0, func(k, _ []byte) bool {
			b.Delete(append([]byte(nil), k...))
			return true
		}); err != nil {
			return err
		}
	}
	return s.Apply(&b)
}
