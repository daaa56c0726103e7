package agent

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Roles an account may have in the admin panel; "" is a plain agent.
const (
	RoleAdmin      = "admin"
	RoleSupervisor = "supervisor"
)

// ValidRole reports whether r is a role an account may have.
func ValidRole(r string) bool { return r == "" || r == RoleAdmin || r == RoleSupervisor }

var errExists = errorf("agent_exists", "An account with this id exists already.")

// adminSave creates or changes the account. Changes go through the grain so
// that its copy of the record (used by logins) is never stale; a new password
// or disabling the account ends every login.
func (g *grain) adminSave(ctx actor.Context, msg *pb.AgentAdminSave) *pb.AgentAdminResult {
	if g.loadErr != nil {
		return &pb.AgentAdminResult{Error: errInternal}
	}
	if !ValidRole(msg.Role) {
		return &pb.AgentAdminResult{Error: errorf("invalid", "Role must be empty, admin or supervisor.")}
	}
	if msg.Create && g.rec != nil {
		return &pb.AgentAdminResult{Error: errExists}
	}
	if !msg.Create && g.rec == nil {
		return &pb.AgentAdminResult{Error: errNoAgent}
	}
	if msg.Create && msg.PasswordHash == "" {
		return &pb.AgentAdminResult{Error: errorf("invalid", "A new account needs a password.")}
	}
	rec := &pb.AgentRecord{Id: g.id, CreatedAtMs: time.Now().UnixMilli()}
	if g.rec != nil {
		rec = proto.Clone(g.rec).(*pb.AgentRecord)
	}
	rec.Name, rec.Email, rec.Role, rec.Disabled = msg.Name, msg.Email, msg.Role, msg.Disabled
	endLogins := msg.Disabled || msg.PasswordHash != ""
	if msg.PasswordHash != "" {
		rec.PasswordHash = msg.PasswordHash
	}
	if msg.ClearTotp {
		rec.TotpSecret, rec.TotpLastStep = nil, 0
	}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return &pb.AgentAdminResult{Error: errInternal}
	}
	var b persistence.Batch
	b.Set(persistence.AgentKey(g.id), raw)
	if endLogins {
		for h := range g.sessions {
			b.Delete(persistence.AgentSessionKey(g.id, h))
		}
	}
	if err := g.deps.Store.Apply(&b); err != nil {
		g.log.Error("save agent", zap.Error(err))
		return &pb.AgentAdminResult{Error: errInternal}
	}
	if g.rec == nil {
		g.sessions = map[string]*pb.AgentSession{}
		g.rooms = map[string]*pb.AgentRoom{}
	}
	if endLogins {
		g.sessions = map[string]*pb.AgentSession{}
		g.endPages(ctx)
	}
	g.rec = rec
	g.logins.forgive()
	g.log.Info("account saved by admin", zap.Bool("created", msg.Create), zap.String("role", rec.Role),
		zap.Bool("disabled", rec.Disabled))
	return g.adminStatus()
}

// adminRemove deletes the account, its logins and its API keys; its rooms
// stay (an admin deletes those on their own).
func (g *grain) adminRemove(ctx actor.Context) *pb.AgentAdminResult {
	if g.rec == nil {
		return &pb.AgentAdminResult{Error: g.missing()}
	}
	var b persistence.Batch
	b.Delete(persistence.AgentKey(g.id))
	for h := range g.sessions {
		b.Delete(persistence.AgentSessionKey(g.id, h))
	}
	err := scan(g.deps.Store, persistence.APIKeyPrefix(), func(k, v []byte) error {
		rec := &pb.ApiKeyRecord{}
		if err := proto.Unmarshal(v, rec); err != nil {
			return err
		}
		if rec.AgentId == g.id {
			b.Delete(append([]byte(nil), k...))
		}
		return nil
	})
	if err == nil {
		err = scan(g.deps.Store, persistence.AgentPresencePrefix(g.id), func(k, _ []byte) error {
			b.Delete(append([]byte(nil), k...))
			return nil
		})
	}
	if err == nil {
		err = g.deps.Store.Apply(&b)
	}
	if err != nil {
		g.log.Error("remove agent", zap.Error(err))
		return &pb.AgentAdminResult{Error: errInternal}
	}
	g.rec, g.sessions, g.rooms = nil, nil, nil
	g.endPages(ctx)
	g.log.Info("account removed by admin")
	return &pb.AgentAdminResult{}
}

// adminStatus is the account and what it is doing now.
func (g *grain) adminStatus() *pb.AgentAdminResult {
	if g.rec == nil {
		return &pb.AgentAdminResult{Error: g.missing()}
	}
	rec := proto.Clone(g.rec).(*pb.AgentRecord)
	rec.PasswordHash, rec.TotpSecret = "", nil
	return &pb.AgentAdminResult{Record: rec, Presence: g.presenceFor(""), Pages: int32(len(g.sockets)),
		Visitors: int32(len(g.visitors)), Requests: int32(len(g.queue))}
}

// endPages sends every open agent page of the account out; the socket
// closes with "log in again" and the grain hears it go.
func (g *grain) endPages(ctx actor.Context) {
	out := &pb.AgentServerFrame{Body: &pb.AgentServerFrame_Error{Error: errUnauthorized}}
	for _, s := range g.sockets {
		ctx.Send(s.pid, out)
	}
}
