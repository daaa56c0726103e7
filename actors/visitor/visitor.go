// Package visitor is the visitor session grain: one virtual actor per
// visitor of the sites that carry the contact button, keyed by the
// first-party cookie id the button sets on the site. It keeps what the
// agent is shown of a visitor across page loads, tabs and nodes: the pages
// (with when each opened and closed), the time on the site, the name the
// visitor gave and the call requests it made.
//
// Its state lives in the store (Pebble or PostgreSQL) under the grain's
// fence, like room and agent grains: a re-activation elsewhere reads it back
// and watches the open pages' sockets again; an older activation's write
// fails and it stops. It sends requests to no grain.
package visitor

import (
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
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Kind is the cluster kind name of visitor session grains.
const Kind = "visitor"

// DefaultForget is how long an unused visitor session is kept by default.
const DefaultForget = 30 * 24 * time.Hour

// Deps are shared by every visitor session grain on a node.
type Deps struct {
	Store persistence.Store
	Log   *zap.Logger
	// MaxPages page loads and MaxRequests call requests are kept, the
	// latest; ShowPages of the pages are shown to agents.
	MaxPages, MaxRequests, ShowPages int
	// Forget is how long a session nobody used is kept: one seen longer
	// ago starts afresh.
	Forget time.Duration
	// IdleTimeout is how long a grain with no open page stays in memory.
	IdleTimeout  time.Duration
	MaxNameChars int
}

func (d *Deps) defaults() {
	if d.MaxPages == 0 {
		d.MaxPages = 30
	}
	if d.MaxRequests == 0 {
		d.MaxRequests = 20
	}
	if d.ShowPages == 0 {
		d.ShowPages = 10
	}
	if d.Forget == 0 {
		d.Forget = DefaultForget
	}
	if d.IdleTimeout == 0 {
		d.IdleTimeout = time.Minute
	}
	if d.MaxNameChars == 0 {
		d.MaxNameChars = 64
	}
}

// ValidKey reports whether key can name a visitor session: 16 to 64
// letters, digits, '-' or '_' (button.js makes 22 random ones).
func ValidKey(key string) bool { return len(key) >= 16 && persistence.ValidID(key) }

// NewKind returns the cluster kind that activates visitor session grains.
func NewKind(d Deps) *cluster.Kind {
	d.defaults()
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{deps: d}
	}))
}

type grain struct {
	deps    Deps
	key     string
	log     *zap.Logger
	rec     *pb.VisitorSessionRecord // nil until the first page
	loadErr error

	// claim is this activation's fence on the record (persistence.Claim).
	claim *persistence.Claim
}

var errInternal = &pb.Error{Code: "internal", Message: "The server could not store that; please try again."}

func (g *grain) Receive(ctx actor.Context) {
	defer func() {
		if g.claim != nil && g.claim.Lost() {
			ctx.Stop(ctx.Self())
		}
	}()
	switch msg := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.key = msg.Identity.Identity
		g.log = g.deps.Log.With(zap.String("visitor", g.key))
		g.claim = persistence.NewClaim(g.deps.Store, persistence.FenceKey(Kind, g.key), func(gen uint64) {
			g.log.Warn("a newer activation of this visitor session took over; stopping this one", zap.Uint64("generation", gen))
		})
		g.load(ctx)
		g.armIdle(ctx)
	case *actor.ReceiveTimeout:
		if g.openPages() == 0 {
			ctx.Poison(ctx.Self())
		}
	case *actor.Terminated:
		g.closed(msg.Who)
		g.armIdle(ctx)
	case *pb.VisitorSessionOpen:
		ctx.Respond(g.open(ctx, msg))
		g.armIdle(ctx)
	case *pb.VisitorSessionRequest:
		ctx.Respond(g.request(msg))
	case *pb.VisitorSessionGet:
		if g.loadErr != nil {
			ctx.Respond(&pb.VisitorSessionReply{Error: errInternal})
			return
		}
		ctx.Respond(&pb.VisitorSessionReply{Summary: g.summary()})
	}
}

func (g *grain) read() (*pb.VisitorSessionRecord, error) {
	rec := &pb.VisitorSessionRecord{}
	found, err := persistence.GetRecord(g.deps.Store, persistence.VisitorSessionKey(g.key), rec)
	if err != nil || !found {
		return nil, err
	}
	if time.Since(time.UnixMilli(rec.LastSeenMs)) > g.deps.Forget {
		return nil, nil // long unused: start afresh (the next write replaces it)
	}
	return rec, nil
}

// load reads the session; one that exists is fenced at once and its open
// pages' sockets are watched again (those that closed meanwhile, or whose
// node is gone, end with Terminated as usual).
func (g *grain) load(ctx actor.Context) {
	rec, err := g.read()
	if err == nil && rec != nil {
		if _, err = g.claim.Ensure(); err == nil {
			rec, err = g.read()
		}
	}
	if err != nil {
		g.loadErr = err
		g.log.Error("load visitor session", zap.Error(err))
		return
	}
	g.rec = rec
	for _, p := range g.rec.GetPages() {
		if p.Session != nil && p.Page.GetClosedMs() == 0 {
			ctx.Watch(p.Session)
		}
	}
}

