// Package pdfrender turns the pages of a PDF into PNG images with PDFium,
// compiled to WebAssembly and run in-process by wazero (go-pdfium's
// WebAssembly mode): a real PDF engine without cgo, a browser plugin or a
// helper program. Hostile files are bounded: pages, size (by the caller),
// memory of the engine, and time; a render past its deadline is killed.
package pdfrender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"sync"
	"time"

	"github.com/klippa-app/go-pdfium"
	pdferrors "github.com/klippa-app/go-pdfium/errors"
	"github.com/klippa-app/go-pdfium/requests"
	"github.com/klippa-app/go-pdfium/webassembly"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"go.uber.org/zap"
)

// Errors a caller can show as they are.
var (
	ErrBroken       = errors.New("the file is not a readable PDF")
	ErrEncrypted    = errors.New("the PDF is protected by a password")
	ErrTooManyPages = errors.New("the PDF has too many pages")
	ErrNoPages      = errors.New("the PDF has no pages")
	ErrTimeout      = errors.New("the PDF took too long to render")
)

// memoryPages bounds the engine's memory (64 KiB pages): 512 MiB.
const memoryPages = 8192

// Renderer renders PDFs one at a time. The engine is compiled on first use
// (seconds of CPU), with the compiled code cached in cacheDir when given.
type Renderer struct {
	cacheDir string
	log      *zap.Logger

	mu   sync.Mutex // one render at a time; also guards pool
	pool pdfium.Pool
}

// New returns a renderer; nothing is compiled until the first Render.
func New(cacheDir string, log *zap.Logger) *Renderer {
	return &Renderer{cacheDir: cacheDir, log: log}
}

// Page is one rendered page.
type Page struct {
	PNG           []byte
	Width, Height int
}

func (r *Renderer) instance() (pdfium.Pdfium, error) {
	if r.pool == nil {
		start := time.Now()
		cfg := wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesExceptionHandling).
			WithCloseOnContextDone(true).WithMemoryLimitPages(memoryPages)
		if r.cacheDir != "" {
			if cache, err := wazero.NewCompilationCacheWithDir(r.cacheDir); err == nil {
				cfg = cfg.WithCompilationCache(cache)
			}
		}
		pool, err := webassembly.Init(webassembly.Config{MinIdle: 0, MaxIdle: 1, MaxTotal: 1, RuntimeConfig: cfg})
		if err != nil {
			return nil, fmt.Errorf("start PDF engine: %w", err)
		}
		r.pool = pool
		r.log.Info("PDF engine ready", zap.Duration("took", time.Since(start)))
	}
	return r.pool.GetInstance(30 * time.Second)
}

// Render renders up to maxPages pages of data, each width pixels wide,
// within limit (counted once the engine is ready: compiling it on first use
// is not the file's fault) and ctx. A file with more pages is refused whole.
func (r *Renderer) Render(ctx context.Context, data []byte, maxPages, width int, limit time.Duration) ([]Page, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inst, err := r.instance()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	type result struct {
		pages []Page
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("%w: %v", ErrBroken, p)}
			}
		}()
		pages, err := render(inst, data, maxPages, width)
		done <- result{pages, err}
	}()
	select {
	case res := <-done:
		_ = inst.Close()
		return res.pages, res.err
	case <-ctx.Done():
		// Interrupts the WebAssembly code and throws the instance away; the
		// pool makes a fresh one next time.
		_ = inst.Kill()
		<-done
		return nil, ErrTimeout
	}
}

func render(inst pdfium.Pdfium, data []byte, maxPages, width int) ([]Page, error) {
	doc, err := inst.OpenDocument(&requests.OpenDocument{File: &data})
	if err != nil {
		if errors.Is(err, pdferrors.ErrPassword) || errors.Is(err, pdferrors.ErrSecurity) {
			return nil, ErrEncrypted
		}
		return nil, ErrBroken
	}
	defer func() { _, _ = inst.FPDF_CloseDocument(&requests.FPDF_CloseDocument{Document: doc.Document}) }()
	cnt, err := inst.FPDF_GetPageCount(&requests.FPDF_GetPageCount{Document: doc.Document})
	if err != nil {
		return nil, ErrBroken
	}
	if cnt.PageCount <= 0 {
		return nil, ErrNoPages
	}
	if cnt.PageCount > maxPages {
		return nil, fmt.Errorf("%w (%d; at most %d)", ErrTooManyPages, cnt.PageCount, maxPages)
	}
	pages := make([]Page, 0, cnt.PageCount)
	for i := 0; i < cnt.PageCount; i++ {
		res, err := inst.RenderPageInPixels(&requests.RenderPageInPixels{
			Page:  requests.Page{ByIndex: &requests.PageByIndex{Document: doc.Document, Index: i}},
			Width: width,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: page %d: %v", ErrBroken, i+1, err)
		}
		var buf bytes.Buffer
		img := flatten(res.Result.Image)
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
		b := img.Bounds()
		res.Cleanup()
		if err != nil {
			return nil, err
		}
		pages = append(pages, Page{PNG: buf.Bytes(), Width: b.Dx(), Height: b.Dy()})
	}
	return pages, nil
}

// flatten copies the engine's image out of its memory, on white (PDF pages
// without a background are transparent).
func flatten(src *image.RGBA) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			s := src.RGBAAt(b.Min.X+x, b.Min.Y+y)
			a := uint32(s.A)
			// premultiplied colour over white
			i := dst.PixOffset(x, y)
			dst.Pix[i] = uint8(uint32(s.R) + 255 - a)
			dst.Pix[i+1] = uint8(uint32(s.G) + 255 - a)
			dst.Pix[i+2] = uint8(uint32(s.B) + 255 - a)
			dst.Pix[i+3] = 255
		}
	}
	return dst
}

// Close stops the engine.
func (r *Renderer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pool != nil {
		_ = r.pool.Close()
		r.pool = nil
	}
}
