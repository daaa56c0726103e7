// Package broadcast is the broadcast grain: one virtual actor per broadcast id
// that owns its broadcasters, its viewers, whether it is live, and its chat
// switch. The record (title, password hash, window, broadcaster key hash,
// phase, chat switch) is written to the store before anyone is told, so a
// grain re-activated on another node knows whether the broadcast ended.
// The media go through a media actor spawned as the grain's child.
package broadcast

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors/passcheck"
	"liveroom/media"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Kind is the cluster kind name of broadcast grains.
const Kind = "broadcast"

// Settings are the limits a broadcast enforces.
type Settings struct {
	// MaxViewers per broadcast; MaxNodeViewers over every broadcast hosted
	// on this node (0: no node limit).
	MaxViewers     int
	MaxNodeViewers int
	MaxChatChars   int
	MaxNameChars   int
	// HistoryPage is how many stored chat messages a joining member gets
	// (default 50).
	HistoryPage int
	IdleTimeout time.Duration
	// ResumeGrace keeps a member whose connection dropped; a live
	// broadcaster coming back within it resumes without the broadcast ending.
	ResumeGrace time.Duration
}

// Deps are shared by every broadcast grain on a node.
type Deps struct {
	Store    persistence.Store
	Log      *zap.Logger
	Media    *media.Engine
	Settings Settings
	// NodeViewers counts viewers of every broadcast on this node (the
	// node-wide limit); Viewers is the same count as a metric.
	NodeViewers *atomic.Int64
	Viewers     prometheus.Gauge
}

// NewViewersGauge registers liveroom_broadcast_viewers on reg.
func NewViewersGauge(reg prometheus.Registerer) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "liveroom_broadcast_viewers", Help: "Viewers watching broadcasts hosted on this node."})
	reg.MustRegister(g)
	return g
}

// NewKind returns the cluster kind that activates broadcast grains.
func NewKind(d Deps) *cluster.Kind {
	if d.NodeViewers == nil {
		d.NodeViewers = &atomic.Int64{}
	}
	if d.Viewers == nil {
		d.Viewers = prometheus.NewGauge(prometheus.GaugeOpts{Name: "unregistered"})
	}
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{deps: d}
	}))
}

type member struct {
	id, name   string
	role       pb.BroadcastRole
	pid        *actor.PID
	live       bool // a broadcaster that is sending
	resumeHash [32]byte
	away       bool
	awayEpoch  uint64
	inMedia    bool
	// whip and whep members came over HTTP (WHIP publisher, WHEP player).
	whip, whep bool
}

type grain struct {
	deps     Deps
	id       string
	log      *zap.Logger
	rec      *pb.BroadcastRecord
	loadErr  error
	members  []*member
	viewers  int
	chatSeq  uint64
	mediaPID *actor.PID
	// claim is this activation's fence on the broadcast's records: during a
	// topology change two activations can briefly run, and only the newer
	// one may write (chat seqs never repeat); the older one stops.
	claim *persistence.Claim
}

func errorf(code, msg string) *pb.Error { return &pb.Error{Code: code, Message: msg} }

var (
	errNotFound  = errorf("broadcast_not_found", "This broadcast does not exist.")
	errNotJoined = errorf("not_joined", "Join the broadcast first.")
	errInternal  = errorf("internal", "The server could not store that; please try again.")
	errFull      = errorf("broadcast_full", "This broadcast is full; please try again later.")
)

