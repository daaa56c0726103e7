package agent

import (
	"encoding/hex"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// maxSessions bounds the logins one agent keeps; the oldest goes first.
const maxSessions = 20

// dummyHash is compared against when the agent does not exist, so a wrong
// agent id takes as long as a wrong password and does not reveal which ids
// exist. Made on first use, not at start-up.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such agent"), bcrypt.DefaultCost)
	return h
})

var errWrongLogin = errorf("wrong_login", "The agent id or the password is not correct.")

type passwordChecked struct{ ok bool }

func (g *grain) recentFailures(now time.Time) int {
	kept := g.failures[:0]
	for _, t := range g.failures {
		if now.Sub(t) < g.deps.Settings.LockFor {
			kept = append(kept, t)
		}
	}
	g.failures = kept
	return len(kept)
}

func lockedError(until time.Time) *pb.Error {
	wait := "1 minute"
	if mins := int(time.Until(until).Minutes()) + 1; mins > 1 {
		wait = fmt.Sprintf("%d minutes", mins)
	}
	return errorf("account_locked", "Too many failed logins for this account. Try again in "+wait+".")
}

func (g *grain) login(ctx actor.Context, msg *pb.AgentLogin) {
	if g.loadErr != nil {
		ctx.Respond(&pb.AgentLoginResult{Error: errInternal})
		return
	}
	now := time.Now()
	if now.Before(g.lockedUntil) {
		ctx.Respond(&pb.AgentLoginResult{Error: lockedError(g.lockedUntil)})
		return
	}
	// Attempts in flight count as failures until proven otherwise, so a burst
	// of parallel guesses cannot slip past the limit.
	if g.recentFailures(now)+g.inflight >= g.deps.Settings.MaxFailures {
		ctx.Respond(&pb.AgentLoginResult{Error: errorf("rate_limited", "Too many login attempts at once; wait a moment.")})
		return
	}
	var hash []byte
	if g.rec != nil {
		hash = []byte(g.rec.PasswordHash)
	}
	missing := hash == nil
	password := []byte(msg.Password)
	if len(password) > 72 {
		password = password[:0] // bcrypt refuses longer input; such a password never matches
	}
	// bcrypt is slow on purpose: run it off the grain so presence and
	// requests keep flowing, and finish the login when it is done.
	g.inflight++
	future := actor.NewFuture(ctx.ActorSystem(), 10*time.Second)
	system := ctx.ActorSystem()
	go func() {
		if missing {
			hash = dummyHash()
		}
		ok := len(password) > 0 && bcrypt.CompareHashAndPassword(hash, password) == nil
		system.Root.Send(future.PID(), &passwordChecked{ok: ok})
	}()
	ctx.ReenterAfter(future, func(res interface{}, err error) {
		g.inflight--
		r, _ := res.(*passwordChecked)
		if err != nil || r == nil || !r.ok || g.rec == nil {
			now := time.Now()
			g.failures = append(g.failures, now)
			if g.recentFailures(now) >= g.deps.Settings.MaxFailures {
				g.lockedUntil = now.Add(g.deps.Settings.LockFor)
				g.failures = nil
				g.log.Warn("agent locked after failed logins", zap.Time("until", g.lockedUntil))
				ctx.Respond(&pb.AgentLoginResult{Error: lockedError(g.lockedUntil)})
				return
			}
			ctx.Respond(&pb.AgentLoginResult{Error: errWrongLogin})
			return
		}
		g.failures = nil
		ctx.Respond(g.newSession())
	})
}

func (g *grain) newSession() *pb.AgentLoginResult {
	now := time.Now()
	token := access.NewSecretToken(32)
	s := &pb.AgentSession{CreatedAtMs: now.UnixMilli(), ExpiresAtMs: now.Add(g.deps.Settings.SessionTTL).UnixMilli()}
	raw, err := proto.Marshal(s)
	if err != nil {
		return &pb.AgentLoginResult{Error: errInternal}
	}
	var b persistence.Batch
	hash := access.HashHex(token)
	b.Set(persistence.AgentSessionKey(g.id, hash), raw)
	drop := g.oldestSessions(len(g.sessions) + 1 - maxSessions)
	for _, h := range drop {
		b.Delete(persistence.AgentSessionKey(g.id, h))
	}
	if err := g.apply(&b); err != nil {
		g.log.Error("store session", zap.Error(err))
		return &pb.AgentLoginResult{Error: errInternal}
	}
	for _, h := range drop {
		delete(g.sessions, h)
	}
	g.sessions[hash] = s
	g.log.Info("agent logged in")
	return &pb.AgentLoginResult{Token: token, ExpiresAtMs: s.ExpiresAtMs}
}

func (g *grain) oldestSessions(n int) []string {
	if n <= 0 {
		return nil
	}
	all := make([]string, 0, len(g.sessions))
	for h := range g.sessions {
		all = append(all, h)
	}
	sort.Slice(all, func(i, j int) bool { return g.sessions[all[i]].CreatedAtMs < g.sessions[all[j]].CreatedAtMs })
	return all[:n]
}

func (g *grain) checkSession(hash []byte) *pb.AgentWho {
	if g.rec == nil {
		if g.loadErr != nil {
			return &pb.AgentWho{Error: errInternal}
		}
		return &pb.AgentWho{Error: errUnauthorized}
	}
	s := g.sessions[hex.EncodeToString(hash)]
	if s == nil || s.ExpiresAtMs <= time.Now().UnixMilli() {
		return &pb.AgentWho{Error: errUnauthorized}
	}
	return &pb.AgentWho{Id: g.id, Name: g.rec.Name, Email: g.rec.Email}
}

func (g *grain) logout(hash []byte) *pb.AgentReply {
	h := hex.EncodeToString(hash)
	if g.rec == nil || g.sessions[h] == nil {
		return &pb.AgentReply{}
	}
	if err := g.del(persistence.AgentSessionKey(g.id, h)); err != nil {
		g.log.Error("delete session", zap.Error(err))
		return &pb.AgentReply{Error: errInternal}
	}
	delete(g.sessions, h)
	return &pb.AgentReply{}
}
