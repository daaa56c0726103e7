package agent

import (
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

var (
	errTotpRequired = errorf("totp_required", "Enter the code from your authenticator app.")
	errWrongCode    = errorf("wrong_code", "That code is not right; use the current one from your authenticator app.")
)

// checkCode verifies the second factor after the password matched; true
// when the account has none. A used code's step is stored, so the same code
// cannot log in twice.
func (g *grain) checkCode(code string) bool {
	if len(g.rec.TotpSecret) == 0 {
		return true
	}
	step, ok := access.CheckTOTP(g.rec.TotpSecret, code, time.Now(), g.rec.TotpLastStep)
	if !ok {
		return false
	}
	return g.saveTotp(g.rec.TotpSecret, step) == nil
}

func (g *grain) saveTotp(secret []byte, step int64) error {
	rec := proto.Clone(g.rec).(*pb.AgentRecord)
	rec.TotpSecret, rec.TotpLastStep = secret, step
	raw, err := proto.Marshal(rec)
	if err == nil {
		err = g.deps.Store.Set(persistence.AgentKey(g.id), raw)
	}
	if err != nil {
		g.log.Error("store second factor", zap.Error(err))
		return err
	}
	g.rec = rec
	return nil
}

// setTotp turns the second factor on or off; either needs a valid code
// (of the new secret, or of the current one).
func (g *grain) setTotp(msg *pb.AgentSetTotp) *pb.AgentAdminResult {
	if g.rec == nil {
		return &pb.AgentAdminResult{Error: g.missing()}
	}
	check, last := msg.Secret, int64(0)
	if len(msg.Secret) == 0 {
		check, last = g.rec.TotpSecret, g.rec.TotpLastStep
		if len(check) == 0 {
			return g.adminStatus()
		}
	} else if len(msg.Secret) < 16 || len(msg.Secret) > 64 {
		return &pb.AgentAdminResult{Error: errorf("invalid", "The secret must be 16 to 64 bytes.")}
	}
	step, ok := access.CheckTOTP(check, msg.Code, time.Now(), last)
	if !ok {
		return &pb.AgentAdminResult{Error: errWrongCode}
	}
	if len(msg.Secret) == 0 {
		step = 0
	}
	if err := g.saveTotp(msg.Secret, step); err != nil {
		return &pb.AgentAdminResult{Error: errInternal}
	}
	g.log.Info("second factor changed", zap.Bool("on", len(msg.Secret) > 0))
	return g.adminStatus()
}
