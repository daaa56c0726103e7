// Package room is the room grain: one virtual actor per room id that owns the
// room's members and chat. Durable changes are written to the store before
// anyone is told about them, so a grain re-activated on any node (after
// passivation, a restart or a topology change) rebuilds itself from the store.
package room

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors/passcheck"
	"liveroom/actors/session"
	"liveroom/media"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// Kind is the cluster kind name of room grains.
const Kind = "room"

// Settings are the limits a room enforces.
type Settings struct {
	MaxMembers   int
	MaxChatChars int
	MaxNameChars int
	HistoryPage  int
	IdleTimeout  time.Duration
	// ResumeGrace is how long a member whose connection dropped is kept for
	// it to come back; 0 removes it at once.
	ResumeGrace time.Duration
	TokenTTL    time.Duration
	// PasswordCost is the bcrypt work factor for room passwords
	// (bcrypt.DefaultCost when 0); hashing happens in the caller, see Node.CreateRoom.
	PasswordCost int
	// EntryForm is given to new rooms that do not bring their own.
	EntryForm *pb.EntryForm
	// Recording is given to new rooms that do not bring their own;
	// RecordingNode names this node in the recording index.
	Recording     *pb.RecordingOptions
	RecordingNode string
	// SalvageAfter is how long a new activation waits before it salvages
	// a recording an earlier one on another node was writing (15 s when 0).
	SalvageAfter time.Duration
	// Whiteboard is given to new rooms (and to rooms stored without it).
	Whiteboard *pb.WhiteboardSettings
}

// Deps are what every room grain on a node shares; all of it is safe for
// concurrent use.
type Deps struct {
	Store    persistence.Store
	Signer   *access.Signer
	Log      *zap.Logger
	Metrics  *metrics.Metrics
	Settings Settings
	// Media is the node's SFU; nil turns calls off.
	Media *media.Engine
	// Events queues webhook events; nil sends none.
	Events *webhook.Emitter
	// Alive reports whether an actor system address belongs to a member of
	// the cluster now; nil counts every address as alive.
	Alive func(address string) bool
}

// NewKind returns the cluster kind that activates room grains.
func NewKind(d Deps) *cluster.Kind {
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{deps: d, call: map[string]*callMember{}}
	}))
}

type member struct {
	info *pb.Member
	pid  *actor.PID
	// email from the entry form; kept out of info, which goes to everyone.
	email string
	// resumeHash is the SHA-256 of the token that continues this membership.
	resumeHash [32]byte
	// away is set while the member's connection is gone but may come back;
	// awayEpoch tells a stale expiry from the current one.
	away       bool
	awayEpoch  uint64
	joinedAtMs int64
}

type grain struct {
	deps    Deps
	id      string
	log     *zap.Logger
	rec     *pb.RoomRecord // nil while the room does not exist
	lastSeq uint64
	members []*member // join order
	loadErr error
	// call holds the members in the room's call, by member id.
	call     map[string]*callMember
	mediaPID *actor.PID
	// Recordings (recording.go): running or being finished, by id; the
	// running one; whether this call was already recorded automatically.
	recs         map[string]*recState
	activeRec    string
	autoRecorded bool
	// fence is this activation's claim on the room's records (see members.go);
	// superseded is set once a newer activation took it.
	fence      *persistence.Fence
	superseded bool
	// Chat group commit (chat.go): the batch being written, and the
	// messages that wait for the next one.
	chatFlight *chatBatch
	chatQueue  []*chatPost
	// recentChat holds the newest stored messages by sender and frame id,
	// oldest first in recentOrder (see chatRetry).
	recentChat  map[string]*pb.ChatMessage
	recentOrder []string
}

// Errors sent back to clients. Codes are part of the wire protocol.
func errorf(code, msg string) *pb.Error { return &pb.Error{Code: code, Message: msg} }

