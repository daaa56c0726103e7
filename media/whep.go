package media

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"liveroom/proto/pb"
)

// A WHEP player offers and the server answers once; WHEP has no way for the
// server to offer again. So the player gets the broadcast's tracks as they
// are when it asks (the first broadcaster's audio and video: one track per
// section it offers to receive), and is kept out of the renegotiating peers.

// whepOffer answers a WHEP player's offer with the current tracks.
func (b *broadcastMedia) whepOffer(ctx actor.Context, c *pb.MediaCommand, offer *pb.Sdp) {
	if b.whep[c.MemberId] != nil {
		b.fail(ctx, c.Session, c.FrameId, "already_joined", "This player is already connected.")
		return
	}
	if len(b.tracks) == 0 {
		b.fail(ctx, c.Session, c.FrameId, "not_live", "The broadcast is not live yet.")
		return
	}
	pc, err := b.newConnection(ctx, c.MemberId)
	if err != nil {
		b.fail(ctx, c.Session, c.FrameId, "internal", "The server could not open a media connection.")
		return
	}
	q := &peer{member: c.MemberId, session: c.Session, sub: pc, senders: map[string]*webrtc.RTPSender{}}
	b.whep[c.MemberId] = q
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.Sdp}); err != nil {
		b.closeWHEP(c.MemberId)
		b.fail(ctx, c.Session, c.FrameId, "bad_sdp", "The offer could not be applied: "+err.Error())
		return
	}
	wanted := map[webrtc.RTPCodecType]int{}
	for _, t := range pc.GetTransceivers() {
		wanted[t.Kind()]++
	}
	// A publisher's tracks arrive one by one: a player that wants video
	// retries until there is some, unless the broadcast is audio only.
	if wanted[webrtc.RTPCodecTypeVideo] > 0 && !b.hasKind(webrtc.RTPCodecTypeVideo) &&
		time.Since(b.firstTrack) < audioOnlyAfter {
		b.closeWHEP(c.MemberId)
		b.fail(ctx, c.Session, c.FrameId, "not_live", "The broadcast's video has not started yet.")
		return
	}
	for _, f := range b.oldestTracks() {
		kind := f.local.Kind()
		if wanted[kind] == 0 {
			continue
		}
		wanted[kind]--
		b.subscribe(ctx, q, f)
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
	b.log.Debug("whep player connected", zap.String("member", c.MemberId), zap.Int("tracks", len(q.senders)))
	ctx.Send(c.Session, &pb.ServerFrame{ReplyTo: c.FrameId, Body: &pb.ServerFrame_PublishAnswer{
		PublishAnswer: &pb.Sdp{Sdp: pc.LocalDescription().SDP}}})
}

// audioOnlyAfter is how long a broadcast may have tracks but no video before
// WHEP players are given its audio alone.
const audioOnlyAfter = 5 * time.Second

func (b *broadcastMedia) hasKind(k webrtc.RTPCodecType) bool {
	for _, f := range b.tracks {
		if f.local.Kind() == k {
			return true
		}
	}
	return false
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
		_ = q.sub.Close()
	}
}
