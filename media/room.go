package media

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"liveroom/media/recorder"
	"liveroom/proto/pb"
)

// Props returns the media actor of one room. The room grain spawns it as a
// child, so it lives on the node that hosts the room.
func (e *Engine) Props(roomID string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &room{e: e, id: roomID, log: e.log.With(zap.String("room", roomID)),
			peers: map[string]*peer{}, tracks: map[string]*forwarded{}}
	})
}

// peer is one call member: the connection the browser sends on (it offers)
// and the one it receives on (we offer), so neither side ever has to resolve
// offer glare.
type peer struct {
	member  string
	name    string
	session *actor.PID
	pub     *webrtc.PeerConnection
	sub     *webrtc.PeerConnection
	// sources maps the browser's track ids to mic, camera or screen.
	sources   map[string]string
	senders   map[string]*webrtc.RTPSender // by forwarded track id
	published int
	// A renegotiation asked for while an offer is out waits for its answer.
	awaitingAnswer, renegotiate bool
	// iceRestart makes the next subscribe offer carry fresh ICE credentials.
	iceRestart bool
	// sendOnly peers (a WHIP publisher) are never offered other tracks.
	sendOnly bool
	// rids is the simulcast layer order (lowest first) of each media
	// section of the last publish offer that sends simulcast, by mid.
	rids map[string][]string
}

// forwarded is a published track and its fan-out copy.
type forwarded struct {
	id, owner, source string
	serial            int
	local             *fanout
	// remote is the publisher's track; of a simulcast track, the layer
	// that arrived first (the one recorded).
	remote *webrtc.TrackRemote
	pub    *webrtc.PeerConnection
	pli    keyframeAsk
	// mid is the publisher's media section, which a simulcast track's
	// layers share.
	mid string
	// rec is set while the track is being recorded; forward hands it a copy
	// of every packet.
	rec atomic.Pointer[recorder.Track]
}

type room struct {
	e      *Engine
	id     string
	log    *zap.Logger
	self   *actor.PID
	system *actor.ActorSystem
	peers  map[string]*peer
	tracks map[string]*forwarded
	serial int
	// parent is the room grain; recording events go to it.
	parent *actor.PID
	rec    *recording
	// stripExtensions drops the publisher's RTP header extensions before
	// forwarding: their ids belong to the publisher's negotiation, and a
	// subscriber that demultiplexes by the mid extension (a WHEP player)
	// would route the packets to the wrong track.
	stripExtensions bool
}

// PeerLost tells the room grain (the media actor's parent) that a member's
// media connection failed and was closed: the member is no longer in the call
// until its browser joins it again.
type PeerLost struct{ Member string }

// Messages from Pion's goroutines back into the actor.
type (
	trackArrived struct {
		member string
		pc     *webrtc.PeerConnection
		remote *webrtc.TrackRemote
		mid    string
	}
	trackEnded    struct{ id string }
	connectionBad struct {
		member string
		pc     *webrtc.PeerConnection
		code   string
	}
	iceDeadline struct {
		member string
		pc     *webrtc.PeerConnection
	}
)

func (r *room) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		r.self, r.system, r.parent = ctx.Self(), ctx.ActorSystem(), ctx.Parent()
	case *actor.Stopping:
		r.stopRecording("")
		for id := range r.peers {
			r.leave(ctx, id)
		}
	case *pb.MediaCommand:
		r.command(ctx, msg)
	case *trackArrived:
		r.trackArrived(ctx, msg)
	case *trackEnded:
		r.trackEnded(ctx, msg.id)
	case *recordingStopped:
		if r.rec != nil && r.rec.id == msg.id {
			r.stopRecording(msg.reason)
		}
	case *connectionBad:
		if p := r.peers[msg.member]; p != nil && (p.pub == msg.pc || p.sub == msg.pc) {
			r.log.Info("peer connection lost", zap.String("member", msg.member), zap.String("why", msg.code))
			session := p.session
			r.leave(ctx, msg.member)
			r.fail(ctx, session, "", msg.code, "The media connection was lost; rejoining the call.")
			// The room drops the member from the call too, so nobody waits
			// for media that will not come; the browser joins again.
			if parent := ctx.Parent(); parent != nil {
				ctx.Send(parent, &PeerLost{Member: msg.member})
			}
		}
	case *iceDeadline:
		p := r.peers[msg.member]
		if p == nil || (p.pub != msg.pc && p.sub != msg.pc) {
			return
		}
		if s := msg.pc.ICEConnectionState(); s != webrtc.ICEConnectionStateConnected && s != webrtc.ICEConnectionStateCompleted {
			ctx.Send(r.self, &connectionBad{member: msg.member, pc: msg.pc, code: "ice_timeout"})
		}
	}
}