var (
	errNotFound  = errorf("room_not_found", "This room does not exist.")
	errNotJoined = errorf("not_joined", "Join the room first.")
	errInternal  = errorf("internal", "The server could not store that; please try again.")
)

func (g *grain) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		g.deps.Metrics.RoomsActive.Inc()
		g.deps.Metrics.Cluster.Activations.WithLabelValues(Kind).Inc()
	case *cluster.ClusterInit:
		g.id = msg.Identity.Identity
		g.log = g.deps.Log.With(zap.String("room", g.id))
		g.load()
		g.adoptMembers(ctx)
		g.findOrphanRecordings(ctx)
		g.armIdle(ctx)
	case *actor.Stopped:
		// A write under way is answered (it may well be stored); what
		// waits for one is refused, and its senders may try again.
		g.settleChat(ctx)
		g.failChat(ctx, errInternal)
		g.deps.Metrics.RoomsActive.Dec()
		g.deps.Metrics.Cluster.Passivations.WithLabelValues(Kind).Inc()
		g.deps.Metrics.CallMembers.Sub(float64(len(g.call)))
		g.release()
	case *actor.ReceiveTimeout:
		// A recording still being finished keeps the room (and its media
		// actor) until its result is stored.
		if len(g.members) == 0 && len(g.recs) == 0 {
			ctx.Poison(ctx.Self())
		}
	case *chatStored:
		g.chatWritten(ctx, msg)
	case *pb.CreateRoom:
		ctx.Respond(g.create(ctx, msg))
	case *pb.GetRoomInfo:
		if g.rec == nil {
			ctx.Respond(&pb.GetRoomInfoResult{Error: g.missing()})
			return
		}
		ctx.Respond(&pb.GetRoomInfoResult{Room: g.info()})
	case *pb.Join:
		g.join(ctx, msg)
	case *pb.DeleteRoom:
		ctx.Respond(g.deleteRoom(ctx))
	case *pb.RoomAdminMembers:
		ctx.Respond(g.adminMembers())
	case *pb.RoomAdminClose:
		ctx.Respond(g.adminClose(ctx))
	case *pb.Leave:
		g.remove(ctx, msg.Session)
		ctx.Respond(&pb.RoomReply{})
	case *actor.Terminated:
		g.away(ctx, msg.Who)
	case *pb.MemberAwayExpired:
		g.expire(ctx, msg)
	case *pb.CallRequest:
		ctx.Respond(g.onCall(ctx, msg))
	case *media.PeerLost:
		g.peerLost(ctx, msg.Member)
	case *pb.MediaRecordingEvent:
		g.onRecordingEvent(ctx, msg)
	case *salvageDue:
		g.salvageRecordings(ctx, msg.ids)
	case *pb.WbWho:
		ctx.Respond(g.whiteboardWho(msg))
	case *pb.PostChat:
		m := g.memberBySession(msg.Session)
		if m == nil {
			ctx.Respond(&pb.RoomReply{Error: errNotJoined})
			return
		}
		text, perr := g.checkText(msg.Text)
		if perr != nil {
			ctx.Respond(&pb.RoomReply{Error: perr})
			return
		}
		g.post(ctx, &pb.ChatMessage{
			MemberId: m.info.MemberId, Name: m.info.Name, Role: m.info.Role, Text: text, ClientId: msg.FrameId,
		}, nil, msg.Session, msg.FrameId)
	case *pb.CheckAccess:
		ctx.Respond(&pb.RoomReply{Error: g.checkAccess(msg.MemberId, msg.Generation)})
	case *pb.PostFile:
		if perr := g.checkAccess(msg.MemberId, msg.Generation); perr != nil {
			ctx.Respond(&pb.RoomReply{Error: perr})
			return
		}
		if msg.File == nil || !persistence.ValidID(msg.File.Id) {
			ctx.Respond(&pb.RoomReply{Error: errorf("invalid", "file reference is missing")})
			return
		}
		g.post(ctx, &pb.ChatMessage{
			MemberId: msg.MemberId, Name: msg.Name, Role: msg.Role, File: msg.File,
		}, msg.File, nil, "")
	case *pb.GetHistory:
		if g.memberBySession(msg.Session) == nil {
			ctx.Respond(&pb.RoomReply{Error: errNotJoined})
			return
		}
		limit := int(msg.Request.GetLimit())
		if limit <= 0 || limit > g.deps.Settings.HistoryPage {
			limit = g.deps.Settings.HistoryPage
		}
		msgs, more, err := g.before(msg.Request.GetBeforeSeq(), limit)
		if err != nil {
			g.log.Error("read history", zap.Error(err))
			ctx.Respond(&pb.RoomReply{Error: errInternal})
			return
		}
		g.send(ctx, msg.Session, &pb.ServerFrame{ReplyTo: msg.FrameId,
			Body: &pb.ServerFrame_History{History: &pb.History{Messages: msgs, More: more}}})
		ctx.Respond(&pb.RoomReply{})
	}
}

