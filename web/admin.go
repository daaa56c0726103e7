package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/agent"
	"liveroom/audit"
	"liveroom/config"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/stats"
	"liveroom/webhook"
)

// AdminDeps are what the admin panel needs beyond the other handlers.
type AdminDeps struct {
	// Config is the effective configuration, shown (secrets masked) with
	// where each value came from.
	Config config.Config
	// Stats is this node's last hour of counters for the overview.
	Stats *stats.Ring
	// Webhooks is the node's event emitter (its receiver cache and queue).
	Webhooks *webhook.Emitter
}

type adminWeb struct {
	*agentWeb
}

// adminWho is the authenticated caller of an admin endpoint.
type adminWho struct {
	ID, Name, Role string
	ViaKey, TOTP   bool
}

// Levels: a supervisor reads everything and acts on rooms; only an admin
// manages accounts, keys and settings.
const (
	needSupervisor = agent.RoleSupervisor
	needAdmin      = agent.RoleAdmin
)

func allowed(role, need string) bool {
	switch need {
	case needAdmin:
		return role == agent.RoleAdmin
	case needSupervisor:
		return role == agent.RoleAdmin || role == agent.RoleSupervisor
	}
	return false
}

func (a *agentWeb) adminRoutes(mux *http.ServeMux) {
	d := &adminWeb{agentWeb: a}
	mux.HandleFunc("GET /admin", d.page)
	mux.HandleFunc("GET /api/admin/me", d.with(needSupervisor, d.me))
	mux.HandleFunc("POST /api/admin/me/totp/new", d.with(needSupervisor, d.totpNew))
	mux.HandleFunc("POST /api/admin/me/totp", d.with(needSupervisor, d.totpSet))
	mux.HandleFunc("GET /api/admin/overview", d.with(needSupervisor, d.overview))
	mux.HandleFunc("GET /api/admin/settings", d.with(needSupervisor, d.settings))

	mux.HandleFunc("GET /api/admin/agents", d.with(needSupervisor, d.listAgents))
	mux.HandleFunc("POST /api/admin/agents", d.with(needAdmin, d.createAgent))
	mux.HandleFunc("PATCH /api/admin/agents/{id}", d.with(needAdmin, d.updateAgent))
	mux.HandleFunc("DELETE /api/admin/agents/{id}", d.with(needAdmin, d.removeAgent))
	mux.HandleFunc("GET /api/admin/agents/{id}/keys", d.with(needAdmin, d.listKeys))
	mux.HandleFunc("POST /api/admin/agents/{id}/keys", d.with(needAdmin, d.createKey))
	mux.HandleFunc("DELETE /api/admin/agents/{id}/keys/{prefix}", d.with(needAdmin, d.revokeKey))

	mux.HandleFunc("GET /api/admin/rooms", d.with(needSupervisor, d.roomsList))
	mux.HandleFunc("GET /api/admin/rooms/{id}", d.with(needSupervisor, d.roomGet))
	mux.HandleFunc("POST /api/admin/rooms/{id}/close", d.with(needSupervisor, d.roomClose))
	mux.HandleFunc("DELETE /api/admin/rooms/{id}", d.with(needSupervisor, d.roomDelete))
	mux.HandleFunc("GET /api/admin/rooms/{id}/chat", d.with(needSupervisor, d.roomChat))
	mux.HandleFunc("GET /api/admin/rooms/{id}/export", d.with(needSupervisor, d.exportRoom))
	mux.HandleFunc("GET /api/admin/chat", d.with(needSupervisor, d.searchChat))
	mux.HandleFunc("GET /api/admin/chat/export", d.with(needSupervisor, d.exportSearch))

	mux.HandleFunc("GET /api/admin/files", d.with(needSupervisor, d.listFiles))
	mux.HandleFunc("GET /api/admin/files/{room}/{file}", d.with(needSupervisor, d.downloadFile))
	mux.HandleFunc("DELETE /api/admin/files/{room}/{file}", d.with(needSupervisor, d.deleteFile))
	d.recordingRoutes(mux)

	mux.HandleFunc("GET /api/admin/offline", d.with(needSupervisor, d.listOfflineAll))
	mux.HandleFunc("GET /api/admin/entries", d.with(needSupervisor, d.listEntries))
	mux.HandleFunc("GET /api/admin/audit", d.with(needSupervisor, d.listAudit))
	mux.HandleFunc("GET /api/admin/audit/export", d.with(needSupervisor, d.exportAudit))

	mux.HandleFunc("GET /api/admin/webhooks", d.with(needAdmin, d.listHooks))
	mux.HandleFunc("POST /api/admin/webhooks", d.with(needAdmin, d.createHook))
	mux.HandleFunc("DELETE /api/admin/webhooks/{id}", d.with(needAdmin, d.removeHook))
	mux.HandleFunc("GET /api/admin/webhooks/{id}/deliveries", d.with(needAdmin, d.hookDeliveries))
}

