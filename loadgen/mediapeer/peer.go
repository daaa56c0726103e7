// Package mediapeer is a synthetic call member for load tests: a Pion peer
// that publishes VP8 and Opus RTP at a realistic rate through Liveroom's SFU
// and counts what it receives. Unlike a looped file it behaves like a
// browser where it matters to the server: a keyframe request gets a
// keyframe, and lost packets are resent on NACK (Pion's responder).
package mediapeer

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// NewAPI returns the WebRTC API peers share: the browser codecs and the
// default interceptors (NACK, RTCP reports, TWCC).
func NewAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Options shape what a peer sends.
type Options struct {
	Video        bool
	VideoBitrate int // bits per second; default 1,000,000
	FPS          int // default 30
}

// Sender delivers one client frame body (a ClientFrame without its id) to
// the server, e.g. map{"publishOffer": {...}}.
type Sender func(body map[string]any) error

// Frame holds the server frames a peer acts on.
type Frame struct {
	PublishAnswer  *SDP `json:"publishAnswer"`
	SubscribeOffer *SDP `json:"subscribeOffer"`
}

// SDP is the wire form of an offer or answer.
type SDP struct {
	Sdp string `json:"sdp"`
}

// Stats are a peer's counters; all are totals since the start.
type Stats struct {
	PacketsSent     int64
	PacketsReceived int64
	PacketsLost     int64 // gaps in received sequence numbers
	BytesReceived   int64
	RemoteTracks    int64
	KeyframesAsked  int64 // PLIs the server sent us
	NACKsReceived   int64
	// VideoFrames counts complete video frames received (a packet with
	// the marker bit ends one).
	VideoFrames int64
	// FirstFrameAt is when the end of the first keyframe arrived on a video
	// track: the moment a player could show a picture. Zero if none did.
	FirstFrameAt time.Time
}

// Peer is one synthetic call member.
type Peer struct {
	api  *webrtc.API
	opts Options
	send Sender

	mu  sync.Mutex
	pub *webrtc.PeerConnection
	sub *webrtc.PeerConnection

	stop     chan struct{}
	stopOnce sync.Once
	// published is closed once the server's answer to the publish offer
	// was applied.
	published     chan struct{}
	publishedOnce sync.Once
	wg            sync.WaitGroup

	keyframe atomic.Bool
	stats    struct {
		sent, received, lost, bytes, tracks, plis, nacks, frames atomic.Int64
	}
	firstFrame atomic.Int64 // unix nanoseconds; 0 until the first keyframe ended
}

// New returns a peer that will talk through send.
func New(api *webrtc.API, opts Options, send Sender) *Peer {
	if opts.VideoBitrate <= 0 {
		opts.VideoBitrate = 1_000_000
	}
	if opts.FPS <= 0 {
		opts.FPS = 30
	}
	return &Peer{api: api, opts: opts, send: send, stop: make(chan struct{}), published: make(chan struct{})}
}

func complete(pc *webrtc.PeerConnection, d webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return "", errors.New("ICE gathering did not finish")
	}
	return pc.LocalDescription().SDP, nil
}

// Publish opens the sending connection and offers audio (and video); the
// caller must already be in the call (ring or accept sent).
func (p *Peer) Publish() error {
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.pub = pc
	p.mu.Unlock()
	sources := map[string]string{"mic": "mic"}
	audio, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "load")
	if err != nil {
		return err
	}
	if err := p.addSender(pc, audio); err != nil {
		return err
	}
	var video *webrtc.TrackLocalStaticRTP
	if p.opts.Video {
		video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "camera", "load")
		if err != nil {
			return err
		}
		if err := p.addSender(pc, video); err != nil {
			return err
		}
		sources["camera"] = "camera"
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	sdp, err := complete(pc, offer)
	if err != nil {
		return err
	}
	if err := p.send(map[string]any{"publishOffer": map[string]any{"sdp": sdp, "sources": sources}}); err != nil {
		return err
	}
	p.wg.Add(1)
	go p.sendAudio(audio)
	if video != nil {
		p.wg.Add(1)
		go p.sendVideo(video)
	}
	return nil
}

func (p *Peer) addSender(pc *webrtc.PeerConnection, t *webrtc.TrackLocalStaticRTP) error {
	tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	sender := tr.Sender()
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				switch pk.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					p.stats.plis.Add(1)
					p.keyframe.Store(true)
				case *rtcp.TransportLayerNack:
					p.stats.nacks.Add(1)
				}
			}
		}
	}()
	return nil
}

// OnFrame applies a server frame meant for the peer.
func (p *Peer) OnFrame(f Frame) error {
	switch {
	case f.PublishAnswer != nil:
		p.mu.Lock()
		pc := p.pub
		p.mu.Unlock()
		if pc == nil {
			return errors.New("answer without an offer")
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: f.PublishAnswer.Sdp}); err != nil {
			return err
		}
		p.publishedOnce.Do(func() { close(p.published) })
		return nil
	case f.SubscribeOffer != nil:
		return p.answer(f.SubscribeOffer.Sdp)
	}
	return nil
}

func (p *Peer) answer(offer string) error {
	p.mu.Lock()
	pc := p.sub
	p.mu.Unlock()
	if pc == nil {
		var err error
		if pc, err = p.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
			return err
		}
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				go p.askKeyframe(pc, t)
			}
			p.receive(t)
		})
		p.mu.Lock()
		p.sub = pc
		p.mu.Unlock()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	sdp, err := complete(pc, answer)
	if err != nil {
		return err
	}
	return p.send(map[string]any{"subscribeAnswer": map[string]any{"sdp": sdp}})
}

