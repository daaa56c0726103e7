// Package transport is the WebSocket endpoint. It decodes and checks each frame
// from a browser, forwards it to the room grain, and writes what the grains
// send back through the connection's session actor and bounded queue.
package transport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"liveroom/actors"
	"liveroom/actors/session"
	"liveroom/internal/clientaddr"
	"liveroom/internal/gopool"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Close codes beyond the standard ones; the reason text says the same in words.
const (
	CloseSlowConsumer websocket.StatusCode = 4008
	CloseRateLimited  websocket.StatusCode = 4029
)

// Limits bound what one connection may do.
type Limits struct {
	MaxFrameBytes int64
	QueueFrames   int
	RatePerSecond float64
	RateBurst     int
	WriteTimeout  time.Duration
	// PingInterval is how often the server checks that a quiet client is
	// still there; one that does not answer within it is disconnected, so a
	// vanished phone does not linger in its room.
	PingInterval time.Duration
	// Admission bounds sockets per client address and the time to join;
	// one value is shared by every endpoint of a node.
	Admission *Admission
}

// Server accepts WebSocket connections.
type Server struct {
	node    *actors.Node
	limits  Limits
	log     *zap.Logger
	metrics *metrics.Metrics

	open  sockets
	pings pinger
}

// NewServer returns the endpoint for node.
func NewServer(node *actors.Node, limits Limits, log *zap.Logger, m *metrics.Metrics) *Server {
	if limits.WriteTimeout == 0 {
		limits.WriteTimeout = 10 * time.Second
	}
	if limits.PingInterval == 0 {
		limits.PingInterval = 20 * time.Second
	}
	// One parking per process; a second endpoint on the same registry finds
	// the gauge there already.
	_ = m.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liveroom_sockets_parked",
		Help: "Idle WebSocket connections waiting without a goroutine (Linux)."},
		func() float64 { return float64(idleParking.count()) }))
	return &Server{node: node, limits: limits, log: log, metrics: m, open: sockets{writeTimeout: limits.WriteTimeout}}
}

// Shutdown closes every socket with "going away" and waits for their handlers.
func (s *Server) Shutdown(ctx context.Context) { s.open.shutdown(ctx) }

// ServeHTTP upgrades the request and leaves the connection running on a
// goroutine of its own.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Same-origin only (the library's default): a page elsewhere cannot drive
	// a member's socket.
	ip := clientaddr.Key(r)
	if !s.limits.Admission.acquire(ip) {
		refuseTooMany(w)
		return
	}
	sb := &smallBuffers{ResponseWriter: w}
	conn, err := websocket.Accept(sb, r, nil)
	if err != nil {
		s.limits.Admission.release(ip)
		return
	}
	sb.sock.writeFramesOurs()
	// The handler returns once the connection runs: the HTTP server then
	// lets go of what it keeps for a request (its connection's reader and
	// writer, the response buffer), about 10 KiB a socket, and the socket's
	// reader is the only goroutine of an idle member.
	c := &connection{srv: s, conn: conn, ip: ip, log: s.log,
		meter: newMeter(s.limits.RatePerSecond, s.limits.RateBurst), sock: sb.sock}
	if sb.gate != nil {
		c.idle = &idleWait{conn: c, raw: sb.gate.raw, netConn: sb.gate.conn}
		sb.gate.idle = c.idle
		sb.sock.onClose = c.idle.socketClosing
	}
	if !s.open.add(c) {
		s.limits.Admission.release(ip)
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	go c.main()
}