func (g *grain) Receive(ctx actor.Context) {
	defer func() {
		if g.claim != nil && g.claim.Lost() {
			ctx.Stop(ctx.Self())
		}
	}()
	switch msg := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.id = msg.Identity.Identity
		g.log = g.deps.Log.With(zap.String("broadcast", g.id))
		g.claim = persistence.NewClaim(g.deps.Store, persistence.FenceKey(Kind, g.id), func(gen uint64) {
			g.log.Warn("a newer activation of this broadcast took over; stopping this one", zap.Uint64("generation", gen))
		})
		g.load()
		g.armIdle(ctx)
	case *actor.Stopping:
		for _, m := range g.members {
			if m.role == pb.BroadcastRole_BROADCAST_ROLE_VIEWER {
				g.countViewer(-1)
			}
		}
		g.members = nil
	case *actor.ReceiveTimeout:
		if len(g.members) == 0 {
			ctx.Poison(ctx.Self())
		}
	case *pb.CreateBroadcast:
		ctx.Respond(g.create(msg))
	case *pb.DeleteBroadcast:
		ctx.Respond(g.delete(ctx, msg))
	case *pb.GetBroadcastInfo:
		if g.rec == nil {
			ctx.Respond(&pb.GetBroadcastInfoResult{Error: g.missing()})
			return
		}
		ctx.Respond(&pb.GetBroadcastInfoResult{Broadcast: g.info(), State: g.state()})
	case *pb.BroadcastRequest:
		g.request(ctx, msg)
	case *actor.Terminated:
		g.away(ctx, msg.Who)
	case *pb.BroadcastAwayExpired:
		for _, m := range g.members {
			if m.id == msg.MemberId && m.away && m.awayEpoch == msg.Epoch {
				g.remove(ctx, m)
				return
			}
		}
	}
}

// load reads the broadcast. One that exists is fenced first and then read
// again, so that an older activation still running cannot add chat after
// this one read the last seq.
func (g *grain) load() {
	found, err := g.read()
	if err == nil && found {
		if _, err = g.claim.Ensure(); err == nil {
			_, err = g.read()
		}
	}
	if err != nil {
		g.rec, g.loadErr = nil, err
		g.log.Error("load broadcast", zap.Error(err))
	}
}

// read loads the record and its last chat seq; found says it exists.
func (g *grain) read() (bool, error) {
	rec := &pb.BroadcastRecord{}
	found, err := persistence.GetRecord(g.deps.Store, persistence.BroadcastKey(g.id), rec)
	if err != nil || !found {
		return false, err
	}
	prefix := persistence.BroadcastChatPrefix(g.id)
	err = g.deps.Store.Scan(prefix, persistence.PrefixEnd(prefix), true, 1, func(k, _ []byte) bool {
		g.chatSeq = persistence.ChatSeq(k)
		return false
	})
	if err != nil {
		return true, err
	}
	g.rec = rec
	if rec.Phase == pb.BroadcastPhase_BROADCAST_PHASE_LIVE {
		// The node that hosted it is gone, and with it every broadcaster's
		// media; broadcasters that come back make it live again.
		g.rec.Phase = pb.BroadcastPhase_BROADCAST_PHASE_WAITING
	}
	return true, nil
}

func (g *grain) missing() *pb.Error {
	if g.loadErr != nil {
		return errInternal
	}
	return errNotFound
}

func (g *grain) armIdle(ctx actor.Context) {
	if len(g.members) == 0 && g.deps.Settings.IdleTimeout > 0 {
		ctx.SetReceiveTimeout(g.deps.Settings.IdleTimeout)
	} else {
		ctx.CancelReceiveTimeout()
	}
}

// saveNew stores a new record together with its place in the owner's list.
func (g *grain) saveNew() error {
	raw, err := proto.Marshal(g.rec)
	if err == nil {
		var b persistence.Batch
		b.Set(persistence.BroadcastKey(g.id), raw)
		if g.rec.OwnerAgentId != "" {
			b.Set(persistence.AgentBroadcastKey(g.rec.OwnerAgentId, g.id), []byte(g.id))
		}
		err = g.claim.Apply(&b)
	}
	if err != nil {
		g.log.Error("store broadcast", zap.Error(err))
	}
	return err
}

