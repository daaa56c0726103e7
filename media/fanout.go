package media

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fanout is the local track subscribers receive a published track on. It
// replaces writing through webrtc.TrackLocalStaticRTP (whose binding list we
// cannot see) so that:
//   - the publisher's packet header is parsed once, and each subscriber's copy
//     only changes the SSRC and payload type before Pion's SRTP marshals and
//     encrypts it (which it must do per subscriber: each has its own keys);
//   - nothing is allocated per packet and subscriber;
//   - one retransmission history per published track answers every
//     subscriber's NACKs, instead of Pion's NACK responder copying every
//     packet once per subscriber.
//
// The embedded TrackLocalStaticRTP is never written to: it only picks the
// codec when a subscriber's connection binds the track.
type fanout struct {
	*webrtc.TrackLocalStaticRTP
	mu   sync.Mutex // serialises Bind and Unbind
	subs atomic.Pointer[[]*binding]
	// hist is nil for audio: Opus is not negotiated with NACK, and for
	// simulcast, whose layers keep their own.
	hist *history
	// sim is set for a simulcast track: each subscriber forwards one of its
	// layers (simulcast.go).
	sim *simTrack
	// header is the forwarding loop's parsed header, kept to reuse its
	// extension slice; only write uses it.
	header rtp.Header
}

// binding is one subscriber's stream of the track.
type binding struct {
	id   string
	ssrc uint32
	pt   uint8
	ws   webrtc.TrackLocalWriter
	// rtxSSRC and rtxPT are the subscriber's retransmission stream (RFC
	// 4588) when it negotiated one; 0 otherwise.
	rtxSSRC uint32
	rtxPT   uint8
	// Retransmissions allowed in the current second, against a subscriber
	// that asks for more than any real loss needs.
	resendMu     sync.Mutex
	resendWindow int64
	resends      int
	rtxSeq       uint16
	// resent remembers, per history slot, when and how often that packet
	// was sent again to this subscriber; made on its first NACK.
	resent *[histSize]resendMark
	// sim is the subscriber's layer and rewriting state when the track is
	// simulcast.
	sim *simState
}

type resendMark struct {
	seq   uint16
	times uint8
	at    int64 // unix ms
}

// A packet goes again to one subscriber at most maxResendsPerPacket times,
// resendGap apart: a receiver that keeps asking for a packet it did get
// (Pion's NACK generator does, for packets it got on the RTX stream) is not
// fed the same packet every time it asks.
const (
	maxResendsPerPacket = 3
	resendGap           = 100 * time.Millisecond
)

// maxResendsPerSecond bounds NACK answers per subscriber stream: a 2.5 Mbit/s
// screen share is about 250 packets a second, so this is several times what
// heavy loss asks for.
const maxResendsPerSecond = 1000

func newFanout(codec webrtc.RTPCodecCapability, id, streamID string, kind webrtc.RTPCodecType) (*fanout, error) {
	local, err := webrtc.NewTrackLocalStaticRTP(codec, id, streamID)
	if err != nil {
		return nil, err
	}
	f := &fanout{TrackLocalStaticRTP: local}
	f.subs.Store(&[]*binding{})
	if kind == webrtc.RTPCodecTypeVideo {
		f.hist = &history{}
	}
	return f, nil
}

// Bind is called by Pion when a subscriber's connection starts sending the
// track.
func (f *fanout) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, err := f.TrackLocalStaticRTP.Bind(c)
	if err != nil {
		return codec, err
	}
	f.mu.Lock()
	b := &binding{id: c.ID(), ssrc: uint32(c.SSRC()), pt: uint8(codec.PayloadType), ws: c.WriteStream(),
		rtxSeq: uint16(rand.Uint32())}
	if f.sim != nil {
		b.sim = f.sim.newState()
	}
	if rtx := rtxPayloadType(codec.PayloadType, c.CodecParameters()); rtx != 0 && c.SSRCRetransmission() != 0 {
		b.rtxSSRC, b.rtxPT = uint32(c.SSRCRetransmission()), rtx
	}
	subs := append(slices.Clone(*f.subs.Load()), b)
	f.subs.Store(&subs)
	f.mu.Unlock()
	return codec, nil
}

