package media

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"liveroom/proto/pb"
)

// linkLimit is a bandwidth-limited link in front of a Pion subscriber: a
// token bucket drops what exceeds its rate before the subscriber's RTCP
// interceptors see it, so its receiver reports show the loss as a browser's
// would. Every packet that reached the subscriber, dropped or not, is
// recorded first (the wire as the SFU sent it).
type linkLimit struct {
	rate   atomic.Int64 // bits/s; 0: unlimited
	mu     sync.Mutex
	tokens float64
	at     time.Time
	wire   []wirePacket
}

type wirePacket struct {
	seq   uint16
	ts    uint32
	layer byte
	key   bool
	pic   uint16
	tl0   uint8
}

func (l *linkLimit) NewInterceptor(string) (interceptor.Interceptor, error) { return l, nil }

func (l *linkLimit) pass(n int) bool {
	rate := l.rate.Load()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if rate == 0 {
		l.at = now
		return true
	}
	l.tokens = min(l.tokens+float64(rate)*now.Sub(l.at).Seconds(), float64(rate)*0.3)
	l.at = now
	if l.tokens < float64(8*n) {
		return false
	}
	l.tokens -= float64(8 * n)
	return true
}

func (l *linkLimit) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	media := strings.EqualFold(info.MimeType, webrtc.MimeTypeVP8)
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil {
				return n, attr, err
			}
			var p rtp.Packet
			if media && p.Unmarshal(b[:n]) == nil && len(p.Payload) > layerAt {
				l.mu.Lock()
				l.wire = append(l.wire, wirePacket{seq: p.SequenceNumber, ts: p.Timestamp, layer: p.Payload[layerAt],
					key: vp8KeyframeStart(p.Payload), pic: uint16(p.Payload[vp8PicAt]&0x7f)<<8 | uint16(p.Payload[vp8PicAt+1]),
					tl0: p.Payload[vp8Tl0At]})
				l.mu.Unlock()
			}
			if l.pass(n) {
				return n, attr, nil
			}
			for k := range attr {
				delete(attr, k)
			}
			a = attr
		}
	})
}

func (l *linkLimit) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader { return r }
func (l *linkLimit) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter { return w }
func (l *linkLimit) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return w
}
func (l *linkLimit) UnbindLocalStream(*interceptor.StreamInfo)  {}
func (l *linkLimit) UnbindRemoteStream(*interceptor.StreamInfo) {}
func (l *linkLimit) Close() error                               { return nil }

// simulcastAPI is a Pion API that sends and receives simulcast; first, when
// not nil, is the first interceptor incoming packets meet.
func simulcastAPI(tb testing.TB, first interceptor.Factory) *webrtc.API {
	tb.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		tb.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if first != nil {
		ir.Add(first)
	}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// simLayers describes the test publisher's three layers, lowest first: a
// frame of packets this big at 30 frames a second (about 60 kbit/s,
// 290 kbit/s and 860 kbit/s), with their own sequence numbers (the top one
// wraps), timestamps, VP8 picture ids and TL0PICIDX (the top one's wrap).
var simLayers = []struct {
	rid           string
	packets, size int
	seq           uint16
	ts            uint32
	pic           uint16
	tl0           uint8
}{
	{"q", 1, 250, 100, 1000, 100, 0},
	{"h", 1, 1200, 20000, 5_000_000, 20000, 100},
	{"f", 3, 1200, 64000, 4_000_000_000, 32700, 250},
}

// The test payload: a VP8 payload descriptor with a 15-bit picture id and
// TL0PICIDX (as Chrome sends), the frame header's first byte, then the
// layer.
const (
	vp8PicAt   = 2
	vp8Tl0At   = 4
	vp8FrameAt = 5
	layerAt    = 6
)

// publishSimulcast publishes one VP8 track in three layers and sends 30
// frames a second on each until stop closes; a layer sends a keyframe first
// and whenever it is asked for one.
func publishSimulcast(t testing.TB, p *participant, stop <-chan struct{}) (plis *atomic.Int64) {
	t.Helper()
	frames := make(chan struct{})
	go func() {
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				close(frames)
				return
			case <-tick.C:
				select {
				case frames <- struct{}{}:
				case <-stop:
					close(frames)
					return
				}
			}
		}
	}()
	return publishSimulcastFrames(t, p, frames)
}

