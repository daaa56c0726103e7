package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"liveroom/loadgen/mediapeer"
)

// session is one simulated member: one socket, one room.
type session struct {
	r    *runner
	idx  int
	room *roomState
	tgt  *target
	conn *websocket.Conn

	// joinResult carries the reader's verdict on the join: "" for joined,
	// otherwise the error kind.
	joinResult chan string
	mu         sync.Mutex
	state      int
	endKind    string
	closing    atomic.Bool

	lastSeen map[int]uint64 // per sender, highest seq seen; reader only

	// peer is the session's call member when the run has media; set before
	// the call frame is sent, read by the reader.
	peer atomic.Pointer[mediapeer.Peer]
	seq  atomic.Int64 // ids for media frames
	// joinSent is when the join frame went out: a viewer's time to first
	// frame counts from it.
	joinSent time.Time
	joined   atomic.Bool
}

// broadcaster reports whether the session is its room's first member: the
// agent of a room, the broadcaster of a broadcast.
func (s *session) broadcaster() bool { return s.idx%s.r.cfg.RoomSize == 0 }

const (
	stJoining = iota
	stJoined
	stDone
)

// serverFrame is the part of a ServerFrame (protojson) the tool looks at.
type serverFrame struct {
	ReplyTo string `json:"replyTo"`
	Joined  *struct {
		MemberID string `json:"memberId"`
	} `json:"joined"`
	BroadcastJoined *struct {
		MemberID string `json:"memberId"`
	} `json:"broadcastJoined"`
	Chat *struct {
		Text string `json:"text"`
	} `json:"chat"`
	mediapeer.Frame
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

const joinFrameID = "j"

// launch connects and joins; on success the session is counted as connected
// and, with a message rate, starts its sender.
func (r *runner) launch(ctx context.Context, idx int) {
	room := r.rooms[idx/r.cfg.RoomSize]
	tgt := r.targets[idx%len(r.targets)]
	if !room.created {
		r.fail("room_not_created")
		return
	}
	s := &session{r: r, idx: idx, room: room, tgt: tgt, joinResult: make(chan string, 1), lastSeen: map[int]uint64{}}

	dctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout.D())
	conn, resp, err := websocket.Dial(dctx, tgt.ws, &websocket.DialOptions{
		HTTPClient: r.wsClient,
		HTTPHeader: http.Header{"Origin": {tgt.origin}},
	})
	timedOut := dctx.Err() != nil
	cancel()
	if err != nil {
		r.fail(dialErrorKind(err, resp, timedOut))
		return
	}
	// A joined frame carries a page of history and the member list.
	conn.SetReadLimit(4 << 20)
	s.conn = conn
	if !r.register(s) {
		_ = conn.CloseNow()
		r.fail("interrupted")
		return
	}
	r.readers.Add(1)
	go s.read()

	join := `{"id":"` + joinFrameID + `","join":{"roomId":"` + room.id + `","name":"load ` + strconv.Itoa(idx) + `"`
	if s.broadcaster() {
		join += `,"agentKey":"` + room.agentKey + `"`
	}
	join += `}}`
	if r.cfg.Broadcast() {
		join = `{"id":"` + joinFrameID + `","broadcastJoin":{"broadcastId":"` + room.id + `","name":"load ` + strconv.Itoa(idx) + `"`
		if s.broadcaster() {
			join += `,"broadcasterKey":"` + room.agentKey + `"`
		}
		join += `}}`
		if !s.broadcaster() {
			// The server offers a viewer the broadcast's tracks right
			// after the join: its peer must be there to answer.
			s.newPeer(ctx, false)
		}
	}
	kind := ""
	wctx, cancel := context.WithTimeout(ctx, r.cfg.JoinTimeout.D())
	s.joinSent = time.Now()
	if err := conn.Write(wctx, websocket.MessageText, []byte(join)); err != nil {
		kind = "join_write_failed"
	} else {
		select {
		case kind = <-s.joinResult:
		case <-wctx.Done():
			kind = "join_timeout"
			if ctx.Err() != nil {
				kind = "interrupted"
			}
		}
	}
	cancel()

	s.mu.Lock()
	ok := kind == "" && s.state == stJoining
	if ok {
		s.state = stJoined
	} else if kind == "" {
		kind = s.endKind // the socket ended right after the join succeeded
	}
	s.mu.Unlock()
	if !ok {
		s.closing.Store(true)
		_ = conn.CloseNow()
		r.fail(kind)
		return
	}
	s.joined.Store(true)
	room.live.Add(1)
	tgt.connected.Add(1)
	r.connected.Add(1)
	if r.cfg.MsgRate > 0 {
		r.senders.Add(1)
		go s.send()
	}
	switch {
	case r.cfg.Broadcast() && s.broadcaster():
		s.goLive(ctx)
	case r.cfg.Media != "" && !r.cfg.Broadcast():
		go s.startMedia(ctx)
	}
}

