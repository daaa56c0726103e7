package media

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Simulcast: a browser sends one video track as up to three encodings
// ("layers", told apart by their rid), lowest first. Each subscriber gets
// exactly one layer at a time through its ordinary binding of the track's
// fanout: the binding carries a simState that says which layer it forwards
// and rewrites sequence numbers, timestamps and VP8 picture ids, so the
// subscriber sees one continuous stream with one SSRC whichever layer it
// comes from.
//
// A subscriber's layer follows its own feedback: its receiver reports
// (fraction lost) and, when it sends them, REMB estimates. Heavy loss moves it
// one layer down; a run of clean reports lets it try the next layer up, and a
// try that brings loss back makes it wait longer before the next one. A
// change takes effect only at a keyframe of the target layer (asked for with
// a PLI), and until it comes the old layer keeps flowing, so the picture
// does not stop for a switch.

// maxLayers bounds the encodings of one simulcast track.
const maxLayers = 3

// Layer selection tuning.
const (
	lossDown     = 0.10                    // fraction lost that moves a subscriber down
	lossClean    = 0.02                    // below this a report counts as clean
	cleanReports = 3                       // clean reports in a row before trying a layer up
	settleAfter  = 1500 * time.Millisecond // reports this soon after a switch describe the old layer
	probeBackoff = 2 * time.Second         // wait after a down-switch before trying up again
	maxBackoff   = 10 * time.Second        // the wait doubles on each failed try, up to this
	probeHeld    = 10 * time.Second        // a layer kept this long clears the backoff
	layerIdle    = 1500 * time.Millisecond // a layer silent this long is not chosen
	simTick      = 250 * time.Millisecond
	rembHeadroom = 1.2 // REMB above the current layer's rate by this factor allows a try up
)

// layer is one encoding of a simulcast track.
type layer struct {
	idx    int
	rid    string
	remote *webrtc.TrackRemote
	pub    *webrtc.PeerConnection
	hist   history
	// header is the layer's forwarding loop's parsed header.
	header  rtp.Header
	pli     keyframeAsk
	bytes   atomic.Uint64
	lastAt  atomic.Int64  // unix ms of the last packet
	rate    atomic.Uint64 // bits per second over the last second
	rateAt  time.Time     // ticker only
	rateSum uint64        // ticker only
}

func (l *layer) keyframe() {
	l.pli.ask(func() {
		_ = l.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(l.remote.SSRC())}})
	})
}

func (l *layer) active(nowMs int64) bool {
	return l != nil && nowMs-l.lastAt.Load() < layerIdle.Milliseconds()
}

// keyframeAsk merges keyframe requests: at most one per pliInterval, and
// one asked for inside the interval is sent when it ends rather than
// dropped, so a late subscriber always gets its keyframe.
type keyframeAsk struct {
	last    atomic.Int64 // unix ms of the last request
	pending atomic.Bool
}

func (k *keyframeAsk) ask(send func()) {
	wait := time.Duration(k.last.Load()+pliInterval.Milliseconds()-time.Now().UnixMilli()) * time.Millisecond
	if wait <= 0 {
		k.last.Store(time.Now().UnixMilli())
		send()
		return
	}
	if k.pending.CompareAndSwap(false, true) {
		time.AfterFunc(wait, func() {
			k.pending.Store(false)
			k.last.Store(time.Now().UnixMilli())
			send()
		})
	}
}

// simTrack is the simulcast part of a fanout.
type simTrack struct {
	layers    [maxLayers]atomic.Pointer[layer]
	clockRate uint32
	h264      bool
	switches  *atomic.Uint64
	done      chan struct{}
	closeOnce sync.Once
}

// simState is one subscriber's position in a simulcast track.
type simState struct {
	mu sync.Mutex
	// cur is the layer forwarded now, target the one wanted; -1 for none.
	cur, target int
	// switchSeq is the publisher's sequence number of the keyframe that
	// started cur: older packets of cur (late retransmissions) would land
	// before the switch and are dropped.
	switchSeq uint16
	// off is what the current layer's numbers are moved by.
	off      shift
	sent     bool
	maxOut   uint16
	maxOutTs uint32
	maxOutAt int64 // unix ns
	// The highest VP8 picture id and TL0PICIDX sent, once one was.
	maxPic           uint16
	maxTl0           uint8
	picSent, tl0Sent bool
	switchAt         int64 // unix ns of the last switch
	// out remembers, per sequence number sent, where it came from, so a
	// NACK names a packet of the right layer.
	out *[histSize]outMark
	// Estimator.
	clean    int
	downAt   int64 // unix ns of the last move down
	upAt     int64 // unix ns of the last move up
	backoff  time.Duration
	remb     float64 // bits/s, 0 when the subscriber sends none
	lastWant int64   // unix ms when the target layer's keyframe was last asked for
}

