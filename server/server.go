// Package server wires one Liveroom node together: store, actor system and
// cluster, WebSocket endpoint and HTTP handlers, and takes them down in order.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/config"
	"liveroom/media"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/transport"
	"liveroom/web"
)

// NewLogger builds the zap logger the config asks for.
func NewLogger(cfg config.Config) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	zc := zap.NewProductionConfig()
	if cfg.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.DisableStacktrace = true
	return zc.Build()
}

// tokenSecret returns the configured secret or the one kept in the store,
// creating it on first run.
func tokenSecret(cfg config.Config, store persistence.Store) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	key := persistence.MetaKey("token-secret")
	secret, err := store.Get(key)
	if errors.Is(err, persistence.ErrNotFound) {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		err = store.Set(key, secret)
	}
	return secret, err
}

// newMediaEngine opens the call ports; the UDP port defaults to the number of
// the HTTP port so that one number (TCP and UDP) is all a firewall needs.
func newMediaEngine(cfg config.Config, listener net.Listener, log *zap.Logger) (*media.Engine, error) {
	udpPort := cfg.WebRTCUDPPort
	if udpPort == 0 {
		udpPort = listener.Addr().(*net.TCPAddr).Port
	}
	var servers []*pb.IceServer
	if len(cfg.STUNURLs) > 0 {
		servers = append(servers, &pb.IceServer{Urls: cfg.STUNURLs})
	}
	if len(cfg.TURNURLs) > 0 {
		servers = append(servers, &pb.IceServer{Urls: cfg.TURNURLs, Username: cfg.TURNUsername, Credential: cfg.TURNCredential})
	}
	return media.NewEngine(media.Config{
		UDPPort: udpPort, TCPPort: cfg.WebRTCTCPPort, PublicIPs: cfg.WebRTCPublicIPs, ICEServers: servers,
		ICETimeout:       time.Duration(cfg.ICETimeoutSeconds) * time.Second,
		MaxTracksPerPeer: cfg.MaxTracksPerPeer,
	}, log.Named("media"))
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg config.Config) error {
	log, err := NewLogger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	m := metrics.New()
	store, err := persistence.OpenPebble(filepath.Join(cfg.DataDir, "store"), log.Named("pebble"), m.ObserveStore)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close store", zap.Error(err))
		}
	}()
	secret, err := tokenSecret(cfg, store)
	if err != nil {
		return fmt.Errorf("token secret: %w", err)
	}
	signer, err := access.NewSigner(secret)
	if err != nil {
		return err
	}

	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	engine, err := newMediaEngine(cfg, listener, log)
	if err != nil {
		_ = listener.Close()
		return err
	}
	defer engine.Close()
	node, err := actors.StartNode(actors.NodeConfig{
		ClusterName: cfg.ClusterName, Host: cfg.ClusterHost, Port: cfg.ClusterPort,
		Provider: cfg.ClusterProvider, Peers: cfg.ClusterPeers, AutoPort: cfg.ClusterAutoPort,
		RequestTimeout: time.Duration(cfg.RequestTimeoutMs) * time.Millisecond,
		Room: room.Deps{Store: store, Signer: signer, Log: log.Named("room"), Metrics: m, Settings: room.Settings{
			MaxMembers: cfg.RoomMaxMembers, MaxChatChars: cfg.MaxChatChars, MaxNameChars: cfg.MaxNameChars,
			HistoryPage: cfg.HistoryPage, IdleTimeout: time.Duration(cfg.RoomIdleSeconds) * time.Second,
			ResumeGrace: time.Duration(cfg.ResumeGraceSeconds) * time.Second,
			TokenTTL:    12 * time.Hour, PasswordCost: cfg.PasswordCost, EntryForm: entryFormDefaults(cfg),
		}, Media: engine},
		Agent:     agentDeps(cfg, store, log),
		Broadcast: broadcastDeps(cfg, store, engine, m, log),
	}, log)
	if err != nil {
		_ = listener.Close()
		return err
	}
	defer node.Stop()

	ws := transport.NewServer(node, transport.Limits{
		MaxFrameBytes: cfg.MaxFrameBytes, QueueFrames: cfg.SessionQueue,
		RatePerSecond: cfg.RatePerSecond, RateBurst: cfg.RateBurst,
		PingInterval: time.Duration(cfg.PingSeconds) * time.Second,
	}, log.Named("ws"), m)
	presence := transport.NewPresence(node, transport.Limits{
		MaxFrameBytes: cfg.MaxFrameBytes, QueueFrames: cfg.SessionQueue,
		RatePerSecond: cfg.RatePerSecond, RateBurst: cfg.RateBurst,
	}, cfg.ButtonOrigins, log.Named("presence"), m)
	handler := web.New(web.Deps{
		Node: node, Store: store, Signer: signer, Metrics: m, Log: log.Named("web"), WebSocket: ws,
		FilesDir: filepath.Join(cfg.DataDir, "files"), MaxUploadBytes: cfg.MaxUploadBytes, PublicURL: cfg.PublicURL,
		ClosedRooms: !cfg.OpenRooms, EmbedOrigins: cfg.EmbedOrigins,
		Agents:     webAgentDeps(cfg, presence),
		Broadcasts: cfg.Broadcasts,
	})
	httpSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: zap.NewStdLog(log.Named("http"))}

	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			serveErr <- httpSrv.ServeTLS(listener, cfg.TLSCert, cfg.TLSKey)
		} else {
			serveErr <- httpSrv.Serve(listener)
		}
	}()
	log.Info("liveroom serving", zap.String("addr", listener.Addr().String()),
		zap.String("data_dir", cfg.DataDir), zap.String("cluster", cfg.ClusterProvider))

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws.Shutdown(shutdownCtx)
	presence.Shutdown(shutdownCtx)
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
	return nil
}
