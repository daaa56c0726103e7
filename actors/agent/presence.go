package agent

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/room"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

type visitor struct {
	pid     *actor.PID
	info    *pb.VisitorInfo
	sent    pb.Presence // last presence told to this visitor
	request *request
}

type request struct {
	info      *pb.ContactRequest
	visitor   *visitor
	accepting bool // a room is being made for it
}

// socket is one open agent page; scope "" watches every room of the agent.
type socket struct {
	pid   *actor.PID
	scope string
	away  bool
}

func (s *socket) covers(roomID string) bool { return s.scope == "" || s.scope == roomID }

const maxTitleChars = 200

// cleanText keeps printable characters and cuts at max characters; page
// titles and the like are shown to the agent as they come, only tidied.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// presenceFor is what a visitor watching roomID ("" for the whole agent) sees.
func (g *grain) presenceFor(roomID string) pb.Presence {
	away := false
	for _, s := range g.sockets {
		if s.covers(roomID) {
			if !s.away {
				return pb.Presence_PRESENCE_ONLINE
			}
			away = true
		}
	}
	if away {
		return pb.Presence_PRESENCE_AWAY
	}
	return pb.Presence_PRESENCE_OFFLINE
}

func (g *grain) toVisitor(ctx actor.Context, v *visitor, f *pb.VisitorServerFrame) {
	ctx.Send(v.pid, f)
}

// toSockets sends f to every agent page that watches roomID.
func (g *grain) toSockets(ctx actor.Context, roomID string, f *pb.AgentServerFrame) {
	for _, s := range g.sockets {
		if s.covers(roomID) {
			ctx.Send(s.pid, f)
		}
	}
}

// pushPresence tells each visitor its presence when it changed, and turns
// away requests no agent page can answer any more.
func (g *grain) pushPresence(ctx actor.Context) {
	for _, v := range g.visitors {
		p := g.presenceFor(v.info.RoomId)
		if p == v.sent {
			continue
		}
		v.sent = p
		g.toVisitor(ctx, v, &pb.VisitorServerFrame{Body: &pb.VisitorServerFrame_Presence{
			Presence: &pb.PresenceUpdate{Presence: p}}})
		if p == pb.Presence_PRESENCE_OFFLINE && v.request != nil && !v.request.accepting {
			g.decline(ctx, v.request, "The agent went offline.", "offline")
		}
	}
}

func (g *grain) visitorHello(ctx actor.Context, msg *pb.AgentVisitorHello) *pb.AgentReply {
	if g.rec == nil {
		return &pb.AgentReply{Error: g.missing()}
	}
	h := msg.GetHello()
	if msg.Session == nil || h == nil {
		return &pb.AgentReply{Error: errorf("invalid", "no session")}
	}
	if g.byPID[pidKey(msg.Session)] != nil {
		return &pb.AgentReply{Error: errorf("already_joined", "This connection already said hello.")}
	}
	if h.RoomId != "" && g.rooms[h.RoomId] == nil {
		return &pb.AgentReply{Error: errorf("room_not_found", "This agent has no such room.")}
	}
	if len(g.visitors) >= g.deps.Settings.MaxVisitors {
		return &pb.AgentReply{Error: errorf("busy", "Too many visitors at once; please try again later.")}
	}
	info := &pb.VisitorInfo{
		VisitorId: randomID(9), RoomId: h.RoomId, PageTitle: cleanText(h.PageTitle, maxTitleChars),
		SinceMs: time.Now().UnixMilli(), Origin: cleanText(msg.Origin, 200),
		Session:    msg.VisitorSession, // filled by the socket's node, not the browser
		SessionRef: sessionRef(h.SessionKey),
	}
	if u, ok := room.CleanHTTPURL(h.PageUrl); ok {
		info.PageUrl = u
	}
	if name, ok := room.CleanName(h.Name, g.deps.Settings.MaxNameChars); ok {
		info.Name = name
	}
	v := &visitor{pid: msg.Session, info: info, sent: g.presenceFor(h.RoomId)}
	if g.saveVisitor(v) != nil {
		return &pb.AgentReply{Error: errInternal}
	}
	g.visitors[info.VisitorId] = v
	g.byPID[pidKey(v.pid)] = v
	ctx.Watch(v.pid)
	g.armIdle(ctx)
	g.toVisitor(ctx, v, &pb.VisitorServerFrame{ReplyTo: msg.FrameId, Body: &pb.VisitorServerFrame_Presence{
		Presence: &pb.PresenceUpdate{Presence: v.sent}}})
	g.toSockets(ctx, info.RoomId, &pb.AgentServerFrame{Body: &pb.AgentServerFrame_Visitor{Visitor: info}})
	return &pb.AgentReply{}
}

