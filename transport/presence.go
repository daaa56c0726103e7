package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/session"
	"liveroom/actors/visitor"
	"liveroom/internal/clientaddr"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// CloseUnauthorized ends an agent page socket whose login is gone.
const CloseUnauthorized websocket.StatusCode = 4401

// Presence serves the two sockets of the contact button feature:
//
//   - /ws/visitor, opened by button.js on any website. It accepts any Origin
//     (or those in button_origins) because the button lives on other sites;
//     it carries VisitorClientFrame only, so nothing sent there can act as
//     an agent or reach a room.
//   - /ws/agent, opened by the agent page. Same origin only, and the login
//     cookie is checked by the agent grain on attach.
type Presence struct {
	node    *actors.Node
	limits  Limits
	log     *zap.Logger
	metrics *metrics.Metrics
	// origins allowed on /ws/visitor; empty allows any.
	origins []string
	// PingEvery is how often idle sockets are probed, so a vanished browser
	// (no close frame) stops counting as online within about twice this.
	PingEvery time.Duration

	open  sockets
	pings pinger
}

// NewPresence returns the endpoints for node.
func NewPresence(node *actors.Node, limits Limits, origins []string, log *zap.Logger, m *metrics.Metrics) *Presence {
	if limits.WriteTimeout == 0 {
		limits.WriteTimeout = 10 * time.Second
	}
	return &Presence{node: node, limits: limits, origins: origins, log: log, metrics: m,
		PingEvery: 15 * time.Second}
}

// OriginAllowed reports whether a page at origin may use the button.
func (p *Presence) OriginAllowed(origin string) bool {
	if len(p.origins) == 0 {
		return true
	}
	for _, o := range p.origins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// Shutdown closes every socket with "going away" and waits for the handlers.
func (p *Presence) Shutdown(ctx context.Context) { p.open.shutdown(ctx) }

// Visitor serves /ws/visitor.
func (p *Presence) Visitor(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" && !p.OriginAllowed(origin) {
		http.Error(w, "this site may not use the contact button", http.StatusForbidden)
		return
	}
	// Any origin: the button is embedded on other sites. What the socket may
	// do is limited by its frame type, not by where it comes from.
	p.serve(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}, &visitorHandler{origin: origin})
}

// Agent serves /ws/agent.
func (p *Presence) Agent(w http.ResponseWriter, r *http.Request) {
	cookie, err := r.Cookie(access.AgentCookie)
	if err != nil {
		http.Error(w, "log in on the agent page first", http.StatusUnauthorized)
		return
	}
	agentID, hash, ok := access.ParseAgentCookie(cookie.Value)
	if !ok {
		http.Error(w, "log in on the agent page first", http.StatusUnauthorized)
		return
	}
	// Same origin only (the library's default): the login cookie must not
	// let another site drive the agent's socket.
	p.serve(w, r, nil, &agentHandler{agentID: agentID, hash: hash, pages: p.metrics.AgentPages})
}

// handler is what differs between the visitor and agent sockets.
type handler interface {
	// opened and closed bracket the socket's life.
	opened()
	closed()
	// decode parses one frame; id is its correlation id.
	decode(data []byte) (msg proto.Message, id string, err error)
	dispatch(ctx context.Context, c *pconn, msg proto.Message, id string)
	errorFrame(id string, e *pb.Error) proto.Message
	pong(id string) proto.Message
	kind() string
}

type pconn struct {
	p       *Presence
	conn    *websocket.Conn
	ip      string
	h       handler
	limiter *rate.Limiter
	out     *session.Outbox
	pid     *actor.PID
	strikes int
	// join is told when the socket has said hello or watched.
	join *joinWatch
	// ended is set once the reader has stopped: nothing more is written.
	ended atomic.Bool
	// writers counts the writer goroutine, which runs only while frames
	// wait (see session.Outbox).
	writers sync.WaitGroup
}

func (c *pconn) wsConn() *websocket.Conn { return c.conn }