// delete ends the broadcast for everyone and deletes what is stored of it:
// the chat first (by range), then the record with its place in the owner's
// list in one batch, so a failure half-way leaves a broadcast without chat,
// never chat without a broadcast. The grain stops afterwards.
func (g *grain) delete(ctx actor.Context, msg *pb.DeleteBroadcast) *pb.DeleteBroadcastResult {
	if g.rec == nil || g.rec.OwnerAgentId != msg.AgentId {
		// Someone else's broadcast looks the same as none.
		return &pb.DeleteBroadcastResult{Error: g.missing()}
	}
	prefix := persistence.BroadcastChatPrefix(g.id)
	if err := g.claim.Check(); err != nil {
		g.log.Error("delete broadcast", zap.Error(err))
		return &pb.DeleteBroadcastResult{Error: errInternal}
	}
	if err := g.deps.Store.DeleteRange(prefix, persistence.PrefixEnd(prefix)); err != nil {
		g.log.Error("delete broadcast chat", zap.Error(err))
		return &pb.DeleteBroadcastResult{Error: errInternal}
	}
	var b persistence.Batch
	b.Delete(persistence.BroadcastKey(g.id))
	if g.rec.OwnerAgentId != "" {
		b.Delete(persistence.AgentBroadcastKey(g.rec.OwnerAgentId, g.id))
	}
	if err := g.claim.Apply(&b); err != nil {
		g.log.Error("delete broadcast", zap.Error(err))
		return &pb.DeleteBroadcastResult{Error: errInternal}
	}
	// Pages show the end, then hear why.
	g.rec.Phase = pb.BroadcastPhase_BROADCAST_PHASE_ENDED
	g.broadcastState(ctx)
	g.sendAll(ctx, &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: errorf("broadcast_deleted", "This broadcast was deleted.")}})
	for _, m := range g.members {
		ctx.Unwatch(m.pid)
		if m.role == pb.BroadcastRole_BROADCAST_ROLE_VIEWER {
			g.countViewer(-1)
		}
	}
	g.members = nil
	if g.mediaPID != nil {
		ctx.Stop(g.mediaPID)
		g.mediaPID = nil
	}
	g.rec, g.chatSeq = nil, 0
	g.log.Info("broadcast deleted")
	ctx.Poison(ctx.Self())
	return &pb.DeleteBroadcastResult{}
}

func (g *grain) save() error {
	raw, err := proto.Marshal(g.rec)
	if err == nil {
		var b persistence.Batch
		b.Set(persistence.BroadcastKey(g.id), raw)
		err = g.claim.Apply(&b)
	}
	if err != nil {
		g.log.Error("store broadcast", zap.Error(err))
	}
	return err
}

func (g *grain) info() *pb.BroadcastInfo {
	return &pb.BroadcastInfo{Id: g.rec.Id, Title: g.rec.Title, HasPassword: g.rec.PasswordHash != "",
		StartsAtMs: g.rec.StartsAtMs, EndsAtMs: g.rec.EndsAtMs}
}

func (g *grain) state() *pb.BroadcastState {
	st := &pb.BroadcastState{Phase: g.rec.Phase, Viewers: uint32(g.viewers), ChatEnabled: g.rec.ChatEnabled}
	for _, m := range g.members {
		if m.role == pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER {
			st.Broadcasters = append(st.Broadcasters, &pb.BroadcasterInfo{MemberId: m.id, Name: m.name, Live: m.live})
		}
	}
	return st
}

func (g *grain) sendAll(ctx actor.Context, f *pb.ServerFrame) {
	for _, m := range g.members {
		if !m.away {
			ctx.Send(m.pid, f)
		}
	}
}

func (g *grain) broadcastState(ctx actor.Context) {
	g.sendAll(ctx, &pb.ServerFrame{Body: &pb.ServerFrame_BroadcastState{BroadcastState: g.state()}})
}