type outMark struct {
	out, orig uint16
	layer     uint8
	ok        bool
	off       shift
}

// shift moves one layer's numbering into a subscriber's stream: RTP
// sequence number and timestamp, and VP8's picture id and TL0PICIDX (each
// layer counts its own, and a decoder that saw a later picture id before
// would take the new layer's frames for old ones).
type shift struct {
	seq uint16
	ts  uint32
	pic uint16 // modulo 2^15
	tl0 uint8
}

// vp8IDs locates the picture id and TL0PICIDX in a VP8 payload descriptor;
// an offset of 0 means absent (the descriptor's first byte is never one).
type vp8IDs struct {
	picAt, tl0At int
	longPic      bool
	pic          uint16
	tl0          uint8
}

func parseVP8IDs(p []byte) (v vp8IDs) {
	if len(p) < 2 || p[0]&0x80 == 0 {
		return v
	}
	ext, i := p[1], 2
	if ext&0x80 != 0 {
		if len(p) <= i {
			return vp8IDs{}
		}
		v.picAt = i
		if p[i]&0x80 != 0 {
			if len(p) <= i+1 {
				return vp8IDs{}
			}
			v.longPic, v.pic = true, uint16(p[i]&0x7f)<<8|uint16(p[i+1])
			i += 2
		} else {
			v.pic = uint16(p[i])
			i++
		}
	}
	if ext&0x40 != 0 && len(p) > i {
		v.tl0At, v.tl0 = i, p[i]
	}
	return v
}

// write puts the picture id and TL0PICIDX moved by off into p (the
// payload v was parsed from) and returns them.
func (v vp8IDs) write(p []byte, off shift) (pic uint16, tl0 uint8) {
	if v.picAt != 0 {
		if v.longPic {
			pic = (v.pic + off.pic) & 0x7fff
			p[v.picAt], p[v.picAt+1] = 0x80|byte(pic>>8), byte(pic)
		} else {
			pic = (v.pic + off.pic) & 0x7f
			p[v.picAt] = byte(pic)
		}
	}
	if v.tl0At != 0 {
		tl0 = v.tl0 + off.tl0
		p[v.tl0At] = tl0
	}
	return pic, tl0
}

func newSimTrack(codec webrtc.RTPCodecCapability, switches *atomic.Uint64) *simTrack {
	return &simTrack{clockRate: codec.ClockRate, h264: strings.EqualFold(codec.MimeType, webrtc.MimeTypeH264),
		switches: switches, done: make(chan struct{})}
}

func (t *simTrack) close() { t.closeOnce.Do(func() { close(t.done) }) }

// newState starts a subscriber on the middle layer (or the nearest one
// present): quick to start on a poor link, and clean reports take a good
// link to the top within seconds.
func (t *simTrack) newState() *simState {
	s := &simState{cur: -1, target: -1, backoff: probeBackoff, out: &[histSize]outMark{}}
	s.target = t.nearest(1, time.Now().UnixMilli())
	return s
}

// nearest is the present layer closest to want, preferring lower ones.
func (t *simTrack) nearest(want int, nowMs int64) int {
	for d := 0; d < maxLayers; d++ {
		for _, i := range []int{want - d, want + d} {
			if i >= 0 && i < maxLayers && t.layers[i].Load().active(nowMs) {
				return i
			}
		}
	}
	for i := range maxLayers {
		if t.layers[i].Load() != nil {
			return i
		}
	}
	return -1
}

// isKeyframeStart reports whether an RTP payload starts a keyframe.
func (t *simTrack) isKeyframeStart(p []byte) bool {
	if t.h264 {
		return h264KeyframeStart(p)
	}
	return vp8KeyframeStart(p)
}

// vp8KeyframeStart: the payload descriptor (RFC 7741 4.2) with S set and
// partition 0, then a frame header whose P bit is clear.
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}

// h264KeyframeStart: an SPS or IDR slice, alone, first in a STAP-A, or the
// start of an FU-A.
func h264KeyframeStart(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	key := func(n byte) bool { n &= 0x1f; return n == 5 || n == 7 }
	switch n := p[0] & 0x1f; n {
	case 24: // STAP-A: size (2 bytes) then the NAL unit
		return len(p) > 3 && key(p[3])
	case 28: // FU-A
		return p[1]&0x80 != 0 && key(p[1])
	default:
		return key(n)
	}
}