// save writes the record under the fence, taking the fence first when this
// activation has not written yet (then the stored record wins over what
// this activation had: another one may have written since).
func (g *grain) save(change func(rec *pb.VisitorSessionRecord)) error {
	taken, err := g.claim.Ensure()
	if err != nil {
		return err
	}
	if taken {
		rec, err := g.read()
		if err != nil {
			g.claim.Forget()
			return err
		}
		if rec != nil {
			g.rec = rec
		}
	}
	next := &pb.VisitorSessionRecord{}
	if g.rec != nil {
		next = proto.Clone(g.rec).(*pb.VisitorSessionRecord)
	}
	change(next)
	raw, err := proto.Marshal(next)
	if err != nil {
		return err
	}
	var b persistence.Batch
	b.Set(persistence.VisitorSessionKey(g.key), raw)
	if err := g.claim.Apply(&b); err != nil {
		return err
	}
	g.rec = next
	return nil
}

func (g *grain) openPages() int {
	n := 0
	for _, p := range g.rec.GetPages() {
		if p.Page.GetClosedMs() == 0 {
			n++
		}
	}
	return n
}

func (g *grain) armIdle(ctx actor.Context) {
	if g.openPages() == 0 {
		ctx.SetReceiveTimeout(g.deps.IdleTimeout)
	} else {
		ctx.CancelReceiveTimeout()
	}
}

func pidKey(p *actor.PID) string { return p.GetAddress() + "/" + p.GetId() }

func (g *grain) open(ctx actor.Context, msg *pb.VisitorSessionOpen) *pb.VisitorSessionReply {
	if g.loadErr != nil {
		return &pb.VisitorSessionReply{Error: errInternal}
	}
	if msg.Session == nil || !persistence.ValidID(msg.AgentId) {
		return &pb.VisitorSessionReply{Error: &pb.Error{Code: "invalid", Message: "no session or agent"}}
	}
	for _, p := range g.rec.GetPages() {
		if p.Page.GetClosedMs() == 0 && pidKey(p.Session) == pidKey(msg.Session) {
			return &pb.VisitorSessionReply{Summary: g.summary()} // said twice
		}
	}
	now := time.Now().UnixMilli()
	page := &pb.VisitorPage{PageTitle: cleanText(msg.PageTitle, 200), OpenedMs: now, AgentId: msg.AgentId}
	if u, ok := room.CleanHTTPURL(msg.PageUrl); ok {
		page.PageUrl = u
	}
	name, named := room.CleanName(msg.Name, g.deps.MaxNameChars)
	var dropped []*actor.PID
	err := g.save(func(rec *pb.VisitorSessionRecord) {
		dropped = nil
		if rec.FirstSeenMs == 0 {
			rec.FirstSeenMs = now
		}
		rec.LastSeenMs = now
		if named {
			rec.Name = name
		}
		if countOpen(rec) == 0 {
			rec.ActiveSinceMs = now
		}
		rec.PageLoads++
		rec.Pages = append(rec.Pages, &pb.VisitorPageView{Page: page, Session: msg.Session})
		// Keep the latest pages: drop the oldest closed ones first, then
		// (a visitor with very many tabs) the oldest open ones.
		for len(rec.Pages) > g.deps.MaxPages {
			i := 0
			for j, p := range rec.Pages {
				if p.Page.GetClosedMs() != 0 {
					i = j
					break
				}
			}
			if p := rec.Pages[i]; p.Page.GetClosedMs() == 0 && p.Session != nil {
				dropped = append(dropped, p.Session)
			}
			rec.Pages = append(rec.Pages[:i], rec.Pages[i+1:]...)
		}
	})
	if err != nil {
		if !g.claim.Lost() {
			g.log.Warn("store visitor session", zap.Error(err))
		}
		return &pb.VisitorSessionReply{Error: errInternal}
	}
	for _, p := range dropped {
		ctx.Unwatch(p)
	}
	ctx.Watch(msg.Session)
	return &pb.VisitorSessionReply{Summary: g.summary()}
}

func countOpen(rec *pb.VisitorSessionRecord) int {
	n := 0
	for _, p := range rec.Pages {
		if p.Page.GetClosedMs() == 0 {
			n++
		}
	}
	return n
}