func (c *pconn) missedPing(error) {
	if !c.ended.Load() {
		_ = c.conn.Close(websocket.StatusPolicyViolation, "no answer to ping")
	}
}

// serve upgrades the request, within the address's share of sockets, and
// leaves the connection running on a goroutine of its own (the handler
// returns, so the HTTP server lets go of its per-request buffers).
func (p *Presence) serve(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions, h handler) {
	ip := clientaddr.Key(r)
	if !p.limits.Admission.acquire(ip) {
		refuseTooMany(w)
		return
	}
	conn, err := websocket.Accept(&smallBuffers{ResponseWriter: w}, r, opts)
	if err != nil {
		p.limits.Admission.release(ip)
		return
	}
	if !p.open.add(plainCloser{conn}) {
		p.limits.Admission.release(ip)
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	c := &pconn{p: p, conn: conn, ip: ip, h: h,
		limiter: rate.NewLimiter(rate.Limit(p.limits.RatePerSecond), p.limits.RateBurst)}
	go c.run()
}

func (c *pconn) run() {
	p := c.p
	defer p.limits.Admission.release(c.ip)
	defer p.open.remove(plainCloser{c.conn})
	c.h.opened()
	defer c.h.closed()
	p.metrics.SocketsOpen.Inc()
	defer p.metrics.SocketsOpen.Dec()
	c.conn.SetReadLimit(p.limits.MaxFrameBytes)
	c.join = p.limits.Admission.watchJoin(plainCloser{c.conn})
	defer c.join.stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.out = session.NewOutbox(p.limits.QueueFrames, func() {
		p.metrics.SlowClients.Inc()
		go func() { _ = c.conn.Close(CloseSlowConsumer, "slow consumer: messages were not read in time") }()
	}, func() {
		c.writers.Add(1)
		go func() {
			defer c.writers.Done()
			c.write()
		}()
	})
	root := p.node.System.Root
	// The grains send frames to this actor, which only queues them; the agent
	// grain watches it, so closing the socket is what tells the grain.
	c.pid = root.SpawnPrefix(actor.PropsFromFunc(func(actx actor.Context) {
		switch m := actx.Message().(type) {
		case *pb.VisitorServerFrame, *pb.AgentServerFrame:
			c.push(m.(proto.Message))
			// The agent grain ends an open agent page this way when the
			// account's logins end (disabled, new password, removed).
			if f, ok := m.(*pb.AgentServerFrame); ok && f.ReplyTo == "" && f.GetError().GetCode() == "unauthorized" {
				go func() { _ = c.conn.Close(CloseUnauthorized, "please log in again") }()
			}
		}
	}), incarnation)
	defer root.Stop(c.pid)
	slot := p.pings.add(c, p.PingEvery)
	defer p.pings.remove(c, slot)

	c.read(ctx)
	cancel()
	c.ended.Store(true)
	// After Release no writer starts; wait for one at work.
	c.out.Release()
	c.writers.Wait()
}

// write drains the outbox to the socket and ends when it is empty.
func (c *pconn) write() {
	for {
		q := c.out.Take()
		if len(q) == 0 {
			return
		}
		for _, b := range q {
			if c.ended.Load() {
				return // leaves the outbox marked as being written
			}
			wctx, cancel := context.WithTimeout(context.Background(), c.p.limits.WriteTimeout)
			err := c.conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				if !c.ended.Load() {
					_ = c.conn.Close(CloseSlowConsumer, "write timed out")
				}
				return
			}
			c.p.metrics.FramesOut.Inc()
		}
	}
}

var presenceWire = protojson.MarshalOptions{}

// push queues m without ever blocking; a full queue closes the connection.
func (c *pconn) push(m proto.Message) {
	b, err := presenceWire.Marshal(m)
	if err != nil {
		return // only invalid UTF-8 fails, and the grains send validated text
	}
	c.out.PushEncoded(b)
}

