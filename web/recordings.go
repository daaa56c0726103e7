package web

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Call recordings (issue 13): the finished zip of a recording is downloaded
// like a room file, by the member who recorded it or an agent of the room
// with the signed member token, or by the room's owner from the agent page.

func (s *server) recordingRoutes(mux *http.ServeMux) {
	a := &agentWeb{server: s}
	mux.HandleFunc("GET /recordings/{room}/{id}", s.downloadRecording)
	mux.HandleFunc("GET /api/agent/recordings", a.withAgent(a.listRecordings))
	mux.HandleFunc("DELETE /api/agent/recordings/{room}/{id}", a.withAgent(a.deleteRecording))
}

func (s *server) recordingDir(room, id string) string {
	return filepath.Join(s.RecordingsDir, room, id)
}

// removeRoomFiles removes what a deleted room kept on disk: its uploads,
// whiteboard images and recordings. The store's part went with the room.
func (s *server) removeRoomFiles(room string) {
	if room == "" {
		return
	}
	for _, d := range []struct{ base, dir string }{
		{s.FilesDir, s.filePath(room, "")}, {s.RecordingsDir, s.recordingDir(room, "")},
	} {
		if d.base == "" {
			continue // not configured: never a path relative to the working folder
		}
		if err := removeAll(d.dir); err != nil {
			s.Log.Warn("remove room files", zap.String("room", room), zap.String("dir", d.dir), zap.Error(err))
		}
	}
}

func (s *server) getRecording(room, id string) (*pb.RecordingRecord, bool, error) {
	if !persistence.ValidID(room) || !persistence.ValidID(id) {
		return nil, false, nil
	}
	rec := &pb.RecordingRecord{}
	found, err := persistence.GetRecord(s.Store, persistence.RecordingKey(room, id), rec)
	return rec, found, err
}

// mayDownloadRecording: the member token (checked by the same function as
// room files) of the recorder or of an agent; or the room owner's login.
func (s *server) mayDownloadRecording(r *http.Request, rec *pb.RecordingRecord) bool {
	if t := r.URL.Query().Get("t"); t != "" {
		c, refused, err := s.verifyMember(r, t, rec.RoomId)
		return err == nil && refused == nil && (pb.Role(c.Role) == pb.Role_ROLE_AGENT || c.MemberID == rec.ByMember)
	}
	if rec.OwnerAgentId == "" {
		return false
	}
	who, err := (&agentWeb{server: s}).session(r)
	return err == nil && who.Error == nil && who.Id == rec.OwnerAgentId
}

func (s *server) downloadRecording(w http.ResponseWriter, r *http.Request) {
	rec, found, err := s.getRecording(r.PathValue("room"), r.PathValue("id"))
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The recording could not be read.")
		return
	}
	if !found || !s.mayDownloadRecording(r, rec) {
		// Unknown and forbidden look alike, so ids cannot be probed.
		apiError(w, http.StatusNotFound, "recording_not_found", "There is no recording here for you.")
		return
	}
	s.serveRecording(w, r, rec)
}