// writeLayer sends one packet of layer l to the subscribers forwarding l,
// and switches those waiting for l to it when the packet starts a keyframe.
// Only l's forwarding loop calls it.
func (f *fanout) writeLayer(l *layer, pkt []byte, stripExtensions bool) int {
	h := &l.header
	payload, ok := parseForward(h, pkt, stripExtensions)
	if !ok {
		return 0
	}
	l.hist.add(h.SequenceNumber, pkt)
	now := time.Now()
	l.bytes.Add(uint64(len(pkt)))
	l.lastAt.Store(now.UnixMilli())
	t := f.sim
	seq, ts := h.SequenceNumber, h.Timestamp
	var ids vp8IDs
	if !t.h264 {
		ids = parseVP8IDs(payload)
		defer ids.write(payload, shift{}) // the original ids back, for the recorder
	}
	key, keyKnown := false, false
	idx := l.idx
	n := 0
	for _, b := range *f.subs.Load() {
		s := b.sim
		s.mu.Lock()
		if s.cur != idx {
			if s.target != idx || len(payload) == 0 {
				s.mu.Unlock()
				continue
			}
			if !keyKnown {
				key, keyKnown = t.isKeyframeStart(payload), true
			}
			if !key {
				s.mu.Unlock()
				continue
			}
			s.switchTo(idx, seq, ts, ids, now, t.clockRate)
			if s.sent {
				t.switches.Add(1)
			}
		} else if int16(seq-s.switchSeq) < 0 {
			s.mu.Unlock()
			continue
		}
		out, outTs := seq+s.off.seq, ts+s.off.ts
		if !s.sent || int16(out-s.maxOut) > 0 {
			s.maxOut, s.maxOutTs, s.maxOutAt, s.sent = out, outTs, now.UnixNano(), true
		}
		if pic, tl0 := ids.write(payload, s.off); ids.picAt != 0 || ids.tl0At != 0 {
			s.notePicture(ids, pic, tl0)
		}
		s.out[out%histSize] = outMark{out: out, orig: seq, layer: uint8(idx), ok: true, off: s.off}
		s.mu.Unlock()
		h.SSRC, h.PayloadType, h.SequenceNumber, h.Timestamp = b.ssrc, b.pt, out, outTs
		_, _ = b.ws.WriteRTP(h, payload)
		n++
	}
	return n
}

// switchTo makes layer idx current from the keyframe packet (seq, ts,
// ids): its sequence numbers continue right after the last one sent, its
// timestamps after the last one sent by the wall-clock time in between, and
// its VP8 picture ids and TL0PICIDX right after the last ones sent.
func (s *simState) switchTo(idx int, seq uint16, ts uint32, ids vp8IDs, now time.Time, clockRate uint32) {
	if s.sent {
		s.off.seq = s.maxOut + 1 - seq
		gap := uint32((now.UnixNano() - s.maxOutAt) * int64(clockRate) / int64(time.Second))
		if gap == 0 {
			gap = 1
		}
		s.off.ts = s.maxOutTs + gap - ts
	}
	if ids.picAt != 0 && s.picSent {
		s.off.pic = (s.maxPic + 1 - ids.pic) & 0x7fff
	}
	if ids.tl0At != 0 && s.tl0Sent {
		s.off.tl0 = s.maxTl0 + 1 - ids.tl0
	}
	s.cur, s.switchSeq, s.switchAt = idx, seq, now.UnixNano()
}

// notePicture keeps the highest picture id and TL0PICIDX sent.
func (s *simState) notePicture(ids vp8IDs, pic uint16, tl0 uint8) {
	if ids.picAt != 0 {
		if d := (pic - s.maxPic) & 0x7fff; !s.picSent || (d != 0 && d < 0x4000) {
			s.maxPic, s.picSent = pic, true
		}
	}
	if ids.tl0At != 0 {
		if d := tl0 - s.maxTl0; !s.tl0Sent || (d != 0 && d < 0x80) {
			s.maxTl0, s.tl0Sent = tl0, true
		}
	}
}

// lookup finds the packet a subscriber's NACK names (its own sequence
// number out) in the history of the layer it came from; off is how its
// numbering was moved.
func (t *simTrack) lookup(s *simState, out uint16, buf []byte) (pkt []byte, off shift) {
	s.mu.Lock()
	m := s.out[out%histSize]
	s.mu.Unlock()
	if !m.ok || m.out != out {
		return nil, shift{}
	}
	l := t.layers[m.layer].Load()
	if l == nil {
		return nil, shift{}
	}
	return l.hist.get(m.orig, buf), m.off
}

// rewritePayload moves a resent packet's VP8 picture id and TL0PICIDX as
// they were moved when it was first sent.
func (t *simTrack) rewritePayload(payload []byte, off shift) {
	if !t.h264 {
		parseVP8IDs(payload).write(payload, off)
	}
}

// keyframe asks for a keyframe of what subscriber s forwards (or is about
// to).
func (t *simTrack) keyframe(s *simState) {
	s.mu.Lock()
	i := s.cur
	if s.target >= 0 {
		i = s.target
	}
	s.mu.Unlock()
	if i >= 0 {
		if l := t.layers[i].Load(); l != nil {
			l.keyframe()
		}
	}
}

