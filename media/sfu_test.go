package media

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	"go.uber.org/zap"

	"liveroom/proto/pb"
)

func freeUDPPort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// sfu is a media actor under test, driven the way the room grain drives it.
type sfu struct {
	tb     testing.TB
	system *actor.ActorSystem
	room   *actor.PID
	client *webrtc.API
	// recEvents gets the media actor's recording events.
	recEvents chan *pb.MediaRecordingEvent
	engine    *Engine
}

func newSFU(tb testing.TB) *sfu {
	return newSFUWith(tb, Config{ICETimeout: 15 * time.Second})
}

func newSFUWith(tb testing.TB, cfg Config) *sfu {
	tb.Helper()
	return newSFUProps(tb, cfg, func(e *Engine) *actor.Props { return e.Props("r") })
}

// newSFUProps runs the media actor props makes (a room's or a broadcast's).
func newSFUProps(tb testing.TB, cfg Config, props func(*Engine) *actor.Props) *sfu {
	tb.Helper()
	cfg.UDPPort = freeUDPPort(tb)
	e, err := NewEngine(cfg, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	s := &sfu{tb: tb, system: system, recEvents: make(chan *pb.MediaRecordingEvent, 64), engine: e}
	// The media actor runs under a parent, as under its room grain, which
	// collects its recording events.
	ready := make(chan *actor.PID, 1)
	parent := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ready <- ctx.Spawn(props(e))
		case *pb.MediaRecordingEvent:
			select {
			case s.recEvents <- m:
			default:
			}
		}
	}))
	s.room = <-ready
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.client = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	tb.Cleanup(func() {
		_ = system.Root.StopFuture(parent).Wait()
		system.Shutdown()
		e.Close()
	})
	return s
}

// participant is a Pion peer standing in for a browser.
type participant struct {
	s      *sfu
	id     string
	pid    *actor.PID
	frames chan *pb.ServerFrame
	sub    *webrtc.PeerConnection
	pub    *webrtc.PeerConnection
	// matched counts received RTP packets whose payload is the publisher's.
	matched atomic.Int64
	want    []byte
	// onPacket, when set before the first offer is answered, sees every
	// received packet.
	onPacket func(*webrtc.TrackRemote, *rtp.Packet)
	// onRTCP, when set before publish, sees the RTCP the publisher gets.
	onRTCP func(rtcp.Packet)
	// api, when set before the first offer is answered, makes the
	// subscriber connection instead of the sfu's client API.
	api *webrtc.API
}

func (s *sfu) join(id string, want []byte) *participant {
	p := &participant{s: s, id: id, frames: make(chan *pb.ServerFrame, 256), want: want}
	p.pid = s.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if f, ok := ctx.Message().(*pb.ServerFrame); ok {
			p.frames <- f
		}
	}))
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_Join{Join: &pb.MediaJoin{}}})
	return p
}

func (p *participant) send(c *pb.MediaCommand) {
	c.MemberId, c.Session = p.id, p.pid
	p.s.system.Root.Send(p.s.room, c)
}

func (p *participant) next(tb testing.TB) *pb.ServerFrame {
	tb.Helper()
	select {
	case f := <-p.frames:
		if e := f.GetError(); e != nil {
			tb.Fatalf("%s got error %s: %s", p.id, e.Code, e.Message)
		}
		return f
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: no frame within 10s", p.id)
		return nil
	}
}

func complete(tb testing.TB, pc *webrtc.PeerConnection, d webrtc.SessionDescription) string {
	tb.Helper()
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		tb.Fatal(err)
	}
	<-done
	return pc.LocalDescription().SDP
}

// answerOffers answers subscribe offers as they come and counts packets.
func (p *participant) answerOffer(tb testing.TB) string {
	tb.Helper()
	offer := p.next(tb).GetSubscribeOffer()
	if offer == nil {
		tb.Fatalf("%s: expected a subscribe offer", p.id)
	}
	if p.sub == nil {
		api := p.s.client
		if p.api != nil {
			api = p.api
		}
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			tb.Fatal(err)
		}
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if bytes.Equal(pkt.Payload, p.want) {
					p.matched.Add(1)
				}
				if p.onPacket != nil {
					p.onPacket(tr, pkt)
				}
			}
		})
		p.sub = pc
	}
	if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		tb.Fatal(err)
	}
	answer, err := p.sub.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_SubscribeAnswer{SubscribeAnswer: &pb.Sdp{Sdp: complete(tb, p.sub, answer)}}})
	return offer.Sdp
}

