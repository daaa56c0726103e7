package server

import (
	"time"

	"go.uber.org/zap"

	"liveroom/actors/broadcast"
	"liveroom/config"
	"liveroom/media"
	"liveroom/metrics"
	"liveroom/persistence"
)

// broadcastDeps is what broadcast grains need; nil switches broadcasts off.
func broadcastDeps(cfg config.Config, store persistence.Store, engine *media.Engine, m *metrics.Metrics, log *zap.Logger) *broadcast.Deps {
	if !cfg.Broadcasts {
		return nil
	}
	return &broadcast.Deps{Store: store, Log: log.Named("broadcast"), Media: engine,
		Viewers: broadcast.NewViewersGauge(m.Registry),
		Settings: broadcast.Settings{
			MaxViewers: cfg.BroadcastMaxViewers, MaxNodeViewers: cfg.BroadcastNodeViewers,
			MaxChatChars: cfg.MaxChatChars, MaxNameChars: cfg.MaxNameChars, HistoryPage: cfg.HistoryPage,
			IdleTimeout: time.Duration(cfg.RoomIdleSeconds) * time.Second,
			ResumeGrace: time.Duration(cfg.ResumeGraceSeconds) * time.Second,
		}}
}