// receive counts a remote track's packets and the gaps in its sequence, and
// on a video track its frames and when the first keyframe was complete.
func (p *Peer) receive(t *webrtc.TrackRemote) {
	p.stats.tracks.Add(1)
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	inKeyframe := false // a keyframe began and its last packet has not come
	var started bool
	var highest uint32 // extended sequence number
	var lost int64     // this track's open gaps
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		p.stats.received.Add(1)
		p.stats.bytes.Add(int64(len(pkt.Payload)))
		if video {
			if vp8KeyframeStart(pkt.Payload) {
				inKeyframe = true
			}
			if pkt.Marker {
				p.stats.frames.Add(1)
				if inKeyframe {
					p.firstFrame.CompareAndSwap(0, time.Now().UnixNano())
					inKeyframe = false
				}
			}
		}
		seq := uint32(pkt.SequenceNumber)
		if !started {
			started, highest = true, seq
			continue
		}
		// Extend the 16-bit number into the cycle closest to the last one.
		ext := highest&^0xffff | seq
		if ext+0x8000 < highest {
			ext += 0x10000
		} else if ext > highest+0x8000 && ext >= 0x10000 {
			ext -= 0x10000
		}
		switch {
		case ext > highest:
			gap := int64(ext - highest - 1)
			lost += gap
			p.stats.lost.Add(gap)
			highest = ext
		case lost > 0:
			// A late or resent packet filled a gap.
			lost--
			p.stats.lost.Add(-1)
		}
	}
}

// askKeyframe does what a browser's decoder does while it has no picture:
// it asks for a keyframe every half second until one has arrived (the one
// the server asked for when it added the track may have gone out before
// this connection could receive it).
func (p *Peer) askKeyframe(pc *webrtc.PeerConnection, t *webrtc.TrackRemote) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for p.firstFrame.Load() == 0 {
		if pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}}) != nil {
			return
		}
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

// vp8KeyframeStart reports whether a VP8 RTP payload (RFC 7741) begins a
// keyframe: the start bit of partition 0 is set and the payload header's
// P bit is clear.
func vp8KeyframeStart(b []byte) bool {
	if len(b) < 2 || b[0]&0x10 == 0 || b[0]&0x07 != 0 {
		return false
	}
	i := 1
	if b[0]&0x80 != 0 { // extension byte: I, L, T, K
		x := b[i]
		i++
		if x&0x80 != 0 { // picture id, 7 or 15 bits
			if i >= len(b) {
				return false
			}
			if b[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 {
			i++
		}
		if x&0x30 != 0 {
			i++
		}
	}
	return i < len(b) && b[i]&0x01 == 0
}

func (p *Peer) sendAudio(t *webrtc.TrackLocalStaticRTP) {
	defer p.wg.Done()
	payload := make([]byte, 80) // ~32 kbit/s Opus
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: payload}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			pkt.SequenceNumber++
			pkt.Timestamp += 960
			if t.WriteRTP(pkt) == nil {
				p.stats.sent.Add(1)
			}
		}
	}
}

// sendVideo sends frames of VP8-shaped packets: a payload descriptor per
// packet and, on a frame's first packet, a payload header whose P bit says
// whether it is a keyframe. Keyframes are three times the average size.
func (p *Peer) sendVideo(t *webrtc.TrackLocalStaticRTP) {
	defer p.wg.Done()
	const mtu = 1100
	frameBytes := p.opts.VideoBitrate / 8 / p.opts.FPS
	buf := make([]byte, mtu)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}}
	tick := time.NewTicker(time.Second / time.Duration(p.opts.FPS))
	defer tick.Stop()
	p.keyframe.Store(true)
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		size := frameBytes
		key := p.keyframe.Swap(false)
		if key {
			size *= 3
		}
		pkt.Timestamp += uint32(90000 / p.opts.FPS)
		for first := true; size > 0; first = false {
			n := min(size, mtu-2)
			size -= n
			payload := buf[:n+1]
			payload[0] = 0 // VP8 payload descriptor
			if first {
				payload[0] = 0x10 // start of partition
				payload[1] = 0x01 // payload header: P=1, an interframe
				if key {
					payload[1] = 0x00
				}
			}
			pkt.SequenceNumber++
			pkt.Marker = size == 0
			pkt.Payload = payload
			if t.WriteRTP(pkt) == nil {
				p.stats.sent.Add(1)
			}
		}
	}
}

// Published is closed once the server answered the publish offer.
func (p *Peer) Published() <-chan struct{} { return p.published }

// Stats returns the counters so far.
func (p *Peer) Stats() Stats {
	st := Stats{
		PacketsSent: p.stats.sent.Load(), PacketsReceived: p.stats.received.Load(),
		PacketsLost: p.stats.lost.Load(), BytesReceived: p.stats.bytes.Load(),
		RemoteTracks: p.stats.tracks.Load(), KeyframesAsked: p.stats.plis.Load(),
		NACKsReceived: p.stats.nacks.Load(), VideoFrames: p.stats.frames.Load(),
	}
	if ns := p.firstFrame.Load(); ns != 0 {
		st.FirstFrameAt = time.Unix(0, ns)
	}
	return st
}

// Close stops sending and closes both connections.
func (p *Peer) Close() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			_ = pc.Close()
		}
	}
}