// publish sends one VP8 track; it returns the track and a counter of keyframe
// requests the publisher received.
func (p *participant) publish(tb testing.TB) (*webrtc.TrackLocalStaticRTP, *atomic.Int64) {
	tb.Helper()
	pc, err := p.s.client.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p.pub = pc
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "s")
	if err != nil {
		tb.Fatal(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		tb.Fatal(err)
	}
	plis := &atomic.Int64{}
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok {
					plis.Add(1)
				}
				if p.onRTCP != nil {
					p.onRTCP(pk)
				}
			}
		}
	}()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{
		Sdp: complete(tb, pc, offer), Sources: map[string]string{"cam": "camera"}}}})
	answer := p.next(tb).GetPublishAnswer()
	if answer == nil {
		tb.Fatal("expected a publish answer")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.Sdp}); err != nil {
		tb.Fatal(err)
	}
	return track, plis
}

func sendRTP(track *webrtc.TrackLocalStaticRTP, payload []byte, stop <-chan struct{}) {
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96}, Payload: payload}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			pkt.SequenceNumber++
			pkt.Timestamp += 900
			_ = track.WriteRTP(pkt)
		}
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOnePublisherManySubscribers(t *testing.T) {
	s := newSFU(t)
	payload := []byte("liveroom-vp8-payload-0123456789")
	subs := []*participant{s.join("a", payload), s.join("b", payload), s.join("c", payload)}
	pub := s.join("pub", nil)
	track, plis := pub.publish(t)
	stop := make(chan struct{})
	defer close(stop)
	go sendRTP(track, payload, stop)
	// The SFU learns of the track from its first packets, then offers it.
	for _, sub := range subs {
		sub.answerOffer(t)
	}
	for _, sub := range subs {
		waitFor(t, "RTP at "+sub.id, func() bool { return sub.matched.Load() >= 20 })
	}

	// A late subscriber gets the track too, and the publisher is asked for a
	// keyframe on its behalf.
	before := plis.Load()
	late := s.join("late", payload)
	late.answerOffer(t)
	waitFor(t, "RTP at the late subscriber", func() bool { return late.matched.Load() >= 20 })
	waitFor(t, "a keyframe request at the publisher", func() bool { return plis.Load() > before })

	// When the publisher leaves, every subscriber is offered a session without
	// its track.
	pub.send(&pb.MediaCommand{Body: &pb.MediaCommand_Leave{Leave: &pb.MediaLeave{}}})
	for _, sub := range append(subs, late) {
		offer := sub.answerOffer(t)
		if strings.Contains(offer, "a=sendonly") || strings.Contains(offer, "a=sendrecv") {
			t.Fatalf("%s is still offered a track after the publisher left:\n%s", sub.id, offer)
		}
	}
}

func TestBadOffersGetClearErrors(t *testing.T) {
	s := newSFU(t)
	p := s.join("p", nil)
	nextError := func() *pb.Error {
		t.Helper()
		for {
			select {
			case f := <-p.frames:
				if e := f.GetError(); e != nil {
					return e
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no error frame")
			}
		}
	}
	expect := func(code string) {
		t.Helper()
		if e := nextError(); e.Code != code {
			t.Fatalf("got error %v, want %s", e, code)
		}
	}
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{Sdp: "v=0\r\nthis is not sdp"}}})
	expect("bad_sdp")

	// Four sending tracks where three are allowed.
	pc, err := s.client.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := range 4 {
		tr, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "t"+string(rune('0'+i)), "s")
		if _, err := pc.AddTrack(tr); err != nil {
			t.Fatal(err)
		}
	}
	offer, _ := pc.CreateOffer(nil)
	_ = pc.SetLocalDescription(offer)
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{Sdp: offer.SDP}}})
	expect("too_many_tracks")

	// A codec the SFU cannot forward.
	me := &webrtc.MediaEngine{}
	_ = me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/H265", ClockRate: 90000}, PayloadType: 100}, webrtc.RTPCodecTypeVideo)
	odd, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer odd.Close()
	tr, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: "video/H265", ClockRate: 90000}, "h", "s")
	if _, err := odd.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	offer, _ = odd.CreateOffer(nil)
	_ = odd.SetLocalDescription(offer)
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{Sdp: offer.SDP}}})
	if e := nextError(); e.Code != "unsupported_codec" && e.Code != "bad_sdp" {
		t.Fatalf("H.265 offer: got %v", e)
	}

	// A candidate for a connection that does not exist.
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_Ice{Ice: &pb.IceCandidate{Pc: pb.PeerRole_PEER_ROLE_SUBSCRIBE, Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}})
	expect("bad_candidate")
}