// connection is one member's socket. Its only long-lived goroutine is the
// reader (main); the dispatcher (frames to the room) and the writer (frames
// to the client) run only while they have something to do, and the
// endpoint's pinger keeps it alive.
type connection struct {
	srv   *Server
	conn  *websocket.Conn
	ip    string
	log   *zap.Logger
	meter *meter
	out   *session.Outbox
	pid   *actor.PID
	// ended is set once the reader has stopped: nothing more is written.
	ended atomic.Bool
	// writing is when (nowNanos) the write to the socket under way began,
	// 0 when none is, -1 once the write watch cut it off.
	writing atomic.Int64
	// gone is set when the client vanished without a goodbye: frames it
	// still had on their way to the room are dropped.
	gone atomic.Bool
	room string // set once joined; read and written by the dispatcher only
	// joinedRoom is room for the other goroutines' log lines.
	joinedRoom atomic.Value
	// join closes the socket if it has not joined in time.
	join *joinWatch
	// pingSlot is where the pinger keeps this socket.
	pingSlot int
	// idle, when set, lets the reader wait for the next frame near the top
	// of its stack; see idleWait.
	idle *idleWait
	// broadcast is set once joined to a broadcast (instead of a room); like
	// room, the dispatcher's.
	broadcast string
	// saidGoodbye is set when the client closed the socket itself.
	saidGoodbye bool
	// sock is the socket under the library; the writer writes the data
	// frames to it directly, each outbox batch in one write.
	sock *sharedConn

	// frames is on its way to the room; see begin.
	frames chan *pb.ClientFrame
	// dispatching is set while a dispatcher goroutine drains frames;
	// stopDispatch cancels the requests of that dispatcher.
	dispatchMu   sync.Mutex
	dispatching  bool
	stopDispatch context.CancelFunc
	// dispatchers counts the dispatcher goroutine (only the reader starts
	// one), writers the writer goroutine (only the outbox starts one).
	dispatchers, writers sync.WaitGroup
}

// inboxFrames is how many frames one socket may have on their way to the
// room; see begin.
const inboxFrames = 8

// roomForLog is the room this connection joined, for any goroutine.
func (c *connection) roomForLog() string {
	r, _ := c.joinedRoom.Load().(string)
	return r
}

func (c *connection) wsConn() *websocket.Conn { return c.conn }

// closeWith closes the socket with a close frame, from any goroutine; it
// returns once the close handshake is over. Other goroutines must close
// through it (not conn.Close), see idleWait.
func (c *connection) closeWith(code websocket.StatusCode, reason string) {
	if c.idle.interrupt(code, reason) {
		return
	}
	_ = c.conn.Close(code, reason)
}

// missedPing closes a client that did not answer a ping in time, so that a
// vanished phone does not linger in its room.
func (c *connection) missedPing(err error) {
	if c.ended.Load() {
		return
	}
	c.log.Info("client did not answer a ping", zap.String("room", c.roomForLog()), zap.Error(err))
	c.closeWith(websocket.StatusPolicyViolation, "no answer to ping")
}

// main is the socket's first reader goroutine.
func (c *connection) main() {
	c.begin()
	c.run(false)
}

// run reads frames until the socket ends, or until it is parked between
// messages (see idleWait): then the goroutine ends, and the parking starts
// run(true) when the client sends more. It is kept flat (setup and
// teardown are calls, not frames around the loop) so that a reader waiting
// on its goroutine has little stack in use, and the runtime shrinks it.
func (c *connection) run(woke bool) {
	if woke {
		c.stopWaiting()
	}
	for {
		switch c.readOne() {
		case readIdle:
			if c.park() {
				return
			}
		case readEnded:
			c.end()
			return
		}
	}
}

func (c *connection) begin() {
	s := c.srv
	c.join = s.limits.Admission.watchJoin(c)
	s.metrics.SocketsOpen.Inc()
	c.conn.SetReadLimit(s.limits.MaxFrameBytes)
	c.out = session.NewOutbox(s.limits.QueueFrames, func() {
		s.metrics.SlowClients.Inc()
		c.log.Info("closing slow client", zap.String("room", c.roomForLog()), zap.String("reason", "queue full"))
		go c.closeWith(CloseSlowConsumer, "slow consumer: messages were not read in time")
	}, func() {
		// A writer runs only while frames wait (see session.Outbox).
		c.writers.Add(1)
		gopool.Go(func() {
			defer c.writers.Done()
			c.write()
		})
	})
	// Room grains store their members' session PIDs (see incarnation).
	c.pid = session.Spawn(s.node.System, c.out, incarnation)
	c.pingSlot = s.pings.add(c, s.limits.PingInterval)
	// Frames go to the room from a goroutine of their own, so that reading
	// (and the rate limit, see meter) never waits for a room; that goroutine
	// runs only while frames wait (see dispatchQueued). The queue is short:
	// a client that sends ahead gets back-pressure (TCP) soon, so the
	// answers it has coming never outgrow its own outbox.
	c.frames = make(chan *pb.ClientFrame, inboxFrames)
}

