// Package webhook tells other systems what happens in Liveroom. Grains emit
// events with Emitter.Emit, which only writes them to a durable queue in the
// store (one queue per receiver, in the emitting node's partition); a
// Dispatcher per node reads that queue and POSTs each event, signed, to its
// receiver, in order, retrying with backoff. A restart loses nothing: the
// queue is in the store and a job leaves it only once delivered (or given
// up after MaxAttempts).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Event types.
const (
	RoomCreated     = "room.created"
	RoomStarted     = "room.started"
	RoomEnded       = "room.ended"
	MemberJoined    = "member.joined"
	MemberLeft      = "member.left"
	CallStarted     = "call.started"
	CallEnded       = "call.ended"
	RecordingReady  = "recording.ready"
	OfflineMessage  = "offline.message"
	RequestAccepted = "request.accepted"
	RequestDeclined = "request.declined"
)

// Types lists every event type, for validation and the panel.
var Types = []string{RoomCreated, RoomStarted, RoomEnded, MemberJoined, MemberLeft, CallStarted, CallEnded,
	RecordingReady, OfflineMessage, RequestAccepted, RequestDeclined}

// ValidType reports whether t is a known event type.
func ValidType(t string) bool {
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Headers of a delivery. The signature is HMAC-SHA256, keyed with the
// receiver's secret, over the timestamp, a '.', and the body, in hex:
//
//	Liveroom-Timestamp: 1767225600
//	Liveroom-Signature: v1=5257a869e7…
const (
	HeaderTimestamp = "Liveroom-Timestamp"
	HeaderSignature = "Liveroom-Signature"
	HeaderEvent     = "Liveroom-Event"
	HeaderDelivery  = "Liveroom-Delivery"
)

// Sign returns the Liveroom-Signature value for body sent at ts (Unix seconds).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery's signature and that its timestamp is within
// tolerance of now, which stops an old delivery from being replayed.
func Verify(secret, tsHeader, sigHeader string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts int64
	if _, err := fmt.Sscan(tsHeader, &ts); err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sigHeader))
}

// Keys:
//
//	hook/<id>                          receiver
//	whq/<node>/<hook>/<ms>-<seq>       job waiting for delivery (16 hex digits each)
//	whlog/<hook>/<ms>-<random>         a delivery attempt

// HookKey is the key of a receiver.
func HookKey(id string) []byte { return []byte("hook/" + id) }

// HookPrefix is the prefix of every receiver.
func HookPrefix() []byte { return []byte("hook/") }

// QueuePrefix is the prefix of one receiver's queue on one node.
func QueuePrefix(node, hook string) []byte { return []byte("whq/" + node + "/" + hook + "/") }

// LogPrefix is the prefix of a receiver's delivery log.
func LogPrefix(hook string) []byte { return []byte("whlog/" + hook + "/") }

// Emitter writes events into the queues of the receivers that want them.
// Safe for concurrent use: every grain on the node shares one.
type Emitter struct {
	store persistence.Store
	node  string
	log   *zap.Logger
	wake  chan struct{}

	mu       sync.Mutex // guards what follows
	hooks    []*pb.WebhookRecord
	loadedAt time.Time
	seq      uint64
	lastMs   int64
}

// hookCacheFor is how long a node trusts its copy of the receiver list;
// a change made through another node shows here within this time.
const hookCacheFor = 5 * time.Second

// NewEmitter makes the emitter of node (a name stable across restarts, such
// as the cluster address).
func NewEmitter(store persistence.Store, node string, log *zap.Logger) *Emitter {
	return &Emitter{store: store, node: strings.ReplaceAll(node, "/", "_"), log: log, wake: make(chan struct{}, 1)}
}

// Changed drops the cached receiver list (after one was added or removed here).
func (e *Emitter) Changed() {
	e.mu.Lock()
	e.loadedAt = time.Time{}
	e.mu.Unlock()
	e.nudge()
}