func (c *pconn) fail(id string, e *pb.Error) {
	c.p.metrics.FrameErrors.WithLabelValues(e.Code).Inc()
	c.push(c.h.errorFrame(id, e))
}

func (c *pconn) read(ctx context.Context) {
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.p.metrics.FrameErrors.WithLabelValues("too_large").Inc()
			}
			return
		}
		if !c.limiter.Allow() {
			c.strikes++
			c.fail("", &pb.Error{Code: "rate_limited", Message: "Too many messages; slow down."})
			if c.strikes > 2*c.p.limits.RateBurst {
				_ = c.conn.Close(CloseRateLimited, "rate limit exceeded")
				return
			}
			continue
		}
		if typ != websocket.MessageText {
			c.fail("", &pb.Error{Code: "bad_frame", Message: "Frames must be JSON text."})
			continue
		}
		msg, id, err := c.h.decode(data)
		if err != nil {
			c.fail("", &pb.Error{Code: "bad_frame", Message: "Frame is not a valid message: " + err.Error()})
			continue
		}
		if len(id) > 64 {
			c.fail("", &pb.Error{Code: "bad_frame", Message: "Frame id is longer than 64 characters."})
			continue
		}
		if msg == nil {
			c.p.metrics.FramesIn.WithLabelValues(c.h.kind() + ".ping").Inc()
			c.push(c.h.pong(id))
			continue
		}
		c.h.dispatch(ctx, c, msg, id)
	}
}

// ask sends msg to the agent grain and turns a refusal into an error frame;
// it reports whether the grain accepted.
func (c *pconn) ask(ctx context.Context, agentID string, msg interface{}, id string) (*pb.Error, bool) {
	reply, err := actors.AskAgent[*pb.AgentReply](ctx, c.p.node, agentID, msg)
	if err != nil {
		e := &pb.Error{Code: "unavailable", Message: "The server did not answer in time; please retry."}
		c.fail(id, e)
		return e, false
	}
	if reply.Error != nil {
		c.fail(id, reply.Error)
		return reply.Error, false
	}
	return nil, true
}

var presenceDecoder = protojson.UnmarshalOptions{}

// incarnation prefixes the ids of this process's socket actors (room
// members' sessions and presence sockets). Room, agent and visitor session
// grains keep those PIDs in the store and watch them again after moving; protoactor numbers actors from 1 in every
// process, so without it a node restarted on the same address could hand
// a stored PID to another page's socket.
var incarnation = func() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return "p" + hex.EncodeToString(b)
}()

// ---------- visitor ----------

// Bounds on what a page may tell about itself; the grain tidies the rest.
const (
	maxPageURLBytes   = 2048
	maxPageTitleBytes = 1024
	maxNameBytes      = 256
)

type visitorHandler struct {
	origin string
	agent  string // set once hello was accepted
	// session is the visitor session grain's key (the button's cookie id),
	// "" when the page sent none; page is the page's address.
	session, page string
}

func (v *visitorHandler) kind() string { return "visitor" }
func (v *visitorHandler) opened()      {}
func (v *visitorHandler) closed()      {}

func (v *visitorHandler) decode(data []byte) (proto.Message, string, error) {
	f := &pb.VisitorClientFrame{}
	if err := presenceDecoder.Unmarshal(data, f); err != nil {
		return nil, "", err
	}
	switch b := f.Body.(type) {
	case *pb.VisitorClientFrame_Hello:
		return orEmpty(b.Hello), f.Id, nil
	case *pb.VisitorClientFrame_Call:
		return orEmpty(b.Call), f.Id, nil
	case *pb.VisitorClientFrame_Cancel:
		return &pb.VisitorCancel{}, f.Id, nil
	case *pb.VisitorClientFrame_Ping:
		return nil, f.Id, nil
	}
	return nil, f.Id, errors.New("no known message type")
}

// orEmpty turns a JSON null body into an empty message.
func orEmpty[T any, P interface {
	*T
	proto.Message
}](m P) proto.Message {
	if m == nil {
		return P(new(T))
	}
	return m
}