// cleanName trims a display name and checks it: printable, 1..max characters.
func cleanName(s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > max {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	return s, true
}

func (g *grain) create(msg *pb.CreateBroadcast) *pb.CreateBroadcastResult {
	if g.loadErr != nil {
		return &pb.CreateBroadcastResult{Error: errInternal}
	}
	if g.rec != nil {
		return &pb.CreateBroadcastResult{Error: errorf("broadcast_exists", "A broadcast with this id already exists.")}
	}
	title := strings.TrimSpace(msg.Title)
	if title != "" {
		var ok bool
		if title, ok = cleanName(title, 2*g.deps.Settings.MaxNameChars); !ok {
			return &pb.CreateBroadcastResult{Error: errorf("invalid", "title must be 1 to "+
				strconv.Itoa(2*g.deps.Settings.MaxNameChars)+" printable characters")}
		}
	}
	if msg.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(msg.PasswordHash)); err != nil {
			return &pb.CreateBroadcastResult{Error: errorf("invalid", "password hash is not bcrypt")}
		}
	}
	if msg.StartsAtMs < 0 || msg.EndsAtMs < 0 || (msg.EndsAtMs != 0 && msg.EndsAtMs <= msg.StartsAtMs) {
		return &pb.CreateBroadcastResult{Error: errorf("invalid", "the broadcast must end after it starts")}
	}
	// The first write of this activation: fence, then read again, as
	// another activation may have made this broadcast since load.
	taken, err := g.claim.Ensure()
	if err == nil && taken {
		var found bool
		if found, err = g.read(); found && err == nil {
			return &pb.CreateBroadcastResult{Error: errorf("broadcast_exists", "A broadcast with this id already exists.")}
		}
	}
	if err != nil {
		g.rec = nil
		g.claim.Forget()
		g.log.Error("fence broadcast", zap.Error(err))
		return &pb.CreateBroadcastResult{Error: errInternal}
	}
	key := randomToken(24)
	now := time.Now().UnixMilli()
	g.rec = &pb.BroadcastRecord{Id: g.id, Title: title, PasswordHash: msg.PasswordHash, BroadcasterKeyHash: access.Hash(key),
		OwnerAgentId: msg.OwnerAgentId, CreatedAtMs: now, StartsAtMs: msg.StartsAtMs, EndsAtMs: msg.EndsAtMs,
		ChatEnabled: msg.ChatEnabled, PhaseChangedAtMs: now}
	if err := g.saveNew(); err != nil {
		g.rec = nil
		return &pb.CreateBroadcastResult{Error: errInternal}
	}
	g.log.Info("broadcast created")
	return &pb.CreateBroadcastResult{Broadcast: g.info(), BroadcasterKey: key}
}

func (g *grain) isBroadcasterKey(key string) bool {
	return g.rec != nil && access.MatchesHash(key, g.rec.BroadcasterKeyHash)
}

func (g *grain) bySession(pid *actor.PID) *member {
	for _, m := range g.members {
		if m.pid.Equal(pid) {
			return m
		}
	}
	return nil
}

func (g *grain) byResume(token string) *member {
	sum := sha256.Sum256([]byte(token))
	for _, m := range g.members {
		if subtle.ConstantTimeCompare(sum[:], m.resumeHash[:]) == 1 {
			return m
		}
	}
	return nil
}

func (g *grain) countViewer(d int) {
	g.viewers += d
	g.deps.NodeViewers.Add(int64(d))
	g.deps.Viewers.Add(float64(d))
}

// request handles one frame of a broadcast page; the reply says whether it
// was accepted, everything else reaches members as frames.
func (g *grain) request(ctx actor.Context, req *pb.BroadcastRequest) {
	if g.rec == nil {
		ctx.Respond(&pb.RoomReply{Error: g.missing()})
		return
	}
	if req.Session == nil {
		ctx.Respond(&pb.RoomReply{Error: errorf("invalid", "no session")})
		return
	}
	if j, ok := req.Body.(*pb.BroadcastRequest_Join); ok {
		g.join(ctx, req, j.Join)
		return
	}
	m := g.bySession(req.Session)
	if m == nil {
		ctx.Respond(&pb.RoomReply{Error: errNotJoined})
		return
	}
	ctx.Respond(g.memberRequest(ctx, req, m))
}