// publishSimulcastFrames is publishSimulcast with a frame on every layer
// each time frames gives one, until it is closed.
func publishSimulcastFrames(t testing.TB, p *participant, frames <-chan struct{}) (plis *atomic.Int64) {
	t.Helper()
	api := simulcastAPI(t, nil)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	p.pub = pc
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, l := range simLayers {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "s", webrtc.WithRTPStreamID(l.rid))
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	sender, err := pc.AddTrack(tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range tracks[1:] {
		if err := sender.AddEncoding(tr); err != nil {
			t.Fatal(err)
		}
	}
	plis = &atomic.Int64{}
	wantKey := make([]atomic.Bool, len(simLayers))
	for i, l := range simLayers {
		wantKey[i].Store(true)
		go func() {
			for {
				pkts, _, err := sender.ReadSimulcastRTCP(l.rid)
				if err != nil {
					return
				}
				for _, pk := range pkts {
					if _, ok := pk.(*rtcp.PictureLossIndication); ok {
						wantKey[i].Store(true)
						plis.Add(1)
					}
				}
			}
		}()
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	sdpOffer := complete(t, pc, offer)
	if !strings.Contains(sdpOffer, "a=simulcast:send q;h;f") {
		t.Fatalf("the publisher does not offer simulcast:\n%s", sdpOffer)
	}
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{
		Sdp: sdpOffer, Sources: map[string]string{"cam": "camera"}}}})
	answer := p.next(t).GetPublishAnswer()
	if answer == nil {
		t.Fatal("expected a publish answer")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.Sdp}); err != nil {
		t.Fatal(err)
	}
	// A browser names each layer's packets with the mid and rid header
	// extensions, which Pion leaves to the writer.
	var midID, ridID uint8
	for _, e := range sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			midID = uint8(e.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		t.Fatal("mid and rid header extensions were not negotiated")
	}
	go func() {
		seq := make([]uint16, len(simLayers))
		ts := make([]uint32, len(simLayers))
		pic := make([]uint16, len(simLayers))
		tl0 := make([]uint8, len(simLayers))
		for i, l := range simLayers {
			seq[i], ts[i], pic[i], tl0[i] = l.seq, l.ts, l.pic, l.tl0
		}
		for range frames {
			for i, l := range simLayers {
				key := wantKey[i].Swap(false)
				ts[i] += 3000
				pic[i] = (pic[i] + 1) & 0x7fff
				tl0[i]++
				for k := range l.packets {
					payload := make([]byte, l.size)
					// X, and S with partition 0 on the frame's first
					// packet; I and L; the ids; the frame header's P bit
					// (clear on a keyframe).
					payload[0] = 0x80
					if k == 0 {
						payload[0] |= 0x10
					}
					payload[1] = 0xc0
					payload[vp8PicAt], payload[vp8PicAt+1] = 0x80|byte(pic[i]>>8), byte(pic[i])
					payload[vp8Tl0At] = tl0[i]
					if !key {
						payload[vp8FrameAt] = 0x01
					}
					payload[layerAt] = byte(i)
					seq[i]++
					pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq[i],
						Timestamp: ts[i], Marker: k == l.packets-1}, Payload: payload}
					_ = pkt.Header.SetExtension(midID, []byte("0"))
					_ = pkt.Header.SetExtension(ridID, []byte(l.rid))
					_ = tracks[i].WriteRTP(pkt)
				}
			}
		}
	}()
	return plis
}

// viewerLayers follows what a subscriber decodes: the layer of the last
// packet it got and how many packets of each layer.
type viewerLayers struct {
	last  atomic.Int32
	count [3]atomic.Int64
	mu    sync.Mutex
	ssrc  webrtc.SSRC
	// lastSeq is the last sequence number that came.
	lastSeq uint16
	// got holds the timestamp and VP8 picture id each sequence number came
	// with, each time it came.
	got map[uint16][][2]uint32
}