// mediaErrors are error codes about the call, not about a chat message.
var mediaErrors = map[string]bool{"not_in_call": true, "no_call": true, "calls_disabled": true, "bad_sdp": true,
	"bad_candidate": true, "too_many_tracks": true, "unsupported_codec": true, "ice_timeout": true, "media_failed": true,
	"not_live": true, "receive_only": true}

// sendMedia writes one media frame body with a fresh id.
func (s *session) sendMedia(ctx context.Context, body map[string]any) error {
	body["id"] = "m" + strconv.FormatInt(s.seq.Add(1), 10)
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.r.cfg.ConnectTimeout.D())
	defer cancel()
	return s.conn.Write(wctx, websocket.MessageText, b)
}

// newPeer makes the session's call member.
func (s *session) newPeer(ctx context.Context, publishes bool) *mediapeer.Peer {
	peer := mediapeer.New(s.r.mediaAPI, mediapeer.Options{Video: publishes, VideoBitrate: s.r.cfg.VideoBitrate},
		func(body map[string]any) error { return s.sendMedia(ctx, body) })
	s.peer.Store(peer)
	s.r.peers.Add(1)
	return peer
}

// goLive makes a broadcaster live and publishes its audio and video.
func (s *session) goLive(ctx context.Context) {
	r := s.r
	peer := s.newPeer(ctx, true)
	if err := s.sendMedia(ctx, map[string]any{"broadcastControl": map[string]any{"action": "BROADCAST_ACTION_GO_LIVE"}}); err != nil {
		r.errorKind("media_live_failed")
		return
	}
	if err := peer.Publish(); err != nil {
		r.errorKind("media_publish_failed")
	}
}

// startMedia joins the room's call (ringing joins a call already going on)
// and, for a sending member, publishes synthetic audio and video.
func (s *session) startMedia(ctx context.Context) {
	r := s.r
	publishes := r.cfg.Media == "all" || s.broadcaster()
	peer := s.newPeer(ctx, publishes)
	if err := s.sendMedia(ctx, map[string]any{"call": map[string]any{"action": "ACTION_RING", "video": publishes}}); err != nil {
		r.errorKind("media_call_failed")
		return
	}
	if publishes {
		if err := peer.Publish(); err != nil {
			r.errorKind("media_publish_failed")
		}
	}
}

func dialErrorKind(err error, resp *http.Response, timedOut bool) string {
	switch {
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		return "dial_failed:http_" + strconv.Itoa(resp.StatusCode)
	case timedOut || errors.Is(err, context.DeadlineExceeded):
		return "dial_timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "dial_failed:refused"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return "dial_failed"
}

func closeKind(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return "closed:" + strconv.Itoa(int(code))
	}
	// No close frame: the connection was reset or the server vanished.
	return "closed:abnormal"
}

func (s *session) read() {
	r := s.r
	defer r.readers.Done()
	for {
		// No deadline on the read itself: an idle member legitimately hears
		// nothing for the whole run. The run closes every socket at its end,
		// which ends this read.
		_, data, err := s.conn.Read(context.Background())
		if err != nil {
			s.ended(closeKind(err))
			return
		}
		var f serverFrame
		if err := json.Unmarshal(data, &f); err != nil {
			r.errorKind("bad_server_frame")
			continue
		}
		switch {
		case f.PublishAnswer != nil || f.SubscribeOffer != nil:
			if p := s.peer.Load(); p != nil {
				if err := p.OnFrame(f.Frame); err != nil {
					r.errorKind("media_negotiation")
				}
			}
		case f.Error != nil && mediaErrors[f.Error.Code]:
			r.errorKind("media_error:" + f.Error.Code)
		case f.Chat != nil:
			s.onChat(f.Chat.Text, f.ReplyTo)
		case (f.Joined != nil || f.BroadcastJoined != nil) && f.ReplyTo == joinFrameID:
			s.reportJoin("")
		case f.Error != nil && f.ReplyTo == joinFrameID:
			s.reportJoin("join_refused:" + f.Error.Code)
		case f.Error != nil:
			// After the join a session sends nothing but chat, so every
			// error frame refuses one message (rate_limited ones carry no
			// replyTo, which is why they are counted, not matched).
			r.refused.Add(1)
			r.errorKind("error_frame:" + f.Error.Code)
		}
	}
}

