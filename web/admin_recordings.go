package web

import (
	"net/http"
	"strconv"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// Call recordings in the admin panel: every room's, not only one agent's.
// Listing and removal are the agent page's (recordings.go); only who may
// see and act differs. Supervisors may list, download and delete, as they
// may with room files.

func (d *adminWeb) recordingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/admin/recordings", d.with(needSupervisor, d.listAllRecordings))
	mux.HandleFunc("GET /api/admin/recordings/{room}/{id}", d.with(needSupervisor, d.downloadAnyRecording))
	mux.HandleFunc("DELETE /api/admin/recordings/{room}/{id}", d.with(needSupervisor, d.deleteAnyRecording))
}

func (d *adminWeb) listAllRecordings(w http.ResponseWriter, r *http.Request, who *adminWho) {
	room := r.URL.Query().Get("room")
	if room != "" && !persistence.ValidID(room) {
		apiError(w, http.StatusBadRequest, "invalid", "Not a room id.")
		return
	}
	out, err := d.recordingsWhere(room, "/api/admin/recordings", func(*pb.RecordingRecord) bool { return true })
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The recordings could not be listed.")
		return
	}
	used, count := diskUsed(d.RecordingsDir)
	writeJSON(w, http.StatusOK, map[string]any{"recordings": out, "diskBytes": used, "diskFiles": count})
}

// liveRecording finds a recording that is not deleted, or answers 404.
func (d *adminWeb) liveRecording(w http.ResponseWriter, r *http.Request) (*pb.RecordingRecord, bool) {
	rec, found, err := d.getRecording(r.PathValue("room"), r.PathValue("id"))
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The recording could not be read.")
		return nil, false
	}
	if !found || rec.State == persistence.RecordingDeleted {
		apiError(w, http.StatusNotFound, "recording_not_found", "This recording does not exist.")
		return nil, false
	}
	return rec, true
}

func (d *adminWeb) downloadAnyRecording(w http.ResponseWriter, r *http.Request, who *adminWho) {
	if rec, ok := d.liveRecording(w, r); ok {
		d.serveRecording(w, r, rec)
	}
}

func (d *adminWeb) deleteAnyRecording(w http.ResponseWriter, r *http.Request, who *adminWho) {
	rec, ok := d.liveRecording(w, r)
	if !ok || !confirmed(w, r, rec.Id) {
		return
	}
	if err := d.removeRecording(rec); err != nil {
		writeRemoveError(w, err)
		return
	}
	d.auditAs(r, who, "recording.delete", rec.RoomId+"/"+rec.Id, "by "+rec.ByName+", "+strconv.FormatInt(rec.Size, 10)+" bytes")
	w.WriteHeader(http.StatusNoContent)
}