// load reads the room record and the highest chat seq. A failed read leaves
// the grain refusing requests rather than pretending the room is empty.
func (g *grain) load() {
	rec := &pb.RoomRecord{}
	found, err := persistence.GetRecord(g.deps.Store, persistence.RoomKey(g.id), rec)
	if err != nil {
		g.loadErr = err
		g.log.Error("load room", zap.Error(err))
		return
	}
	if !found {
		// Nothing to fence yet: a room that does not exist takes its fence
		// when it is created, so looking up unknown ids writes nothing.
		return
	}
	// The fence first: whatever an older activation wrote before it is read
	// below, and whatever it tries after it is refused.
	if err := g.takeFence(); err != nil {
		g.loadErr = err
		g.log.Error("take room fence", zap.Error(err))
		return
	}
	// The newest messages also seed the retry check (see recentChat): a
	// post an older activation stored just before it died may come again.
	prefix := persistence.ChatPrefix(g.id)
	var tail []*pb.ChatMessage
	err = g.deps.Store.Scan(prefix, persistence.PrefixEnd(prefix), true, recentChatKeep, func(k, v []byte) bool {
		if g.lastSeq == 0 {
			g.lastSeq = persistence.ChatSeq(k)
		}
		m := &pb.ChatMessage{}
		if proto.Unmarshal(v, m) == nil {
			tail = append(tail, m)
		}
		return true
	})
	for i := len(tail) - 1; i >= 0; i-- {
		g.rememberChat(tail[i])
	}
	if err != nil {
		g.loadErr = err
		g.log.Error("load chat tail", zap.Error(err))
		return
	}
	if g.members, err = g.loadMembers(); err != nil {
		g.loadErr = err
		g.log.Error("load members", zap.Error(err))
		return
	}
	g.rec = rec
}

func (g *grain) missing() *pb.Error {
	if g.loadErr != nil {
		return errInternal
	}
	return errNotFound
}

func (g *grain) armIdle(ctx actor.Context) {
	if len(g.members) == 0 {
		ctx.SetReceiveTimeout(g.deps.Settings.IdleTimeout)
	} else {
		ctx.CancelReceiveTimeout()
	}
}

func (g *grain) iceServers() []*pb.IceServer {
	if g.deps.Media == nil {
		return nil
	}
	return g.deps.Media.ICEServers()
}

func (g *grain) info() *pb.RoomInfo {
	return &pb.RoomInfo{Id: g.rec.Id, VisitorName: g.rec.VisitorName, AgentName: g.rec.AgentName,
		HasPassword: g.rec.PasswordHash != "", StartsAtMs: g.rec.StartsAtMs, EndsAtMs: g.rec.EndsAtMs,
		EntryForm: g.rec.EntryForm, Recording: g.recOptions(),
		Whiteboard: g.whiteboard()}
}