func (v *visitorHandler) errorFrame(id string, e *pb.Error) proto.Message {
	return &pb.VisitorServerFrame{ReplyTo: id, Body: &pb.VisitorServerFrame_Error{Error: e}}
}

func (v *visitorHandler) pong(id string) proto.Message {
	return &pb.VisitorServerFrame{ReplyTo: id, Body: &pb.VisitorServerFrame_Pong{Pong: &pb.Pong{}}}
}

func (v *visitorHandler) dispatch(ctx context.Context, c *pconn, msg proto.Message, id string) {
	invalid := func(text string) { c.fail(id, &pb.Error{Code: "invalid", Message: text}) }
	switch m := msg.(type) {
	case *pb.VisitorHello:
		c.p.metrics.FramesIn.WithLabelValues("visitor.hello").Inc()
		if v.agent != "" {
			c.fail(id, &pb.Error{Code: "already_joined", Message: "This connection already said hello."})
			return
		}
		if !persistence.ValidID(m.AgentId) || (m.RoomId != "" && !persistence.ValidID(m.RoomId)) {
			invalid("Agent and room ids must be 1-64 letters, digits, '-' or '_'.")
			return
		}
		if len(m.PageUrl) > maxPageURLBytes || len(m.PageTitle) > maxPageTitleBytes || len(m.Name) > maxNameBytes {
			invalid("Page address, title or name is too long.")
			return
		}
		if m.SessionKey != "" && !visitor.ValidKey(m.SessionKey) {
			invalid("Session key must be 16-64 letters, digits, '-' or '_'.")
			return
		}
		answered := c.join.asked()
		hello := &pb.AgentVisitorHello{Session: c.pid, Hello: m, FrameId: id, Origin: v.origin}
		if m.SessionKey != "" {
			hello.VisitorSession = v.openSession(ctx, c, m)
			if m.Name == "" && hello.VisitorSession.GetName() != "" {
				m.Name = hello.VisitorSession.GetName() // the name given on an earlier page
			}
		}
		_, ok := c.ask(ctx, m.AgentId, hello, id)
		answered()
		if ok {
			v.agent, v.session, v.page = m.AgentId, m.SessionKey, m.PageUrl
			c.join.markJoined()
		}
	case *pb.VisitorCall:
		c.p.metrics.FramesIn.WithLabelValues("visitor.call").Inc()
		if v.agent == "" {
			c.fail(id, &pb.Error{Code: "not_joined", Message: "Say hello first."})
			return
		}
		if len(m.Name) > maxNameBytes {
			invalid("Name is too long.")
			return
		}
		if _, ok := c.ask(ctx, v.agent, &pb.AgentVisitorCall{Session: c.pid, Call: m, FrameId: id}, id); ok && v.session != "" {
			v.noteRequest(ctx, c, m)
		}
	case *pb.VisitorCancel:
		c.p.metrics.FramesIn.WithLabelValues("visitor.cancel").Inc()
		if v.agent == "" {
			c.fail(id, &pb.Error{Code: "not_joined", Message: "Say hello first."})
			return
		}
		c.ask(ctx, v.agent, &pb.AgentVisitorCancel{Session: c.pid, FrameId: id}, id)
	}
}

// openSession tells the visitor's session grain that this page opened (the
// grain watches the socket to see it close) and returns what the agent is
// shown of the visitor. A session that cannot answer leaves the page
// working without it.
func (v *visitorHandler) openSession(ctx context.Context, c *pconn, m *pb.VisitorHello) *pb.VisitorSessionSummary {
	r, err := c.p.node.VisitorSession(ctx, m.SessionKey, &pb.VisitorSessionOpen{Session: c.pid, AgentId: m.AgentId,
		PageUrl: m.PageUrl, PageTitle: m.PageTitle, Name: m.Name})
	if err != nil || r.Error != nil {
		c.p.log.Warn("visitor session", zap.Error(err), zap.Any("error", r.GetError()))
		return nil
	}
	return r.Summary
}

