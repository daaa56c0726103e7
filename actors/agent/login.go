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
	"liveroom/actors/passcheck"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// maxSessions bounds the logins one agent keeps; the oldest goes first.
const maxSessions = 20

// dummyHashes holds, per bcrypt cost, the hash compared against when the
// agent does not exist, so a wrong agent id takes as long as a wrong
// password and does not reveal which ids exist. It must be made at the
// cost real hashes have (password_cost): a dearer dummy gives unknown ids
// away just as a cheaper one would, and on a busy machine outlasts the
// request. Made on first use, not at start-up.
var dummyHashes sync.Map // int -> func() []byte

func dummyHash(cost int) []byte {
	f, _ := dummyHashes.LoadOrStore(cost, sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("no such agent"), cost)
		return h
	}))
	return f.(func() []byte)()
}

var errWrongLogin = errorf("wrong_login", "The agent id or the password is not correct.")

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
	addr := msg.ClientAddr
	if e := g.logins.begin(addr, time.Now(), g.deps.Settings); e != nil {
		ctx.Respond(&pb.AgentLoginResult{Error: e})
		return
	}
	var hash []byte
	if g.rec != nil {
		hash = []byte(g.rec.PasswordHash)
	}
	cost := g.deps.Settings.PasswordCost
	stored := func() []byte {
		if hash == nil {
			return dummyHash(cost) // an unknown id costs what a wrong password costs
		}
		return hash
	}
	passcheck.Check(ctx, stored, []byte(msg.Password), func(ok bool) {
		passed := ok && g.rec != nil && !g.rec.Disabled
		if passed && len(g.rec.TotpSecret) > 0 && msg.Code == "" {
			ctx.Respond(&pb.AgentLoginResult{Error: errTotpRequired})
			return
		}
		if !passed || !g.checkCode(msg.Code) {
			if e := g.logins.failed(addr, time.Now(), g.deps.Settings); e != nil {
				g.log.Warn("agent login locked after failed logins", zap.String("ip", addr))
				ctx.Respond(&pb.AgentLoginResult{Error: e})
				return
			}
			ctx.Respond(&pb.AgentLoginResult{Error: errWrongLogin})
			return
		}
		g.logins.succeeded(addr)
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
	if s == nil || g.rec.Disabled || s.ExpiresAtMs <= time.Now().UnixMilli() {
		return &pb.AgentWho{Error: errUnauthorized}
	}
	return &pb.AgentWho{Id: g.id, Name: g.rec.Name, Email: g.rec.Email, Role: g.rec.Role, Totp: len(g.rec.TotpSecret) > 0}
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