func (v *viewerLayers) watch(p *participant) {
	v.last.Store(-1)
	v.got = map[uint16][][2]uint32{}
	p.onPacket = func(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
		if len(pkt.Payload) > layerAt && pkt.Payload[layerAt] < 3 {
			v.last.Store(int32(pkt.Payload[layerAt]))
			v.count[pkt.Payload[layerAt]].Add(1)
		}
		v.mu.Lock()
		v.ssrc, v.lastSeq = tr.SSRC(), pkt.SequenceNumber
		var pic uint32
		if len(pkt.Payload) > layerAt {
			pic = uint32(pkt.Payload[vp8PicAt]&0x7f)<<8 | uint32(pkt.Payload[vp8PicAt+1])
		}
		v.got[pkt.SequenceNumber] = append(v.got[pkt.SequenceNumber], [2]uint32{pkt.Timestamp, pic})
		v.mu.Unlock()
	}
}

// A broadcaster sends three layers. A viewer on a good link gets the top
// one. A viewer whose link is throttled is moved down to the layer that
// fits and keeps getting frames; when its link recovers it goes back up.
// Every switch happens at a keyframe of the new layer, and the viewer sees
// one stream: the sequence number right after the last one and a later
// timestamp.
//
// Broadcasts and room calls share the forwarding, so both run it.
func TestSimulcastLayerFollowsViewerLink(t *testing.T) {
	t.Run("broadcast", func(t *testing.T) {
		simulcastScenario(t, func(e *Engine) *actor.Props { return e.BroadcastProps("b") })
	})
	t.Run("room", func(t *testing.T) {
		simulcastScenario(t, func(e *Engine) *actor.Props { return e.Props("r") })
	})
}

func simulcastScenario(t *testing.T, props func(*Engine) *actor.Props) {
	s := newSFUProps(t, Config{ICETimeout: 15 * time.Second}, props)
	good := s.join("good", nil)
	var goodLayers viewerLayers
	goodLayers.watch(good)
	slow := s.join("slow", nil)
	link := &linkLimit{}
	slow.api = simulcastAPI(t, link)
	var slowLayers viewerLayers
	slowLayers.watch(slow)

	pub := s.join("pub", nil)
	stop := make(chan struct{})
	defer close(stop)
	plis := publishSimulcast(t, pub, stop)
	good.answerOffer(t)
	slow.answerOffer(t)

	waitLayer := func(v *viewerLayers, who string, want int32, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for v.last.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s is on layer %d, want %d", who, v.last.Load(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Both start on the middle layer and clean reports take them up.
	waitLayer(&goodLayers, "good viewer", 2, 60*time.Second)
	waitLayer(&slowLayers, "slow viewer", 2, 60*time.Second)
	if plis.Load() == 0 {
		t.Fatal("no keyframe was asked of the publisher")
	}

	// 150 kbit/s fits the low layer only.
	link.rate.Store(150_000)
	waitLayer(&slowLayers, "throttled viewer", 0, 60*time.Second)
	from := slowLayers.count[0].Load()
	waitFor(t, "frames of the low layer at the throttled viewer", func() bool { return slowLayers.count[0].Load() >= from+90 })

	// The link recovers: the viewer goes back to the top layer.
	link.rate.Store(0)
	waitLayer(&slowLayers, "recovered viewer", 2, 90*time.Second)
	// The good viewer's link was never limited: it is on the top layer (a
	// loaded machine may have cost it a packet or two, and a move down,
	// on the way).
	waitLayer(&goodLayers, "good viewer", 2, 60*time.Second)
	if n := s.engine.SimulcastSwitches(); n < 4 {
		t.Fatalf("%d layer switches counted, want at least 4 (up, down, up)", n)
	}

	// A NACK from the good viewer (numbered in its own stream, which has
	// switched layers) is answered with the packets it names.
	goodLayers.mu.Lock()
	var nacked []uint16
	for i := range uint16(20) {
		if seq := goodLayers.lastSeq - 20 + i; len(nacked) < 3 && len(goodLayers.got[seq]) == 1 {
			nacked = append(nacked, seq)
		}
	}
	ssrc := goodLayers.ssrc
	goodLayers.mu.Unlock()
	if len(nacked) < 3 {
		t.Fatalf("the good viewer got too few recent packets to ask for: %v", nacked)
	}
	if err := good.sub.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{
		MediaSSRC: uint32(ssrc), Nacks: rtcp.NackPairsFromSequenceNumbers(nacked)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NACKed packets again at the good viewer", func() bool {
		goodLayers.mu.Lock()
		defer goodLayers.mu.Unlock()
		for _, seq := range nacked {
			if len(goodLayers.got[seq]) < 2 {
				return false
			}
		}
		return true
	})
	goodLayers.mu.Lock()
	for _, seq := range nacked {
		if g := goodLayers.got[seq]; g[0] != g[1] {
			t.Fatalf("packet %d came again with timestamp and picture id %v, first with %v", seq, g[1], g[0])
		}
	}
	goodLayers.mu.Unlock()

	// What reached the throttled viewer was one stream.
	link.mu.Lock()
	wire := append([]wirePacket(nil), link.wire...)
	link.mu.Unlock()
	switches, gaps := 0, 0
	for i := 1; i < len(wire); i++ {
		prev, p := wire[i-1], wire[i]
		if p.layer != prev.layer {
			switches++
			if p.seq != prev.seq+1 || int32(p.ts-prev.ts) <= 0 || !p.key || p.pic != (prev.pic+1)&0x7fff || p.tl0 != prev.tl0+1 {
				t.Fatalf("switch from layer %d to %d: seq %d then %d, ts %d then %d, picture id %d then %d, TL0PICIDX %d then %d, keyframe %v",
					prev.layer, p.layer, prev.seq, p.seq, prev.ts, p.ts, prev.pic, p.pic, prev.tl0, p.tl0, p.key)
			}
		} else if p.seq != prev.seq+1 {
			gaps++
		} else if p.ts == prev.ts && p.pic != prev.pic || p.ts != prev.ts && p.pic != (prev.pic+1)&0x7fff {
			t.Fatalf("picture id %d then %d within layer %d", prev.pic, p.pic, p.layer)
		}
	}
	var runs []string
	for i := 0; i < len(wire); {
		j := i
		for j < len(wire) && wire[j].layer == wire[i].layer {
			j++
		}
		runs = append(runs, fmt.Sprintf("%d×%d", wire[i].layer, j-i))
		i = j
	}
	t.Logf("layers on the wire: %s", strings.Join(runs, " "))
	if switches < 3 {
		t.Fatalf("%d switches on the wire, want at least 3", switches)
	}
	if gaps > len(wire)/100 {
		t.Fatalf("%d gaps in %d packets on the wire", gaps, len(wire))
	}
	t.Logf("%d packets on the wire, %d switches, %d gaps (loopback reordering); %d keyframe requests",
		len(wire), switches, gaps, plis.Load())
}

