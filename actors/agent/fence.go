package agent

import (
	"errors"

	"go.uber.org/zap"

	"liveroom/persistence"
)

// Like a room, an agent's grain can briefly run twice during a topology
// change. The activation of an existing agent takes the next generation of
// its fence before reading its sessions and rooms, and writes only under it;
// once a newer activation took over, this one's writes fail and it stops
// after the message at hand (see Receive).

func (g *grain) takeFence() error {
	f, err := persistence.TakeFence(g.deps.Store, persistence.FenceKey(Kind, g.id))
	if err == nil {
		g.fence = f
	}
	return err
}

// apply writes b under the fence (unknown agents have none and no records).
func (g *grain) apply(b *persistence.Batch) error {
	if g.fence == nil {
		return g.deps.Store.Apply(b)
	}
	err := g.fence.Apply(b)
	if errors.Is(err, persistence.ErrConflict) && !g.superseded {
		g.superseded = true
		if m := g.deps.Metrics; m != nil {
			m.Superseded.WithLabelValues(Kind).Inc()
		}
		g.log.Warn("a newer activation of this agent took over; stopping this one",
			zap.Uint64("generation", g.fence.Generation()))
	}
	return err
}

func (g *grain) set(key, value []byte) error {
	var b persistence.Batch
	b.Set(key, value)
	return g.apply(&b)
}

func (g *grain) del(key []byte) error {
	var b persistence.Batch
	b.Delete(key)
	return g.apply(&b)
}