// adminHandler acts for an authenticated admin or supervisor.
type adminHandler func(w http.ResponseWriter, r *http.Request, who *adminWho)

// with authenticates (login cookie or an admin's API key), checks the role,
// and refuses requests from other sites on every method: reads can leak
// chat history just as writes can change it.
func (d *adminWeb) with(need string, h adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.sameOrigin(w, r) {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		who, err := d.authenticate(r)
		if err != nil {
			if errors.Is(err, actors.ErrUnavailable) {
				unavailable(w)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="liveroom-admin"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "Log in as an administrator, or send an admin API key.")
			return
		}
		if !allowed(who.Role, need) {
			apiError(w, http.StatusForbidden, "forbidden", "Your account may not do this.")
			return
		}
		h(w, r, who)
	}
}

var errNoAdmin = errors.New("not authenticated")

func (d *adminWeb) authenticate(r *http.Request) (*adminWho, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		key, ok := access.ParseBearer(h)
		if !ok {
			return nil, errNoAdmin
		}
		krec := &pb.ApiKeyRecord{}
		found, err := persistence.GetRecord(d.Store, persistence.APIKeyKey(access.HashHex(key)), krec)
		if err != nil || !found {
			return nil, errNoAdmin
		}
		arec := &pb.AgentRecord{}
		found, err = persistence.GetRecord(d.Store, persistence.AgentKey(krec.AgentId), arec)
		if err != nil || !found || arec.Disabled {
			return nil, errNoAdmin
		}
		return &adminWho{ID: arec.Id, Name: arec.Name, Role: arec.Role, ViaKey: true}, nil
	}
	who, err := d.session(r)
	if err != nil {
		return nil, err
	}
	if who.Error != nil {
		return nil, errNoAdmin
	}
	return &adminWho{ID: who.Id, Name: who.Name, Role: who.Role, TOTP: who.Totp}, nil
}

// page serves the panel with a policy stricter than the rest of the site: no
// images or connections to other hosts, no framing.
func (d *adminWeb) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	d.server.page("admin.html")(w, r)
}

// audit records a change; a failure to record is logged, not shown, since
// the change itself has happened.
func (a *agentWeb) audit(r *http.Request, actor, role, action, target, detail string) {
	err := audit.Write(a.Store, &pb.AuditRecord{Actor: actor, Role: role, Action: action, Target: target,
		Detail: detail, Ip: remoteIP(r)})
	if err != nil {
		a.Log.Error("write audit record", zap.String("action", action), zap.Error(err))
	}
}

func (d *adminWeb) auditAs(r *http.Request, who *adminWho, action, target, detail string) {
	if who.ViaKey {
		detail += " (API key)"
	}
	d.audit(r, who.ID, who.Role, action, target, detail)
}

func (d *adminWeb) me(w http.ResponseWriter, r *http.Request, who *adminWho) {
	writeJSON(w, http.StatusOK, map[string]any{"id": who.ID, "name": who.Name, "role": who.Role, "totp": who.TOTP})
}

func (d *adminWeb) overview(w http.ResponseWriter, r *http.Request, who *adminWho) {
	var series []stats.Sample
	if d.Admin.Stats != nil {
		series = d.Admin.Stats.Samples()
	}
	var now stats.Sample
	if len(series) > 0 {
		now = series[len(series)-1]
	}
	writeJSON(w, http.StatusOK, map[string]any{"now": now, "series": series, "nodes": d.Node.Members()})
}

func (d *adminWeb) settings(w http.ResponseWriter, r *http.Request, who *adminWho) {
	type setting struct {
		Key     string `json:"key"`
		Value   string `json:"value"`
		Default string `json:"default"`
		Source  string `json:"source"`
		Help    string `json:"help"`
	}
	values := config.Values(d.Admin.Config)
	out := []setting{}
	for _, o := range config.Options() {
		v := values[o.Key]
		if config.Secret(o.Key) && v != "" {
			v = "••••••"
		}
		src := d.Admin.Config.Sources[o.Key]
		if src == "" {
			src = "default"
		}
		out = append(out, setting{o.Key, v, o.Default, src, o.Help})
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": out})
}

// queryInt reads a bounded whole-number query parameter.
func queryInt(r *http.Request, name string, def, lo, hi int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil {
		return def
	}
	return min(max(n, lo), hi)
}

// queryTime reads a date (2006-01-02) or RFC 3339 time as ms; 0 when absent.
func queryTime(r *http.Request, name string) (int64, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMilli(), true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}

// confirmed checks the deletion's confirmation step: the client repeats
// the id of what it deletes in ?confirm=, which a stray or replayed click
// on a generic link cannot carry.
func confirmed(w http.ResponseWriter, r *http.Request, id string) bool {
	if r.URL.Query().Get("confirm") != id {
		apiError(w, http.StatusPreconditionRequired, "confirm_needed",
			"Deleting needs a confirmation: repeat the id in ?confirm=.")
		return false
	}
	return true
}
