package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/internal/clientaddr"
	"liveroom/mail"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// AgentDeps are what the agent page, the contact button and the keyed API
// need beyond the room handlers.
type AgentDeps struct {
	Mail          *mail.Sender
	VisitorSocket http.Handler
	AgentSocket   http.Handler
	// OriginAllowed says whether a site may use the contact button.
	OriginAllowed  func(origin string) bool
	SessionTTL     time.Duration
	LoginPerMinute int
	OfflinePerHour int
	ShortURLs      bool
	// SecureCookies marks the login cookie Secure (HTTPS deployments).
	SecureCookies bool
}

type agentWeb struct {
	*server
	loginLimit   *keyedLimiter
	offlineLimit *keyedLimiter
}

// agentRoutes adds the agent, button and API routes to mux.
func (s *server) agentRoutes(mux *http.ServeMux) {
	d := &s.Agents
	if d.OriginAllowed == nil {
		d.OriginAllowed = func(string) bool { return true }
	}
	if d.SessionTTL == 0 {
		d.SessionTTL = 24 * time.Hour
	}
	a := &agentWeb{server: s,
		loginLimit:   newKeyedLimiter(max(d.LoginPerMinute, 1), time.Minute),
		offlineLimit: newKeyedLimiter(max(d.OfflinePerHour, 1), time.Hour)}
	mux.HandleFunc("GET /agent", s.page("agent.html"))
	mux.HandleFunc("POST /api/agent/login", a.login)
	mux.HandleFunc("POST /api/agent/logout", a.logout)
	mux.HandleFunc("GET /api/agent/me", a.me)
	mux.HandleFunc("GET /api/agent/rooms", a.withAgent(a.listRooms))
	mux.HandleFunc("POST /api/agent/rooms", a.withAgent(a.createRoom))
	mux.HandleFunc("DELETE /api/agent/rooms/{id}", a.withAgent(a.deleteRoom))
	mux.HandleFunc("GET /api/agent/rooms/{id}/entries", a.withAgent(a.entries))
	mux.HandleFunc("GET /api/agent/offline", a.withAgent(a.listOffline))
	mux.HandleFunc("DELETE /api/agent/offline/{id}", a.withAgent(a.deleteOffline))

	mux.HandleFunc("GET /api/v1/rooms", a.withKey(a.listRooms))
	mux.HandleFunc("POST /api/v1/rooms", a.withKey(a.createRoom))
	mux.HandleFunc("GET /api/v1/rooms/{id}", a.withKey(a.getRoom))
	mux.HandleFunc("DELETE /api/v1/rooms/{id}", a.withKey(a.deleteRoom))
	mux.HandleFunc("GET /api/v1/agent", a.withKey(a.overview))
	if s.Broadcasts {
		a.broadcastRoutes(mux)
	}

	mux.HandleFunc("POST /api/visitor/offline", a.offline)
	mux.HandleFunc("OPTIONS /api/visitor/offline", a.offlinePreflight)
	if d.VisitorSocket != nil {
		mux.Handle("GET /ws/visitor", d.VisitorSocket)
	}
	if d.AgentSocket != nil {
		mux.Handle("GET /ws/agent", d.AgentSocket)
	}
	if d.ShortURLs {
		mux.HandleFunc("GET /r/{name}", a.shortVisitor)
		mux.HandleFunc("GET /a/{name}", a.shortAgent)
	}
	a.adminRoutes(mux)
}

// agentStatus maps the agent grain's error codes to HTTP statuses.
var agentStatus = map[string]int{
	"wrong_login":            http.StatusUnauthorized,
	"unauthorized":           http.StatusUnauthorized,
	"account_locked":         http.StatusTooManyRequests,
	"rate_limited":           http.StatusTooManyRequests,
	"short_name_taken":       http.StatusConflict,
	"agent_not_found":        http.StatusNotFound,
	"not_found":              http.StatusNotFound,
	"offline_email_mismatch": http.StatusBadRequest,
	"totp_required":          http.StatusUnauthorized,
	"wrong_code":             http.StatusUnauthorized,
}

