package web

import (
	"net/http"
	"strings"

	"liveroom/proto/pb"
)

// Endpoints and headers for sites that integrate Liveroom with an API key
// (the WordPress plugin): checking a key and seeing its agent, and showing
// room pages inside their own pages.

// overview is GET /api/v1/agent: the key's agent, its presence as the
// contact button sees it and how many visitors are on pages with the button.
// A key whose agent was removed gets 404 agent_not_found.
func (a *agentWeb) overview(w http.ResponseWriter, r *http.Request, agentID string) {
	res, ok := askAgent[*pb.AgentOverviewResult](w, r.Context(), a.Node, agentID, &pb.AgentOverview{})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": res.Id, "name": res.Name, "presence": presenceName(res.Presence),
		"visitors": res.Visitors, "waiting": res.Waiting,
	})
}

func presenceName(p pb.Presence) string {
	switch p {
	case pb.Presence_PRESENCE_ONLINE:
		return "online"
	case pb.Presence_PRESENCE_AWAY:
		return "away"
	default:
		return "offline"
	}
}

// embeddable lets the sites in EmbedOrigins show a page in an iframe; every
// other page keeps frame-ancestors 'none' so it cannot be framed for
// clickjacking. Set after securityHeaders, so it replaces that directive.
func (s *server) embeddable(next http.HandlerFunc) http.HandlerFunc {
	if len(s.EmbedOrigins) == 0 {
		return next
	}
	ancestors := "frame-ancestors 'self'"
	for _, o := range s.EmbedOrigins {
		ancestors += " " + strings.TrimRight(o, "/")
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"),
			"frame-ancestors 'none'", ancestors, 1))
		next(w, r)
	}
}