func (r *room) fail(ctx actor.Context, session *actor.PID, frameID, code, text string) {
	ctx.Send(session, &pb.ServerFrame{ReplyTo: frameID, Body: &pb.ServerFrame_Error{Error: &pb.Error{Code: code, Message: text}}})
}

func (r *room) command(ctx actor.Context, c *pb.MediaCommand) {
	switch b := c.Body.(type) {
	case *pb.MediaCommand_Join:
		if r.peers[c.MemberId] != nil {
			return
		}
		p := &peer{member: c.MemberId, name: b.Join.GetName(), session: c.Session, sources: map[string]string{}, senders: map[string]*webrtc.RTPSender{},
			sendOnly: b.Join.GetSendOnly()}
		r.peers[c.MemberId] = p
		for _, f := range r.tracks {
			r.subscribe(ctx, p, f)
		}
		r.negotiate(ctx, p)
	case *pb.MediaCommand_Leave:
		r.leave(ctx, c.MemberId)
	case *pb.MediaCommand_PublishOffer:
		r.publishOffer(ctx, c, b.PublishOffer)
	case *pb.MediaCommand_SubscribeAnswer:
		p := r.peers[c.MemberId]
		if p == nil || p.sub == nil || !p.awaitingAnswer {
			r.fail(ctx, c.Session, c.FrameId, "bad_sdp", "No offer is waiting for an answer.")
			return
		}
		if err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: b.SubscribeAnswer.Sdp}); err != nil {
			r.fail(ctx, c.Session, c.FrameId, "bad_sdp", "The answer could not be applied: "+err.Error())
			return
		}
		p.awaitingAnswer = false
		if p.renegotiate {
			p.renegotiate = false
			r.negotiate(ctx, p)
		}
	case *pb.MediaCommand_Ice:
		r.candidate(ctx, c, b.Ice)
	case *pb.MediaCommand_Rebind:
		if p := r.peers[c.MemberId]; p != nil {
			p.session = c.Session
		}
	case *pb.MediaCommand_RestartIce:
		p := r.peers[c.MemberId]
		if p == nil {
			r.fail(ctx, c.Session, c.FrameId, "not_in_call", "The call's media is gone; join the call again.")
			return
		}
		p.iceRestart = true
		r.negotiate(ctx, p)
	case *pb.MediaCommand_RecordStart:
		r.startRecording(b.RecordStart.RecordingId)
	case *pb.MediaCommand_RecordStop:
		r.stopRecording("")
	}
}

func (r *room) candidate(ctx actor.Context, c *pb.MediaCommand, ic *pb.IceCandidate) {
	p := r.peers[c.MemberId]
	if p == nil {
		return
	}
	pc := p.pub
	if ic.Pc == pb.PeerRole_PEER_ROLE_SUBSCRIBE {
		pc = p.sub
	}
	if pc == nil || pc.RemoteDescription() == nil {
		r.fail(ctx, c.Session, c.FrameId, "bad_candidate", "No connection is waiting for that candidate.")
		return
	}
	init := webrtc.ICECandidateInit{Candidate: ic.Candidate}
	if ic.SdpMid != "" {
		init.SDPMid = &ic.SdpMid
	}
	idx := uint16(ic.SdpMlineIndex)
	init.SDPMLineIndex = &idx
	if ic.UsernameFragment != "" {
		init.UsernameFragment = &ic.UsernameFragment
	}
	if err := pc.AddICECandidate(init); err != nil {
		r.fail(ctx, c.Session, c.FrameId, "bad_candidate", "The ICE candidate was not accepted: "+err.Error())
	}
}

var validSources = map[string]bool{"mic": true, "camera": true, "screen": true}

// sendingSections counts the audio and video sections in which the browser
// offers to send: one per published track.
func sendingSections(d *sdp.SessionDescription) int {
	n := 0
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" {
			continue
		}
		_, recvonly := m.Attribute("recvonly")
		_, inactive := m.Attribute("inactive")
		if !recvonly && !inactive && m.MediaName.Port.Value != 0 {
			n++
		}
	}
	return n
}

