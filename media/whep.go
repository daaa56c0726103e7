package media

import (
	"errors"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"liveroom/proto/pb"
)

// A WHEP player offers and the server answers once. WHEP players in common
// use (GStreamer's whepsrc, OBS, the browser players built on the draft) do
// not take an offer from the server, and a PATCH that renegotiates is an
// optional extension few implement. So a player's session is never
// renegotiated: the answer gives it one sending section per section it
// offered to receive, and each section is a slot whose track the server
// switches in place (RTPSender.ReplaceTrack, same SSRC, no SDP change):
//   - a player that connects before the broadcast is live gets placeholder
//     tracks that send nothing, and the broadcaster's tracks once it is;
//   - a slot whose broadcaster stopped or left takes the same kind of track
//     from the next live broadcaster, or goes quiet until one goes live.
// The player sees one stream that pauses and resumes; a keyframe is asked for
// at every switch so its decoder picks up at once.

// whepSlot is one sending section of a player's connection.
type whepSlot struct {
	kind   webrtc.RTPCodecType
	sender *webrtc.RTPSender
	// cur is the forwarded track the slot sends now; nil while it sends
	// nothing. Written by the actor, read by the slot's RTCP reader.
	cur atomic.Pointer[forwarded]
}

// whepPlayer is a WHEP player's connection and its slots.
type whepPlayer struct {
	member  string
	session *actor.PID
	pc      *webrtc.PeerConnection
	slots   []*whepSlot
}

// whepOffer answers a WHEP player's offer.
func (b *broadcastMedia) whepOffer(ctx actor.Context, c *pb.MediaCommand, offer *pb.Sdp) {
	if b.whep[c.MemberId] != nil {
		b.fail(ctx, c.Session, c.FrameId, "already_joined", "This player is already connected.")
		return
	}
	pc, err := b.newConnection(ctx, c.MemberId)
	if err != nil {
		b.fail(ctx, c.Session, c.FrameId, "internal", "The server could not open a media connection.")
		return
	}
	q := &whepPlayer{member: c.MemberId, session: c.Session, pc: pc}
	b.whep[c.MemberId] = q
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		b.closeWHEP(c.MemberId)
		b.fail(ctx, c.Session, c.FrameId, "bad_sdp", "The offer could not be applied: "+err.Error())
		return
	}
	var kinds []webrtc.RTPCodecType
	for _, t := range pc.GetTransceivers() {
		kinds = append(kinds, t.Kind())
	}
	for _, k := range kinds {
		// Every slot starts on a placeholder so the answer sends on it;
		// syncWHEP puts the broadcast's tracks in right after.
		ph, err := placeholder(k, offer.Sdp)
		if err == nil {
			var sender *webrtc.RTPSender
			if sender, err = pc.AddTrack(ph); err == nil {
				slot := &whepSlot{kind: k, sender: sender}
				q.slots = append(q.slots, slot)
				go readWHEPRTCP(slot)
			}
		}
		if err != nil {
			b.closeWHEP(c.MemberId)
			b.fail(ctx, c.Session, c.FrameId, "unsupported_codec", "Offer to receive Opus audio and VP8 or H.264 video: "+err.Error())
			return
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err == nil {
		err = b.setLocal(pc, answer)
	}
	if err != nil {
		b.closeWHEP(c.MemberId)
		b.fail(ctx, c.Session, c.FrameId, "bad_sdp", "No answer for that offer: "+err.Error())
		return
	}
	b.syncPlayer(q)
	b.log.Debug("whep player connected", zap.String("member", c.MemberId), zap.Int("slots", len(q.slots)))
	ctx.Send(c.Session, &pb.ServerFrame{ReplyTo: c.FrameId, Body: &pb.ServerFrame_PublishAnswer{
		PublishAnswer: &pb.Sdp{Sdp: pc.LocalDescription().SDP}}})
}

// placeholder is a track of kind k in a codec the offer takes; it never
// sends a packet.
func placeholder(k webrtc.RTPCodecType, offer string) (*webrtc.TrackLocalStaticRTP, error) {
	c := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if k == webrtc.RTPCodecTypeVideo {
		switch up := strings.ToUpper(offer); {
		case strings.Contains(up, " VP8/90000"):
			c = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
		case strings.Contains(up, " H264/90000"):
			c = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
		default:
			return nil, errors.New("no VP8 or H.264 in the offer")
		}
	} else if k != webrtc.RTPCodecTypeAudio {
		return nil, errors.New("unknown media kind")
	}
	return webrtc.NewTrackLocalStaticRTP(c, "waiting-"+k.String(), "liveroom")
}

// readWHEPRTCP passes a player's keyframe requests on to the publisher of
// whatever its slot sends now, and its receiver reports to the layer
// selection of a simulcast track (and lets the interceptors see its NACKs).
func readWHEPRTCP(slot *whepSlot) {
	for {
		pkts, _, err := slot.sender.ReadRTCP()
		if err != nil {
			return
		}
		f := slot.cur.Load()
		if f == nil {
			continue
		}
		for _, pk := range pkts {
			switch pk := pk.(type) {
			case *rtcp.PictureLossIndication:
				f.keyframeFor(pk.MediaSSRC)
			case *rtcp.FullIntraRequest:
				f.keyframeFor(pk.MediaSSRC)
			case *rtcp.ReceiverReport, *rtcp.ReceiverEstimatedMaximumBitrate:
				f.feedback(pk)
			}
		}
	}
}

// syncWHEP puts every player's slots on the broadcast's current tracks.
func (b *broadcastMedia) syncWHEP() {
	for _, q := range b.whep {
		b.syncPlayer(q)
	}
}

// syncPlayer keeps a slot on its track while that is forwarded, and moves
// a slot whose track went away (or that has none) to the oldest forwarded
// track of its kind that no other slot of the player sends.
func (b *broadcastMedia) syncPlayer(q *whepPlayer) {
	used := map[*forwarded]bool{}
	var free []*whepSlot
	for _, s := range q.slots {
		if f := s.cur.Load(); f != nil && b.tracks[f.id] == f {
			used[f] = true
			continue
		}
		free = append(free, s)
	}
	if len(free) == 0 {
		return
	}
	tracks := b.oldestTracks()
	for _, s := range free {
		var next *forwarded
		for _, f := range tracks {
			if !used[f] && f.local.Kind() == s.kind {
				next = f
				break
			}
		}
		prev := s.cur.Load()
		if next == prev {
			continue
		}
		var err error
		if next != nil {
			err = s.sender.ReplaceTrack(next.local)
		} else {
			err = s.sender.ReplaceTrack(nil) // quiet until a broadcaster is live again
		}
		if err != nil {
			// The player did not offer the new track's codec: it stays quiet.
			b.log.Info("whep slot cannot take the track", zap.String("member", q.member), zap.Error(err))
			_ = s.sender.ReplaceTrack(nil)
			s.cur.Store(nil)
			continue
		}
		s.cur.Store(next)
		if next != nil {
			used[next] = true
			next.keyframe()
		}
	}
}

// oldestTracks lists forwarded tracks in the order they were published.
func (b *broadcastMedia) oldestTracks() []*forwarded {
	out := make([]*forwarded, 0, len(b.tracks))
	for _, f := range b.tracks {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].serial < out[j].serial })
	return out
}

func (b *broadcastMedia) closeWHEP(member string) {
	if q := b.whep[member]; q != nil {
		delete(b.whep, member)
		_ = q.pc.Close()
	}
}