// closed counts the page of a socket that ended as closed.
func (g *grain) closed(pid *actor.PID) {
	if pid == nil || g.rec == nil {
		return
	}
	key := pidKey(pid)
	found := false
	for _, p := range g.rec.Pages {
		if p.Page.GetClosedMs() == 0 && pidKey(p.Session) == key {
			found = true
		}
	}
	if !found {
		return
	}
	now := time.Now().UnixMilli()
	err := g.save(func(rec *pb.VisitorSessionRecord) {
		for _, p := range rec.Pages {
			if p.Page.GetClosedMs() == 0 && pidKey(p.Session) == key {
				p.Page.ClosedMs, p.Session = now, nil
			}
		}
		rec.LastSeenMs = now
		if countOpen(rec) == 0 && rec.ActiveSinceMs != 0 {
			rec.TimeOnSiteMs += max(0, now-rec.ActiveSinceMs)
			rec.ActiveSinceMs = 0
		}
	})
	if err != nil && !g.claim.Lost() {
		g.log.Warn("store visitor session", zap.Error(err))
	}
}

func (g *grain) request(msg *pb.VisitorSessionRequest) *pb.VisitorSessionReply {
	if g.loadErr != nil {
		return &pb.VisitorSessionReply{Error: errInternal}
	}
	if !persistence.ValidID(msg.AgentId) {
		return &pb.VisitorSessionReply{Error: &pb.Error{Code: "invalid", Message: "no agent"}}
	}
	now := time.Now().UnixMilli()
	req := &pb.VisitorPastRequest{AgentId: msg.AgentId, Kind: msg.Kind, AtMs: now}
	if u, ok := room.CleanHTTPURL(msg.PageUrl); ok {
		req.PageUrl = u
	}
	name, named := room.CleanName(msg.Name, g.deps.MaxNameChars)
	err := g.save(func(rec *pb.VisitorSessionRecord) {
		if rec.FirstSeenMs == 0 {
			rec.FirstSeenMs = now
		}
		rec.LastSeenMs = now
		if named {
			rec.Name = name
		}
		rec.Requests = append(rec.Requests, req)
		if n := len(rec.Requests) - g.deps.MaxRequests; n > 0 {
			rec.Requests = rec.Requests[n:]
		}
	})
	if err != nil {
		if !g.claim.Lost() {
			g.log.Warn("store visitor session", zap.Error(err))
		}
		return &pb.VisitorSessionReply{Error: errInternal}
	}
	return &pb.VisitorSessionReply{Summary: g.summary()}
}

// summary is what agents are shown: the latest pages, the requests, and
// the time with at least one page open.
func (g *grain) summary() *pb.VisitorSessionSummary {
	now := time.Now().UnixMilli()
	s := &pb.VisitorSessionSummary{NowMs: now}
	rec := g.rec
	if rec == nil {
		return s
	}
	s.Name, s.FirstSeenMs, s.PageLoads, s.TimeOnSiteMs = rec.Name, rec.FirstSeenMs, rec.PageLoads, rec.TimeOnSiteMs
	if rec.ActiveSinceMs != 0 {
		s.TimeOnSiteMs += max(0, now-rec.ActiveSinceMs)
	}
	pages := rec.Pages
	if n := len(pages) - g.deps.ShowPages; n > 0 {
		pages = pages[n:]
	}
	for _, p := range pages {
		s.Pages = append(s.Pages, proto.Clone(p.Page).(*pb.VisitorPage))
	}
	for _, r := range rec.Requests {
		s.Requests = append(s.Requests, proto.Clone(r).(*pb.VisitorPastRequest))
	}
	return s
}

// cleanText keeps printable characters and cuts at max characters.
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

// Sweep deletes the sessions nobody used for longer than forget (30 days
// when 0), with their fences, and returns how many it deleted. Each delete
// requires the record to be unchanged since it was read, so a visitor who
// comes back meanwhile keeps the session; any node may sweep at any time.
func Sweep(s persistence.Store, forget time.Duration, now time.Time) (int, error) {
	if forget <= 0 {
		forget = DefaultForget
	}
	cutoff := now.Add(-forget).UnixMilli()
	type old struct{ key, raw []byte }
	var stale []old
	prefix := persistence.VisitorSessionKey("")
	var derr error
	err := s.Scan(prefix, persistence.PrefixEnd(prefix), false, 0, func(k, v []byte) bool {
		rec := &pb.VisitorSessionRecord{}
		if derr = proto.Unmarshal(v, rec); derr != nil {
			return false
		}
		if rec.LastSeenMs < cutoff {
			stale = append(stale, old{key: append([]byte(nil), k...), raw: append([]byte(nil), v...)})
		}
		return true
	})
	if err == nil {
		err = derr
	}
	deleted := 0
	for _, o := range stale {
		if err != nil {
			break
		}
		var b persistence.Batch
		b.Require(o.key, o.raw)
		b.Delete(o.key)
		b.Delete(persistence.FenceKey(Kind, string(o.key[len(prefix):])))
		switch e := s.Apply(&b); {
		case e == nil:
			deleted++
		case !errors.Is(e, persistence.ErrConflict):
			err = e
		}
	}
	return deleted, err
}