// feedback takes a subscriber's receiver report (fraction lost, 0..1) and
// moves its target layer.
func (t *simTrack) feedback(s *simState, loss float64, now time.Time) {
	nowMs, nowNs := now.UnixMilli(), now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur < 0 || s.target != s.cur || nowNs-s.switchAt < settleAfter.Nanoseconds() {
		return
	}
	if s.upAt > s.downAt && nowNs-s.upAt > probeHeld.Nanoseconds() {
		s.backoff = probeBackoff
	}
	cur := t.layers[s.cur].Load()
	switch {
	case loss > lossDown || (s.remb > 0 && cur != nil && float64(cur.rate.Load()) > s.remb):
		s.clean = 0
		if down := t.below(s.cur, nowMs); down >= 0 {
			if s.upAt > s.downAt && nowNs-s.upAt < probeHeld.Nanoseconds() {
				// The last try up failed: wait longer before the next.
				s.backoff = min(2*s.backoff, maxBackoff)
			}
			s.target, s.downAt = down, nowNs
		}
	case loss < lossClean:
		s.clean++
		if s.clean < cleanReports || nowNs-s.downAt < s.backoff.Nanoseconds() {
			return
		}
		up := t.above(s.cur, nowMs)
		if up < 0 {
			return
		}
		// A receiver's REMB follows what it gets (a browser's estimate
		// grows only so far above the incoming rate), so it cannot vouch
		// for the next layer; it only holds the try back when it shows no
		// room above the current one.
		if s.remb > 0 && cur != nil && s.remb < float64(cur.rate.Load())*rembHeadroom {
			return
		}
		s.clean = 0
		s.target, s.upAt = up, nowNs
	default:
		s.clean = 0
	}
}

// below and above are the nearest active layers under and over i, or -1.
func (t *simTrack) below(i int, nowMs int64) int {
	for j := i - 1; j >= 0; j-- {
		if t.layers[j].Load().active(nowMs) {
			return j
		}
	}
	return -1
}

func (t *simTrack) above(i int, nowMs int64) int {
	for j := i + 1; j < maxLayers; j++ {
		if t.layers[j].Load().active(nowMs) {
			return j
		}
	}
	return -1
}

// run keeps the layers' rates and every subscriber's switch going until the
// track ends: a subscriber whose target has no keyframe yet asks again, and
// one whose layer went silent (the publisher stopped sending it) is moved to
// the nearest layer still sent.
func (t *simTrack) run(f *fanout) {
	tick := time.NewTicker(simTick)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case now := <-tick.C:
			nowMs := now.UnixMilli()
			for i := range maxLayers {
				l := t.layers[i].Load()
				if l == nil {
					continue
				}
				if dt := now.Sub(l.rateAt); dt >= time.Second {
					b := l.bytes.Load()
					if !l.rateAt.IsZero() {
						l.rate.Store(uint64(float64(b-l.rateSum) * 8 / dt.Seconds()))
					}
					l.rateAt, l.rateSum = now, b
				}
			}
			for _, b := range *f.subs.Load() {
				t.tend(b.sim, nowMs)
			}
		}
	}
}

func (t *simTrack) tend(s *simState, nowMs int64) {
	s.mu.Lock()
	if s.cur < 0 {
		// Nothing sent yet: start where newState meant to, now that the
		// layers that arrived have sent.
		if n := t.nearest(1, nowMs); n >= 0 {
			s.target = n
		}
	} else if s.target < 0 || !t.layers[s.target].Load().active(nowMs) {
		pref := s.target
		if pref < 0 {
			pref = s.cur
		}
		if pref < 0 {
			pref = 1
		}
		if n := t.nearest(pref, nowMs); n >= 0 {
			s.target = n
		}
	}
	var ask *layer
	if s.target >= 0 && s.target != s.cur && nowMs-s.lastWant >= pliInterval.Milliseconds() {
		ask, s.lastWant = t.layers[s.target].Load(), nowMs
	}
	s.mu.Unlock()
	if ask != nil {
		ask.keyframe()
	}
}

// simulcastRids reads the send-side rid order of every media section that
// offers simulcast ("a=simulcast:send q;h;f"), by mid. Paused rids ("~h")
// keep their place; of alternatives ("h,h2") the first counts.
func simulcastRids(d *sdp.SessionDescription) map[string][]string {
	out := map[string][]string{}
	for _, m := range d.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		v, ok := m.Attribute("simulcast")
		if !ok || mid == "" {
			continue
		}
		f := strings.Fields(v)
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] != "send" {
				continue
			}
			var rids []string
			for _, alt := range strings.Split(f[i+1], ";") {
				rid, _, _ := strings.Cut(alt, ",")
				rids = append(rids, strings.TrimPrefix(rid, "~"))
			}
			out[mid] = rids
		}
	}
	return out
}