// A browser that offers but never completes ICE is dropped with ice_timeout.
func TestPeerThatNeverConnectsIsDropped(t *testing.T) {
	s := newSFUWith(t, Config{ICETimeout: time.Second})
	p := s.join("silent", nil)
	pc, err := s.client.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tr, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", "s")
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	// Never gathered, never applied: the server has no way to reach us.
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{Sdp: offer.SDP}}})
	if a := p.next(t).GetPublishAnswer(); a == nil {
		t.Fatal("expected an answer first")
	}
	select {
	case f := <-p.frames:
		if f.GetError().GetCode() != "ice_timeout" {
			t.Fatalf("got %v, want ice_timeout", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("peer was never dropped")
	}
}

// Calls that come and go leave no goroutines behind: every peer connection,
// forwarding loop and RTCP reader ends with its call.
func TestNoGoroutinesLeftAfterCalls(t *testing.T) {
	s := newSFU(t)
	payload := []byte("leak-check")
	settle := func() int {
		runtime.GC()
		time.Sleep(300 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	round := func(i int) {
		sub := s.join(fmt.Sprint("sub", i), payload)
		pub := s.join(fmt.Sprint("pub", i), nil)
		track, _ := pub.publish(t)
		stop := make(chan struct{})
		go sendRTP(track, payload, stop)
		sub.answerOffer(t)
		waitFor(t, "RTP", func() bool { return sub.matched.Load() >= 5 })
		close(stop)
		// Only the server closes: its close reaches the peers, so anything
		// left running afterwards is the server's.
		for _, p := range []*participant{pub, sub} {
			p.send(&pb.MediaCommand{Body: &pb.MediaCommand_Leave{Leave: &pb.MediaLeave{}}})
			s.system.Root.Stop(p.pid)
		}
	}
	round(0) // the first call starts what lives as long as the process
	base := settle()
	for i := 1; i <= 5; i++ {
		round(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	n := settle()
	for n > base+5 && time.Now().Before(deadline) {
		n = settle()
	}
	if n > base+5 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d after 5 calls, %d before\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// answerCandidates publishes one audio track and returns the candidate lines
// of the server's answer.
func answerCandidates(t *testing.T, s *sfu) []string {
	t.Helper()
	p := s.join("p", nil)
	pc, err := s.client.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	tr, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", "s")
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{Sdp: complete(t, pc, offer)}}})
	answer := p.next(t).GetPublishAnswer()
	if answer == nil {
		t.Fatal("no answer")
	}
	var lines []string
	for _, line := range strings.Split(answer.Sdp, "\n") {
		if strings.HasPrefix(line, "a=candidate:") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	if len(lines) == 0 {
		t.Fatal("answer has no candidates")
	}
	return lines
}

// Behind 1:1 NAT the server announces the public address instead of its own.
func TestPublicAddressIsAnnounced(t *testing.T) {
	s := newSFUWith(t, Config{ICETimeout: 15 * time.Second, PublicIPs: []string{"203.0.113.7"}})
	for _, c := range answerCandidates(t, s) {
		if strings.Fields(c)[4] != "203.0.113.7" {
			t.Fatalf("answer announces %q, want only the public address", c)
		}
	}
}

// With a TCP port configured, browsers that cannot use UDP get a TCP candidate.
func TestTCPFallbackIsOffered(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := newSFUWith(t, Config{ICETimeout: 15 * time.Second, TCPPort: port})
	var tcp, udp bool
	for _, c := range answerCandidates(t, s) {
		f := strings.Fields(c)
		tcp = tcp || (strings.EqualFold(f[2], "tcp") && f[5] == fmt.Sprint(port) && strings.Contains(c, "tcptype passive"))
		udp = udp || strings.EqualFold(f[2], "udp")
	}
	if !tcp || !udp {
		t.Fatalf("want UDP and passive TCP candidates on port %d", port)
	}
}

// A subscriber's NACK is answered with the packet it names, sent to that
// subscriber alone, from the history the SFU keeps per published track.
func TestNACKedPacketsAreSentAgain(t *testing.T) {
	s := newSFU(t)
	payload := []byte("liveroom-vp8-payload-0123456789")
	type seen struct {
		sync.Mutex
		ssrc  webrtc.SSRC
		count map[uint16]int
	}
	subs := []*participant{s.join("a", payload), s.join("b", payload)}
	got := []*seen{{count: map[uint16]int{}}, {count: map[uint16]int{}}}
	for i, sub := range subs {
		g := got[i]
		sub.onPacket = func(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
			g.Lock()
			g.ssrc = tr.SSRC()
			g.count[pkt.SequenceNumber]++
			g.Unlock()
		}
	}
	pub := s.join("pub", nil)
	track, _ := pub.publish(t)
	stop := make(chan struct{})
	defer close(stop)
	go sendRTP(track, payload, stop)
	for _, sub := range subs {
		sub.answerOffer(t)
	}
	for _, sub := range subs {
		waitFor(t, "RTP at "+sub.id, func() bool { return sub.matched.Load() >= 20 })
	}
	a := got[0]
	a.Lock()
	var seqs []uint16
	for seq := range a.count {
		if len(seqs) < 3 {
			seqs = append(seqs, seq)
		}
	}
	ssrc := a.ssrc
	a.Unlock()
	if err := subs[0].sub.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{
		MediaSSRC: uint32(ssrc), Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NACKed packets again at a", func() bool {
		a.Lock()
		defer a.Unlock()
		for _, seq := range seqs {
			if a.count[seq] < 2 {
				return false
			}
		}
		return true
	})
	// b asked for nothing and got every packet once.
	b := got[1]
	b.Lock()
	defer b.Unlock()
	for seq, n := range b.count {
		if n != 1 {
			t.Fatalf("b got packet %d %d times", seq, n)
		}
	}
}

// A packet the publisher never sends is asked for a bounded number of times
// (Pion's NACK generator would otherwise ask every 100 ms until it leaves the
// receive log, also for packets that did come again on the RTX stream).
func TestLostPublisherPacketIsAskedForABoundedNumberOfTimes(t *testing.T) {
	s := newSFU(t)
	payload := []byte("liveroom-vp8-payload-0123456789")
	sub := s.join("sub", payload)
	pub := s.join("pub", nil)
	const lost = 50
	var asked atomic.Int64
	pub.onRTCP = func(pk rtcp.Packet) {
		if n, ok := pk.(*rtcp.TransportLayerNack); ok {
			for _, pair := range n.Nacks {
				for _, seq := range pair.PacketList() {
					if seq == lost {
						asked.Add(1)
					}
				}
			}
		}
	}
	track, _ := pub.publish(t)
	var sent atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96}, Payload: payload}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				pkt.SequenceNumber++
				pkt.Timestamp += 900
				if pkt.SequenceNumber != lost {
					_ = track.WriteRTP(pkt)
				}
				sent.Add(1)
			}
		}
	}()
	sub.answerOffer(t)
	waitFor(t, "a NACK for the packet never sent", func() bool { return asked.Load() > 0 })
	// Give the generator (every 100 ms) time for many more rounds: 2 s of
	// packets.
	from := sent.Load()
	waitFor(t, "200 more packets", func() bool { return sent.Load() >= from+200 })
	if n := asked.Load(); n > nackTries {
		t.Fatalf("the lost packet was asked for %d times, want at most %d", n, nackTries)
	}
}