func (g *grain) memberRequest(ctx actor.Context, req *pb.BroadcastRequest, m *member) *pb.RoomReply {
	broadcaster := m.role == pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER
	switch b := req.Body.(type) {
	case *pb.BroadcastRequest_Leave:
		g.remove(ctx, m)
	case *pb.BroadcastRequest_Control:
		if !broadcaster {
			return &pb.RoomReply{Error: errorf("forbidden", "Only a broadcaster can do that.")}
		}
		return g.control(ctx, m, b.Control.GetAction())
	case *pb.BroadcastRequest_Chat:
		return g.chat(ctx, req, m, b.Chat.GetText())
	case *pb.BroadcastRequest_PublishOffer:
		if !m.inMedia {
			return &pb.RoomReply{Error: errorf("not_live", "Go live first.")}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: b.PublishOffer}})
	case *pb.BroadcastRequest_SubscribeAnswer:
		if !m.inMedia {
			return &pb.RoomReply{Error: errorf("not_in_call", "No media connection is open.")}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_SubscribeAnswer{SubscribeAnswer: b.SubscribeAnswer}})
	case *pb.BroadcastRequest_Ice:
		if !m.inMedia {
			return &pb.RoomReply{Error: errorf("not_in_call", "No media connection is open.")}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_Ice{Ice: b.Ice}})
	case *pb.BroadcastRequest_WhepOffer:
		if !m.whep || !m.inMedia {
			return &pb.RoomReply{Error: errorf("invalid", "Only a WHEP player sends that.")}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_WhepOffer{WhepOffer: b.WhepOffer}})
	case *pb.BroadcastRequest_RestartIce:
		if !m.inMedia {
			return &pb.RoomReply{Error: errorf("not_in_call", "No media connection is open.")}
		}
		g.tellMedia(ctx, m, req.FrameId, &pb.MediaCommand{Body: &pb.MediaCommand_RestartIce{RestartIce: b.RestartIce}})
	default:
		return &pb.RoomReply{Error: errorf("invalid", "Empty broadcast request.")}
	}
	return &pb.RoomReply{}
}

func (g *grain) join(ctx actor.Context, req *pb.BroadcastRequest, j *pb.BroadcastJoin) {
	if tok := j.GetResumeToken(); tok != "" && len(tok) <= 64 {
		if m := g.byResume(tok); m != nil {
			g.resume(ctx, req, m)
			return
		}
	}
	if g.bySession(req.Session) != nil {
		ctx.Respond(&pb.RoomReply{Error: errorf("already_joined", "This connection is already in the broadcast.")})
		return
	}
	name := strings.TrimSpace(j.GetName())
	if name != "" {
		var ok bool
		if name, ok = cleanName(name, g.deps.Settings.MaxNameChars); !ok {
			ctx.Respond(&pb.RoomReply{Error: errorf("invalid", "name must be 1 to "+
				strconv.Itoa(g.deps.Settings.MaxNameChars)+" printable characters")})
			return
		}
	}
	if g.isBroadcasterKey(j.GetBroadcasterKey()) {
		if name == "" {
			name = "Broadcaster"
		}
		g.admit(ctx, req, name, pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER)
		return
	}
	if j.GetWhip() {
		ctx.Respond(&pb.RoomReply{Error: errorf("wrong_broadcaster_key", "This broadcaster key is not valid.")})
		return
	}
	if j.GetBroadcasterKey() != "" {
		ctx.Respond(&pb.RoomReply{Error: errorf("wrong_broadcaster_key", "This broadcaster link is not valid.")})
		return
	}
	if name == "" {
		name = "Viewer"
	}
	now := time.Now().UnixMilli()
	if g.rec.StartsAtMs != 0 && now < g.rec.StartsAtMs {
		ctx.Respond(&pb.RoomReply{Error: errorf("broadcast_not_open", "This broadcast has not opened yet.")})
		return
	}
	if g.rec.EndsAtMs != 0 && now >= g.rec.EndsAtMs {
		ctx.Respond(&pb.RoomReply{Error: errorf("broadcast_closed", "This broadcast's time is over.")})
		return
	}
	if g.full() {
		ctx.Respond(&pb.RoomReply{Error: errFull})
		return
	}
	if g.rec.PasswordHash == "" {
		g.admit(ctx, req, name, pb.BroadcastRole_BROADCAST_ROLE_VIEWER)
		return
	}
	if j.GetPassword() == "" || len(j.GetPassword()) > 72 {
		ctx.Respond(&pb.RoomReply{Error: errorf("password_required", "This broadcast needs a password.")})
		return
	}
	// bcrypt is slow on purpose: run it off the grain.
	hash := []byte(g.rec.PasswordHash)
	passcheck.Check(ctx, func() []byte { return hash }, []byte(j.GetPassword()), func(ok bool) {
		if !ok {
			ctx.Respond(&pb.RoomReply{Error: errorf("wrong_password", "The password is not correct.")})
			return
		}
		if g.full() {
			ctx.Respond(&pb.RoomReply{Error: errFull})
			return
		}
		g.admit(ctx, req, name, pb.BroadcastRole_BROADCAST_ROLE_VIEWER)
	})
}