func (g *grain) visitorCall(ctx actor.Context, msg *pb.AgentVisitorCall) *pb.AgentReply {
	v := g.byPID[pidKey(msg.Session)]
	if v == nil {
		return &pb.AgentReply{Error: errorf("not_joined", "Say hello first.")}
	}
	if v.request != nil {
		return &pb.AgentReply{Error: errorf("already_requested", "Your request is already waiting.")}
	}
	if g.presenceFor(v.info.RoomId) != pb.Presence_PRESENCE_ONLINE {
		return &pb.AgentReply{Error: errorf("agent_offline", "No one is available right now.")}
	}
	if len(g.queue) >= g.deps.Settings.MaxRequests {
		return &pb.AgentReply{Error: errorf("busy", "Too many people are waiting; please try again later.")}
	}
	kind := msg.GetCall().GetKind()
	if _, ok := pb.CallKind_name[int32(kind)]; !ok || kind == pb.CallKind_CALL_KIND_UNSPECIFIED {
		kind = pb.CallKind_CALL_KIND_CHAT
	}
	if n := msg.GetCall().GetName(); strings.TrimSpace(n) != "" {
		name, ok := room.CleanName(n, g.deps.Settings.MaxNameChars)
		if !ok {
			return &pb.AgentReply{Error: errorf("invalid", "Your name must be 1 to 64 printable characters.")}
		}
		if name != v.info.Name {
			v.info = proto.Clone(v.info).(*pb.VisitorInfo)
			v.info.Name = name
			g.toSockets(ctx, v.info.RoomId, &pb.AgentServerFrame{Body: &pb.AgentServerFrame_Visitor{Visitor: v.info}})
		}
	}
	r := &request{visitor: v, info: &pb.ContactRequest{
		RequestId: randomID(9), VisitorId: v.info.VisitorId, Kind: kind, Name: v.info.Name,
		RoomId: v.info.RoomId, PageUrl: v.info.PageUrl, AtMs: time.Now().UnixMilli(),
	}}
	v.request = r
	if g.saveVisitor(v) != nil {
		v.request = nil
		return &pb.AgentReply{Error: errInternal}
	}
	g.queue = append(g.queue, r)
	g.toVisitor(ctx, v, &pb.VisitorServerFrame{ReplyTo: msg.FrameId, Body: &pb.VisitorServerFrame_Queued{
		Queued: &pb.CallQueued{RequestId: r.info.RequestId, Position: g.position(r)}}})
	g.toSockets(ctx, r.info.RoomId, &pb.AgentServerFrame{Body: &pb.AgentServerFrame_Request{Request: r.info}})
	g.log.Info("call request", zap.String("request", r.info.RequestId), zap.Stringer("kind", kind))
	return &pb.AgentReply{}
}

// position counts the requests in the same scope up to and including r.
func (g *grain) position(r *request) uint32 {
	n := uint32(0)
	for _, q := range g.queue {
		if q.info.RoomId == r.info.RoomId {
			n++
		}
		if q == r {
			break
		}
	}
	return n
}

