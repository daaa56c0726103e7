package web

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// errServerStopping is what a body read returns once shutdown has begun.
var errServerStopping = errors.New("server shutting down")

// bodyDeadline bounds how long reading a request body may wait for its next
// bytes. The read deadline is pushed forward before every read, so a slow
// upload that keeps moving goes on for as long as it needs while one that
// stalls for stall is cut (a fixed ReadTimeout would cut both). When stopping
// closes, every body still being read is cut at once, so a shutdown never
// waits on an upload.
func bodyDeadline(stall time.Duration, stopping <-chan struct{}, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stall <= 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		b := &stallingBody{ReadCloser: r.Body, rc: http.NewResponseController(w), stall: stall}
		r.Body = b
		if stopping != nil {
			done := make(chan struct{})
			defer close(done)
			go func() {
				select {
				case <-stopping:
					b.cut()
				case <-done:
				}
			}()
		}
		next.ServeHTTP(w, r)
	})
}

type stallingBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration

	mu      sync.Mutex
	stopped bool
}

func (b *stallingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return 0, errServerStopping
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.stall))
	b.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.mu.Lock()
		switch {
		case errors.Is(err, io.EOF) && !b.stopped:
			// The body is done: a deadline left behind would cut the
			// connection while the handler still answers. After any other
			// error it stays, so that net/http's drain of the unread rest
			// cannot wait on a stalled client either.
			_ = b.rc.SetReadDeadline(time.Time{})
		case b.stopped && !errors.Is(err, io.EOF):
			err = errServerStopping
		}
		b.mu.Unlock()
	}
	return n, err
}

// cut ends a read in progress and refuses further ones.
func (b *stallingBody) cut() {
	b.mu.Lock()
	b.stopped = true
	_ = b.rc.SetReadDeadline(time.Now())
	b.mu.Unlock()
}

// removeUnfinishedUploads deletes ".part" files under dir that have not been
// written to for olderThan: uploads cut off by a crash or a kill. A younger
// one may belong to an upload still running on another node sharing dir, so
// it is left; every live upload writes at least once per body_stall_seconds.
func removeUnfinishedUploads(dir string, olderThan time.Duration, log *zap.Logger) {
	cutoff := time.Now().Add(-olderThan)
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // not a room's: recordings (.recordings) finish their own files
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".part") {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			log.Warn("remove unfinished upload", zap.String("path", path), zap.Error(err))
		} else {
			log.Info("removed unfinished upload", zap.String("path", path))
		}
		return nil
	})
}