// The keyframe test reads the payload descriptors browsers send: VP8 with
// an extended descriptor (15-bit picture id, TL0PICIDX, TID/KEYIDX), and
// H.264 single NAL units, STAP-A and FU-A.
func TestKeyframeStart(t *testing.T) {
	for _, c := range []struct {
		name string
		h264 bool
		p    []byte
		want bool
	}{
		{"vp8 plain keyframe", false, []byte{0x10, 0x9c, 0x01, 0x2a}, true},
		{"vp8 plain delta", false, []byte{0x10, 0x01}, false},
		{"vp8 not the frame start", false, []byte{0x00, 0x00}, false},
		{"vp8 second partition", false, []byte{0x11, 0x00}, false},
		{"vp8 long picture id, tl0, tid keyframe", false, []byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x20, 0x50}, true},
		{"vp8 long picture id, tl0, tid delta", false, []byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x20, 0x51}, false},
		{"vp8 short picture id keyframe", false, []byte{0x90, 0x80, 0x12, 0x00}, true},
		{"vp8 truncated", false, []byte{0x90, 0x80}, false},
		{"h264 idr", true, []byte{0x65, 0x88}, true},
		{"h264 non-idr slice", true, []byte{0x41, 0x9a}, false},
		{"h264 stap-a with sps", true, []byte{0x78, 0x00, 0x0a, 0x67, 0x42}, true},
		{"h264 fu-a idr start", true, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", true, []byte{0x7c, 0x05, 0x00}, false},
		{"h264 fu-a non-idr start", true, []byte{0x7c, 0x81, 0x00}, false},
	} {
		got := vp8KeyframeStart(c.p)
		if c.h264 {
			got = h264KeyframeStart(c.p)
		}
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// The layer choice from reports alone: heavy loss moves down one layer at a
// time, clean reports move up after the backoff, a failed try up doubles
// the backoff, and a REMB below the layer's rate moves down.
func TestSimulcastLayerChoice(t *testing.T) {
	tr := newSimTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, &atomic.Uint64{})
	now := time.Now()
	for i, rate := range []uint64{100_000, 400_000, 1_200_000} {
		l := &layer{idx: i}
		l.lastAt.Store(now.Add(time.Hour).UnixMilli()) // active throughout
		l.rate.Store(rate)
		tr.layers[i].Store(l)
	}
	s := tr.newState()
	if s.target != 1 {
		t.Fatalf("a new subscriber starts on layer %d, want 1", s.target)
	}
	at := now
	// report sends one report a second; a wanted switch happens at once
	// (as the target's keyframe would make it).
	report := func(loss float64) {
		at = at.Add(time.Second)
		tr.feedback(s, loss, at)
		if s.target != s.cur {
			s.cur, s.switchAt = s.target, at.UnixNano()
		}
	}
	s.cur, s.switchAt = 1, at.UnixNano()
	report(0)
	report(0)
	report(0)
	if s.cur != 1 {
		t.Fatalf("up within the settling time: on %d", s.cur)
	}
	report(0)
	if s.cur != 2 {
		t.Fatalf("three clean reports after settling: on %d, want 2", s.cur)
	}
	report(0) // settling
	report(0.3)
	if s.cur != 1 {
		t.Fatalf("after 30%% loss: on %d, want 1", s.cur)
	}
	if s.backoff != 2*probeBackoff {
		t.Fatalf("a failed try up: backoff %v, want %v", s.backoff, 2*probeBackoff)
	}
	report(0) // settling
	report(0.5)
	if s.cur != 0 {
		t.Fatalf("after 50%% loss: on %d, want 0", s.cur)
	}
	report(0.5)
	if s.cur != 0 {
		t.Fatal("below the lowest layer")
	}
	// Clean from here: up again once the backoff (as grown by two more
	// failed tries) has passed.
	s.backoff = maxBackoff
	down := time.Unix(0, s.downAt)
	for i := 0; s.cur == 0; i++ {
		if i > 20 {
			t.Fatal("never tried up again")
		}
		report(0)
	}
	if waited := at.Sub(down); waited < maxBackoff {
		t.Fatalf("tried up %v after moving down, before the backoff of %v", waited, maxBackoff)
	}
	// A REMB below the layer's rate moves down without loss.
	for i := 0; s.cur != 2; i++ {
		if i > 20 {
			t.Fatalf("not back on top: on %d", s.cur)
		}
		report(0)
	}
	report(0) // settling
	s.remb = 500_000
	report(0)
	if s.cur != 1 {
		t.Fatalf("REMB 500 kbit/s on a 1.2 Mbit/s layer: on %d, want 1", s.cur)
	}
}

