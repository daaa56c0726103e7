package server

import (
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"liveroom/actors/agent"
	"liveroom/config"
	"liveroom/mail"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/transport"
	"liveroom/web"
	"liveroom/webhook"
)

func entryFormDefaults(cfg config.Config) *pb.EntryForm {
	if !cfg.EntryFormEnabled {
		return nil
	}
	return &pb.EntryForm{Enabled: true, Required: cfg.EntryFormRequired, Private: cfg.EntryFormPrivate,
		ShowEmail: cfg.EntryFormShowEmail, ShowAvatar: cfg.EntryFormShowAvatar}
}

func agentDeps(cfg config.Config, store persistence.Store, log *zap.Logger, events *webhook.Emitter) agent.Deps {
	return agent.Deps{Store: store, Log: log.Named("agent"), Events: events, Settings: agent.Settings{
		IdleTimeout:  time.Duration(cfg.RoomIdleSeconds) * time.Second,
		SessionTTL:   time.Duration(cfg.AgentSessionHours) * time.Hour,
		MaxFailures:  cfg.LoginMaxFailures,
		LockFor:      time.Duration(cfg.LoginLockSeconds) * time.Second,
		MaxNameChars: cfg.MaxNameChars,
		PasswordCost: cfg.PasswordCost,
		CallTimeout:  time.Duration(cfg.RequestTimeoutMs) * time.Millisecond,

		// Failures from many addresses together lock the account for everyone.
		MaxAccountFailures: cfg.LoginAccountMaxFailures,
	}}
}

func webAgentDeps(cfg config.Config, presence *transport.Presence) web.AgentDeps {
	return web.AgentDeps{
		Mail: mail.NewSender(mail.Config{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername,
			Password: cfg.SMTPPassword, TLS: cfg.SMTPTLS, Timeout: time.Duration(cfg.SMTPTimeoutMs) * time.Millisecond}),
		VisitorSocket:  http.HandlerFunc(presence.Visitor),
		AgentSocket:    http.HandlerFunc(presence.Agent),
		OriginAllowed:  presence.OriginAllowed,
		SessionTTL:     time.Duration(cfg.AgentSessionHours) * time.Hour,
		LoginPerMinute: cfg.LoginPerMinute,
		OfflinePerHour: cfg.OfflinePerHour,
		ShortURLs:      cfg.ShortURLs,
		SecureCookies:  cfg.TLSCert != "" || strings.HasPrefix(cfg.PublicURL, "https://"),
	}
}
