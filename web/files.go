package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SafeFileName keeps a file name displayable and harmless in a header and on
// disk listings: base name only, no control characters, at most 200 bytes.
func SafeFileName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = name[strings.LastIndex(name, "/")+1:]
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		name = "file"
	}
	return name
}

// member checks an access token for room: its signature here, then with
// the room grain that its holder is still a member of this incarnation of
// the room (see actors/room/tokens.go). It writes the refusal itself.
func (s *server) member(w http.ResponseWriter, r *http.Request, token, room, refusal string) (access.Claims, bool) {
	c, refused, err := s.verifyMember(r, token, room)
	switch {
	case err != nil:
		unavailable(w)
		return c, false
	case refused == nil:
		return c, true
	case refused.Code == "unauthorized":
		apiError(w, http.StatusUnauthorized, "unauthorized", refusal)
	default:
		grainError(w, refused)
	}
	return c, false
}

// verifyMember checks a member token and asks the room grain whether its
// holder is a member of this generation of the room now. refused is nil when
// the member may go on; err is set when the grain did not answer.
func (s *server) verifyMember(r *http.Request, token, room string) (c access.Claims, refused *pb.Error, err error) {
	c, err = s.Signer.Verify(token)
	if err != nil || c.Room != room || !persistence.ValidID(room) {
		return c, &pb.Error{Code: "unauthorized"}, nil
	}
	ctx, cancel := requestContext(r)
	defer cancel()
	reply, err := s.Node.Tell(ctx, room, &pb.CheckAccess{MemberId: c.MemberID, Generation: c.Generation})
	if err != nil {
		return c, nil, err
	}
	return c, reply.Error, nil
}

func (s *server) filePath(room, id string) string {
	return filepath.Join(s.FilesDir, room, id)
}

func (s *server) upload(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("id")
	claims, ok := s.member(w, r, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), room,
		"Only members of this room can upload to it.")
	if !ok {
		return
	}
	limit := fmt.Sprintf("Files may be at most %d MB.", s.MaxUploadBytes>>20)
	if r.ContentLength > s.MaxUploadBytes {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", limit)
		return
	}
	name := SafeFileName(r.URL.Query().Get("name"))
	ctype := "application/octet-stream"
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && len(mt) < 128 {
		ctype = mt
	}
	id := newID(16)
	dir := filepath.Join(s.FilesDir, room)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		s.Log.Error("create upload folder", zap.Error(err))
		apiError(w, http.StatusInternalServerError, "internal", "The file could not be stored.")
		return
	}
	final := s.filePath(room, id)
	part := final + ".part"
	size, err := saveStream(part, http.MaxBytesReader(w, r.Body, s.MaxUploadBytes))
	if err != nil {
		_ = os.Remove(part)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiError(w, http.StatusRequestEntityTooLarge, "too_large", limit)
			return
		}
		s.Log.Info("upload failed", zap.String("room", room), zap.Error(err))
		var netErr interface{ Timeout() bool }
		if errors.As(err, &netErr) && netErr.Timeout() {
			apiError(w, http.StatusRequestTimeout, "upload_stalled", "The upload stopped sending data; please try again.")
			return
		}
		apiError(w, http.StatusBadRequest, "upload_failed", "The upload did not complete.")
		return
	}
	if err := os.Rename(part, final); err != nil {
		_ = os.Remove(part)
		apiError(w, http.StatusInternalServerError, "internal", "The file could not be stored.")
		return
	}
	s.Metrics.UploadedBytes.Add(float64(size))
	ctx, cancel := requestContext(r)
	defer cancel()
	reply, err := s.Node.Tell(ctx, room, &pb.PostFile{MemberId: claims.MemberID, Name: claims.Name,
		Role: pb.Role(claims.Role), File: &pb.FileRef{Id: id, Name: name, Size: size, ContentType: ctype},
		Generation: claims.Generation})
	if err != nil || reply.Error != nil {
		_ = os.Remove(final)
		if err != nil {
			unavailable(w)
			return
		}
		grainError(w, reply.Error)
		return
	}
	writeProto(w, http.StatusCreated, reply.Chat)
}

// saveStream copies body to path and syncs it, never holding it whole in memory.
func saveStream(path string, body io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, body)
	if err == nil {
		err = f.Sync()
	}
	return n, errors.Join(err, f.Close())
}

func (s *server) download(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.PathValue("file")
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "file_not_found", "This file does not exist.")
		return
	}
	if _, ok := s.member(w, r, r.URL.Query().Get("t"), room, "Only members of this room can download its files."); !ok {
		return
	}
	raw, err := s.Store.Get(persistence.FileKey(room, id))
	if errors.Is(err, persistence.ErrNotFound) {
		apiError(w, http.StatusNotFound, "file_not_found", "This file does not exist.")
		return
	}
	ref := &pb.FileRef{}
	if err == nil {
		err = proto.Unmarshal(raw, ref)
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", "The file could not be read.")
		return
	}
	f, err := os.Open(s.filePath(room, id))
	if err != nil {
		apiError(w, http.StatusNotFound, "file_not_found", "This file is no longer on the server.")
		return
	}
	defer f.Close()
	h := w.Header()
	// Always a download, never rendered: the type the uploader claimed is not trusted.
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(ref.Name))
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// contentDisposition names the file for every browser: an ASCII fallback and
// the exact UTF-8 name (RFC 6266 / 5987).
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, strings.ReplaceAll(url.QueryEscape(name), "+", "%20"))
}