// Simulcast calls that come and go leave no goroutines behind: the layers'
// forwarding loops and the track's ticker end with the track.
func TestSimulcastLeavesNoGoroutines(t *testing.T) {
	s := newSFU(t)
	settle := func() int {
		runtime.GC()
		time.Sleep(300 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	round := func(i int) {
		sub := s.join(fmt.Sprint("sub", i), nil)
		var layers viewerLayers
		layers.watch(sub)
		pub := s.join(fmt.Sprint("pub", i), nil)
		stop := make(chan struct{})
		publishSimulcast(t, pub, stop)
		sub.answerOffer(t)
		waitFor(t, "simulcast RTP", func() bool { return layers.last.Load() >= 0 })
		close(stop)
		for _, p := range []*participant{pub, sub} {
			p.send(&pb.MediaCommand{Body: &pb.MediaCommand_Leave{Leave: &pb.MediaLeave{}}})
			s.system.Root.Stop(p.pid)
		}
		// The publisher's own connection is the test's; close it as a
		// browser would go away.
		_ = pub.pub.Close()
		_ = sub.sub.Close()
	}
	round(0)
	base := settle()
	for i := 1; i <= 8; i++ {
		round(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	n := settle()
	for n > base+5 && time.Now().Before(deadline) {
		n = settle()
	}
	if n > base+5 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d after 8 simulcast calls, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
