// Package passcheck compares a password with its bcrypt hash off a grain's
// turn: bcrypt is slow on purpose, and a grain that waited for it would hold
// up every other message it serves.
package passcheck

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/crypto/bcrypt"
)

// checked carries the result back into the grain.
type checked struct{ ok bool }

// Check compares password with the hash that hash returns (called off the
// grain, so it may itself be slow, as a dummy hash for an unknown account
// is) and then calls done inside the grain's turn. An empty password, one
// longer than bcrypt accepts, or a check that did not finish never matches.
func Check(ctx actor.Context, hash func() []byte, password []byte, done func(ok bool)) {
	future := actor.NewFuture(ctx.ActorSystem(), 10*time.Second)
	system := ctx.ActorSystem()
	go func() {
		ok := len(password) > 0 && len(password) <= 72 && bcrypt.CompareHashAndPassword(hash(), password) == nil
		system.Root.Send(future.PID(), &checked{ok: ok})
	}()
	ctx.ReenterAfter(future, func(res interface{}, err error) {
		r, _ := res.(*checked)
		done(err == nil && r != nil && r.ok)
	})
}