func (r *room) publishOffer(ctx actor.Context, c *pb.MediaCommand, offer *pb.Sdp) {
	p := r.peers[c.MemberId]
	if p == nil {
		r.fail(ctx, c.Session, c.FrameId, "not_in_call", "Join the call first.")
		return
	}
	parsed := &sdp.SessionDescription{}
	if err := parsed.UnmarshalString(offer.Sdp); err != nil {
		r.fail(ctx, c.Session, c.FrameId, "bad_sdp", "The offer is not valid SDP: "+err.Error())
		return
	}
	if n := sendingSections(parsed); n > r.e.cfg.MaxTracksPerPeer {
		r.fail(ctx, c.Session, c.FrameId, "too_many_tracks",
			"At most "+itoa(r.e.cfg.MaxTracksPerPeer)+" tracks (microphone, camera, screen) may be sent.")
		return
	}
	if len(offer.Sources) > 2*r.e.cfg.MaxTracksPerPeer {
		r.fail(ctx, c.Session, c.FrameId, "invalid", "Too many track sources.")
		return
	}
	for id, src := range offer.Sources {
		if !validSources[src] || len(id) > 128 {
			r.fail(ctx, c.Session, c.FrameId, "invalid", "Track sources must be mic, camera or screen.")
			return
		}
	}
	if p.pub == nil {
		pc, err := r.newConnection(ctx, p.member)
		if err != nil {
			r.fail(ctx, c.Session, c.FrameId, "internal", "The server could not open a media connection.")
			return
		}
		member := p.member
		pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
			mid := ""
			for _, t := range pc.GetTransceivers() {
				if t.Receiver() == recv {
					mid = t.Mid()
				}
			}
			r.system.Root.Send(r.self, &trackArrived{member: member, pc: pc, remote: remote, mid: mid})
		})
		p.pub = pc
	}
	for id, src := range offer.Sources {
		p.sources[id] = src
	}
	p.rids = simulcastRids(parsed)
	if err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		r.fail(ctx, c.Session, c.FrameId, "bad_sdp", "The offer could not be applied: "+err.Error())
		return
	}
	answer, err := p.pub.CreateAnswer(nil)
	if err == nil {
		err = r.setLocal(p.pub, answer)
	}
	if err != nil {
		r.fail(ctx, c.Session, c.FrameId, "bad_sdp", "No answer for that offer: "+err.Error())
		return
	}
	// The answer completes the negotiation either way; sections with a codec
	// we cannot forward are rejected in it, and the browser is told why.
	ctx.Send(c.Session, &pb.ServerFrame{ReplyTo: c.FrameId, Body: &pb.ServerFrame_PublishAnswer{
		PublishAnswer: &pb.Sdp{Sdp: p.pub.LocalDescription().SDP}}})
	if n := acceptedSections(p.pub.LocalDescription().SDP); n < sendingSections(parsed) {
		r.fail(ctx, c.Session, c.FrameId, "unsupported_codec",
			"Some media uses a codec the server cannot forward (use Opus, VP8 or H.264).")
	}
}

// acceptedSections counts answer sections that accept media (port not 0 and
// not inactive).
func acceptedSections(raw string) int {
	d := &sdp.SessionDescription{}
	if d.UnmarshalString(raw) != nil {
		return 0
	}
	n := 0
	for _, m := range d.MediaDescriptions {
		_, inactive := m.Attribute("inactive")
		if (m.MediaName.Media == "audio" || m.MediaName.Media == "video") && m.MediaName.Port.Value != 0 && !inactive {
			n++
		}
	}
	return n
}

// setLocal applies a description and waits for candidate gathering, which
// with one muxed port is immediate, so every SDP we send is complete and we
// never trickle.
func (r *room) setLocal(pc *webrtc.PeerConnection, d webrtc.SessionDescription) error {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		return err
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	return nil
}

func (r *room) newConnection(ctx actor.Context, member string) (*webrtc.PeerConnection, error) {
	pc, err := r.e.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		r.log.Error("new peer connection", zap.Error(err))
		return nil, err
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			r.system.Root.Send(r.self, &connectionBad{member: member, pc: pc, code: "media_failed"})
		}
	})
	time.AfterFunc(r.e.cfg.ICETimeout, func() {
		r.system.Root.Send(r.self, &iceDeadline{member: member, pc: pc})
	})
	return pc, nil
}

