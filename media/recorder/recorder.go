// Package recorder writes a call's published tracks to WebM files as the
// media actor forwards them: one file per published track (a participant's
// microphone, camera or screen), a manifest naming who sent what and when,
// and, after the recording ends, an optional mixed file made by ffmpeg.
//
// Nothing here runs a browser or keeps a second copy of the media: each track
// gets a bounded queue and one writer goroutine, so a slow disk drops packets
// for the recording but never delays forwarding.
package recorder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Config is the node's recording setup.
type Config struct {
	// Dir is the folder recordings are written under (one sub-folder per
	// room and recording).
	Dir string
	// MaxDuration stops a recording after this long; 0 means no limit.
	MaxDuration time.Duration
	// MinFreeBytes stops a recording when the disk has less free space.
	MinFreeBytes uint64
	// FFmpeg is the path of the ffmpeg binary for the mixed file; empty
	// means none is made.
	FFmpeg string
	// MixAllowance is what ffmpeg gets for the mixed file on top of twice
	// the recording's length before it is killed (the per-track files are
	// then the result); 0 means a minute.
	MixAllowance time.Duration
	Log          *zap.Logger
	Hooks        Hooks
	// FreeSpace reports the free bytes on dir's disk; nil means the
	// file system's own figure (FreeBytes).
	FreeSpace func(dir string) (uint64, error)
}

// Hooks let the caller count what operators watch; each may be nil.
type Hooks struct {
	// Active is called with +1 when a recording starts and -1 when it ends.
	Active func(delta int)
	// Bytes is called with the bytes written to disk.
	Bytes func(n int)
	// WriteError is called once per recording that fails.
	WriteError func()
}

// Errors that stop a recording.
var (
	ErrDiskFull    = errors.New("the server's disk is nearly full")
	ErrMaxDuration = errors.New("the recording reached its maximum length")
)

// Events tell the owner (the media actor) what happened; they are called
// from the recorder's goroutines, so they must only hand the news over.
type Events struct {
	// FirstByte is called once, when the first media is written.
	FirstByte func(at time.Time)
	// Stopped is called at most once, when the recording must end by itself:
	// a write error, a full disk or the maximum length.
	Stopped func(reason error)
}

// Recording is one recording of one room's call.
type Recording struct {
	cfg    Config
	Room   string
	ID     string
	dir    string
	events Events
	log    *zap.Logger

	mu      sync.Mutex
	t0      time.Time // first byte written; zero until then
	tracks  []*Track
	skipped []ManifestTrack
	serial  int
	stopped bool
	reason  error
	stopCh  chan struct{}
	once    sync.Once
	watchWG sync.WaitGroup
	// journalMu orders lines of the track journal (salvage.go).
	journalMu sync.Mutex
}

// Start creates the recording's folder and starts watching disk space and
// the length limit. Tracks are added with AddTrack.
func Start(cfg Config, room, id string, ev Events) (*Recording, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.FreeSpace == nil {
		cfg.FreeSpace = FreeBytes
	}
	dir := filepath.Join(cfg.Dir, room, id)
	if err := os.MkdirAll(filepath.Join(dir, "tracks"), 0o750); err != nil {
		return nil, err
	}
	r := &Recording{cfg: cfg, Room: room, ID: id, dir: dir, events: ev, stopCh: make(chan struct{}),
		log: cfg.Log.With(zap.String("room", room), zap.String("recording", id))}
	if free, err := cfg.FreeSpace(dir); err == nil && free < cfg.MinFreeBytes {
		_ = os.RemoveAll(dir)
		return nil, ErrDiskFull
	}
	if cfg.Hooks.Active != nil {
		cfg.Hooks.Active(1)
	}
	r.watchWG.Add(1)
	go r.watch()
	return r, nil
}

// Dir is the recording's folder.
func (r *Recording) Dir() string { return r.dir }