func (c *connection) end() {
	s := c.srv
	if !c.saidGoodbye {
		// Gone without a goodbye: what it still had queued is moot, and
		// a request already with the room is given up.
		c.gone.Store(true)
		c.dispatchMu.Lock()
		if c.stopDispatch != nil {
			c.stopDispatch()
		}
		c.dispatchMu.Unlock()
	}
	// Only the reader starts dispatchers, so none starts after this; a
	// dispatcher stops only once the queue is empty.
	c.dispatchers.Wait()
	c.ended.Store(true)
	// After Release no writer starts; wait for one at work.
	c.out.Release()
	c.writers.Wait()
	if c.room != "" && c.saidGoodbye {
		// A client that closed the socket itself has left. Any other end
		// (a network drop) reaches the grain as the session actor's
		// termination, which keeps the member for the resume grace period.
		lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = s.node.Tell(lctx, c.room, &pb.Leave{Session: c.pid})
		lcancel()
	}
	if c.broadcast != "" && c.saidGoodbye {
		lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.leaveBroadcast(lctx)
		lcancel()
	}
	session.Stop(s.node.System, c.pid)
	s.pings.remove(c, c.pingSlot)
	s.metrics.SocketsOpen.Dec()
	c.join.stop() // nil once joined
	s.open.remove(c)
	s.limits.Admission.release(c.ip)
}

// joined stops the join timer and lets go of it (the dispatcher's).
func (c *connection) joined() {
	c.join.markJoined()
	c.join = nil
}

// kickDispatcher starts a dispatcher unless one is at work; the reader calls
// it after queueing a frame.
func (c *connection) kickDispatcher() {
	c.dispatchMu.Lock()
	defer c.dispatchMu.Unlock()
	if c.dispatching {
		return
	}
	c.dispatching = true
	// The context lives as long as this dispatcher: an idle socket has none.
	ctx, cancel := context.WithCancel(context.Background())
	c.stopDispatch = cancel
	c.dispatchers.Add(1)
	gopool.Go(func() {
		defer c.dispatchers.Done()
		c.dispatchQueued(ctx)
	})
}

// dispatchQueued hands queued frames to the room, in order, until the queue
// is empty. The emptiness check and the end are one step under dispatchMu,
// and the reader kicks after queueing, so no frame is left behind.
func (c *connection) dispatchQueued(ctx context.Context) {
	for {
		select {
		case f := <-c.frames:
			if !c.gone.Load() {
				c.dispatch(ctx, f)
			}
		default:
			c.dispatchMu.Lock()
			if len(c.frames) == 0 {
				c.dispatching = false
				cancel := c.stopDispatch
				c.stopDispatch = nil
				c.dispatchMu.Unlock()
				cancel()
				return
			}
			c.dispatchMu.Unlock()
		}
	}
}

// write drains the outbox to the socket, each batch it takes in one write,
// and ends when the outbox is empty. A write that the endpoint's write watch
// cuts off (see writeWatched) is a slow client: it is closed (with a close
// handshake, which ends the reader by itself) and nothing more is written.
func (c *connection) write() {
	for {
		q := c.out.Take()
		if len(q) == 0 {
			return
		}
		if c.ended.Load() {
			// Leaves the outbox marked as being written: nothing more goes
			// out on a socket that ended.
			return
		}
		// A write blocked on a socket that ends meanwhile returns at once:
		// the library closes the socket when its reader fails.
		started := c.beginWrite()
		err := c.sock.writeText(q)
		stalled := !c.writing.CompareAndSwap(started, 0)
		if err == nil && !stalled {
			c.srv.metrics.FramesOut.Add(float64(len(q)))
			continue
		}
		var ne net.Error
		timedOut := stalled || errors.As(err, &ne) && ne.Timeout()
		// A closing socket can end the reader before this write returns:
		// the watch, not the reader's end, tells a slow client from a
		// closed one.
		if !timedOut && (c.ended.Load() || errors.Is(err, net.ErrClosed)) {
			return
		}
		// A client that stopped reading with room left in its queue ends
		// here rather than in the outbox: the same slow client.
		c.srv.metrics.SlowClients.Inc()
		c.log.Info("closing slow client", zap.String("room", c.roomForLog()), zap.String("reason", "write timed out"),
			zap.Duration("write_timeout", c.srv.limits.WriteTimeout), zap.Error(err))
		go c.closeWith(CloseSlowConsumer, "slow consumer: a write timed out")
		return
	}
}