func (r *room) trackArrived(ctx actor.Context, msg *trackArrived) {
	p := r.peers[msg.member]
	if p == nil || p.pub != msg.pc {
		return
	}
	layer := -1
	if rid := msg.remote.RID(); rid != "" {
		for i, x := range p.rids[msg.mid] {
			if x == rid && i < maxLayers {
				layer = i
			}
		}
		if layer < 0 || msg.remote.Kind() != webrtc.RTPCodecTypeVideo {
			r.log.Info("simulcast layer not forwarded", zap.String("member", p.member), zap.String("rid", rid))
			return
		}
		// A further layer of a track already forwarded.
		for _, f := range r.tracks {
			if f.pub == msg.pc && f.mid == msg.mid && f.local.sim != nil {
				r.addLayer(f, layer, msg.remote)
				return
			}
		}
	}
	if p.published >= r.e.cfg.MaxTracksPerPeer {
		r.fail(ctx, p.session, "", "too_many_tracks", "That track is not forwarded: too many tracks.")
		return
	}
	source := p.sources[msg.remote.ID()]
	if source == "" {
		source = "camera"
		if msg.remote.Kind() == webrtc.RTPCodecTypeAudio {
			source = "mic"
		}
	}
	group := "main"
	if source == "screen" {
		group = "screen"
	}
	r.serial++
	id := p.member + ":" + source + ":" + itoa(r.serial)
	local, err := newFanout(msg.remote.Codec().RTPCodecCapability, id, p.member+":"+group, msg.remote.Kind())
	if err != nil {
		r.log.Error("local track", zap.Error(err))
		return
	}
	f := &forwarded{id: id, owner: p.member, source: source, serial: r.serial, local: local, remote: msg.remote, pub: msg.pc, mid: msg.mid}
	if layer >= 0 {
		local.hist, local.sim = nil, newSimTrack(msg.remote.Codec().RTPCodecCapability, &r.e.simSwitches)
		go local.sim.run(local)
	}
	r.tracks[id] = f
	p.published++
	r.record(f)
	if layer >= 0 {
		r.addLayer(f, layer, msg.remote)
	} else {
		go r.forward(f)
	}
	for _, q := range r.peers {
		if q != p {
			r.subscribe(ctx, q, f)
			r.negotiate(ctx, q)
		}
	}
	r.log.Debug("track published", zap.String("member", p.member), zap.String("source", source),
		zap.String("codec", msg.remote.Codec().MimeType))
}

// forward copies the publisher's RTP to every subscriber of the track until
// the publisher's track ends. The copies of one packet are queued while it
// holds the node's sockets and leave together when it releases them.
func (r *room) forward(f *forwarded) {
	buf := make([]byte, slotSize)
	var pkt rtp.Packet
	for {
		n, _, err := f.remote.Read(buf)
		if err != nil {
			r.system.Root.Send(r.self, &trackEnded{id: f.id})
			return
		}
		r.e.out.hold()
		copies := f.local.write(buf[:n], r.stripExtensions)
		r.e.out.release()
		r.e.packetsIn.Add(1)
		r.e.packetsOut.Add(uint64(copies))
		if t := f.rec.Load(); t != nil && pkt.Unmarshal(buf[:n]) == nil {
			t.Push(&pkt)
		}
	}
}

// addLayer starts forwarding one layer of a simulcast track.
func (r *room) addLayer(f *forwarded, idx int, remote *webrtc.TrackRemote) {
	t := f.local.sim
	if t.layers[idx].Load() != nil {
		return
	}
	l := &layer{idx: idx, rid: remote.RID(), remote: remote, pub: f.pub}
	t.layers[idx].Store(l)
	go r.forwardLayer(f, l)
	r.log.Debug("simulcast layer", zap.String("track", f.id), zap.String("rid", l.rid), zap.Int("layer", idx))
}

// forwardLayer is forward for one layer of a simulcast track: each packet
// goes to the subscribers on that layer.
func (r *room) forwardLayer(f *forwarded, l *layer) {
	buf := make([]byte, slotSize)
	var pkt rtp.Packet
	for {
		n, _, err := l.remote.Read(buf)
		if err != nil {
			r.system.Root.Send(r.self, &trackEnded{id: f.id})
			return
		}
		r.e.out.hold()
		// A layer's header extensions (its rid among them) are dropped
		// whatever the call: subscribers get no simulcast.
		copies := f.local.writeLayer(l, buf[:n], true)
		r.e.out.release()
		r.e.packetsIn.Add(1)
		r.e.packetsOut.Add(uint64(copies))
		if l.remote == f.remote {
			if t := f.rec.Load(); t != nil && pkt.Unmarshal(buf[:n]) == nil {
				t.Push(&pkt)
			}
		}
	}
}

// keyframe asks the publisher for a keyframe (of every layer of a
// simulcast track). Requests from many subscribers are merged: at most one
// PLI per pliInterval, and one asked for inside the interval is sent when it
// ends rather than dropped, so a late subscriber always gets its keyframe.
func (f *forwarded) keyframe() {
	if f.remote.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	if t := f.local.sim; t != nil {
		for i := range maxLayers {
			if l := t.layers[i].Load(); l != nil {
				l.keyframe()
			}
		}
		return
	}
	f.pli.ask(func() {
		_ = f.pub.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(f.remote.SSRC())}})
	})
}

