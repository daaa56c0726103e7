package recorder

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Manifest describes a finished recording; it is saved as manifest.json next
// to the files and inside the zip.
type Manifest struct {
	Room string `json:"room"`
	ID   string `json:"id"`
	// StartedAt is when the first byte was written; offsets count from it.
	StartedAt  time.Time       `json:"startedAt"`
	EndedAt    time.Time       `json:"endedAt"`
	DurationMs int64           `json:"durationMs"`
	Tracks     []ManifestTrack `json:"tracks"`
	// Mixed is the file with every track in one (grid video, mixed audio),
	// empty when none could be made; MixNote says why.
	Mixed   string `json:"mixed,omitempty"`
	MixNote string `json:"mixNote,omitempty"`
	// StopReason is set when the recording ended by itself.
	StopReason string `json:"stopReason,omitempty"`
	// Participants are one file per person (microphone and camera together,
	// each at its offset), made with ffmpeg when there is one.
	Participants []ManifestParticipant `json:"participants,omitempty"`
	// Skipped are published tracks that were not recorded (a codec WebM
	// cannot hold, such as H.264 from Safari); Codec says which.
	Skipped []ManifestTrack `json:"skipped,omitempty"`
}

// ManifestTrack is one recorded track.
type ManifestTrack struct {
	Member  string `json:"member"`
	Name    string `json:"name"`
	Source  string `json:"source"`
	Kind    string `json:"kind"`
	Codec   string `json:"codec"`
	File    string `json:"file"`
	StartMs int64  `json:"startMs"`
	EndMs   int64  `json:"endMs"`
	Bytes   int64  `json:"bytes"`
	// DroppedPackets were not written because the disk fell behind.
	DroppedPackets int64 `json:"droppedPackets,omitempty"`
}

// ManifestParticipant is one person's combined file.
type ManifestParticipant struct {
	Member  string `json:"member"`
	Name    string `json:"name"`
	File    string `json:"file"`
	StartMs int64  `json:"startMs"`
}

// Result is what a finished recording left on disk.
type Result struct {
	Manifest Manifest
	// Zip is the one downloadable file (absolute path) and its size.
	Zip     string
	ZipSize int64
}

// Finish writes the manifest, makes the mixed file when ffmpeg is there, and
// packs everything into one zip. Call it after Stop, off the media actor: the
// mix can take a while (it is bounded by ctx).
func (r *Recording) Finish(ctx context.Context, stopReason error) (Result, error) {
	m := r.manifest()
	if stopReason != nil {
		m.StopReason = stopReason.Error()
	}
	if len(m.Tracks) == 0 {
		return Result{Manifest: m}, errors.New("nothing was recorded")
	}
	if r.cfg.FFmpeg == "" {
		m.MixNote = "ffmpeg is not installed on the server: the recording is one file per track."
	} else if err := Mix(ctx, r.cfg.FFmpeg, r.dir, m.Tracks, "mixed.webm"); err != nil {
		r.log.Warn("mixing recording", zap.Error(err))
		_ = os.Remove(filepath.Join(r.dir, "mixed.webm"))
		m.MixNote = "The tracks could not be mixed into one file: " + err.Error()
	} else {
		m.Mixed = "mixed.webm"
	}
	if r.cfg.FFmpeg != "" {
		m.Participants = joinParticipants(ctx, r.cfg.FFmpeg, r.dir, m.Tracks, r.log)
	}
	if err := writeJSON(filepath.Join(r.dir, "manifest.json"), m); err != nil {
		return Result{Manifest: m}, err
	}
	zipPath := filepath.Join(r.dir, "recording.zip")
	size, err := packZip(zipPath, r.dir, m)
	if err != nil {
		return Result{Manifest: m}, err
	}
	return Result{Manifest: m, Zip: zipPath, ZipSize: size}, nil
}

func (r *Recording) manifest() Manifest {
	r.mu.Lock()
	t0 := r.t0
	tracks := append([]*Track(nil), r.tracks...)
	skipped := append([]ManifestTrack(nil), r.skipped...)
	r.mu.Unlock()
	m := Manifest{Room: r.Room, ID: r.ID, StartedAt: t0, EndedAt: time.Now(), Skipped: skipped}
	for _, t := range tracks {
		if t.file == nil { // never got a (key)frame
			continue
		}
		kind := "audio"
		if t.video {
			kind = "video"
		}
		start := t.firstWall.Sub(t0).Milliseconds()
		t.mu.Lock()
		dropped := t.dropped
		t.mu.Unlock()
		m.Tracks = append(m.Tracks, ManifestTrack{Member: t.info.Member, Name: t.info.Name, Source: t.info.Source,
			Kind: kind, Codec: t.info.MimeType, File: filepath.ToSlash(t.rel), StartMs: start,
			EndMs: start + t.lastMs, Bytes: t.file.written(), DroppedPackets: dropped})
		if end := start + t.lastMs; end > m.DurationMs {
			m.DurationMs = end
		}
	}
	if !t0.IsZero() {
		m.EndedAt = t0.Add(time.Duration(m.DurationMs) * time.Millisecond)
	}
	return m
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o640)
}

// packZip stores (no compression: WebM is already compressed) the manifest,
// the mixed file and the per-track files.
func packZip(path, dir string, m Manifest) (int64, error) {
	f, err := os.OpenFile(path+".part", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return 0, err
	}
	zw := zip.NewWriter(f)
	files := []string{"manifest.json"}
	if m.Mixed != "" {
		files = append(files, m.Mixed)
	}
	for _, p := range m.Participants {
		files = append(files, p.File)
	}
	for _, t := range m.Tracks {
		files = append(files, t.File)
	}
	for _, name := range files {
		if err = addToZip(zw, filepath.Join(dir, filepath.FromSlash(name)), name); err != nil {
			break
		}
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+".part", path)
	}
	if err != nil {
		_ = os.Remove(path + ".part")
		return 0, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func addToZip(zw *zip.Writer, path, name string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: st.ModTime()})
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}