// dequeue removes r, tells the agent pages why, and tells the visitors behind
// it their new place.
func (g *grain) dequeue(ctx actor.Context, r *request, reason string) {
	for i, q := range g.queue {
		if q == r {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			break
		}
	}
	if r.visitor.request == r {
		r.visitor.request = nil
		if g.visitors[r.visitor.info.VisitorId] == r.visitor {
			_ = g.saveVisitor(r.visitor)
		}
	}
	g.toSockets(ctx, r.info.RoomId, &pb.AgentServerFrame{Body: &pb.AgentServerFrame_RequestDone{
		RequestDone: &pb.ContactRequestDone{RequestId: r.info.RequestId, Reason: reason}}})
	for _, q := range g.queue {
		if q.info.RoomId == r.info.RoomId {
			g.toVisitor(ctx, q.visitor, &pb.VisitorServerFrame{Body: &pb.VisitorServerFrame_Queued{
				Queued: &pb.CallQueued{RequestId: q.info.RequestId, Position: g.position(q)}}})
		}
	}
}

func (g *grain) decline(ctx actor.Context, r *request, message, reason string) {
	g.dequeue(ctx, r, reason)
	g.toVisitor(ctx, r.visitor, &pb.VisitorServerFrame{Body: &pb.VisitorServerFrame_Declined{
		Declined: &pb.CallDeclined{RequestId: r.info.RequestId, Message: message}}})
}

func (g *grain) visitorCancel(ctx actor.Context, msg *pb.AgentVisitorCancel) *pb.AgentReply {
	v := g.byPID[pidKey(msg.Session)]
	if v == nil {
		return &pb.AgentReply{Error: errorf("not_joined", "Say hello first.")}
	}
	if v.request != nil && !v.request.accepting {
		g.dequeue(ctx, v.request, "cancelled")
	}
	return &pb.AgentReply{}
}

// gone forgets a socket (visitor or agent page) that closed.
func (g *grain) gone(ctx actor.Context, pid *actor.PID) {
	if pid == nil {
		return
	}
	key := pidKey(pid)
	if v := g.byPID[key]; v != nil {
		ctx.Unwatch(pid)
		if v.request != nil {
			g.dequeue(ctx, v.request, "left")
		}
		delete(g.byPID, key)
		delete(g.visitors, v.info.VisitorId)
		g.dropVisitor(v)
		g.toSockets(ctx, v.info.RoomId, &pb.AgentServerFrame{Body: &pb.AgentServerFrame_VisitorLeft{
			VisitorLeft: &pb.VisitorLeft{VisitorId: v.info.VisitorId}}})
	}
	if s := g.sockets[key]; s != nil {
		ctx.Unwatch(pid)
		delete(g.sockets, key)
		g.dropPage(s)
		g.pushPresence(ctx)
		g.log.Info("agent page closed", zap.Int("pages", len(g.sockets)))
	}
	g.armIdle(ctx)
}

func (g *grain) status(s *socket) *pb.AgentStatus {
	p := pb.Presence_PRESENCE_ONLINE
	if s.away {
		p = pb.Presence_PRESENCE_AWAY
	}
	return &pb.AgentStatus{Presence: p, RoomId: s.scope}
}

func (g *grain) attach(ctx actor.Context, msg *pb.AgentAttach) *pb.AgentReply {
	if g.rec == nil {
		return &pb.AgentReply{Error: g.missing()}
	}
	if who := g.checkSession(msg.SessionHash); who.Error != nil {
		return &pb.AgentReply{Error: who.Error}
	}
	if msg.Session == nil {
		return &pb.AgentReply{Error: errorf("invalid", "no session")}
	}
	scope := msg.GetWatch().GetRoomId()
	if scope != "" && g.rooms[scope] == nil {
		return &pb.AgentReply{Error: errNoRoom}
	}
	key := pidKey(msg.Session)
	s := g.sockets[key]
	if s == nil || s.scope != scope {
		next := &socket{pid: msg.Session, scope: scope}
		if s != nil {
			next.away = s.away
		}
		if g.savePage(next) != nil {
			return &pb.AgentReply{Error: errInternal}
		}
		if s == nil {
			ctx.Watch(next.pid)
			g.log.Info("agent page open", zap.Int("pages", len(g.sockets)+1))
		}
		s = next
		g.sockets[key] = s
	}
	snap := &pb.AgentSnapshot{AgentId: g.id, AgentName: g.rec.Name, Status: g.status(s), NowMs: time.Now().UnixMilli()}
	for _, v := range g.visitors {
		if s.covers(v.info.RoomId) {
			snap.Visitors = append(snap.Visitors, v.info)
		}
	}
	for _, r := range g.queue {
		if s.covers(r.info.RoomId) {
			snap.Requests = append(snap.Requests, r.info)
		}
	}
	ctx.Send(s.pid, &pb.AgentServerFrame{ReplyTo: msg.FrameId, Body: &pb.AgentServerFrame_Snapshot{Snapshot: snap}})
	g.armIdle(ctx)
	g.pushPresence(ctx)
	return &pb.AgentReply{}
}