// keyframeFor asks for a keyframe on behalf of the subscriber stream ssrc:
// of a simulcast track, of the layer that subscriber gets.
func (f *forwarded) keyframeFor(ssrc uint32) {
	if t := f.local.sim; t != nil {
		if b := f.local.binding(ssrc); b != nil {
			t.keyframe(b.sim)
		}
		return
	}
	f.keyframe()
}

// feedback hands a subscriber's receiver reports and REMB to the layer
// selection of a simulcast track.
func (f *forwarded) feedback(pk rtcp.Packet) {
	t := f.local.sim
	if t == nil {
		return
	}
	switch pk := pk.(type) {
	case *rtcp.ReceiverReport:
		for _, rep := range pk.Reports {
			if b := f.local.binding(rep.SSRC); b != nil {
				t.feedback(b.sim, float64(rep.FractionLost)/256, time.Now())
			}
		}
	case *rtcp.ReceiverEstimatedMaximumBitrate:
		for _, ssrc := range pk.SSRCs {
			if b := f.local.binding(ssrc); b != nil {
				b.sim.mu.Lock()
				b.sim.remb = float64(pk.Bitrate)
				b.sim.mu.Unlock()
			}
		}
	}
}

const pliInterval = 300 * time.Millisecond

func (r *room) subscribe(ctx actor.Context, q *peer, f *forwarded) {
	if q.sendOnly {
		return
	}
	if q.sub == nil {
		pc, err := r.newConnection(ctx, q.member)
		if err != nil {
			return
		}
		q.sub = pc
	}
	sender, err := q.sub.AddTrack(f.local)
	if err != nil {
		r.log.Warn("add track", zap.Error(err))
		return
	}
	q.senders[f.id] = sender
	// Read the subscriber's RTCP: keyframe requests go on to the publisher,
	// NACKs are answered from the track's history.
	strip := r.stripExtensions
	go func() {
		var buf []byte
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				switch pk := pk.(type) {
				case *rtcp.PictureLossIndication:
					f.keyframeFor(pk.MediaSSRC)
				case *rtcp.FullIntraRequest:
					f.keyframeFor(pk.MediaSSRC)
				case *rtcp.ReceiverReport, *rtcp.ReceiverEstimatedMaximumBitrate:
					f.feedback(pk)
				case *rtcp.TransportLayerNack:
					if buf == nil {
						buf = make([]byte, 2*slotSize+2)
					}
					r.e.out.hold()
					n := f.local.resend(pk, buf, strip)
					r.e.out.release()
					r.e.packetsResent.Add(uint64(n))
				}
			}
		}
	}()
	if f.local.sim == nil {
		// A simulcast subscriber's layer asks for its own (simTrack.tend).
		f.keyframe()
	}
}

func (r *room) negotiate(ctx actor.Context, q *peer) {
	if q.sub == nil {
		return
	}
	if q.awaitingAnswer {
		q.renegotiate = true
		return
	}
	var opts *webrtc.OfferOptions
	if q.iceRestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		q.iceRestart = false
	}
	offer, err := q.sub.CreateOffer(opts)
	if err == nil {
		err = r.setLocal(q.sub, offer)
	}
	if err != nil {
		r.log.Warn("subscriber offer", zap.String("member", q.member), zap.Error(err))
		return
	}
	q.awaitingAnswer = true
	ctx.Send(q.session, &pb.ServerFrame{Body: &pb.ServerFrame_SubscribeOffer{
		SubscribeOffer: &pb.Sdp{Sdp: q.sub.LocalDescription().SDP}}})
}

func (r *room) trackEnded(ctx actor.Context, id string) {
	f := r.tracks[id]
	if f == nil {
		return
	}
	delete(r.tracks, id)
	if f.local.sim != nil {
		f.local.sim.close()
	}
	if t := f.rec.Swap(nil); t != nil {
		t.End()
	}
	if p := r.peers[f.owner]; p != nil && p.pub == f.pub {
		p.published--
	}
	for _, q := range r.peers {
		if s := q.senders[id]; s != nil {
			delete(q.senders, id)
			if q.sub != nil && q.sub.ConnectionState() != webrtc.PeerConnectionStateClosed {
				_ = q.sub.RemoveTrack(s)
				r.negotiate(ctx, q)
			}
		}
	}
}

func (r *room) leave(ctx actor.Context, member string) {
	p := r.peers[member]
	if p == nil {
		return
	}
	delete(r.peers, member)
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			_ = pc.Close()
		}
	}
	for id, f := range r.tracks {
		if f.owner == member {
			r.trackEnded(ctx, id)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
