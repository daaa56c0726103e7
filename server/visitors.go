package server

import (
	"context"
	"time"

	"go.uber.org/zap"

	"liveroom/actors/visitor"
	"liveroom/persistence"
)

// sweepVisitorSessions deletes visitor sessions unused for 30 days, now and
// every hour until ctx ends. Every node of a cluster sweeps; the deletes are
// conditional, so they neither clash nor take a session back in use.
func sweepVisitorSessions(ctx context.Context, store persistence.Store, log *zap.Logger) {
	sweep := func() {
		n, err := visitor.Sweep(store, visitor.DefaultForget, time.Now())
		if err != nil {
			log.Warn("sweep visitor sessions", zap.Error(err))
		}
		if n > 0 {
			log.Info("unused visitor sessions deleted", zap.Int("sessions", n))
		}
	}
	repeat(ctx, time.Hour, sweep)
}

// repeat runs f now and then every period until ctx ends.
func repeat(ctx context.Context, period time.Duration, f func()) {
	f()
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}