func agentError(w http.ResponseWriter, e *pb.Error) {
	if status, ok := agentStatus[e.Code]; ok {
		apiError(w, status, e.Code, e.Message)
		return
	}
	grainError(w, e)
}

// askAgent asks agent agentID and, when the grain does not answer or
// refuses, writes the error response itself; ok says whether res is usable.
func askAgent[T interface{ GetError() *pb.Error }](w http.ResponseWriter, ctx context.Context, node *actors.Node,
	agentID string, msg any) (res T, ok bool) {
	res, err := actors.AskAgent[T](ctx, node, agentID, msg)
	if err != nil {
		unavailable(w)
		return res, false
	}
	if e := res.GetError(); e != nil {
		agentError(w, e)
		return res, false
	}
	return res, true
}

// sameOrigin guards cookie-authenticated state changes against cross-site
// requests, on top of SameSite=Lax: a browser always says where a POST or
// DELETE comes from; a request without Origin and Sec-Fetch-Site is not from
// a browser and so cannot be forged by another site.
func (a *agentWeb) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		apiError(w, http.StatusForbidden, "forbidden", "Requests from other sites are not allowed.")
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, a.baseURL(r)) && !strings.EqualFold(o, requestOrigin(r)) {
		apiError(w, http.StatusForbidden, "forbidden", "Requests from other sites are not allowed.")
		return false
	}
	return true
}

func requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// decodeJSON reads a small JSON body; JSON (not a form) also means another
// site cannot send it without a CORS preflight.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		apiError(w, http.StatusUnsupportedMediaType, "invalid", "Send JSON with Content-Type: application/json.")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "invalid", "Body is not the expected JSON: "+err.Error())
		return false
	}
	return true
}

// ---------- login ----------

func (a *agentWeb) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: access.AgentCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.Agents.SecureCookies})
}

