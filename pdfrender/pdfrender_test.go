package pdfrender

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"liveroom/internal/pdftest"
)

// testCache keeps the compiled engine between test runs on this machine.
func testCache(t *testing.T) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return filepath.Join(dir, "liveroom-test", "pdfium")
}

func TestRenderPagesAndRefuseBadFiles(t *testing.T) {
	r := New(testCache(t), zap.NewNop())
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pages, err := r.Render(ctx, pdftest.Pages(3), 10, 600, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 3 {
		t.Fatalf("%d pages", len(pages))
	}
	for i, p := range pages {
		if p.Width != 600 || p.Height != 400 {
			t.Fatalf("page %d is %dx%d", i, p.Width, p.Height)
		}
		img, err := png.Decode(bytes.NewReader(p.PNG))
		if err != nil {
			t.Fatal(err)
		}
		r, g, b, _ := img.At(300, 200).RGBA()
		want := pdftest.Colours[i]
		if (r>>8 > 128) != (want[0] > 0.5) || (g>>8 > 100) != (want[1] > 0.5) || (b>>8 > 128) != (want[2] > 0.5) {
			t.Fatalf("page %d centre is %d,%d,%d, want %v", i, r>>8, g>>8, b>>8, want)
		}
		r, g, b, _ = img.At(5, 5).RGBA()
		if r>>8 < 250 || g>>8 < 250 || b>>8 < 250 {
			t.Fatalf("page %d corner is not white: %d,%d,%d", i, r>>8, g>>8, b>>8)
		}
	}
	if _, err := r.Render(ctx, pdftest.Pages(12), 10, 100, 5*time.Minute); !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("12 pages with a limit of 10: %v", err)
	}
	for _, bad := range [][]byte{[]byte("%PDF-1.4 nothing else"), []byte("GIF89a"), pdftest.Pages(2)[:200]} {
		if _, err := r.Render(ctx, bad, 10, 100, 5*time.Minute); !errors.Is(err, ErrBroken) && !errors.Is(err, ErrNoPages) {
			t.Fatalf("broken file: %v", err)
		}
	}
	// A render past its deadline is given up, and the engine still works after.
	expired, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := r.Render(expired, pdftest.Pages(40), 50, 2000, 5*time.Minute); !errors.Is(err, ErrTimeout) && err != nil {
		t.Fatalf("expired deadline: %v", err)
	}
	if pages, err := r.Render(ctx, pdftest.Pages(1), 10, 100, 5*time.Minute); err != nil || len(pages) != 1 {
		t.Fatalf("after a timeout: %v", err)
	}
}