// noteRequest adds an accepted call request to the visitor's session.
func (v *visitorHandler) noteRequest(ctx context.Context, c *pconn, m *pb.VisitorCall) {
	r, err := c.p.node.VisitorSession(ctx, v.session, &pb.VisitorSessionRequest{AgentId: v.agent, Kind: m.Kind,
		Name: m.Name, PageUrl: v.page})
	if err != nil || r.Error != nil {
		c.p.log.Warn("visitor session", zap.Error(err), zap.Any("error", r.GetError()))
	}
}

// ---------- agent ----------

type agentHandler struct {
	agentID string
	hash    []byte
	watched bool
	// pages counts open agent pages.
	pages prometheus.Gauge
}

func (a *agentHandler) kind() string { return "agent" }
func (a *agentHandler) opened()      { a.pages.Inc() }
func (a *agentHandler) closed()      { a.pages.Dec() }

func (a *agentHandler) decode(data []byte) (proto.Message, string, error) {
	f := &pb.AgentClientFrame{}
	if err := presenceDecoder.Unmarshal(data, f); err != nil {
		return nil, "", err
	}
	switch b := f.Body.(type) {
	case *pb.AgentClientFrame_Watch:
		return orEmpty(b.Watch), f.Id, nil
	case *pb.AgentClientFrame_Away:
		return orEmpty(b.Away), f.Id, nil
	case *pb.AgentClientFrame_Answer:
		return orEmpty(b.Answer), f.Id, nil
	case *pb.AgentClientFrame_Ping:
		return nil, f.Id, nil
	}
	return nil, f.Id, errors.New("no known message type")
}

func (a *agentHandler) errorFrame(id string, e *pb.Error) proto.Message {
	return &pb.AgentServerFrame{ReplyTo: id, Body: &pb.AgentServerFrame_Error{Error: e}}
}

func (a *agentHandler) pong(id string) proto.Message {
	return &pb.AgentServerFrame{ReplyTo: id, Body: &pb.AgentServerFrame_Pong{Pong: &pb.Pong{}}}
}

func (a *agentHandler) dispatch(ctx context.Context, c *pconn, msg proto.Message, id string) {
	switch m := msg.(type) {
	case *pb.AgentWatch:
		c.p.metrics.FramesIn.WithLabelValues("agent.watch").Inc()
		if m.RoomId != "" && !persistence.ValidID(m.RoomId) {
			c.fail(id, &pb.Error{Code: "invalid", Message: "Room id must be 1-64 letters, digits, '-' or '_'."})
			return
		}
		answered := c.join.asked()
		e, ok := c.ask(ctx, a.agentID, &pb.AgentAttach{Session: c.pid, SessionHash: a.hash, Watch: m, FrameId: id}, id)
		answered()
		if ok {
			a.watched = true
			c.join.markJoined()
		} else if e.GetCode() == "unauthorized" || e.GetCode() == "agent_not_found" {
			go func() { _ = c.conn.Close(CloseUnauthorized, "please log in again") }()
		}
	case *pb.AgentSetAway:
		c.p.metrics.FramesIn.WithLabelValues("agent.away").Inc()
		if !a.watched {
			c.fail(id, &pb.Error{Code: "not_joined", Message: "Watch first."})
			return
		}
		c.ask(ctx, a.agentID, &pb.AgentSocketAway{Session: c.pid, Away: m.Away, FrameId: id}, id)
	case *pb.AgentAnswer:
		c.p.metrics.FramesIn.WithLabelValues("agent.answer").Inc()
		if !a.watched {
			c.fail(id, &pb.Error{Code: "not_joined", Message: "Watch first."})
			return
		}
		if len(m.RequestId) > 64 {
			c.fail(id, &pb.Error{Code: "invalid", Message: "Request id is too long."})
			return
		}
		c.ask(ctx, a.agentID, &pb.AgentSocketAnswer{Session: c.pid, Answer: m, FrameId: id}, id)
	}
}
