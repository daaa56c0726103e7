package web

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"liveroom/audit"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

type chatJSON struct {
	RoomID   string `json:"roomId"`
	Seq      uint64 `json:"seq"`
	SentAtMs int64  `json:"sentAtMs"`
	MemberID string `json:"memberId"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Text     string `json:"text"`
	FileID   string `json:"fileId,omitempty"`
	FileName string `json:"fileName,omitempty"`
	FileSize int64  `json:"fileSize,omitempty"`
}

func chatView(m *pb.ChatMessage) chatJSON {
	c := chatJSON{RoomID: m.RoomId, Seq: m.Seq, SentAtMs: m.SentAtMs, MemberID: m.MemberId, Name: m.Name,
		Role: roleName(m.Role), Text: m.Text}
	if m.File != nil {
		c.FileID, c.FileName, c.FileSize = m.File.Id, m.File.Name, m.File.Size
	}
	return c
}

// chatMatch says whether a message's text or file name holds q (lower case).
func chatMatch(m *pb.ChatMessage, q string) bool {
	return q == "" || strings.Contains(strings.ToLower(m.Text), q) ||
		m.File != nil && strings.Contains(strings.ToLower(m.File.Name), q)
}

func (d *adminWeb) roomChat(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "room_not_found", "This room does not exist.")
		return
	}
	q := strings.ToLower(r.URL.Query().Get("q"))
	msgs, next, err := page(d.Store, persistence.ChatPrefix(id), r.URL.Query().Get("cursor"),
		queryInt(r, "limit", 100, 1, maxPage), maxScan, func() *pb.ChatMessage { return &pb.ChatMessage{} },
		func(_ []byte, m *pb.ChatMessage) bool { return chatMatch(m, q) })
	d.writeChat(w, msgs, next, err)
}

func (d *adminWeb) searchChat(w http.ResponseWriter, r *http.Request, who *adminWho) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if q == "" {
		apiError(w, http.StatusBadRequest, "invalid", "Give the text to search for in ?q=.")
		return
	}
	msgs, next, err := page(d.Store, persistence.ChatRoot(), r.URL.Query().Get("cursor"),
		queryInt(r, "limit", 100, 1, maxPage), maxScan, func() *pb.ChatMessage { return &pb.ChatMessage{} },
		func(_ []byte, m *pb.ChatMessage) bool { return chatMatch(m, q) })
	d.writeChat(w, msgs, next, err)
}

func (d *adminWeb) writeChat(w http.ResponseWriter, msgs []*pb.ChatMessage, next string, err error) {
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The history could not be read.")
		return
	}
	out := make([]chatJSON, len(msgs))
	for i, m := range msgs {
		out[i] = chatView(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "next": next})
}

// maxExportRows bounds one export; a larger history is exported in pages
// with ?cursor= (the X-Next-Cursor header of the previous one).
const maxExportRows = 100_000

var chatColumns = []string{"room", "seq", "sent_at", "member_id", "name", "role", "text", "file_id", "file_name", "file_size"}

func chatRow(c chatJSON) []string {
	size := ""
	if c.FileID != "" {
		size = strconv.FormatInt(c.FileSize, 10)
	}
	return []string{c.RoomID, strconv.FormatUint(c.Seq, 10), time.UnixMilli(c.SentAtMs).UTC().Format(time.RFC3339),
		c.MemberID, c.Name, c.Role, c.Text, c.FileID, c.FileName, size}
}

func (d *adminWeb) exportRoom(w http.ResponseWriter, r *http.Request, who *adminWho) {
	id := r.PathValue("id")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "room_not_found", "This room does not exist.")
		return
	}
	d.exportChat(w, r, who, persistence.ChatPrefix(id), "", "room-"+id)
}

func (d *adminWeb) exportSearch(w http.ResponseWriter, r *http.Request, who *adminWho) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	if q == "" {
		apiError(w, http.StatusBadRequest, "invalid", "Give the text to search for in ?q=.")
		return
	}
	d.exportChat(w, r, who, persistence.ChatRoot(), q, "chat-search")
}

// exportChat streams matching messages as CSV or JSON, a chunk of the store
// at a time; nothing is built in memory. The audit log records the export.
func (d *adminWeb) exportChat(w http.ResponseWriter, r *http.Request, who *adminWho, prefix []byte, q, name string) {
	ex, ok := newExporter(w, r, name, chatColumns)
	if !ok {
		return
	}
	after, _ := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("cursor"))
	limit := queryInt(r, "limit", maxExportRows, 1, maxExportRows)
	d.auditAs(r, who, "chat.export", string(prefix), "q="+q)
	rows := 0
	var derr error
	_, err := walk(d.Store, prefix, after, 0, func(k, v []byte) bool {
		m := &pb.ChatMessage{}
		if derr = proto.Unmarshal(v, m); derr != nil {
			return false
		}
		if !chatMatch(m, q) {
			return true
		}
		c := chatView(m)
		if !ex.row(chatRow(c), c) {
			return false
		}
		rows++
		return rows < limit
	})
	ex.finish(errors.Join(err, derr))
}

// exporter writes rows as CSV or a JSON array straight to the response.
type exporter struct {
	w     http.ResponseWriter
	csv   *csv.Writer
	enc   *json.Encoder
	first bool
	n     int
}

func newExporter(w http.ResponseWriter, r *http.Request, name string, columns []string) (*exporter, bool) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		apiError(w, http.StatusBadRequest, "invalid", "format must be csv or json.")
		return nil, false
	}
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="`+name+"."+format+`"`)
	ex := &exporter{w: w, first: true}
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		ex.csv = csv.NewWriter(w)
		_ = ex.csv.Write(columns)
	} else {
		h.Set("Content-Type", "application/json")
		ex.enc = json.NewEncoder(w)
		_, _ = w.Write([]byte("[\n"))
	}
	return ex, true
}