func (a *agentWeb) login(w http.ResponseWriter, r *http.Request) {
	if !a.sameOrigin(w, r) {
		return
	}
	if !a.loginLimit.allow(clientaddr.Key(r)) {
		apiError(w, http.StatusTooManyRequests, "rate_limited", "Too many login attempts from your address; wait a minute and try again.")
		return
	}
	var req struct {
		AgentID  string `json:"agentId"`
		Password string `json:"password"`
		// Code is the second factor, for accounts that have one.
		Code string `json:"code"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	req.AgentID = strings.TrimSpace(req.AgentID)
	if !persistence.ValidID(req.AgentID) || req.Password == "" {
		apiError(w, http.StatusUnauthorized, "wrong_login", "The agent id or the password is not correct.")
		return
	}
	res, err := actors.AskAgent[*pb.AgentLoginResult](r.Context(), a.Node, req.AgentID, &pb.AgentLogin{Password: req.Password, Code: req.Code, ClientAddr: clientaddr.Key(r)})
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		a.Log.Info("agent login refused", zap.String("agent", req.AgentID), zap.String("code", res.Error.Code),
			zap.String("ip", remoteIP(r)))
		a.audit(r, req.AgentID, "", "login.refused", req.AgentID, res.Error.Code)
		agentError(w, res.Error)
		return
	}
	a.audit(r, req.AgentID, "", "login", req.AgentID, "")
	a.setCookie(w, access.AgentCookieValue(req.AgentID, res.Token), int(time.Until(time.UnixMilli(res.ExpiresAtMs)).Seconds()))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"agentId": req.AgentID, "expiresAtMs": res.ExpiresAtMs})
}

func (a *agentWeb) logout(w http.ResponseWriter, r *http.Request) {
	if !a.sameOrigin(w, r) {
		return
	}
	if c, err := r.Cookie(access.AgentCookie); err == nil {
		if id, hash, ok := access.ParseAgentCookie(c.Value); ok {
			if _, err := actors.AskAgent[*pb.AgentReply](r.Context(), a.Node, id, &pb.AgentLogout{SessionHash: hash}); err != nil {
				unavailable(w)
				return
			}
		}
	}
	a.setCookie(w, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

// session checks the login cookie with the agent's grain.
func (a *agentWeb) session(r *http.Request) (*pb.AgentWho, error) {
	c, err := r.Cookie(access.AgentCookie)
	if err != nil {
		return &pb.AgentWho{Error: &pb.Error{Code: "unauthorized", Message: "Please log in."}}, nil
	}
	id, hash, ok := access.ParseAgentCookie(c.Value)
	if !ok {
		return &pb.AgentWho{Error: &pb.Error{Code: "unauthorized", Message: "Please log in."}}, nil
	}
	return actors.AskAgent[*pb.AgentWho](r.Context(), a.Node, id, &pb.AgentCheckSession{SessionHash: hash})
}

func (a *agentWeb) me(w http.ResponseWriter, r *http.Request) {
	who, err := a.session(r)
	if err != nil {
		unavailable(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if who.Error != nil {
		agentError(w, who.Error)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": who.Id, "name": who.Name, "email": who.Email,
		"shortUrls": a.Agents.ShortURLs, "recordingDefaults": recordingOptionsView(a.RecordingDefaults)})
}

// agentHandler is a handler that acts for one agent, already authenticated.
type agentHandler func(w http.ResponseWriter, r *http.Request, agentID string)

// withAgent authenticates by the login cookie; state changes must also come
// from this site.
func (a *agentWeb) withAgent(h agentHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && !a.sameOrigin(w, r) {
			return
		}
		who, err := a.session(r)
		if err != nil {
			unavailable(w)
			return
		}
		if who.Error != nil {
			agentError(w, who.Error)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, who.Id)
	}
}

// withKey authenticates by an API key: "Authorization: Bearer <key>". Keys
// are written by `liveroom admin apikey add` and only their hash is stored.
func (a *agentWeb) withKey(h agentHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		deny := func() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="liveroom"`)
			apiError(w, http.StatusUnauthorized, "unauthorized", "A valid API key is needed: Authorization: Bearer <key>.")
		}
		key, ok := access.ParseBearer(r.Header.Get("Authorization"))
		if !ok {
			deny()
			return
		}
		raw, err := a.Store.Get(persistence.APIKeyKey(access.HashHex(key)))
		if errors.Is(err, persistence.ErrNotFound) {
			a.Log.Info("API call with an unknown key", zap.String("ip", remoteIP(r)))
			deny()
			return
		}
		rec := &pb.ApiKeyRecord{}
		if err == nil {
			err = proto.Unmarshal(raw, rec)
		}
		if err != nil {
			a.Log.Error("read API key", zap.Error(err))
			apiError(w, http.StatusInternalServerError, "internal", "The key could not be checked.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, rec.AgentId)
	}
}

// ---------- rooms ----------

type entryFormJSON struct {
	Enabled    bool `json:"enabled"`
	Required   bool `json:"required"`
	Private    bool `json:"private"`
	ShowEmail  bool `json:"showEmail"`
	ShowAvatar bool `json:"showAvatar"`
}

func entryFormView(f *pb.EntryForm) *entryFormJSON {
	if !f.GetEnabled() {
		return nil
	}
	return &entryFormJSON{Enabled: true, Required: f.Required, Private: f.Private, ShowEmail: f.ShowEmail, ShowAvatar: f.ShowAvatar}
}

type agentRoomJSON struct {
	roomJSON
	ShortName       string `json:"shortName,omitempty"`
	CreatedAtMs     int64  `json:"createdAtMs"`
	VisitorURL      string `json:"visitorUrl"`
	AgentURL        string `json:"agentUrl"`
	ShortVisitorURL string `json:"shortVisitorUrl,omitempty"`
	ShortAgentURL   string `json:"shortAgentUrl,omitempty"`
}

func (a *agentWeb) roomView(r *http.Request, ar *pb.AgentRoom) agentRoomJSON {
	base := a.baseURL(r)
	id := ar.GetRoom().GetId()
	v := agentRoomJSON{roomJSON: roomView(ar.Room), ShortName: ar.ShortName, CreatedAtMs: ar.CreatedAtMs,
		VisitorURL: base + "/room/" + id, AgentURL: base + "/room/" + id + "#agent=" + ar.AgentKey}
	if ar.ShortName != "" && a.Agents.ShortURLs {
		v.ShortVisitorURL = base + "/r/" + ar.ShortName
		v.ShortAgentURL = base + "/a/" + ar.ShortName
	}
	return v
}