// watch ends the recording when the disk runs low or the length limit is
// reached (counted from the first byte).
func (r *Recording) watch() {
	defer r.watchWG.Done()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.stopCh:
			return
		case <-tick.C:
		}
		if free, err := r.cfg.FreeSpace(r.dir); err == nil && free < r.cfg.MinFreeBytes {
			r.fail(ErrDiskFull)
			return
		}
		if r.cfg.MaxDuration > 0 {
			r.mu.Lock()
			t0 := r.t0
			r.mu.Unlock()
			if !t0.IsZero() && time.Since(t0) >= r.cfg.MaxDuration {
				r.fail(ErrMaxDuration)
				return
			}
		}
	}
}

// FreeBytes is the space left for an unprivileged writer on dir's disk.
func FreeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// fail reports the first reason the recording must stop; later ones are
// dropped. Writing stops at once, the owner stops the rest.
func (r *Recording) fail(reason error) {
	r.once.Do(func() {
		r.mu.Lock()
		r.reason = reason
		tracks := append([]*Track(nil), r.tracks...)
		r.mu.Unlock()
		for _, t := range tracks {
			t.halt()
		}
		if !errors.Is(reason, ErrMaxDuration) {
			r.log.Warn("recording failed", zap.Error(reason))
			if r.cfg.Hooks.WriteError != nil {
				r.cfg.Hooks.WriteError()
			}
		}
		if r.events.Stopped != nil {
			r.events.Stopped(reason)
		}
	})
}

// wrote is called by a track when it wrote its first frame, with when that
// frame arrived; the recording's clock starts with the earliest of them
// (writers run side by side, so the first to report is not always the
// earliest to arrive).
func (r *Recording) wrote(at time.Time) {
	r.mu.Lock()
	first := r.t0.IsZero()
	if first || at.Before(r.t0) {
		r.t0 = at
	}
	r.mu.Unlock()
	if first && r.events.FirstByte != nil {
		r.events.FirstByte(at)
	}
}

// TrackInfo describes a published track.
type TrackInfo struct {
	Member, Name, Source string
	// MimeType is the RTP codec, e.g. video/VP8 or audio/opus.
	MimeType  string
	ClockRate uint32
	Channels  uint16
	// Keyframe asks the publisher for a keyframe; may be nil for audio.
	Keyframe func()
}

// AddTrack starts writing a track; nil when the recording has stopped or
// the codec cannot go into WebM (then the manifest says so).
func (r *Recording) AddTrack(info TrackInfo) *Track {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.reason != nil {
		return nil
	}
	r.serial++
	t, err := newTrack(r, info, r.serial)
	if err != nil {
		r.log.Info("track not recorded", zap.String("member", info.Member), zap.String("codec", info.MimeType), zap.Error(err))
		r.skipped = append(r.skipped, ManifestTrack{Member: info.Member, Name: info.Name, Source: info.Source, Codec: info.MimeType})
		return nil
	}
	r.tracks = append(r.tracks, t)
	return t
}

// Stop ends every track and waits until their files are complete. The
// reason the recording stopped by itself, if it did, is returned.
func (r *Recording) Stop() error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return r.reason
	}
	r.stopped = true
	tracks := append([]*Track(nil), r.tracks...)
	r.mu.Unlock()
	close(r.stopCh)
	r.watchWG.Wait()
	for _, t := range tracks {
		t.End()
	}
	for _, t := range tracks {
		<-t.done
	}
	if r.cfg.Hooks.Active != nil {
		r.cfg.Hooks.Active(-1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

// Started is when the first byte was written (zero if never).
func (r *Recording) Started() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.t0
}

func (r *Recording) trackPath(info TrackInfo, serial int) (rel string) {
	return filepath.Join("tracks", fmt.Sprintf("%02d-%s-%s.webm", serial, safe(info.Member), safe(info.Source)))
}

// safe keeps letters, digits, '-' and '_' so a member id is a harmless file name part.
func safe(s string) string {
	out := make([]rune, 0, len(s))
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			out = append(out, c)
		}
		if len(out) >= 32 {
			break
		}
	}
	if len(out) == 0 {
		return "x"
	}
	return string(out)
}
