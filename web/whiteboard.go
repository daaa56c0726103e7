package web

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image.DecodeConfig learns GIF
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/access"
	"liveroom/pdfrender"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

// WhiteboardDeps are what the whiteboard's image and PDF uploads need.
type WhiteboardDeps struct {
	ImageBytes int64
	PDFBytes   int64
	PDFPages   int
	PDFTimeout time.Duration
	// Renderer renders PDF pages; nil refuses PDFs.
	Renderer *pdfrender.Renderer
}

// Images larger than this in either direction are refused: a browser would
// have to decode them for every member.
const (
	maxImageSide   = 8192
	maxImagePixels = 40 << 20
	// pdfPageWidth is the width PDF pages are rendered at, in pixels.
	pdfPageWidth = 1600
)

var imageTypes = map[string]string{"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif"}

func (s *server) whiteboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/rooms/{id}/wb/images", s.wbUploadImage)
	mux.HandleFunc("POST /api/rooms/{id}/wb/pdf", s.wbUploadPDF)
	mux.HandleFunc("GET /wb/{room}/{image}", s.wbImage)
}

func (s *server) wbImagePath(room, id string) string {
	return filepath.Join(s.FilesDir, room, "wb-"+id)
}

// wbMember checks the bearer token and asks the board whether its member
// may add to it now (has the board, may draw, agent for agentOnly).
func (s *server) wbMember(w http.ResponseWriter, r *http.Request, agentOnly bool) (string, access.Claims, bool) {
	room := r.PathValue("id")
	claims, ok := s.member(w, r, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), room,
		"Only members of this room can add to its whiteboard.")
	if !ok {
		return "", claims, false
	}
	if agentOnly && pb.Role(claims.Role) != pb.Role_ROLE_AGENT {
		apiError(w, http.StatusForbidden, "forbidden", "Only the agent can open a PDF on the whiteboard.")
		return "", claims, false
	}
	ctx, cancel := requestContext(r)
	defer cancel()
	reply, err := s.Node.Whiteboard(ctx, room, &pb.WbCheckMember{MemberId: claims.MemberID, Role: pb.Role(claims.Role), AgentOnly: agentOnly})
	if err != nil {
		unavailable(w)
		return "", claims, false
	}
	if reply.Error != nil {
		apiError(w, http.StatusForbidden, reply.Error.Code, reply.Error.Message)
		return "", claims, false
	}
	return room, claims, true
}

// storeImage writes an image file and its record; body must hold a PNG,
// JPEG or GIF no larger than the limits.
func (s *server) storeImage(room string, body io.Reader) (*pb.WbImage, error) {
	if err := os.MkdirAll(filepath.Join(s.FilesDir, room), 0o750); err != nil {
		return nil, err
	}
	id := newID(16)
	final := s.wbImagePath(room, id)
	part := final + ".part"
	size, err := saveStream(part, body)
	if err != nil {
		_ = os.Remove(part)
		return nil, err
	}
	img, err := checkImage(part)
	if err != nil {
		_ = os.Remove(part)
		return nil, err
	}
	img.Id, img.Size = id, size
	raw, err := proto.Marshal(img)
	if err == nil {
		err = os.Rename(part, final)
	}
	if err == nil {
		err = s.Store.Set(persistence.WbImageKey(room, id), raw)
	}
	if err != nil {
		_ = os.Remove(part)
		_ = os.Remove(final)
		return nil, err
	}
	return img, nil
}

// errNotImage is shown to the member as it is.
var errNotImage = errors.New("only PNG, JPEG and GIF images up to 8192 pixels a side can go on the whiteboard")

// checkImage reads only the image header: its type and size, never the pixels.
func checkImage(path string) (*pb.WbImage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	ctype, known := imageTypes[format]
	if err != nil || !known || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImageSide ||
		cfg.Height > maxImageSide || cfg.Width*cfg.Height > maxImagePixels {
		return nil, errNotImage
	}
	return &pb.WbImage{ContentType: ctype, Width: uint32(cfg.Width), Height: uint32(cfg.Height)}, nil
}

