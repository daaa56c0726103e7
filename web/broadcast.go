package web

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Broadcasts: an agent (logged in, or through an API key) creates one and
// gets two links: the broadcaster link, with the key in the URL fragment so it
// never reaches a log, and the viewer link. Several devices may use the
// broadcaster link at once.

func (a *agentWeb) broadcastRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /broadcast/{id}", a.page("broadcast.html"))
	mux.HandleFunc("GET /watch/{id}", a.embeddable(a.page("viewer.html")))
	mux.HandleFunc("GET /api/broadcasts/{id}", a.broadcastInfo)
	mux.HandleFunc("POST /api/agent/broadcasts", a.withAgent(a.createBroadcast))
	mux.HandleFunc("POST /api/v1/broadcasts", a.withKey(a.createBroadcast))
	mux.HandleFunc("GET /api/agent/broadcasts", a.withAgent(a.listBroadcasts))
	mux.HandleFunc("GET /api/v1/broadcasts", a.withKey(a.listBroadcasts))
	mux.HandleFunc("DELETE /api/agent/broadcasts/{id}", a.withAgent(a.deleteBroadcast))
	mux.HandleFunc("DELETE /api/v1/broadcasts/{id}", a.withKey(a.deleteBroadcast))
	mux.HandleFunc("POST /whip/{id}", a.whipPost)
	mux.HandleFunc("POST /whep/{id}", a.whepPost)
	mux.HandleFunc("DELETE /whip/{id}/{resource}", a.httpMediaDelete)
	mux.HandleFunc("DELETE /whep/{id}/{resource}", a.httpMediaDelete)
	mux.HandleFunc("PATCH /whip/{id}/{resource}", trickleNotSupported)
	mux.HandleFunc("PATCH /whep/{id}/{resource}", trickleNotSupported)
}

// createBroadcastRequest is the body of POST /api/agent/broadcasts and
// /api/v1/broadcasts.
type createBroadcastRequest struct {
	ID              string `json:"id"`
	Title           string `json:"title"`
	Password        string `json:"password"`
	StartsAt        string `json:"startsAt"`
	DurationMinutes int64  `json:"durationMinutes"`
	// Chat is on unless set to false.
	Chat *bool `json:"chat"`
}

type broadcastJSON struct {
	ID             string `json:"id"`
	Title          string `json:"title,omitempty"`
	HasPassword    bool   `json:"hasPassword"`
	StartsAtMs     int64  `json:"startsAtMs,omitempty"`
	EndsAtMs       int64  `json:"endsAtMs,omitempty"`
	ViewerURL      string `json:"viewerUrl,omitempty"`
	BroadcasterURL string `json:"broadcasterUrl,omitempty"`
	CreatedAtMs    int64  `json:"createdAtMs,omitempty"`
	Phase          string `json:"phase,omitempty"`
	Viewers        uint32 `json:"viewers"`
	Broadcasters   int    `json:"broadcasters"`
}

func (c *createBroadcastRequest) toCreate(now time.Time) (*pb.CreateBroadcast, string) {
	id := strings.TrimSpace(c.ID)
	if id == "" {
		id = newID(6)
	}
	if !persistence.ValidID(id) {
		return nil, "Broadcast id must be 1-64 letters, digits, '-' or '_'."
	}
	m := &pb.CreateBroadcast{Id: id, Title: c.Title, ChatEnabled: c.Chat == nil || *c.Chat}
	if c.DurationMinutes < 0 || c.DurationMinutes > 31*24*60 {
		return nil, "Duration must be between 1 minute and 31 days."
	}
	if s := strings.TrimSpace(c.StartsAt); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.UnixMilli() <= 0 {
			return nil, "Start time must be an RFC 3339 time such as 2030-01-02T15:04:05Z."
		}
		m.StartsAtMs = t.UnixMilli()
	} else if c.DurationMinutes > 0 {
		m.StartsAtMs = now.UnixMilli()
	}
	if c.DurationMinutes > 0 {
		m.EndsAtMs = m.StartsAtMs + c.DurationMinutes*60_000
	}
	return m, ""
}

func (a *agentWeb) createBroadcast(w http.ResponseWriter, r *http.Request, agentID string) {
	var req createBroadcastRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	m, problem := req.toCreate(time.Now())
	if problem != "" {
		apiError(w, http.StatusBadRequest, "invalid", problem)
		return
	}
	hash, ok := hashPassword(w, a.Node, req.Password)
	if !ok {
		return
	}
	m.PasswordHash, m.OwnerAgentId = hash, agentID
	res, err := a.Node.CreateBroadcast(r.Context(), m)
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		if res.Error.Code == "broadcast_exists" {
			apiError(w, http.StatusConflict, res.Error.Code, res.Error.Message)
			return
		}
		grainError(w, res.Error)
		return
	}
	base := a.baseURL(r)
	v := broadcastView(res.Broadcast)
	v.ViewerURL = base + "/watch/" + v.ID
	v.BroadcasterURL = base + "/broadcast/" + v.ID + "#key=" + res.BroadcasterKey
	writeJSON(w, http.StatusCreated, v)
}