// rtxPayloadType finds the negotiated RTX payload type for pt ("apt=pt").
func rtxPayloadType(pt webrtc.PayloadType, codecs []webrtc.RTPCodecParameters) uint8 {
	want := "apt=" + strconv.Itoa(int(pt))
	for _, c := range codecs {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && c.SDPFmtpLine == want {
			return uint8(c.PayloadType)
		}
	}
	return 0
}

// Unbind is called by Pion when that connection stops sending it.
func (f *fanout) Unbind(c webrtc.TrackLocalContext) error {
	f.mu.Lock()
	subs := slices.DeleteFunc(slices.Clone(*f.subs.Load()), func(b *binding) bool { return b.id == c.ID() })
	f.subs.Store(&subs)
	f.mu.Unlock()
	return f.TrackLocalStaticRTP.Unbind(c)
}

// write sends one packet of the publisher to every subscriber and keeps it
// for retransmission; it returns how many copies were written. Only the
// forwarding loop calls it. stripExtensions drops the publisher's header
// extensions (see room.stripExtensions).
func (f *fanout) write(pkt []byte, stripExtensions bool) int {
	h := &f.header
	payload, ok := parseForward(h, pkt, stripExtensions)
	if !ok {
		return 0
	}
	if f.hist != nil {
		f.hist.add(h.SequenceNumber, pkt)
	}
	subs := *f.subs.Load()
	for _, b := range subs {
		h.SSRC, h.PayloadType = b.ssrc, b.pt
		// A write error only concerns one subscriber (closed or slow); the
		// others must keep getting packets.
		_, _ = b.ws.WriteRTP(h, payload)
	}
	return len(subs)
}

// parseForward reads a publisher's packet into h (reusing its extension
// slice) and returns the payload without padding; h keeps the padding size
// so the copies carry it. stripExtensions drops the header extensions.
func parseForward(h *rtp.Header, pkt []byte, stripExtensions bool) ([]byte, bool) {
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		return nil, false
	}
	payload := pkt[hl:]
	h.PaddingSize = 0
	if h.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			return nil, false
		}
		h.PaddingSize = payload[len(payload)-1]
		payload = payload[:len(payload)-int(h.PaddingSize)]
	}
	if stripExtensions {
		h.Extension, h.ExtensionProfile, h.Extensions = false, 0, h.Extensions[:0]
	}
	return payload, true
}