func (g *grain) full() bool {
	s := g.deps.Settings
	if s.MaxViewers > 0 && g.viewers >= s.MaxViewers {
		return true
	}
	return s.MaxNodeViewers > 0 && g.deps.NodeViewers.Load() >= int64(s.MaxNodeViewers)
}

func (g *grain) admit(ctx actor.Context, req *pb.BroadcastRequest, name string, role pb.BroadcastRole) {
	if g.bySession(req.Session) != nil {
		ctx.Respond(&pb.RoomReply{Error: errorf("already_joined", "This connection is already in the broadcast.")})
		return
	}
	token, hash := newResumeToken()
	j := req.GetJoin()
	m := &member{id: randomToken(9), name: name, role: role, pid: req.Session, resumeHash: hash,
		whip: j.GetWhip() && role == pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER,
		whep: j.GetWhep() && role == pb.BroadcastRole_BROADCAST_ROLE_VIEWER}
	g.members = append(g.members, m)
	ctx.Watch(m.pid)
	g.armIdle(ctx)
	if role == pb.BroadcastRole_BROADCAST_ROLE_VIEWER {
		g.countViewer(1)
		if m.whep {
			// A WHEP player's media start with its offer.
			m.inMedia = g.deps.Media != nil
		} else {
			g.joinMedia(ctx, m, true)
		}
	}
	g.sendJoined(ctx, req.FrameId, m, token, j.GetLastSeq())
	g.broadcastState(ctx)
	g.log.Debug("member joined", zap.String("member", m.id), zap.Stringer("role", role))
	ctx.Respond(&pb.RoomReply{})
}

func (g *grain) sendJoined(ctx actor.Context, frameID string, m *member, token string, lastSeq uint64) {
	var ice []*pb.IceServer
	if g.deps.Media != nil {
		ice = g.deps.Media.ICEServers()
	}
	history, more, err := g.history(lastSeq)
	if err != nil {
		// The member still joins; it only misses the earlier chat.
		g.log.Error("read broadcast chat", zap.Error(err))
	}
	ctx.Send(m.pid, &pb.ServerFrame{ReplyTo: frameID, Body: &pb.ServerFrame_BroadcastJoined{BroadcastJoined: &pb.BroadcastJoined{
		MemberId: m.id, Role: m.role, Broadcast: g.info(), State: g.state(), IceServers: ice, ResumeToken: token,
		History: history, MoreHistory: more,
	}}})
}

// history returns the chat a joining member needs: everything after lastSeq
// when that fits in a page, otherwise the newest page (oldest first), and
// whether older messages exist before what it returns.
func (g *grain) history(lastSeq uint64) ([]*pb.ChatMessage, bool, error) {
	page := g.deps.Settings.HistoryPage
	if page <= 0 {
		page = 50
	}
	prefix := persistence.BroadcastChatPrefix(g.id)
	if lastSeq > 0 && lastSeq <= g.chatSeq && g.chatSeq-lastSeq <= uint64(page) {
		msgs, err := persistence.ScanChat(g.deps.Store, persistence.BroadcastChatKey(g.id, lastSeq+1), persistence.PrefixEnd(prefix), false, page)
		return msgs, true, err
	}
	msgs, err := persistence.ScanChat(g.deps.Store, prefix, persistence.PrefixEnd(prefix), true, page+1)
	more := len(msgs) > page
	if more {
		msgs = msgs[:page]
	}
	slices.Reverse(msgs)
	return msgs, more, err
}