// beginWrite marks a write to the socket as under way, for the write
// watch, and returns the mark that the writer clears after it.
func (c *connection) beginWrite() int64 {
	started := max(1, nowNanos())
	c.writing.Store(started)
	return started
}

// writeStalled cuts off a write begun before since: a deadline in the past
// ends it at once with a timeout, and the writer, finding its mark gone,
// closes the client as slow even if the write got through meanwhile.
func (c *connection) writeStalled(since int64) {
	started := c.writing.Load()
	if started <= 0 || started > since {
		return
	}
	if c.writing.CompareAndSwap(started, -1) {
		_ = c.sock.Conn.SetWriteDeadline(time.Now())
	}
}

var decoder = protojson.UnmarshalOptions{}

func (c *connection) fail(id, code, msg string) {
	c.srv.metrics.FrameErrors.WithLabelValues(code).Inc()
	c.out.Push(&pb.ServerFrame{ReplyTo: id, Body: &pb.ServerFrame_Error{Error: &pb.Error{Code: code, Message: msg}}})
}

// What readOne found.
const (
	readFrame = iota
	// readIdle: the client has sent nothing more for now (see readGate).
	readIdle
	// readEnded: the socket has ended.
	readEnded
)

// readOne reads and handles one frame.
func (c *connection) readOne() int {
	// No context to cancel: the reader ends when the socket does, and a
	// cancellable one would cost a registration per read.
	typ, data, err := c.conn.Read(context.Background())
	if errors.Is(err, errIdle) {
		return readIdle
	}
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway:
			c.saidGoodbye = true
		}
		if c.idle.echoedGoodbye() {
			// The reader closed the socket on another goroutine's behalf
			// (see idleWait) and the client answered with the same code:
			// as if the client had said it, like when the close happens
			// while the reader is in Read.
			c.saidGoodbye = true
		}
		if errors.Is(err, websocket.ErrMessageTooBig) {
			c.srv.metrics.FrameErrors.WithLabelValues("too_large").Inc()
		}
		return readEnded
	}
	frame := &pb.ClientFrame{}
	var bad string
	if typ != websocket.MessageText {
		bad = "Frames must be JSON text."
	} else if err := decoder.Unmarshal(data, frame); err != nil {
		bad = "Frame is not a valid message: " + err.Error()
	}
	if !c.meter.allow() {
		// The frame id (when it decoded) tells the client which frame
		// was refused, so it can send it again rather than lose it.
		c.fail(frame.GetId(), "rate_limited", "Too many messages; slow down.")
		if c.meter.strike() {
			c.log.Info("closing client over the rate limit", zap.String("room", c.roomForLog()))
			c.idle.closingNow()
			_ = c.conn.Close(CloseRateLimited, "rate limit exceeded")
			return readEnded
		}
		return readFrame
	}
	if bad != "" {
		c.fail("", "bad_frame", bad)
		return readFrame
	}
	select {
	case c.frames <- frame:
	default:
		// The room has not taken the frames before this one yet: wait,
		// and do not count the wait against the client.
		start := time.Now()
		c.kickDispatcher()
		c.frames <- frame
		c.meter.stalled(time.Since(start))
	}
	c.kickDispatcher()
	return readFrame
}

func frameType(f *pb.ClientFrame) string {
	switch f.Body.(type) {
	case *pb.ClientFrame_Join:
		return "join"
	case *pb.ClientFrame_Chat:
		return "chat"
	case *pb.ClientFrame_History:
		return "history"
	case *pb.ClientFrame_Ping:
		return "ping"
	case *pb.ClientFrame_Call:
		return "call"
	case *pb.ClientFrame_MediaState:
		return "media_state"
	case *pb.ClientFrame_PublishOffer:
		return "publish_offer"
	case *pb.ClientFrame_SubscribeAnswer:
		return "subscribe_answer"
	case *pb.ClientFrame_Ice:
		return "ice"
	case *pb.ClientFrame_RestartIce:
		return "restart_ice"
	case *pb.ClientFrame_Recording:
		return "recording"
	case *pb.ClientFrame_Wb:
		return "wb"
	case *pb.ClientFrame_BroadcastJoin:
		return "broadcast_join"
	case *pb.ClientFrame_BroadcastControl:
		return "broadcast_control"
	}
	return "none"
}

