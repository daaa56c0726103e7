package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"liveroom/access"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

type hookJSON struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	AgentID     string   `json:"agentId"`
	Events      []string `json:"events"`
	CreatedAtMs int64    `json:"createdAtMs"`
	// Pending is what waits for delivery in this node's queue.
	Pending int `json:"pending"`
}

func (d *adminWeb) hooksReady(w http.ResponseWriter) bool {
	if d.Admin.Webhooks == nil {
		apiError(w, http.StatusServiceUnavailable, "unavailable", "Webhooks are not running on this node.")
		return false
	}
	return true
}

func (d *adminWeb) listHooks(w http.ResponseWriter, r *http.Request, who *adminWho) {
	if !d.hooksReady(w) {
		return
	}
	hooks, err := webhook.LoadHooks(d.Store)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The webhooks could not be read.")
		return
	}
	out := make([]hookJSON, len(hooks))
	for i, h := range hooks {
		n, _ := webhook.Pending(d.Store, d.Admin.Webhooks.Node(), h.Id)
		out[i] = hookJSON{h.Id, h.Url, h.AgentId, h.Events, h.CreatedAtMs, n}
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out, "types": webhook.Types})
}

func (d *adminWeb) createHook(w http.ResponseWriter, r *http.Request, who *adminWho) {
	if !d.hooksReady(w) {
		return
	}
	var req struct {
		URL     string   `json:"url"`
		AgentID string   `json:"agentId"`
		Events  []string `json:"events"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	u, err := url.Parse(strings.TrimSpace(req.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(req.URL) > 2000 {
		apiError(w, http.StatusBadRequest, "invalid", "The URL must be an http or https address.")
		return
	}
	if req.AgentID != "" && !persistence.ValidID(req.AgentID) {
		apiError(w, http.StatusBadRequest, "invalid", "Not an agent id.")
		return
	}
	if len(req.Events) > len(webhook.Types) {
		apiError(w, http.StatusBadRequest, "invalid", "Too many event types.")
		return
	}
	for _, t := range req.Events {
		if !webhook.ValidType(t) {
			apiError(w, http.StatusBadRequest, "invalid", "Unknown event type: "+t)
			return
		}
	}
	h := &pb.WebhookRecord{Id: newID(9), Url: u.String(), Secret: "whsec_" + access.NewSecretToken(24),
		AgentId: req.AgentID, Events: req.Events, CreatedAtMs: time.Now().UnixMilli()}
	if err := webhook.SaveHook(d.Store, h); err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The webhook could not be stored.")
		return
	}
	d.Admin.Webhooks.Changed()
	d.auditAs(r, who, "webhook.create", h.Id, h.Url+" agent="+h.AgentId)
	writeJSON(w, http.StatusCreated, map[string]any{"webhook": hookJSON{h.Id, h.Url, h.AgentId, h.Events, h.CreatedAtMs, 0},
		"secret": h.Secret})
}

func (d *adminWeb) removeHook(w http.ResponseWriter, r *http.Request, who *adminWho) {
	if !d.hooksReady(w) {
		return
	}
	id := r.PathValue("id")
	if !persistence.ValidID(id) || !confirmed(w, r, id) {
		if !persistence.ValidID(id) {
			apiError(w, http.StatusNotFound, "not_found", "No such webhook.")
		}
		return
	}
	if err := webhook.RemoveHook(d.Store, d.Admin.Webhooks.Node(), id); err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The webhook could not be removed.")
		return
	}
	d.Admin.Webhooks.Changed()
	d.auditAs(r, who, "webhook.remove", id, "")
	w.WriteHeader(http.StatusNoContent)
}

func (d *adminWeb) hookDeliveries(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "not_found", "No such webhook.")
		return
	}
	list, err := webhook.Deliveries(d.Store, id, queryInt(r, "limit", 50, 1, maxPage))
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The deliveries could not be read.")
		return
	}
	type delivery struct {
		EventID string `json:"eventId"`
		Type    string `json:"type"`
		AtMs    int64  `json:"atMs"`
		Status  int32  `json:"status"`
		Error   string `json:"error,omitempty"`
		Attempt int32  `json:"attempt"`
		Answer  string `json:"answer,omitempty"`
	}
	out := make([]delivery, len(list))
	for i, e := range list {
		out[i] = delivery{e.EventId, e.Type, e.AtMs, e.Status, e.Error, e.Attempt, e.Answer}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
}