// serveRecording sends a recording's zip to a caller already allowed to have it.
func (s *server) serveRecording(w http.ResponseWriter, r *http.Request, rec *pb.RecordingRecord) {
	f, err := os.Open(filepath.Join(s.recordingDir(rec.RoomId, rec.Id), "recording.zip"))
	if err != nil {
		apiError(w, http.StatusNotFound, "recording_not_found", "This recording is no longer on the server.")
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	name := "recording-" + rec.RoomId + "-" + time.UnixMilli(rec.CreatedAtMs).UTC().Format("20060102-150405") + ".zip"
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", time.Time{}, f)
}

type recordingJSON struct {
	ID          string `json:"id"`
	Room        string `json:"room"`
	State       string `json:"state"`
	CreatedAtMs int64  `json:"createdAtMs"`
	StartedAtMs int64  `json:"startedAtMs,omitempty"`
	EndedAtMs   int64  `json:"endedAtMs,omitempty"`
	DurationMs  int64  `json:"durationMs,omitempty"`
	Size        int64  `json:"size,omitempty"`
	By          string `json:"by"`
	Saved       bool   `json:"saved"`
	Mixed       bool   `json:"mixed"`
	Note        string `json:"note,omitempty"`
	Error       string `json:"error,omitempty"`
	URL         string `json:"url,omitempty"`
}

// downloadable says whether a recording has a zip to fetch.
func downloadable(rec *pb.RecordingRecord) bool {
	return rec.State == persistence.RecordingDone || rec.State == persistence.RecordingInterrupted && rec.Size > 0
}

// maxListedRecordings bounds one list of recordings.
const maxListedRecordings = 1000

// recordingsWhere lists the recordings of a room ("" for every room) that
// are not deleted and that keep accepts, newest last; a downloadable one's
// URL is urlBase/<room>/<id> (the agent page and the admin panel download
// through different routes).
func (s *server) recordingsWhere(room, urlBase string, keep func(*pb.RecordingRecord) bool) ([]recordingJSON, error) {
	out := []recordingJSON{}
	err := persistence.ListRecordings(s.Store, room, func(rec *pb.RecordingRecord) bool {
		if rec.State == persistence.RecordingDeleted || !keep(rec) {
			return true
		}
		j := recordingJSON{ID: rec.Id, Room: rec.RoomId, State: rec.State, CreatedAtMs: rec.CreatedAtMs,
			StartedAtMs: rec.StartedAtMs, EndedAtMs: rec.EndedAtMs, DurationMs: rec.DurationMs, Size: rec.Size,
			By: rec.ByName, Saved: rec.SaveServer, Mixed: rec.Mixed, Note: rec.Note, Error: rec.Error}
		if downloadable(rec) {
			j.URL = urlBase + "/" + rec.RoomId + "/" + rec.Id
		}
		out = append(out, j)
		return len(out) < maxListedRecordings
	})
	return out, err
}

// listRecordings lists the recordings of the agent's rooms, newest last.
func (a *agentWeb) listRecordings(w http.ResponseWriter, r *http.Request, agentID string) {
	out, err := a.recordingsWhere("", "/recordings", func(rec *pb.RecordingRecord) bool { return rec.OwnerAgentId == agentID })
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The recordings could not be listed.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": out})
}

// errRecordingRunning refuses to delete a recording still being written.
var errRecordingRunning = errors.New("recording running")

// removeRecording removes a finished recording's files; its index entry
// stays, marked deleted, so the list tells what happened.
func (s *server) removeRecording(rec *pb.RecordingRecord) error {
	if rec.State == persistence.RecordingActive {
		return errRecordingRunning
	}
	if err := os.RemoveAll(s.recordingDir(rec.RoomId, rec.Id)); err != nil {
		s.Log.Warn("remove recording", zap.String("recording", rec.Id), zap.Error(err))
		return err
	}
	rec.State = persistence.RecordingDeleted
	return persistence.PutRecording(s.Store, rec)
}

// writeRemoveError answers a failed removeRecording.
func writeRemoveError(w http.ResponseWriter, err error) {
	if errors.Is(err, errRecordingRunning) {
		apiError(w, http.StatusConflict, "recording_running", "Stop the recording before deleting it.")
		return
	}
	apiError(w, http.StatusInternalServerError, "internal", "The recording could not be removed.")
}

// deleteRecording removes one of the agent's recordings.
func (a *agentWeb) deleteRecording(w http.ResponseWriter, r *http.Request, agentID string) {
	rec, found, err := a.getRecording(r.PathValue("room"), r.PathValue("id"))
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The recording could not be read.")
		return
	}
	if !found || rec.OwnerAgentId != agentID || rec.State == persistence.RecordingDeleted {
		apiError(w, http.StatusNotFound, "recording_not_found", "This recording is not in your list.")
		return
	}
	if err := a.removeRecording(rec); err != nil {
		writeRemoveError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// recordingOptionsJSON is a room's recording options in the room API; when
// given, it replaces the server's defaults for that room (absent fields are
// false).
type recordingOptionsJSON struct {
	Enabled    bool `json:"enabled"`
	Download   bool `json:"download"`
	SaveServer bool `json:"saveServer"`
	AutoStart  bool `json:"autoStart"`
	Visitors   bool `json:"visitors"`
}

func recordingOptionsView(o *pb.RecordingOptions) *recordingOptionsJSON {
	if o == nil {
		return nil
	}
	return &recordingOptionsJSON{Enabled: o.Enabled, Download: o.Download, SaveServer: o.SaveServer,
		AutoStart: o.AutoStart, Visitors: o.Visitors}
}

func (o *recordingOptionsJSON) options() *pb.RecordingOptions {
	if o == nil {
		return nil
	}
	return &pb.RecordingOptions{Enabled: o.Enabled, Download: o.Download, SaveServer: o.SaveServer,
		AutoStart: o.AutoStart, Visitors: o.Visitors}
}