func (c *connection) dispatch(ctx context.Context, f *pb.ClientFrame) {
	c.srv.metrics.FramesIn.WithLabelValues(frameType(f)).Inc()
	if len(f.Id) > 64 {
		c.fail("", "bad_frame", "Frame id is longer than 64 characters.")
		return
	}
	if c.dispatchBroadcast(ctx, f) {
		return
	}
	var msg interface{}
	switch b := f.Body.(type) {
	case *pb.ClientFrame_Ping:
		c.out.Push(&pb.ServerFrame{ReplyTo: f.Id, Body: &pb.ServerFrame_Pong{Pong: &pb.Pong{}}})
		return
	case *pb.ClientFrame_Join:
		if c.room != "" || c.broadcast != "" {
			c.fail(f.Id, "already_joined", "This connection is already in a room.")
			return
		}
		if b.Join == nil || !persistence.ValidID(b.Join.RoomId) {
			c.fail(f.Id, "invalid", "Room id must be 1-64 letters, digits, '-' or '_'.")
			return
		}
		answered := c.join.asked()
		reply, err := c.srv.node.Tell(ctx, b.Join.RoomId, &pb.Join{Session: c.pid, Request: b.Join, FrameId: f.Id})
		answered()
		if c.answer(f.Id, reply, err) {
			c.joined()
			c.room = b.Join.RoomId
			c.joinedRoom.Store(c.room)
		}
		return
	case *pb.ClientFrame_Chat:
		msg = &pb.PostChat{Session: c.pid, Text: b.Chat.GetText(), FrameId: f.Id}
	case *pb.ClientFrame_History:
		msg = &pb.GetHistory{Session: c.pid, Request: b.History, FrameId: f.Id}
	case *pb.ClientFrame_Call:
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_Call{Call: b.Call}}
	case *pb.ClientFrame_MediaState:
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_MediaState{MediaState: b.MediaState}}
	case *pb.ClientFrame_PublishOffer:
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_PublishOffer{PublishOffer: b.PublishOffer}}
	case *pb.ClientFrame_SubscribeAnswer:
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_SubscribeAnswer{SubscribeAnswer: b.SubscribeAnswer}}
	case *pb.ClientFrame_Ice:
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_Ice{Ice: b.Ice}}
	case *pb.ClientFrame_RestartIce:
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_RestartIce{RestartIce: b.RestartIce}}
	case *pb.ClientFrame_Recording:
		if b.Recording == nil {
			c.fail(f.Id, "invalid", "Say whether to start or stop recording.")
			return
		}
		msg = &pb.CallRequest{Session: c.pid, FrameId: f.Id, Body: &pb.CallRequest_Recording{Recording: b.Recording}}
	case *pb.ClientFrame_Wb:
		c.whiteboard(ctx, f.Id, b.Wb)
		return
	default:
		c.fail(f.Id, "bad_frame", "Frame has no known message type.")
		return
	}
	if c.room == "" {
		c.fail(f.Id, "not_joined", "Join a room first.")
		return
	}
	reply, err := c.srv.node.Tell(ctx, c.room, msg)
	if c.answer(f.Id, reply, err) {
		switch f.Body.(type) {
		case *pb.ClientFrame_Call, *pb.ClientFrame_MediaState, *pb.ClientFrame_RestartIce, *pb.ClientFrame_Recording:
			c.out.Push(&pb.ServerFrame{ReplyTo: f.Id, Body: &pb.ServerFrame_Ack{Ack: &pb.Ack{}}})
		}
	}
}

// answer turns a grain's reply into an error frame when it refused; it reports
// whether the request was accepted.
func (c *connection) answer(id string, reply *pb.RoomReply, err error) bool {
	if err != nil {
		c.fail(id, "unavailable", "The room did not answer in time; please retry.")
		return false
	}
	if reply.Error != nil {
		c.fail(id, reply.Error.Code, reply.Error.Message)
		return false
	}
	return true
}