func (a *agentWeb) listRooms(w http.ResponseWriter, r *http.Request, agentID string) {
	res, ok := askAgent[*pb.AgentRoomList](w, r.Context(), a.Node, agentID, &pb.AgentListRooms{})
	if !ok {
		return
	}
	out := make([]agentRoomJSON, len(res.Rooms))
	for i, ar := range res.Rooms {
		out[i] = a.roomView(r, ar)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

func (a *agentWeb) getRoom(w http.ResponseWriter, r *http.Request, agentID string) {
	id := r.PathValue("id")
	res, ok := askAgent[*pb.AgentRoomResult](w, r.Context(), a.Node, agentID, &pb.AgentGetRoom{RoomId: id})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.roomView(r, res.Room))
}

// createRoomRequest is the body of POST /api/agent/rooms and /api/v1/rooms.
type createRoomRequest struct {
	ID          string `json:"id"`
	VisitorName string `json:"visitorName"`
	AgentName   string `json:"agentName"`
	Password    string `json:"password"`
	// StartsAt is RFC 3339; with DurationMinutes it makes the visitor window.
	StartsAt        string                `json:"startsAt"`
	DurationMinutes int64                 `json:"durationMinutes"`
	ShortName       string                `json:"shortName"`
	EntryForm       *entryFormJSON        `json:"entryForm"`
	Recording       *recordingOptionsJSON `json:"recording"`
}

// toCreateRoom validates the request's shape; the room grain checks the rest.
func (c *createRoomRequest) toCreateRoom(now time.Time) (*pb.CreateRoom, string) {
	id := strings.TrimSpace(c.ID)
	if id == "" {
		id = newID(6)
	}
	if !persistence.ValidID(id) {
		return nil, "Room id must be 1-64 letters, digits, '-' or '_'."
	}
	m := &pb.CreateRoom{Id: id, VisitorName: c.VisitorName, AgentName: c.AgentName,
		ShortName: strings.TrimSpace(c.ShortName)}
	if m.ShortName != "" && !persistence.ValidID(m.ShortName) {
		return nil, "Short name must be 1-64 letters, digits, '-' or '_'."
	}
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
	if f := c.EntryForm; f != nil {
		m.EntryForm = &pb.EntryForm{Enabled: f.Enabled, Required: f.Required, Private: f.Private,
			ShowEmail: f.ShowEmail, ShowAvatar: f.ShowAvatar}
	}
	m.Recording = c.Recording.options()
	return m, ""
}

func (a *agentWeb) createRoom(w http.ResponseWriter, r *http.Request, agentID string) {
	var req createRoomRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	m, problem := req.toCreateRoom(time.Now())
	if problem != "" {
		apiError(w, http.StatusBadRequest, "invalid", problem)
		return
	}
	hash, ok := hashPassword(w, a.Node, req.Password)
	if !ok {
		return
	}
	m.PasswordHash = hash
	res, ok := askAgent[*pb.AgentRoomResult](w, r.Context(), a.Node, agentID, &pb.AgentCreateRoom{Room: m})
	if !ok {
		return
	}
	a.audit(r, agentID, "", "room.create", m.Id, authVia(r))
	writeJSON(w, http.StatusCreated, a.roomView(r, res.Room))
}

func (a *agentWeb) deleteRoom(w http.ResponseWriter, r *http.Request, agentID string) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "room_not_found", "This room is not in your list.")
		return
	}
	_, ok := askAgent[*pb.AgentReply](w, r.Context(), a.Node, agentID, &pb.AgentDeleteRoom{RoomId: id})
	if !ok {
		return
	}
	a.removeRoomFiles(id)
	a.audit(r, agentID, "", "room.delete", id, authVia(r))
	w.WriteHeader(http.StatusNoContent)
}