// csvSafe keeps a spreadsheet from running a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (e *exporter) row(cells []string, v any) bool {
	e.n++
	if e.csv != nil {
		for i := range cells {
			cells[i] = csvSafe(cells[i])
		}
		if e.csv.Write(cells) != nil {
			return false
		}
		if e.n%scanChunk == 0 {
			e.csv.Flush()
			return e.csv.Error() == nil
		}
		return true
	}
	if !e.first {
		if _, err := e.w.Write([]byte(",")); err != nil {
			return false
		}
	}
	e.first = false
	return e.enc.Encode(v) == nil
}

// finish ends the document; an error after the first bytes can only cut it
// short, which a CSV reader sees as missing rows and a JSON parser as an error.
func (e *exporter) finish(err error) {
	if e.csv != nil {
		e.csv.Flush()
		return
	}
	if err == nil {
		_, _ = e.w.Write([]byte("]\n"))
	}
}

// ---------- files ----------

type fileJSON struct {
	RoomID      string `json:"roomId"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
	OnDisk      bool   `json:"onDisk"`
}

// fileKeyParts splits file/<room>/<id>.
func fileKeyParts(k []byte) (room, id string) {
	rest := strings.TrimPrefix(string(k), string(persistence.FileRoot()))
	room, id, _ = strings.Cut(rest, "/")
	return room, id
}

func (d *adminWeb) listFiles(w http.ResponseWriter, r *http.Request, who *adminWho) {
	prefix := persistence.FileRoot()
	if room := r.URL.Query().Get("room"); room != "" {
		if !persistence.ValidID(room) {
			apiError(w, http.StatusBadRequest, "invalid", "Not a room id.")
			return
		}
		prefix = persistence.FilePrefix(room)
	}
	out := []fileJSON{}
	refs, next, err := page(d.Store, prefix, r.URL.Query().Get("cursor"), queryInt(r, "limit", 100, 1, maxPage), maxScan,
		func() *pb.FileRef { return &pb.FileRef{} },
		func(k []byte, f *pb.FileRef) bool {
			room, id := fileKeyParts(k)
			_, statErr := os.Stat(d.filePath(room, id))
			out = append(out, fileJSON{room, id, f.Name, f.Size, f.ContentType, statErr == nil})
			return true
		})
	_ = refs
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The files could not be read.")
		return
	}
	// Disk used counts call recordings too: they share the data folder and
	// are usually the larger part.
	upBytes, upFiles := diskUsed(d.FilesDir)
	recBytes, recFiles := diskUsed(d.RecordingsDir)
	writeJSON(w, http.StatusOK, map[string]any{"files": out, "next": next, "diskBytes": upBytes + recBytes,
		"diskFiles": upFiles + recFiles, "uploadBytes": upBytes, "uploadFiles": upFiles,
		"recordingBytes": recBytes, "recordingFiles": recFiles})
}

// diskUsed adds up the sizes of the files under dir.
func diskUsed(dir string) (bytes int64, files int) {
	_ = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() && path != dir && strings.HasPrefix(e.Name(), ".") {
			return filepath.SkipDir // not a room's (recordings in files_dir/.recordings count apart)
		}
		if err != nil || e.IsDir() {
			return nil
		}
		if info, err := e.Info(); err == nil {
			bytes += info.Size()
			files++
		}
		return nil
	})
	return bytes, files
}

func (d *adminWeb) fileRef(w http.ResponseWriter, r *http.Request) (room, id string, ref *pb.FileRef, ok bool) {
	room, id = r.PathValue("room"), r.PathValue("file")
	if !persistence.ValidID(room) || !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "file_not_found", "This file does not exist.")
		return "", "", nil, false
	}
	ref = &pb.FileRef{}
	found, err := persistence.GetRecord(d.Store, persistence.FileKey(room, id), ref)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The file could not be read.")
		return "", "", nil, false
	}
	if !found {
		apiError(w, http.StatusNotFound, "file_not_found", "This file does not exist.")
		return "", "", nil, false
	}
	return room, id, ref, true
}

func (d *adminWeb) downloadFile(w http.ResponseWriter, r *http.Request, who *adminWho) {
	room, id, ref, ok := d.fileRef(w, r)
	if !ok {
		return
	}
	f, err := os.Open(d.filePath(room, id))
	if err != nil {
		apiError(w, http.StatusNotFound, "file_not_found", "This file is no longer on the server.")
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", contentDisposition(ref.Name))
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (d *adminWeb) deleteFile(w http.ResponseWriter, r *http.Request, who *adminWho) {
	room, id, ref, ok := d.fileRef(w, r)
	if !ok || !confirmed(w, r, id) {
		return
	}
	if err := d.Store.Delete(persistence.FileKey(room, id)); err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The file could not be deleted.")
		return
	}
	if err := os.Remove(d.filePath(room, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		apiError(w, http.StatusInternalServerError, "internal", "The file's record is gone but the file could not be removed.")
		return
	}
	d.auditAs(r, who, "file.delete", room+"/"+id, ref.Name)
	w.WriteHeader(http.StatusNoContent)
}

// ---------- offline messages and entry forms across agents ----------

func (d *adminWeb) listOfflineAll(w http.ResponseWriter, r *http.Request, who *adminWho) {
	prefix := persistence.OfflineRoot()
	if a := r.URL.Query().Get("agent"); a != "" {
		if !persistence.ValidID(a) {
			apiError(w, http.StatusBadRequest, "invalid", "Not an agent id.")
			return
		}
		prefix = persistence.OfflinePrefix(a)
	}
	msgs, next, err := page(d.Store, prefix, r.URL.Query().Get("cursor"), queryInt(r, "limit", 100, 1, maxPage), maxScan,
		func() *pb.OfflineMessage { return &pb.OfflineMessage{} }, func([]byte, *pb.OfflineMessage) bool { return true })
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The messages could not be read.")
		return
	}
	type offline struct {
		AgentID string `json:"agentId"`
		offlineJSON
	}
	out := make([]offline, len(msgs))
	for i, m := range msgs {
		out[i] = offline{m.AgentId, offlineJSON{m.Id, m.RoomId, m.Name, m.Email, m.Text, m.PageUrl, m.ReceivedAtMs, m.Mailed, m.MailError}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "next": next})
}

func (d *adminWeb) listEntries(w http.ResponseWriter, r *http.Request, who *adminWho) {
	prefix := persistence.EntryRoot()
	if room := r.URL.Query().Get("room"); room != "" {
		if !persistence.ValidID(room) {
			apiError(w, http.StatusBadRequest, "invalid", "Not a room id.")
			return
		}
		prefix = persistence.EntryPrefix(room)
	}
	type entry struct {
		RoomID     string `json:"roomId"`
		MemberID   string `json:"memberId"`
		Name       string `json:"name"`
		Email      string `json:"email,omitempty"`
		AvatarURL  string `json:"avatarUrl,omitempty"`
		JoinedAtMs int64  `json:"joinedAtMs"`
	}
	out := []entry{}
	_, next, err := page(d.Store, prefix, r.URL.Query().Get("cursor"), queryInt(r, "limit", 100, 1, maxPage), maxScan,
		func() *pb.EntryRecord { return &pb.EntryRecord{} },
		func(k []byte, e *pb.EntryRecord) bool {
			room, _, _ := strings.Cut(strings.TrimPrefix(string(k), string(persistence.EntryRoot())), "/")
			out = append(out, entry{room, e.MemberId, e.Name, e.Email, e.AvatarUrl, e.JoinedAtMs})
			return true
		})
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The entries could not be read.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next": next})
}

// ---------- audit log ----------

type auditJSON struct {
	AtMs   int64  `json:"atMs"`
	Actor  string `json:"actor"`
	Role   string `json:"role"`
	Action string `json:"action"`
	Target string `json:"target"`
	Detail string `json:"detail"`
	IP     string `json:"ip"`
}

func auditView(a *pb.AuditRecord) auditJSON {
	return auditJSON{a.AtMs, a.Actor, a.Role, a.Action, a.Target, a.Detail, a.Ip}
}

func auditQuery(r *http.Request) (audit.Query, bool) {
	from, ok1 := queryTime(r, "from")
	to, ok2 := queryTime(r, "to")
	q := audit.Query{Text: strings.TrimSpace(r.URL.Query().Get("q")), FromMs: from, ToMs: to, MaxScan: maxScan}
	if c, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("cursor")); err == nil {
		q.Before = string(c)
	}
	return q, ok1 && ok2
}

func (d *adminWeb) listAudit(w http.ResponseWriter, r *http.Request, who *adminWho) {
	q, ok := auditQuery(r)
	if !ok {
		apiError(w, http.StatusBadRequest, "invalid", "from and to must be dates (2006-01-02) or RFC 3339 times.")
		return
	}
	q.Limit = queryInt(r, "limit", 100, 1, maxPage)
	out := []auditJSON{}
	next, err := audit.List(d.Store, q, func(_ string, a *pb.AuditRecord) bool {
		out = append(out, auditView(a))
		return true
	})
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The audit log could not be read.")
		return
	}
	if next != "" {
		next = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out, "next": next})
}

func (d *adminWeb) exportAudit(w http.ResponseWriter, r *http.Request, who *adminWho) {
	q, ok := auditQuery(r)
	if !ok {
		apiError(w, http.StatusBadRequest, "invalid", "from and to must be dates (2006-01-02) or RFC 3339 times.")
		return
	}
	q.Limit = queryInt(r, "limit", maxExportRows, 1, maxExportRows)
	ex, ok := newExporter(w, r, "audit", []string{"at", "actor", "role", "action", "target", "detail", "ip"})
	if !ok {
		return
	}
	// Page by page, so no store iterator stays open while a slow client reads.
	left, scanned := q.Limit, 0
	var err error
	for left > 0 && scanned < maxExportRows*10 {
		var rows []*pb.AuditRecord
		page := q
		page.Limit, page.MaxScan = min(left, scanChunk), scanChunk
		var next string
		next, err = audit.List(d.Store, page, func(_ string, a *pb.AuditRecord) bool {
			rows = append(rows, a)
			return true
		})
		if err != nil {
			break
		}
		for _, a := range rows {
			if !ex.row([]string{time.UnixMilli(a.AtMs).UTC().Format(time.RFC3339), a.Actor, a.Role, a.Action,
				a.Target, a.Detail, a.Ip}, auditView(a)) {
				ex.finish(nil)
				return
			}
		}
		left -= len(rows)
		scanned += scanChunk
		if next == "" {
			break
		}
		q.Before = next
	}
	ex.finish(err)
}
