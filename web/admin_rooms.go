package web

import (
	"net/http"
	"strings"
	"time"

	"liveroom/actors"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

type adminRoomJSON struct {
	ID          string `json:"id"`
	VisitorName string `json:"visitorName"`
	AgentName   string `json:"agentName"`
	Owner       string `json:"owner,omitempty"`
	ShortName   string `json:"shortName,omitempty"`
	HasPassword bool   `json:"hasPassword"`
	CreatedAtMs int64  `json:"createdAtMs"`
	StartsAtMs  int64  `json:"startsAtMs,omitempty"`
	EndsAtMs    int64  `json:"endsAtMs,omitempty"`
	// State is open, closed or scheduled, by the room's visitor window.
	State string `json:"state"`
}

func roomState(rec *pb.RoomRecord, nowMs int64) string {
	switch {
	case rec.StartsAtMs != 0 && nowMs < rec.StartsAtMs:
		return "scheduled"
	case rec.EndsAtMs != 0 && nowMs >= rec.EndsAtMs:
		return "closed"
	}
	return "open"
}

func adminRoomView(rec *pb.RoomRecord, nowMs int64) adminRoomJSON {
	return adminRoomJSON{ID: rec.Id, VisitorName: rec.VisitorName, AgentName: rec.AgentName, Owner: rec.OwnerAgentId,
		ShortName: rec.ShortName, HasPassword: rec.PasswordHash != "", CreatedAtMs: rec.CreatedAtMs,
		StartsAtMs: rec.StartsAtMs, EndsAtMs: rec.EndsAtMs, State: roomState(rec, nowMs)}
}

// Bounds of one listing or search: what a page shows and how much of the
// store one request may read to find it.
const (
	maxPage = 200
	maxScan = 50_000
)

func (d *adminWeb) roomsList(w http.ResponseWriter, r *http.Request, who *adminWho) {
	q := r.URL.Query()
	idPart := strings.ToLower(strings.TrimSpace(q.Get("q")))
	owner := strings.TrimSpace(q.Get("agent"))
	visitor := strings.ToLower(strings.TrimSpace(q.Get("visitor")))
	state := q.Get("state")
	from, ok1 := queryTime(r, "from")
	to, ok2 := queryTime(r, "to")
	if !ok1 || !ok2 {
		apiError(w, http.StatusBadRequest, "invalid", "from and to must be dates (2006-01-02) or RFC 3339 times.")
		return
	}
	if state != "" && state != "open" && state != "closed" && state != "scheduled" {
		apiError(w, http.StatusBadRequest, "invalid", "state must be open, closed or scheduled.")
		return
	}
	now := time.Now().UnixMilli()
	recs, next, err := page(d.Store, persistence.RoomPrefix(), q.Get("cursor"), queryInt(r, "limit", 50, 1, maxPage), maxScan,
		func() *pb.RoomRecord { return &pb.RoomRecord{} },
		func(_ []byte, rec *pb.RoomRecord) bool {
			return (idPart == "" || strings.Contains(strings.ToLower(rec.Id), idPart)) &&
				(owner == "" || rec.OwnerAgentId == owner) &&
				(visitor == "" || strings.Contains(strings.ToLower(rec.VisitorName), visitor)) &&
				(from == 0 || rec.CreatedAtMs >= from) && (to == 0 || rec.CreatedAtMs < to) &&
				(state == "" || roomState(rec, now) == state)
		})
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The rooms could not be read.")
		return
	}
	out := make([]adminRoomJSON, len(recs))
	for i, rec := range recs {
		out[i] = adminRoomView(rec, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out, "next": next})
}

type memberJSON struct {
	MemberID string `json:"memberId"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Email    string `json:"email,omitempty"`
}

func roleName(r pb.Role) string {
	switch r {
	case pb.Role_ROLE_AGENT:
		return "agent"
	case pb.Role_ROLE_VISITOR:
		return "visitor"
	}
	return "member"
}

func (d *adminWeb) askRoom(w http.ResponseWriter, r *http.Request, msg any) (*pb.RoomAdminResult, bool) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "room_not_found", "This room does not exist.")
		return nil, false
	}
	res, err := actors.AskRoom[*pb.RoomAdminResult](r.Context(), d.Node, id, msg)
	if err != nil {
		unavailable(w)
		return nil, false
	}
	if res.Error != nil {
		grainError(w, res.Error)
		return nil, false
	}
	return res, true
}

func (d *adminWeb) roomDetail(w http.ResponseWriter, status int, res *pb.RoomAdminResult) {
	members := make([]memberJSON, len(res.Members))
	for i, m := range res.Members {
		members[i] = memberJSON{m.MemberId, m.Name, roleName(m.Role), m.Email}
	}
	writeJSON(w, status, map[string]any{"room": adminRoomView(res.Record, time.Now().UnixMilli()),
		"members": members, "inCall": res.InCall})
}

func (d *adminWeb) roomGet(w http.ResponseWriter, r *http.Request, who *adminWho) {
	if res, ok := d.askRoom(w, r, &pb.RoomAdminMembers{}); ok {
		d.roomDetail(w, http.StatusOK, res)
	}
}

func (d *adminWeb) roomClose(w http.ResponseWriter, r *http.Request, who *adminWho) {
	res, ok := d.askRoom(w, r, &pb.RoomAdminClose{})
	if !ok {
		return
	}
	d.auditAs(r, who, "room.close", r.PathValue("id"), "")
	d.roomDetail(w, http.StatusOK, res)
}

// roomDelete removes a room, its history, entry records and files. A room
// an agent owns is deleted through that agent's grain, which also frees
// its short name and drops it from the agent's list.
func (d *adminWeb) roomDelete(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "room_not_found", "This room does not exist.")
		return
	}
	if !confirmed(w, r, id) {
		return
	}
	rec := &pb.RoomRecord{}
	found, err := persistence.GetRecord(d.Store, persistence.RoomKey(id), rec)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The room could not be read.")
		return
	}
	if !found {
		apiError(w, http.StatusNotFound, "room_not_found", "This room does not exist.")
		return
	}
	viaOwner := false
	if rec.OwnerAgentId != "" {
		res, err := actors.AskAgent[*pb.AgentReply](r.Context(), d.Node, rec.OwnerAgentId, &pb.AgentDeleteRoom{RoomId: id})
		if err != nil {
			unavailable(w)
			return
		}
		if res.Error != nil && res.Error.Code != "room_not_found" && res.Error.Code != "agent_not_found" {
			agentError(w, res.Error)
			return
		}
		viaOwner = res.Error == nil
	}
	if !viaOwner {
		res, err := actors.AskRoom[*pb.DeleteRoomResult](r.Context(), d.Node, id, &pb.DeleteRoom{})
		if err != nil {
			unavailable(w)
			return
		}
		if res.Error != nil {
			grainError(w, res.Error)
			return
		}
	}
	d.removeRoomFiles(id)
	d.auditAs(r, who, "room.delete", id, "owner="+rec.OwnerAgentId)
	w.WriteHeader(http.StatusNoContent)
}