func (g *grain) setAway(ctx actor.Context, msg *pb.AgentSocketAway) *pb.AgentReply {
	s := g.sockets[pidKey(msg.Session)]
	if s == nil {
		return &pb.AgentReply{Error: errorf("not_joined", "Watch first.")}
	}
	if s.away != msg.Away {
		s.away = msg.Away
		_ = g.savePage(s)
	}
	ctx.Send(s.pid, &pb.AgentServerFrame{ReplyTo: msg.FrameId, Body: &pb.AgentServerFrame_Status{Status: g.status(s)}})
	g.pushPresence(ctx)
	return &pb.AgentReply{}
}

func (g *grain) findRequest(id string) *request {
	for _, r := range g.queue {
		if r.info.RequestId == id {
			return r
		}
	}
	return nil
}

func (g *grain) answer(ctx actor.Context, msg *pb.AgentSocketAnswer) {
	s := g.sockets[pidKey(msg.Session)]
	if s == nil {
		ctx.Respond(&pb.AgentReply{Error: errorf("not_joined", "Watch first.")})
		return
	}
	r := g.findRequest(msg.GetAnswer().GetRequestId())
	if r == nil || !s.covers(r.info.RoomId) || r.accepting {
		ctx.Respond(&pb.AgentReply{Error: errorf("request_gone", "This request was already answered or withdrawn.")})
		return
	}
	if !msg.GetAnswer().GetAccept() {
		g.decline(ctx, r, "The agent cannot take your request right now.", "declined")
		g.deps.Events.Emit(webhook.RequestDeclined, r.info.RoomId, g.id, map[string]string{"requestId": r.info.RequestId,
			"kind": r.info.Kind.String(), "name": r.info.Name, "pageUrl": r.info.PageUrl})
		// The other pages heard it from decline; this one gets it as the reply.
		ctx.Send(s.pid, &pb.AgentServerFrame{ReplyTo: msg.FrameId, Body: &pb.AgentServerFrame_RequestDone{
			RequestDone: &pb.ContactRequestDone{RequestId: r.info.RequestId, Reason: "declined"}}})
		ctx.Respond(&pb.AgentReply{})
		return
	}
	if ar := g.rooms[r.info.RoomId]; ar != nil {
		g.accepted(ctx, s, r, ar, msg.FrameId)
		ctx.Respond(&pb.AgentReply{})
		return
	}
	// No room scope: make a fresh room for this visitor.
	r.accepting = true
	create := &pb.CreateRoom{Id: randomID(6), VisitorName: r.info.Name, AgentName: g.rec.Name,
		OwnerAgentId: g.id, EntryForm: g.deps.Settings.EntryForm}
	g.call(ctx, create.Id, room.Kind, create, func(res interface{}, err error) {
		r.accepting = false
		cr, _ := res.(*pb.CreateRoomResult)
		if err != nil || cr == nil || cr.Error != nil {
			g.log.Warn("room for call request", zap.Error(err), zap.Any("error", cr.GetError()))
			ctx.Respond(&pb.AgentReply{Error: errorf("unavailable", "The room could not be made; please try again.")})
			return
		}
		ar, perr := g.indexRoom(cr.Room, "", cr.AgentKey)
		if perr != nil {
			ctx.Respond(&pb.AgentReply{Error: perr})
			return
		}
		if g.findRequest(r.info.RequestId) != r {
			ctx.Respond(&pb.AgentReply{Error: errorf("request_gone", "The visitor left before the room was ready.")})
			return
		}
		g.accepted(ctx, s, r, ar, msg.FrameId)
		ctx.Respond(&pb.AgentReply{})
	})
}