func (s *server) wbUploadImage(w http.ResponseWriter, r *http.Request) {
	limit := fmt.Sprintf("Whiteboard images may be at most %d KB.", s.Whiteboard.ImageBytes>>10)
	if r.ContentLength > s.Whiteboard.ImageBytes {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", limit)
		return
	}
	room, _, ok := s.wbMember(w, r, false)
	if !ok {
		return
	}
	img, err := s.storeImage(room, http.MaxBytesReader(w, r.Body, s.Whiteboard.ImageBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", limit)
	case errors.Is(err, errNotImage):
		apiError(w, http.StatusUnsupportedMediaType, "not_an_image", "This file cannot go on the whiteboard: "+errNotImage.Error()+".")
	case err != nil:
		s.Log.Info("whiteboard image upload failed", zap.String("room", room), zap.Error(err))
		apiError(w, http.StatusBadRequest, "upload_failed", "The image could not be stored.")
	default:
		s.Metrics.UploadedBytes.Add(float64(img.Size))
		writeProto(w, http.StatusCreated, img)
	}
}

func (s *server) wbUploadPDF(w http.ResponseWriter, r *http.Request) {
	limit := fmt.Sprintf("PDFs on the whiteboard may be at most %d MB.", s.Whiteboard.PDFBytes>>20)
	if r.ContentLength > s.Whiteboard.PDFBytes {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", limit)
		return
	}
	if s.Whiteboard.Renderer == nil {
		apiError(w, http.StatusNotImplemented, "pdf_unavailable", "This server does not render PDFs.")
		return
	}
	room, claims, ok := s.wbMember(w, r, true)
	if !ok {
		return
	}
	// Bounded by PDFBytes; the engine needs the whole file anyway.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.Whiteboard.PDFBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", limit)
		return
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, "upload_failed", "The upload did not complete.")
		return
	}
	if !bytes.HasPrefix(bytes.TrimLeft(data[:min(len(data), 1024)], "\x00\t\n\r "), []byte("%PDF-")) {
		apiError(w, http.StatusUnsupportedMediaType, "not_a_pdf", "This file is not a PDF.")
		return
	}
	// Rendering runs here, on the request's goroutine, never in the grain.
	start := time.Now()
	pages, err := s.Whiteboard.Renderer.Render(r.Context(), data, s.Whiteboard.PDFPages, pdfPageWidth, s.Whiteboard.PDFTimeout)
	if err != nil {
		s.Log.Info("PDF refused", zap.String("room", room), zap.Error(err), zap.Duration("took", time.Since(start)))
		code := "pdf_broken"
		switch {
		case errors.Is(err, pdfrender.ErrEncrypted):
			code = "pdf_encrypted"
		case errors.Is(err, pdfrender.ErrTooManyPages):
			code = "pdf_too_many_pages"
		case errors.Is(err, pdfrender.ErrTimeout):
			code = "pdf_timeout"
		case errors.Is(err, pdfrender.ErrNoPages):
			code = "pdf_no_pages"
		}
		apiError(w, http.StatusUnprocessableEntity, code, "This PDF cannot be shown: "+err.Error()+".")
		return
	}
	var out []*pb.WbPage
	for _, p := range pages {
		img, err := s.storeImage(room, bytes.NewReader(p.PNG))
		if err != nil {
			s.Log.Error("store PDF page", zap.String("room", room), zap.Error(err))
			apiError(w, http.StatusInternalServerError, "internal", "The PDF's pages could not be stored.")
			return
		}
		out = append(out, &pb.WbPage{BackgroundId: img.Id, BackgroundW: img.Width, BackgroundH: img.Height})
	}
	ctx, cancel2 := requestContext(r)
	defer cancel2()
	reply, err := s.Node.Whiteboard(ctx, room, &pb.WbAddPages{MemberId: claims.MemberID, Role: pb.Role(claims.Role), Pages: out})
	if err != nil {
		unavailable(w)
		return
	}
	if reply.Error != nil {
		apiError(w, http.StatusForbidden, reply.Error.Code, reply.Error.Message)
		return
	}
	s.Log.Info("PDF opened on whiteboard", zap.String("room", room), zap.Int("pages", len(out)), zap.Duration("took", time.Since(start)))
	writeJSON(w, http.StatusCreated, map[string]any{"pages": len(out), "seq": fmt.Sprint(reply.Seq)})
}

// wbImage serves a board image to members, with the type checked at upload.
func (s *server) wbImage(w http.ResponseWriter, r *http.Request) {
	room, id := r.PathValue("room"), r.PathValue("image")
	if _, ok := s.member(w, r, r.URL.Query().Get("t"), room, "Only members of this room can see its whiteboard."); !ok {
		return
	}
	if !persistence.ValidID(id) {
		apiError(w, http.StatusNotFound, "image_not_found", "This image does not exist.")
		return
	}
	img := &pb.WbImage{}
	found, err := persistence.GetRecord(s.Store, persistence.WbImageKey(room, id), img)
	if err != nil || !found {
		apiError(w, http.StatusNotFound, "image_not_found", "This image does not exist.")
		return
	}
	f, err := os.Open(s.wbImagePath(room, id))
	if err != nil {
		apiError(w, http.StatusNotFound, "image_not_found", "This image is no longer on the server.")
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", img.ContentType)
	h.Set("Content-Disposition", "inline")
	// Ids are never reused, so a member's browser may keep the image.
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
}
