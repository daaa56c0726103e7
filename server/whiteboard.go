package server

import (
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"liveroom/actors/whiteboard"
	"liveroom/config"
	"liveroom/metrics"
	"liveroom/pdfrender"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/web"
)

func whiteboardDeps(cfg config.Config, store persistence.Store, log *zap.Logger, m *metrics.Metrics) whiteboard.Deps {
	s := whiteboard.DefaultSettings()
	s.SnapshotEvery = uint64(cfg.WhiteboardSnapshotOps)
	s.IdleTimeout = time.Duration(cfg.RoomIdleSeconds) * time.Second
	s.RequestTimeout = time.Duration(cfg.RequestTimeoutMs) * time.Millisecond
	s.OpsPerSecond, s.OpsBurst = cfg.RatePerSecond, cfg.RateBurst
	s.Default = &pb.WhiteboardSettings{Enabled: cfg.Whiteboard, Visitors: cfg.WhiteboardVisitors}
	return whiteboard.Deps{Store: store, Log: log.Named("whiteboard"), Metrics: m, Settings: s}
}

func webWhiteboardDeps(cfg config.Config, pdfs *pdfrender.Renderer) web.WhiteboardDeps {
	return web.WhiteboardDeps{ImageBytes: cfg.WhiteboardImageBytes, PDFBytes: cfg.WhiteboardPDFBytes,
		PDFPages: cfg.WhiteboardPDFPages, PDFTimeout: time.Duration(cfg.WhiteboardPDFSeconds) * time.Second,
		Renderer: pdfs}
}

// pdfCacheDir is where the compiled PDF engine is kept between runs.
func pdfCacheDir(cfg config.Config) string {
	if cfg.WhiteboardPDFCache != "" {
		return cfg.WhiteboardPDFCache
	}
	return filepath.Join(cfg.DataDir, "cache", "pdfium")
}