func (a *agentWeb) entries(w http.ResponseWriter, r *http.Request, agentID string) {
	res, ok := askAgent[*pb.AgentEntryList](w, r.Context(), a.Node, agentID, &pb.AgentListEntries{RoomId: r.PathValue("id")})
	if !ok {
		return
	}
	type entry struct {
		MemberID   string `json:"memberId"`
		Name       string `json:"name"`
		Email      string `json:"email,omitempty"`
		AvatarURL  string `json:"avatarUrl,omitempty"`
		JoinedAtMs int64  `json:"joinedAtMs"`
	}
	out := make([]entry, len(res.Entries))
	for i, e := range res.Entries {
		out[i] = entry{e.MemberId, e.Name, e.Email, e.AvatarUrl, e.JoinedAtMs}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

// ---------- offline messages (agent side) ----------

type offlineJSON struct {
	ID           string `json:"id"`
	RoomID       string `json:"roomId,omitempty"`
	Name         string `json:"name"`
	Email        string `json:"email"`
	Text         string `json:"text"`
	PageURL      string `json:"pageUrl,omitempty"`
	ReceivedAtMs int64  `json:"receivedAtMs"`
	Mailed       bool   `json:"mailed"`
	MailError    string `json:"mailError,omitempty"`
}

func (a *agentWeb) listOffline(w http.ResponseWriter, r *http.Request, agentID string) {
	res, ok := askAgent[*pb.AgentOfflineList](w, r.Context(), a.Node, agentID, &pb.AgentListOffline{})
	if !ok {
		return
	}
	out := make([]offlineJSON, len(res.Messages))
	for i, m := range res.Messages {
		out[i] = offlineJSON{m.Id, m.RoomId, m.Name, m.Email, m.Text, m.PageUrl, m.ReceivedAtMs, m.Mailed, m.MailError}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}

func (a *agentWeb) deleteOffline(w http.ResponseWriter, r *http.Request, agentID string) {
	_, ok := askAgent[*pb.AgentReply](w, r.Context(), a.Node, agentID, &pb.AgentDeleteOffline{Id: r.PathValue("id")})
	if !ok {
		return
	}
	a.audit(r, agentID, "", "offline.delete", r.PathValue("id"), "")
	w.WriteHeader(http.StatusNoContent)
}

// ---------- short URLs ----------

func (a *agentWeb) shortVisitor(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !persistence.ValidID(name) {
		a.notFound(w, r)
		return
	}
	res, err := a.Node.ResolveShort(r.Context(), name)
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil || res.Record == nil {
		a.notFound(w, r)
		return
	}
	http.Redirect(w, r, "/room/"+url.PathEscape(res.Record.RoomId), http.StatusFound)
}

// shortAgent opens the agent link of one of the logged-in agent's rooms. The
// short name alone grants nothing: without the owner's login it leads to the
// login page.
func (a *agentWeb) shortAgent(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !persistence.ValidID(name) {
		a.notFound(w, r)
		return
	}
	who, err := a.session(r)
	if err != nil {
		unavailable(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if who.Error != nil {
		http.Redirect(w, r, "/agent?next="+url.QueryEscape("/a/"+name), http.StatusFound)
		return
	}
	res, err := actors.AskAgent[*pb.AgentRoomResult](r.Context(), a.Node, who.Id, &pb.AgentGetRoom{ShortName: name, RoomId: name})
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		a.notFound(w, r)
		return
	}
	// The key travels in the fragment, which the browser keeps to itself.
	http.Redirect(w, r, "/room/"+url.PathEscape(res.Room.Room.Id)+"#agent="+res.Room.AgentKey, http.StatusFound)
}

func (a *agentWeb) notFound(w http.ResponseWriter, r *http.Request) {
	b, err := staticFiles.ReadFile("static/notfound.html")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(b)
}

// authVia names how an agent request was authenticated, for the audit log.
func authVia(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return "API key"
	}
	return "agent page"
}

// hashPassword hashes a room or broadcast password off the grains (bcrypt is
// slow on purpose) and answers the request itself when it cannot.
func hashPassword(w http.ResponseWriter, node *actors.Node, password string) (string, bool) {
	hash, perr, err := node.HashPassword(password)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The password could not be hashed.")
		return "", false
	}
	if perr != nil {
		grainError(w, perr)
		return "", false
	}
	return hash, true
}
