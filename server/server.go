// Package server wires one Liveroom node together: store, actor system and
// cluster, WebSocket endpoint and HTTP handlers, and takes them down in order.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/config"
	"liveroom/internal/memtune"
	"liveroom/media"
	"liveroom/metrics"
	"liveroom/pdfrender"
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
func newMediaEngine(cfg config.Config, listener net.Listener, m *metrics.Metrics, log *zap.Logger) (*media.Engine, error) {
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
		Recording:        recordingConfig(cfg, m, log),
	}, log.Named("media"))
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg config.Config) error {
	log, err := NewLogger(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	// The tuner lives as long as this Run (a node the cluster evicted runs
	// again in the same process).
	memCtx, stopMem := context.WithCancel(ctx)
	defer stopMem()
	memtune.Start(memCtx, memtune.Options{LimitBytes: int64(cfg.MemoryLimitMB) << 20, ReleaseWhenQuiet: cfg.ReleaseIdleMemory}, log.Named("memory"))

	// A missing or bad certificate is reported before anything starts, not
	// after "serving" was logged.
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	m := metrics.New()
	if cfg.Store == "pebble" && cfg.ClusterProvider != "single" {
		log.Warn("a cluster with store=pebble keeps each node's rooms, agents and files apart; use store=postgres")
	}
	store, err := OpenStore(cfg, log, m.ObserveStore)
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
	engine, err := newMediaEngine(cfg, listener, m, log)
	if err != nil {
		_ = listener.Close()
		return err
	}
	defer engine.Close()
	m.WatchForwarding(engine.ForwardStats)
	m.WatchSimulcast(engine.SimulcastSwitches)
	events, stopEvents := startWebhooks(cfg, store, log)
	defer stopEvents()
	markInterruptedRecordings(ctx, cfg, engine.RecordingConfig(), store, events, log)
	go sweepUnsavedRecordings(ctx, cfg, store, log)
	go sweepVisitorSessions(ctx, store, log.Named("visitor"))
	node, err := actors.StartNode(actors.NodeConfig{
		ClusterName: cfg.ClusterName, Host: cfg.ClusterHost, Port: cfg.ClusterPort,
		Provider: cfg.ClusterProvider, Peers: cfg.ClusterPeers, AutoPort: cfg.ClusterAutoPort, EtcdEndpoints: cfg.EtcdEndpoints,
		RequestTimeout: time.Duration(cfg.RequestTimeoutMs) * time.Millisecond, Metrics: m,
		Room: room.Deps{Store: store, Signer: signer, Log: log.Named("room"), Metrics: m, Settings: room.Settings{
			MaxMembers: cfg.RoomMaxMembers, MaxChatChars: cfg.MaxChatChars, MaxNameChars: cfg.MaxNameChars,
			HistoryPage: cfg.HistoryPage, IdleTimeout: time.Duration(cfg.RoomIdleSeconds) * time.Second,
			ResumeGrace: time.Duration(cfg.ResumeGraceSeconds) * time.Second,
			TokenTTL:    12 * time.Hour, PasswordCost: cfg.PasswordCost, EntryForm: entryFormDefaults(cfg),
			Recording: recordingDefaults(cfg), RecordingNode: recordingNode(cfg),
			Whiteboard: &pb.WhiteboardSettings{Enabled: cfg.Whiteboard, Visitors: cfg.WhiteboardVisitors},
		}, Media: engine, Events: events},
		Whiteboard: whiteboardDeps(cfg, store, log, m),
		Agent:      agentDeps(cfg, store, log, events),
		Broadcast:  broadcastDeps(cfg, store, engine, m, log),
	}, log)
	if err != nil {
		_ = listener.Close()
		return err
	}
	defer node.Stop()

	admission := transport.NewAdmission(cfg.MaxSocketsPerIP, time.Duration(cfg.JoinTimeoutSeconds)*time.Second)
	pdfs := pdfrender.New(pdfCacheDir(cfg), log.Named("pdf"))
	defer pdfs.Close()
	ws := transport.NewServer(node, transport.Limits{
		MaxFrameBytes: cfg.MaxFrameBytes, QueueFrames: cfg.SessionQueue,
		RatePerSecond: cfg.RatePerSecond, RateBurst: cfg.RateBurst,
		PingInterval: time.Duration(cfg.PingSeconds) * time.Second,
		Admission:    admission,
	}, log.Named("ws"), m)
	presence := transport.NewPresence(node, transport.Limits{
		MaxFrameBytes: cfg.MaxFrameBytes, QueueFrames: cfg.SessionQueue,
		RatePerSecond: cfg.RatePerSecond, RateBurst: cfg.RateBurst,
		Admission: admission,
	}, cfg.ButtonOrigins, log.Named("presence"), m)
	stopAdmin := make(chan struct{})
	defer close(stopAdmin)
	handler := web.New(web.Deps{
		Node: node, Store: store, Signer: signer, Metrics: m, Log: log.Named("web"), WebSocket: ws,
		FilesDir: cfg.FilesPath(), MaxUploadBytes: cfg.MaxUploadBytes, PublicURL: cfg.PublicURL,
		ClosedRooms: !cfg.OpenRooms, EmbedOrigins: cfg.EmbedOrigins, RecordingsDir: recordingsDir(cfg),
		RecordingDefaults: recordingDefaults(cfg),
		Agents:            webAgentDeps(cfg, presence),
		Admin:             startAdmin(cfg, node, m, events, stopAdmin),
		BodyStall:         time.Duration(cfg.BodyStallSeconds) * time.Second, Stopping: ctx.Done(),
		RoomsPerMinute: cfg.RoomsPerIPPerMinute, RoomsPerDay: cfg.RoomsPerIPPerDay,
		Whiteboard: webWhiteboardDeps(cfg, pdfs),
		Broadcasts: cfg.Broadcasts,
	})
	httpSrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: time.Duration(cfg.HTTPIdleSeconds) * time.Second, TLSConfig: tlsConfig,
		ErrorLog: zap.NewStdLog(log.Named("http"))}

	serveErr := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			serveErr <- httpSrv.ServeTLS(listener, "", "")
		} else {
			serveErr <- httpSrv.Serve(listener)
		}
	}()
	log.Info("liveroom serving", zap.String("addr", listener.Addr().String()),
		zap.String("data_dir", cfg.DataDir), zap.String("cluster", cfg.ClusterProvider))

	var result error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-node.Evicted():
		log.Error("the cluster dropped this node (paused or cut off longer than its membership lease); rejoining as a new member")
		result = ErrEvicted
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws.Shutdown(shutdownCtx)
	presence.Shutdown(shutdownCtx)
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("http shutdown", zap.Error(err))
	}
	return result
}

// ErrEvicted is returned by Run when the cluster dropped this node: the caller
// runs it again to rejoin as a new member.
var ErrEvicted = errors.New("dropped from the cluster")