// accepted sends the visitor into room ar and gives the agent page its link.
func (g *grain) accepted(ctx actor.Context, s *socket, r *request, ar *pb.AgentRoom, frameID string) {
	id := ar.GetRoom().GetId()
	g.deps.Events.Emit(webhook.RequestAccepted, id, g.id, map[string]string{"requestId": r.info.RequestId,
		"kind": r.info.Kind.String(), "name": r.info.Name, "pageUrl": r.info.PageUrl})
	// A visitor who chose a video or audio call gets one: both room pages
	// start (or join) the call after joining when the link says so.
	hint := ""
	switch r.info.Kind {
	case pb.CallKind_CALL_KIND_VIDEO:
		hint = "call=video"
	case pb.CallKind_CALL_KIND_AUDIO:
		hint = "call=audio"
	default:
		// A chat: the pages still go straight into the room.
		hint = "go=1"
	}
	visitorPath := "/room/" + id
	agentLink := agentPath(ar)
	if hint != "" {
		visitorPath += "#" + hint
		agentLink += "&" + hint
	}
	g.dequeue(ctx, r, "accepted")
	g.toVisitor(ctx, r.visitor, &pb.VisitorServerFrame{Body: &pb.VisitorServerFrame_Accepted{Accepted: &pb.CallAccepted{
		RequestId: r.info.RequestId, RoomId: id, RoomPath: visitorPath}}})
	ctx.Send(s.pid, &pb.AgentServerFrame{ReplyTo: frameID, Body: &pb.AgentServerFrame_Answered{Answered: &pb.CallAnswered{
		RequestId: r.info.RequestId, RoomId: id, AgentPath: agentLink, VisitorPath: visitorPath}}})
	g.log.Info("call request accepted", zap.String("request", r.info.RequestId), zap.String("room", id))
}

func agentPath(ar *pb.AgentRoom) string {
	return "/room/" + ar.GetRoom().GetId() + "#agent=" + ar.AgentKey
}

// callFailed carries a failed grain call back into the grain.
type callFailed struct{ err error }

// call sends msg to another grain without blocking this one; then runs in
// this grain once the answer (or a timeout) is in.
//
// Cluster.RequestFuture is not used: it reuses one process-wide call config
// taken from the first cluster started and changes it on every call, which
// is a data race and breaks a second node in the same process (tests).
// Cluster.Request makes a fresh config per call, so it runs on a goroutine
// and hands its answer to a local future.
func (g *grain) call(ctx actor.Context, identity, kind string, msg interface{}, then func(interface{}, error)) {
	system := ctx.ActorSystem()
	timeout := g.deps.Settings.CallTimeout
	future := actor.NewFuture(system, timeout+time.Second)
	go func() {
		res, err := cluster.GetCluster(system).Request(identity, kind, msg, cluster.WithTimeout(timeout))
		if err != nil || res == nil {
			system.Root.Send(future.PID(), &callFailed{err: err})
			return
		}
		system.Root.Send(future.PID(), res)
	}()
	ctx.ReenterAfter(future, func(res interface{}, err error) {
		if f, ok := res.(*callFailed); ok {
			res, err = nil, f.err
			if err == nil {
				err = errors.New("no answer")
			}
		}
		then(res, err)
	})
}

// sessionRef names a visitor session for agent pages: a hash of its key,
// which is the visitor's cookie and must not reach anyone else.
func sessionRef(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("visitor-session\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}