func (s *session) reportJoin(kind string) {
	select {
	case s.joinResult <- kind:
	default:
	}
}

// ended records why the socket ended unless the run itself closed it.
func (s *session) ended(kind string) {
	s.mu.Lock()
	prev := s.state
	s.state, s.endKind = stDone, kind
	s.mu.Unlock()
	if s.closing.Load() {
		return
	}
	switch prev {
	case stJoining:
		s.reportJoin(kind)
	case stJoined:
		s.room.live.Add(-1)
		s.r.dropped.Add(1)
		s.r.errorKind(kind)
	}
}

func (s *session) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stJoined
}

// Chat text layout: "lt <run> <sender> <seq> <sent ns since run start> xxx…".
// The send time rides in the text so each receiver measures its own latency
// against the one monotonic clock of this process.
func (r *runner) chatText(sender int, seq uint64, sent time.Duration) string {
	var b strings.Builder
	b.Grow(max(r.cfg.MsgBytes, 64))
	b.WriteString("lt ")
	b.WriteString(r.runID)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(sender))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatUint(seq, 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(int64(sent), 10))
	if pad := r.cfg.MsgBytes - b.Len() - 1; pad > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Repeat("x", pad))
	}
	return b.String()
}

func parseChatText(text string) (run string, sender int, seq uint64, sent time.Duration, ok bool) {
	f := strings.SplitN(text, " ", 6)
	if len(f) < 5 || f[0] != "lt" {
		return "", 0, 0, 0, false
	}
	sender, err1 := strconv.Atoi(f[2])
	seq, err2 := strconv.ParseUint(f[3], 10, 64)
	ns, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, 0, false
	}
	return f[1], sender, seq, time.Duration(ns), true
}

func (s *session) onChat(text, replyTo string) {
	r := s.r
	now := time.Since(r.t0)
	run, sender, seq, sent, ok := parseChatText(text)
	if !ok || run != r.runID {
		r.foreign.Add(1)
		return
	}
	if sender == s.idx {
		if replyTo == "" {
			r.foreign.Add(1)
			return
		}
		// The echo to the sender means the server stored the message and is
		// fanning it out to everyone in the room right now.
		r.acked.Add(1)
		r.ackLatency.Record(now - sent)
		r.expected.Add(int64(s.room.live.Load() - 1))
		return
	}
	r.received.Add(1)
	r.latency.Record(now - sent)
	if seq <= s.lastSeen[sender] {
		r.outOfOrder.Add(1)
		return
	}
	s.lastSeen[sender] = seq
}

// send posts chat at the configured rate from the start of the hold phase
// until the run says stop.
func (s *session) send() {
	r := s.r
	defer r.senders.Done()
	select {
	case <-r.start:
	case <-r.stop:
		return
	}
	interval := time.Duration(float64(time.Second) / r.cfg.MsgRate)
	// A random first delay spreads the sessions over the interval instead of
	// having them all post in the same instant.
	next := time.Now().Add(rand.N(interval))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	var seq uint64
	for {
		select {
		case <-r.stop:
			return
		case <-timer.C:
		}
		if !s.alive() {
			return
		}
		seq++
		frame := `{"id":"c` + strconv.FormatUint(seq, 10) + `","chat":{"text":"` + r.chatText(s.idx, seq, time.Since(r.t0)) + `"}}`
		r.sent.Add(1)
		wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := s.conn.Write(wctx, websocket.MessageText, []byte(frame))
		cancel()
		if err != nil {
			r.sent.Add(-1)
			if !s.closing.Load() {
				r.errorKind("write_failed")
			}
			return
		}
		// Keep the schedule, but never burst to catch up: a burst would only
		// trip the server's per-socket rate limit.
		next = next.Add(interval)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		timer.Reset(time.Until(next))
	}
}

const writeTimeout = 5 * time.Second