// resume moves member m onto a new connection. A live broadcaster's media
// went with its old connection: it is told to publish again (its joined
// frame shows it live), and viewers keep seeing the broadcast as live.
func (g *grain) resume(ctx actor.Context, req *pb.BroadcastRequest, m *member) {
	if !m.away {
		ctx.Unwatch(m.pid)
	}
	m.pid, m.away = req.Session, false
	m.awayEpoch++
	ctx.Watch(m.pid)
	token, hash := newResumeToken()
	m.resumeHash = hash
	if m.inMedia {
		// Fresh peer connections on the new socket.
		g.leaveMedia(ctx, m)
		g.joinMedia(ctx, m, m.role == pb.BroadcastRole_BROADCAST_ROLE_VIEWER)
	}
	g.sendJoined(ctx, req.FrameId, m, token, req.GetJoin().GetLastSeq())
	ctx.Respond(&pb.RoomReply{})
}

func (g *grain) away(ctx actor.Context, pid *actor.PID) {
	m := g.bySession(pid)
	if m == nil {
		return
	}
	grace := g.deps.Settings.ResumeGrace
	if grace <= 0 {
		g.remove(ctx, m)
		return
	}
	m.away = true
	m.awayEpoch++
	msg := &pb.BroadcastAwayExpired{MemberId: m.id, Epoch: m.awayEpoch}
	self, system := ctx.Self(), ctx.ActorSystem()
	time.AfterFunc(grace, func() { system.Root.Send(self, msg) })
}

func (g *grain) remove(ctx actor.Context, m *member) {
	for i, x := range g.members {
		if x != m {
			continue
		}
		g.members = append(g.members[:i], g.members[i+1:]...)
		ctx.Unwatch(m.pid)
		if m.inMedia {
			g.leaveMedia(ctx, m)
		}
		if m.role == pb.BroadcastRole_BROADCAST_ROLE_VIEWER {
			g.countViewer(-1)
		}
		if m.live {
			m.live = false
			g.updatePhase()
		}
		g.broadcastState(ctx)
		g.armIdle(ctx)
		return
	}
}

func (g *grain) control(ctx actor.Context, m *member, action pb.BroadcastAction) *pb.RoomReply {
	switch action {
	case pb.BroadcastAction_BROADCAST_ACTION_GO_LIVE:
		if g.deps.Media == nil {
			return &pb.RoomReply{Error: errorf("calls_disabled", "Media is not enabled on this server.")}
		}
		if !m.inMedia {
			g.joinMedia(ctx, m, false)
		}
		m.live = true
	case pb.BroadcastAction_BROADCAST_ACTION_STOP:
		if m.inMedia {
			g.leaveMedia(ctx, m)
		}
		m.live = false
	case pb.BroadcastAction_BROADCAST_ACTION_CHAT_ON, pb.BroadcastAction_BROADCAST_ACTION_CHAT_OFF:
		prev := g.rec.ChatEnabled
		g.rec.ChatEnabled = action == pb.BroadcastAction_BROADCAST_ACTION_CHAT_ON
		if err := g.save(); err != nil {
			g.rec.ChatEnabled = prev
			return &pb.RoomReply{Error: errInternal}
		}
	default:
		return &pb.RoomReply{Error: errorf("invalid", "Unknown broadcast action.")}
	}
	if err := g.updatePhase(); err != nil {
		return &pb.RoomReply{Error: errInternal}
	}
	g.broadcastState(ctx)
	return &pb.RoomReply{}
}