// resend answers a subscriber's NACK from the history: the packets it lost
// go to it alone, on its retransmission stream when it has one (a packet
// sent again on the media stream itself would be dropped by SRTP replay
// protection if the first copy did arrive after all), else with its SSRC
// and payload type. buf is the caller's, 2*slotSize+2 bytes. It
// returns how many packets were sent again.
func (f *fanout) resend(n *rtcp.TransportLayerNack, buf []byte, stripExtensions bool) int {
	if f.hist == nil && f.sim == nil {
		return 0
	}
	b := f.binding(n.MediaSSRC)
	if b == nil {
		return 0
	}
	stripExtensions = stripExtensions || f.sim != nil
	sent := 0
	var h rtp.Header
	for _, pair := range n.Nacks {
		pair.Range(func(seq uint16) bool {
			var pkt []byte
			var off shift
			if f.sim != nil {
				pkt, off = f.sim.lookup(b.sim, seq, buf[:slotSize])
			} else {
				pkt = f.hist.get(seq, buf[:slotSize])
			}
			if pkt == nil {
				return true
			}
			rtxSeq, ok, stop := b.allowResend(seq)
			if stop {
				return false
			}
			if !ok {
				return true
			}
			hl, err := h.Unmarshal(pkt)
			if err != nil {
				return true
			}
			payload := pkt[hl:]
			h.PaddingSize = 0
			if h.Padding && len(payload) > 0 && int(payload[len(payload)-1]) <= len(payload) {
				h.PaddingSize = payload[len(payload)-1]
				payload = payload[:len(payload)-int(h.PaddingSize)]
			}
			if stripExtensions {
				h.Extension, h.ExtensionProfile, h.Extensions = false, 0, h.Extensions[:0]
			}
			// A simulcast layer's packet takes the subscriber's numbering.
			h.SSRC, h.PayloadType, h.SequenceNumber = b.ssrc, b.pt, seq
			h.Timestamp += off.ts
			if f.sim != nil {
				f.sim.rewritePayload(payload, off)
			}
			if b.rtxSSRC != 0 {
				// RFC 4588: the original sequence number, then the payload,
				// on the RTX stream's own sequence; no padding.
				// The header (its extensions point into pkt) stays where it
				// is; the RTX payload is built in the rest of buf.
				rtx := buf[slotSize : slotSize+2+len(payload)]
				binary.BigEndian.PutUint16(rtx, h.SequenceNumber)
				copy(rtx[2:], payload)
				payload = rtx
				h.SSRC, h.PayloadType, h.SequenceNumber = b.rtxSSRC, b.rtxPT, rtxSeq
				h.Padding, h.PaddingSize = false, 0
			}
			if _, err := b.ws.WriteRTP(&h, payload); err == nil {
				sent++
			}
			return true
		})
	}
	return sent
}

// binding is the subscriber stream with that SSRC, or nil.
func (f *fanout) binding(ssrc uint32) *binding {
	for _, s := range *f.subs.Load() {
		if s.ssrc == ssrc {
			return s
		}
	}
	return nil
}

// allowResend decides whether packet seq goes again to the subscriber: ok
// when it does (and then rtxSeq is the RTX sequence number to use), stop
// when the subscriber's budget for this second is spent.
func (b *binding) allowResend(seq uint16) (rtxSeq uint16, ok, stop bool) {
	b.resendMu.Lock()
	defer b.resendMu.Unlock()
	nowMs := time.Now().UnixMilli()
	if now := nowMs / 1000; now != b.resendWindow {
		b.resendWindow, b.resends = now, 0
	}
	if b.resends >= maxResendsPerSecond {
		return 0, false, true
	}
	if b.resent == nil {
		b.resent = &[histSize]resendMark{}
	}
	m := &b.resent[seq%histSize]
	if m.seq != seq || m.times == 0 {
		*m = resendMark{seq: seq}
	} else if m.times >= maxResendsPerPacket || nowMs-m.at < resendGap.Milliseconds() {
		return 0, false, false
	}
	m.times++
	m.at = nowMs
	b.resends++
	b.rtxSeq++
	return b.rtxSeq, true, false
}

// history keeps the last histSize packets of a video track as the
// publisher sent them (about 5 s of a 1 Mbit/s camera), for NACKs.
type history struct {
	mu    sync.Mutex
	slots [histSize]histSlot
}

const histSize = 512

type histSlot struct {
	seq uint16
	n   int // 0: empty
	buf [slotSize]byte
}

func (h *history) add(seq uint16, pkt []byte) {
	if len(pkt) > slotSize {
		return
	}
	h.mu.Lock()
	s := &h.slots[seq%histSize]
	s.seq, s.n = seq, copy(s.buf[:], pkt)
	h.mu.Unlock()
}

// get copies packet seq into buf (at least slotSize long) if it is still
// kept.
func (h *history) get(seq uint16, buf []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &h.slots[seq%histSize]
	if s.n == 0 || s.seq != seq {
		return nil
	}
	return buf[:copy(buf, s.buf[:s.n])]
}
