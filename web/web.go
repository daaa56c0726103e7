// Package web serves the pages, the JSON API, file upload and download, and
// the operator endpoints, all on one port beside the WebSocket.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

//go:embed static
var staticFiles embed.FS

// Deps are what the handlers need.
type Deps struct {
	Node           *actors.Node
	Store          persistence.Store
	Signer         *access.Signer
	Metrics        *metrics.Metrics
	Log            *zap.Logger
	WebSocket      http.Handler
	FilesDir       string
	MaxUploadBytes int64
	// PublicURL is the base of generated links; empty means from the request.
	PublicURL string
	// ClosedRooms refuses anonymous room creation from the start page;
	// logged-in agents and API keys still create rooms.
	ClosedRooms bool
	// EmbedOrigins may show room pages in an iframe (frame-ancestors).
	EmbedOrigins []string
	// Agents holds what the agent page, the contact button and the keyed API need.
	Agents AgentDeps
	// Admin holds what the admin panel needs.
	Admin AdminDeps
	// RecordingsDir holds call recordings (recordings.go).
	RecordingsDir string
	// RecordingDefaults are the recording options of rooms created without
	// their own; the agent page's room form starts from them.
	RecordingDefaults *pb.RecordingOptions
	// BodyStall cuts a request body that sends nothing for this long.
	BodyStall time.Duration
	// Stopping closes when shutdown begins; bodies still being read are cut.
	Stopping <-chan struct{}
	// RoomsPerMinute and RoomsPerDay bound the rooms one address may create
	// without logging in; 0 means no bound.
	RoomsPerMinute, RoomsPerDay int
	// Whiteboard holds the limits of whiteboard images and PDFs.
	Whiteboard WhiteboardDeps
	// Broadcasts serves the broadcast pages and API.
	Broadcasts bool
}

type server struct {
	Deps
	roomLimit *roomCreationLimit
}

// New returns the HTTP handler for everything on the public port.
func New(d Deps) http.Handler {
	s := &server{Deps: d, roomLimit: newRoomCreationLimit(d.RoomsPerMinute, d.RoomsPerDay)}
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.page("index.html"))
	mux.HandleFunc("GET /room/{id}", s.embeddable(s.page("room.html")))
	mux.HandleFunc("POST /api/rooms", s.createRoom)
	mux.HandleFunc("GET /api/rooms/{id}", s.roomInfo)
	mux.HandleFunc("POST /api/rooms/{id}/files", s.upload)
	mux.HandleFunc("GET /files/{room}/{file}", s.download)
	mux.Handle("GET /ws", d.WebSocket)
	s.agentRoutes(mux)
	s.recordingRoutes(mux)
	s.whiteboardRoutes(mux)
	mux.HandleFunc("GET /healthz", s.health)
	mux.Handle("GET /metrics", d.Metrics.Handler())
	if d.FilesDir != "" && d.BodyStall > 0 {
		// Uploads cut off by a crash or a kill left .part files: remove
		// them now and, for those of the last moments before the restart,
		// once more when they are surely dead.
		stale := 2 * d.BodyStall
		removeUnfinishedUploads(d.FilesDir, stale, d.Log)
		time.AfterFunc(stale, func() { removeUnfinishedUploads(d.FilesDir, stale, d.Log) })
	}
	return securityHeaders(bodyDeadline(d.BodyStall, d.Stopping, mux))
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Images from other hosts are allowed for entry-form avatars.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data: blob: https: http:; media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func (s *server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := staticFiles.ReadFile("static/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	}
}

// apiError writes the JSON error shape shared with the WebSocket protocol.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProto(w http.ResponseWriter, status int, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "could not encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var statusByCode = map[string]int{
	"invalid":        http.StatusBadRequest,
	"room_not_found": http.StatusNotFound,
	"room_exists":    http.StatusConflict,
	"too_large":      http.StatusRequestEntityTooLarge,
	"unauthorized":   http.StatusUnauthorized,
	"unavailable":    http.StatusServiceUnavailable,
}

func grainError(w http.ResponseWriter, e *pb.Error) {
	status, ok := statusByCode[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	apiError(w, status, e.Code, e.Message)
}

func unavailable(w http.ResponseWriter) {
	apiError(w, http.StatusServiceUnavailable, "unavailable", "The room service did not answer in time; please retry.")
}

func (s *server) baseURL(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type roomJSON struct {
	ID          string `json:"id"`
	VisitorName string `json:"visitorName"`
	AgentName   string `json:"agentName"`
	HasPassword bool   `json:"hasPassword"`
	// Visitor window; absent when unbounded. NowMs is the server's clock so
	// the page can count down without trusting the visitor's.
	StartsAtMs int64          `json:"startsAtMs,omitempty"`
	EndsAtMs   int64          `json:"endsAtMs,omitempty"`
	NowMs      int64          `json:"nowMs"`
	EntryForm  *entryFormJSON `json:"entryForm,omitempty"`
	// Recording is the room's recording options (the server's defaults when
	// the room was created without its own).
	Recording *recordingOptionsJSON `json:"recording,omitempty"`
}

func roomView(r *pb.RoomInfo) roomJSON {
	return roomJSON{ID: r.Id, VisitorName: r.VisitorName, AgentName: r.AgentName, HasPassword: r.HasPassword,
		StartsAtMs: r.StartsAtMs, EndsAtMs: r.EndsAtMs, NowMs: time.Now().UnixMilli(), EntryForm: entryFormView(r.EntryForm),
		Recording: recordingOptionsView(r.Recording)}
}

func (s *server) createRoom(w http.ResponseWriter, r *http.Request) {
	if s.ClosedRooms {
		apiError(w, http.StatusForbidden, "forbidden",
			"Rooms on this server are created by agents: log in on the agent page.")
		return
	}
	if !s.roomLimit.allow(w, r) {
		return
	}
	var req struct {
		ID          string `json:"id"`
		VisitorName string `json:"visitorName"`
		AgentName   string `json:"agentName"`
		Password    string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid", "Body must be a JSON room description: "+err.Error())
		return
	}
	req.ID = strings.TrimSpace(req.ID)
	if req.ID == "" {
		req.ID = newID(6)
	}
	if !persistence.ValidID(req.ID) {
		apiError(w, http.StatusBadRequest, "invalid", "Room id must be 1-64 letters, digits, '-' or '_'.")
		return
	}
	res, err := s.Node.CreateRoom(r.Context(), req.ID, req.VisitorName, req.AgentName, req.Password)
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		grainError(w, res.Error)
		return
	}
	base := s.baseURL(r) + "/room/" + req.ID
	writeJSON(w, http.StatusCreated, map[string]any{
		"room": roomView(res.Room), "agentKey": res.AgentKey,
		"visitorUrl": base, "agentUrl": base + "#agent=" + res.AgentKey,
	})
}

func (s *server) roomInfo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "room_not_found", "This room does not exist.")
		return
	}
	res, err := s.Node.RoomInfo(r.Context(), id)
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		grainError(w, res.Error)
		return
	}
	writeJSON(w, http.StatusOK, roomView(res.Room))
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"actors": "ok", "store": "ok"}
	status := http.StatusOK
	if err := s.Node.Ready(); err != nil {
		checks["actors"], status = err.Error(), http.StatusServiceUnavailable
	}
	if err := s.Store.Ping(); err != nil {
		checks["store"], status = err.Error(), http.StatusServiceUnavailable
	}
	checks["members"] = strconv.Itoa(s.Node.Members())
	writeJSON(w, status, checks)
}

// requestContext bounds API calls that reach a grain.
func requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