func (e *Emitter) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Hooks returns the receivers, from the cache when it is fresh.
func (e *Emitter) Hooks() ([]*pb.WebhookRecord, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.loadedAt) < hookCacheFor {
		return e.hooks, nil
	}
	hooks, err := LoadHooks(e.store)
	if err != nil {
		return nil, err
	}
	e.hooks, e.loadedAt = hooks, time.Now()
	return hooks, nil
}

// LoadHooks reads every receiver from the store.
func LoadHooks(s persistence.Store) ([]*pb.WebhookRecord, error) {
	var out []*pb.WebhookRecord
	var derr error
	p := HookPrefix()
	err := s.Scan(p, persistence.PrefixEnd(p), false, 0, func(_, v []byte) bool {
		h := &pb.WebhookRecord{}
		if derr = proto.Unmarshal(v, h); derr != nil {
			return false
		}
		out = append(out, h)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

func wants(h *pb.WebhookRecord, typ, agentID string) bool {
	if h.AgentId != "" && h.AgentId != agentID {
		return false
	}
	if len(h.Events) == 0 {
		return true
	}
	for _, t := range h.Events {
		if t == typ {
			return true
		}
	}
	return false
}

// Emit queues an event for every receiver that wants it. It writes to the
// store (so the event survives a crash from here on) and never waits on a
// receiver; with no receiver interested it writes nothing.
func (e *Emitter) Emit(typ, roomID, agentID string, data map[string]string) {
	if e == nil {
		return
	}
	hooks, err := e.Hooks()
	if err != nil {
		e.log.Error("webhook receivers unreadable; event dropped", zap.String("type", typ), zap.Error(err))
		return
	}
	var b persistence.Batch
	now := time.Now()
	ev := &pb.WebhookEvent{Id: newID(), Type: typ, AtMs: now.UnixMilli(), RoomId: roomID, AgentId: agentID, Data: data}
	for _, h := range hooks {
		if !wants(h, typ, agentID) {
			continue
		}
		raw, err := proto.Marshal(&pb.WebhookJob{Event: ev})
		if err != nil {
			continue
		}
		b.Set(e.jobKey(h.Id, now), raw)
	}
	if b.Len() == 0 {
		return
	}
	if err := e.store.Apply(&b); err != nil {
		e.log.Error("queue webhook event", zap.String("type", typ), zap.Error(err))
		return
	}
	e.nudge()
}

// jobKey orders jobs by time, then by a counter for those in one millisecond.
func (e *Emitter) jobKey(hook string, now time.Time) []byte {
	e.mu.Lock()
	ms := now.UnixMilli()
	if ms <= e.lastMs {
		ms = e.lastMs
	}
	e.lastMs = ms
	e.seq++
	seq := e.seq
	e.mu.Unlock()
	return []byte(fmt.Sprintf("%s%016x-%016x", QueuePrefix(e.node, hook), ms, seq))
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Node is the name of this node's queue partition.
func (e *Emitter) Node() string { return e.node }

// SaveHook stores a receiver.
func SaveHook(s persistence.Store, h *pb.WebhookRecord) error {
	raw, err := proto.Marshal(h)
	if err != nil {
		return err
	}
	return s.Set(HookKey(h.Id), raw)
}

// RecordingReadyData is the data of a recording.ready event: what a
// receiver needs to fetch the zip. downloadPath is the room owner's route
// (their login); adminPath takes an admin or supervisor API key.
func RecordingReadyData(rec *pb.RecordingRecord) map[string]string {
	return map[string]string{
		"recordingId":  rec.Id,
		"size":         strconv.FormatInt(rec.Size, 10),
		"durationMs":   strconv.FormatInt(rec.DurationMs, 10),
		"downloadPath": "/recordings/" + rec.RoomId + "/" + rec.Id,
		"adminPath":    "/api/admin/recordings/" + rec.RoomId + "/" + rec.Id,
		"state":        rec.State,
		"by":           rec.ByName,
	}
}