func broadcastView(b *pb.BroadcastInfo) broadcastJSON {
	return broadcastJSON{ID: b.GetId(), Title: b.GetTitle(), HasPassword: b.GetHasPassword(),
		StartsAtMs: b.GetStartsAtMs(), EndsAtMs: b.GetEndsAtMs()}
}

var phaseNames = map[pb.BroadcastPhase]string{
	pb.BroadcastPhase_BROADCAST_PHASE_WAITING: "waiting",
	pb.BroadcastPhase_BROADCAST_PHASE_LIVE:    "live",
	pb.BroadcastPhase_BROADCAST_PHASE_ENDED:   "ended",
}

// broadcastInfo is the public description a viewer page shows before joining.
func (a *agentWeb) broadcastInfo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "broadcast_not_found", "This broadcast does not exist.")
		return
	}
	res, err := a.Node.BroadcastInfo(r.Context(), id)
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		if res.Error.Code == "broadcast_not_found" {
			apiError(w, http.StatusNotFound, res.Error.Code, res.Error.Message)
			return
		}
		grainError(w, res.Error)
		return
	}
	v := broadcastView(res.Broadcast)
	v.Phase, v.Viewers = phaseNames[res.State.GetPhase()], res.State.GetViewers()
	v.Broadcasters = len(res.State.GetBroadcasters())
	writeJSON(w, http.StatusOK, v)
}

// maxListedBroadcasts bounds one listing.
const maxListedBroadcasts = 1000

// listBroadcasts lists the agent's broadcasts from the store, newest first:
// what is stored (phase as last stored, no viewer counts), so listing wakes
// no broadcast. The links carry no key: the broadcaster key is only shown
// once, when the broadcast is created.
func (a *agentWeb) listBroadcasts(w http.ResponseWriter, r *http.Request, agentID string) {
	var ids []string
	p := persistence.AgentBroadcastPrefix(agentID)
	err := a.Store.Scan(p, persistence.PrefixEnd(p), false, maxListedBroadcasts, func(k, _ []byte) bool {
		ids = append(ids, string(k[len(p):]))
		return true
	})
	base := a.baseURL(r)
	out := make([]broadcastJSON, 0, len(ids))
	for _, id := range ids {
		if err != nil {
			break
		}
		var raw []byte
		raw, err = a.Store.Get(persistence.BroadcastKey(id))
		if errors.Is(err, persistence.ErrNotFound) {
			err = nil // deleted while we listed
			continue
		}
		rec := &pb.BroadcastRecord{}
		if err == nil {
			err = proto.Unmarshal(raw, rec)
		}
		if err != nil {
			break
		}
		v := broadcastJSON{ID: rec.Id, Title: rec.Title, HasPassword: rec.PasswordHash != "", StartsAtMs: rec.StartsAtMs,
			EndsAtMs: rec.EndsAtMs, CreatedAtMs: rec.CreatedAtMs, Phase: phaseNames[rec.Phase], ViewerURL: base + "/watch/" + rec.Id}
		out = append(out, v)
	}
	if err != nil {
		a.Log.Error("list broadcasts", zap.Error(err))
		apiError(w, http.StatusInternalServerError, "internal", "The broadcasts could not be read.")
		return
	}
	sortByCreated(out) // newest first
	writeJSON(w, http.StatusOK, map[string]any{"broadcasts": out})
}

func sortByCreated(v []broadcastJSON) {
	slices.SortStableFunc(v, func(x, y broadcastJSON) int { return cmp.Compare(y.CreatedAtMs, x.CreatedAtMs) })
}

// deleteBroadcast ends one of the agent's broadcasts for everyone in it and
// deletes its record and chat.
func (a *agentWeb) deleteBroadcast(w http.ResponseWriter, r *http.Request, agentID string) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "broadcast_not_found", "This broadcast is not in your list.")
		return
	}
	res, err := a.Node.DeleteBroadcast(r.Context(), id, agentID)
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		if res.Error.Code == "broadcast_not_found" {
			apiError(w, http.StatusNotFound, res.Error.Code, "This broadcast is not in your list.")
			return
		}
		grainError(w, res.Error)
		return
	}
	a.audit(r, agentID, "", "broadcast.delete", id, authVia(r))
	w.WriteHeader(http.StatusNoContent)
}