// updatePhase makes the broadcast live while any broadcaster is, and ended
// once the last live one stopped; the change is stored before it is shown.
func (g *grain) updatePhase() error {
	live := false
	for _, m := range g.members {
		live = live || m.live
	}
	phase := g.rec.Phase
	switch {
	case live:
		phase = pb.BroadcastPhase_BROADCAST_PHASE_LIVE
	case phase == pb.BroadcastPhase_BROADCAST_PHASE_LIVE:
		phase = pb.BroadcastPhase_BROADCAST_PHASE_ENDED
	}
	if phase == g.rec.Phase {
		return nil
	}
	prev := g.rec.Phase
	g.rec.Phase, g.rec.PhaseChangedAtMs = phase, time.Now().UnixMilli()
	if err := g.save(); err != nil {
		g.rec.Phase = prev
		return err
	}
	g.log.Info("broadcast phase", zap.Stringer("phase", phase))
	return nil
}

func (g *grain) chat(ctx actor.Context, req *pb.BroadcastRequest, m *member, text string) *pb.RoomReply {
	if !g.rec.ChatEnabled && m.role != pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER {
		return &pb.RoomReply{Error: errorf("chat_off", "The broadcaster has switched chat off.")}
	}
	if strings.TrimSpace(text) == "" {
		return &pb.RoomReply{Error: errorf("invalid", "message is empty")}
	}
	if utf8.RuneCountInString(text) > g.deps.Settings.MaxChatChars {
		return &pb.RoomReply{Error: errorf("too_large", "message is longer than "+
			strconv.Itoa(g.deps.Settings.MaxChatChars)+" characters")}
	}
	role := pb.Role_ROLE_VISITOR
	if m.role == pb.BroadcastRole_BROADCAST_ROLE_BROADCASTER {
		role = pb.Role_ROLE_AGENT
	}
	msg := &pb.ChatMessage{RoomId: g.id, Seq: g.chatSeq + 1, MemberId: m.id, Name: m.name, Role: role, Text: text,
		SentAtMs: time.Now().UnixMilli(), ClientId: req.FrameId}
	// Stored before anyone sees it, so a late or reconnecting viewer's
	// history has every message the others were shown.
	raw, err := proto.Marshal(msg)
	if err == nil {
		var b persistence.Batch
		b.Set(persistence.BroadcastChatKey(g.id, msg.Seq), raw)
		err = g.claim.Apply(&b)
	}
	if err != nil {
		g.log.Error("store broadcast chat", zap.Error(err))
		return &pb.RoomReply{Error: errInternal}
	}
	g.chatSeq = msg.Seq
	for _, x := range g.members {
		if x.away {
			continue
		}
		f := &pb.ServerFrame{Body: &pb.ServerFrame_Chat{Chat: msg}}
		if x == m {
			f.ReplyTo = req.FrameId
		}
		ctx.Send(x.pid, f)
	}
	return &pb.RoomReply{Chat: msg}
}

// media returns the broadcast's media actor, spawned on first use as the
// grain's child so it lives and dies with the broadcast on this node.
func (g *grain) media(ctx actor.Context) *actor.PID {
	if g.mediaPID == nil {
		g.mediaPID = ctx.Spawn(g.deps.Media.BroadcastProps(g.id))
	}
	return g.mediaPID
}

func (g *grain) tellMedia(ctx actor.Context, m *member, frameID string, cmd *pb.MediaCommand) {
	if g.deps.Media == nil {
		return
	}
	cmd.MemberId, cmd.Session, cmd.FrameId = m.id, m.pid, frameID
	ctx.Send(g.media(ctx), cmd)
}

func (g *grain) joinMedia(ctx actor.Context, m *member, receiveOnly bool) {
	if g.deps.Media == nil {
		return
	}
	m.inMedia = true
	g.tellMedia(ctx, m, "", &pb.MediaCommand{Body: &pb.MediaCommand_Join{Join: &pb.MediaJoin{
		ReceiveOnly: receiveOnly, SendOnly: m.whip}}})
}

func (g *grain) leaveMedia(ctx actor.Context, m *member) {
	m.inMedia = false
	g.tellMedia(ctx, m, "", &pb.MediaCommand{Body: &pb.MediaCommand_Leave{Leave: &pb.MediaLeave{}}})
}

func newResumeToken() (string, [32]byte) {
	tok := randomToken(24)
	return tok, sha256.Sum256([]byte(tok))
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