// CleanName trims a display name and checks it: printable, not empty, at most
// max characters.
func CleanName(s string, max int) (string, bool) {
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

func (g *grain) checkName(s, field string, optional bool) (string, *pb.Error) {
	if optional && strings.TrimSpace(s) == "" {
		return "", nil
	}
	name, ok := CleanName(s, g.deps.Settings.MaxNameChars)
	if !ok {
		return "", errorf("invalid", field+" must be 1 to "+itoa(g.deps.Settings.MaxNameChars)+" printable characters")
	}
	return name, nil
}

func (g *grain) checkText(s string) (string, *pb.Error) {
	if strings.TrimSpace(s) == "" {
		return "", errorf("invalid", "message is empty")
	}
	if utf8.RuneCountInString(s) > g.deps.Settings.MaxChatChars {
		return "", errorf("too_large", "message is longer than "+itoa(g.deps.Settings.MaxChatChars)+" characters")
	}
	if !ValidChatText(s) {
		return "", errorf("invalid_text", "message holds control or text-direction characters; only line breaks and tabs are allowed")
	}
	return s, nil
}

func (g *grain) create(ctx actor.Context, msg *pb.CreateRoom) *pb.CreateRoomResult {
	if g.loadErr != nil {
		return &pb.CreateRoomResult{Error: errInternal}
	}
	if g.rec != nil {
		return &pb.CreateRoomResult{Error: errorf("room_exists", "A room with this id already exists.")}
	}
	visitor, perr := g.checkName(msg.VisitorName, "visitor name", true)
	if perr != nil {
		return &pb.CreateRoomResult{Error: perr}
	}
	agent, perr := g.checkName(msg.AgentName, "agent name", true)
	if perr != nil {
		return &pb.CreateRoomResult{Error: perr}
	}
	if msg.PasswordHash != "" {
		if _, err := bcrypt.Cost([]byte(msg.PasswordHash)); err != nil {
			return &pb.CreateRoomResult{Error: errorf("invalid", "password hash is not bcrypt")}
		}
	}
	if perr := checkCreate(msg, time.Now()); perr != nil {
		return &pb.CreateRoomResult{Error: perr}
	}
	rec := &pb.RoomRecord{Id: g.id, VisitorName: visitor, AgentName: agent, PasswordHash: msg.PasswordHash,
		Generation:  randomToken(12),
		CreatedAtMs: time.Now().UnixMilli(), OwnerAgentId: msg.OwnerAgentId, StartsAtMs: msg.StartsAtMs,
		EndsAtMs: msg.EndsAtMs, EntryForm: msg.EntryForm, ShortName: msg.ShortName, Recording: msg.Recording}
	if rec.Recording == nil {
		rec.Recording = g.deps.Settings.Recording
	}
	if rec.EntryForm == nil {
		rec.EntryForm = g.deps.Settings.EntryForm
	}
	rec.Whiteboard = g.deps.Settings.Whiteboard
	key := randomToken(24)
	rec.AgentKeyHash = access.Hash(key)
	raw, err := proto.Marshal(rec)
	if err == nil {
		var b persistence.Batch
		b.RequireAbsent(persistence.RoomKey(g.id))
		b.Set(persistence.RoomKey(g.id), raw)
		err = g.write(ctx, &b)
	}
	if errors.Is(err, persistence.ErrConflict) {
		return &pb.CreateRoomResult{Error: errorf("room_exists", "A room with this id already exists.")}
	}
	if err != nil {
		g.log.Error("store room", zap.Error(err))
		return &pb.CreateRoomResult{Error: errInternal}
	}
	g.rec = rec
	g.log.Info("room created")
	g.emit(webhook.RoomCreated, map[string]string{"visitorName": rec.VisitorName, "agentName": rec.AgentName})
	return &pb.CreateRoomResult{Room: g.info(), AgentKey: key}
}

func (g *grain) isAgentKey(key string) bool {
	return g.rec != nil && access.MatchesHash(key, g.rec.AgentKeyHash)
}

func (g *grain) memberBySession(pid *actor.PID) *member {
	for _, m := range g.members {
		if m.pid.Equal(pid) {
			return m
		}
	}
	return nil
}

func (g *grain) join(ctx actor.Context, msg *pb.Join) {
	req := msg.GetRequest()
	if g.rec == nil {
		ctx.Respond(&pb.RoomReply{Error: g.missing()})
		return
	}
	if msg.Session == nil {
		ctx.Respond(&pb.RoomReply{Error: errorf("invalid", "no session")})
		return
	}
	if tok := req.GetResumeToken(); tok != "" && len(tok) <= 64 {
		// The token proves this member was admitted (password, window,
		// entry form); an unknown one is a plain join.
		if m := g.memberByResume(tok); m != nil {
			g.resume(ctx, msg, m)
			return
		}
	}
	name, perr := g.checkName(req.GetName(), "name", false)
	if perr != nil {
		ctx.Respond(&pb.RoomReply{Error: perr})
		return
	}
	role := pb.Role_ROLE_VISITOR
	if g.isAgentKey(req.GetAgentKey()) {
		role = pb.Role_ROLE_AGENT
	} else if req.GetAgentKey() != "" {
		ctx.Respond(&pb.RoomReply{Error: errorf("wrong_agent_key", "This agent link is not valid for this room.")})
		return
	}
	info := &pb.Member{Name: name, Role: role}
	if role == pb.Role_ROLE_VISITOR {
		// The agent hosts the room and may come early or stay late; visitors
		// keep to the window and fill in the entry form.
		if perr := g.checkWindow(time.Now()); perr != nil {
			ctx.Respond(&pb.RoomReply{Error: perr})
			return
		}
		if info.Email, info.AvatarUrl, perr = g.checkEntry(req); perr != nil {
			ctx.Respond(&pb.RoomReply{Error: perr})
			return
		}
	}
	if role == pb.Role_ROLE_AGENT || g.rec.PasswordHash == "" {
		g.admit(ctx, msg, info)
		return
	}
	if req.GetPassword() == "" {
		ctx.Respond(&pb.RoomReply{Error: errorf("password_required", "This room needs a password.")})
		return
	}
	// bcrypt is deliberately slow; run it off the grain so other members'
	// messages keep flowing, and finish the join when it is done.
	hash := []byte(g.rec.PasswordHash)
	passcheck.Check(ctx, func() []byte { return hash }, []byte(req.GetPassword()), func(ok bool) {
		if !ok {
			ctx.Respond(&pb.RoomReply{Error: errorf("wrong_password", "The password is not correct.")})
			return
		}
		g.admit(ctx, msg, info)
	})
}

func (g *grain) admit(ctx actor.Context, msg *pb.Join, info *pb.Member) {
	role := info.Role
	if g.memberBySession(msg.Session) != nil {
		ctx.Respond(&pb.RoomReply{Error: errorf("already_joined", "This connection is already in the room.")})
		return
	}
	if len(g.members) >= g.deps.Settings.MaxMembers {
		ctx.Respond(&pb.RoomReply{Error: errorf("room_full", "This room is full.")})
		return
	}
	history, more, err := g.joinHistory(msg.GetRequest().GetLastSeq())
	if err != nil {
		g.log.Error("read history", zap.Error(err))
		ctx.Respond(&pb.RoomReply{Error: errInternal})
		return
	}
	info.MemberId = randomToken(9)
	resumeToken, resumeHash := newResumeToken()
	m := &member{pid: msg.Session, info: info, email: info.Email, resumeHash: resumeHash, joinedAtMs: nowMs()}
	info.Email = ""
	var b persistence.Batch
	err = g.storeMember(&b, m)
	if err == nil && role == pb.Role_ROLE_VISITOR && g.rec.GetEntryForm().GetEnabled() {
		err = g.storeEntry(&b, m)
	}
	if err == nil {
		err = g.write(ctx, &b)
	}
	if err != nil {
		g.log.Error("store member", zap.Error(err))
		ctx.Respond(&pb.RoomReply{Error: errInternal})
		return
	}
	g.members = append(g.members, m)
	g.emitMember(webhook.MemberJoined, m)
	if len(g.members) == 1 {
		g.emit(webhook.RoomStarted, nil)
	}
	ctx.Watch(m.pid)
	g.armIdle(ctx)

	list := g.memberList(role)
	token := g.issueToken(m)
	g.send(ctx, m.pid, &pb.ServerFrame{ReplyTo: msg.FrameId, Body: &pb.ServerFrame_Joined{Joined: &pb.Joined{
		MemberId: m.info.MemberId, Role: role, Room: g.info(), Members: list,
		History: history, MoreHistory: more, AccessToken: token,
		Call: g.callState(), IceServers: g.iceServers(), ResumeToken: resumeToken,
		Recording: g.recordingState(),
	}}})
	g.broadcastMember(ctx, m, pb.MemberEvent_KIND_JOINED)
	g.log.Debug("member joined", zap.String("member", m.info.MemberId), zap.Stringer("role", role))
	ctx.Respond(&pb.RoomReply{})
}

func (g *grain) remove(ctx actor.Context, pid *actor.PID) {
	for i, m := range g.members {
		if !m.pid.Equal(pid) {
			continue
		}
		g.members = removeMember(g.members, i)
		if !m.away {
			// An away member's session is already gone (its termination
			// ended the watch, or it sat on a node that left and was never
			// watched): unwatching would only dial a dead address.
			ctx.Unwatch(pid)
		}
		g.forgetMember(ctx, m)
		g.leaveCall(ctx, m)
		g.emitMember(webhook.MemberLeft, m)
		if len(g.members) == 0 {
			g.emit(webhook.RoomEnded, nil)
		}
		g.broadcastMember(ctx, m, pb.MemberEvent_KIND_LEFT)
		g.armIdle(ctx)
		return
	}
}

// broadcast sends f to every member but except, encoded once.
func (g *grain) broadcast(ctx actor.Context, except *member, f *pb.ServerFrame) {
	pids := make([]*actor.PID, 0, len(g.members))
	for _, m := range g.members {
		if m != except {
			pids = append(pids, m.pid)
		}
	}
	if len(pids) > 0 {
		session.Deliver(ctx, [][]byte{session.Encode(f)}, pids, nil, g.deps.Metrics)
	}
}

// joinHistory returns what a joining member needs: everything after lastSeq
// when that fits in a page, otherwise the newest page.
func (g *grain) joinHistory(lastSeq uint64) ([]*pb.ChatMessage, bool, error) {
	page := g.deps.Settings.HistoryPage
	if lastSeq > 0 && lastSeq <= g.lastSeq && g.lastSeq-lastSeq <= uint64(page) {
		msgs, err := persistence.ScanChat(g.deps.Store, persistence.ChatKey(g.id, lastSeq+1), persistence.PrefixEnd(persistence.ChatPrefix(g.id)), false, page)
		return msgs, lastSeq > 0, err
	}
	return g.before(g.lastSeq+1, page)
}

// before returns up to limit messages below seq in ascending order, and
// whether older ones exist.
func (g *grain) before(seq uint64, limit int) ([]*pb.ChatMessage, bool, error) {
	if seq == 0 || seq > g.lastSeq+1 {
		seq = g.lastSeq + 1
	}
	msgs, err := persistence.ScanChat(g.deps.Store, persistence.ChatPrefix(g.id), persistence.ChatKey(g.id, seq), true, limit+1)
	if err != nil {
		return nil, false, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, more, nil
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