// Mix runs ffmpeg as its own process (killed when ctx ends) to put every
// track into one WebM: the video tracks side by side in a grid, each shown
// from its start offset (black before, its last frame after), and the audio
// tracks mixed, each delayed by its offset.
func Mix(ctx context.Context, ffmpeg, dir string, tracks []ManifestTrack, out string) error {
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	var videos, audios []int
	for i, t := range tracks {
		args = append(args, "-i", filepath.Join(dir, filepath.FromSlash(t.File)))
		if t.Kind == "video" {
			videos = append(videos, i)
		} else {
			audios = append(audios, i)
		}
	}
	var filters []string
	const cellW, cellH = 640, 360
	if len(videos) > 0 {
		cols := int(math.Ceil(math.Sqrt(float64(len(videos)))))
		rows := (len(videos) + cols - 1) / cols
		var layout []string
		for n, i := range videos {
			filters = append(filters, fmt.Sprintf(
				"[%d:v]scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,"+
					"tpad=start_duration=%.3f:color=black,setpts=PTS-STARTPTS[v%d]",
				i, cellW, cellH, cellW, cellH, float64(max(0, tracks[i].StartMs))/1000, n))
			layout = append(layout, fmt.Sprintf("%d_%d", (n%cols)*cellW, (n/cols)*cellH))
		}
		if len(videos) == 1 {
			filters = append(filters, "[v0]null[vout]")
		} else {
			in := ""
			for n := range videos {
				in += fmt.Sprintf("[v%d]", n)
			}
			filters = append(filters, fmt.Sprintf("%sxstack=inputs=%d:layout=%s:fill=black,pad=%d:%d[vout]",
				in, len(videos), strings.Join(layout, "|"), cols*cellW, rows*cellH))
		}
	}
	if len(audios) > 0 {
		in := ""
		for n, i := range audios {
			filters = append(filters, fmt.Sprintf("[%d:a]aresample=48000,adelay=%d:all=1[a%d]", i, max(0, tracks[i].StartMs), n))
			in += fmt.Sprintf("[a%d]", n)
		}
		filters = append(filters, fmt.Sprintf("%samix=inputs=%d:duration=longest:normalize=0[aout]", in, len(audios)))
	}
	args = append(args, "-filter_complex", strings.Join(filters, ";"))
	if len(videos) > 0 {
		args = append(args, "-map", "[vout]", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M")
	}
	if len(audios) > 0 {
		args = append(args, "-map", "[aout]", "-c:a", "libopus", "-b:a", "64k")
	}
	args = append(args, filepath.Join(dir, out))
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, left: 4096}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			return fmt.Errorf("ffmpeg took too long: %w", ctx.Err())
		}
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return fmt.Errorf("ffmpeg: %v: %s", err, msg)
	}
	return nil
}

// limitedWriter keeps at most left bytes of a process's error output.
type limitedWriter struct {
	w    io.Writer
	left int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.left > 0 {
		if len(p) > l.left {
			p = p[:l.left]
		}
		l.left -= len(p)
		_, _ = l.w.Write(p)
	}
	return n, nil
}

// ManifestJSON is the manifest as compact JSON.
func ManifestJSON(m Manifest) (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

// joinParticipants puts each person's first microphone and first camera
// track into one WebM without re-encoding, each shifted to its offset from
// the person's first track. A person with one track keeps just that file.
func joinParticipants(ctx context.Context, ffmpeg, dir string, tracks []ManifestTrack, log *zap.Logger) []ManifestParticipant {
	type pair struct{ audio, video *ManifestTrack }
	byMember := map[string]*pair{}
	var order []string
	for i := range tracks {
		t := &tracks[i]
		if t.Source == "screen" {
			continue
		}
		p := byMember[t.Member]
		if p == nil {
			p = &pair{}
			byMember[t.Member] = p
			order = append(order, t.Member)
		}
		if t.Kind == "audio" && p.audio == nil {
			p.audio = t
		} else if t.Kind == "video" && p.video == nil {
			p.video = t
		}
	}
	var out []ManifestParticipant
	if err := os.MkdirAll(filepath.Join(dir, "participants"), 0o750); err != nil {
		return nil
	}
	for _, member := range order {
		p := byMember[member]
		if p.audio == nil || p.video == nil {
			continue
		}
		start := min(p.audio.StartMs, p.video.StartMs)
		rel := "participants/" + safe(member) + ".webm"
		cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
			"-itsoffset", fmt.Sprintf("%.3f", float64(p.audio.StartMs-start)/1000), "-i", filepath.Join(dir, filepath.FromSlash(p.audio.File)),
			"-itsoffset", fmt.Sprintf("%.3f", float64(p.video.StartMs-start)/1000), "-i", filepath.Join(dir, filepath.FromSlash(p.video.File)),
			"-map", "0:a", "-map", "1:v", "-c", "copy", filepath.Join(dir, filepath.FromSlash(rel)))
		if err := cmd.Run(); err != nil {
			log.Info("participant file not made", zap.String("member", member), zap.Error(err))
			_ = os.Remove(filepath.Join(dir, filepath.FromSlash(rel)))
			continue
		}
		out = append(out, ManifestParticipant{Member: member, Name: p.audio.Name, File: rel, StartMs: start})
	}
	return out
}
