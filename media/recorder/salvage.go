package recorder

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// journalEntry is one line of tracks.jsonl, written when a track's file is
// opened, so that a recording cut short by a crash can still be described.
type journalEntry struct {
	File        string `json:"file"`
	Member      string `json:"member"`
	Name        string `json:"name"`
	Source      string `json:"source"`
	Kind        string `json:"kind"`
	Codec       string `json:"codec"`
	StartUnixMs int64  `json:"startUnixMs"`
}

const journalName = "tracks.jsonl"

func (r *Recording) journal(e journalEntry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	r.journalMu.Lock()
	defer r.journalMu.Unlock()
	f, err := os.OpenFile(filepath.Join(r.dir, journalName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		r.fail(err)
		return
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		r.fail(err)
	}
	_ = f.Close()
}

// Salvage turns the files of a recording that the server did not finish (it
// was killed or crashed) into the usual result: each track is rewritten with
// ffmpeg, when there is one, so its header gives the real length; the
// manifest takes the start of each track from the journal and its end from
// the file's last write; then the mix and the zip are made as for any
// recording. Tracks keep whatever was written up to the last cluster.
func Salvage(ctx context.Context, cfg Config, room, id string) (Result, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	dir := filepath.Join(cfg.Dir, room, id)
	f, err := os.Open(filepath.Join(dir, journalName))
	if err != nil {
		return Result{}, err
	}
	var entries []journalEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e journalEntry
		// A line cut short by the crash is skipped.
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.File != "" && filepath.IsLocal(e.File) {
			entries = append(entries, e)
		}
	}
	_ = f.Close()
	if len(entries) == 0 {
		return Result{}, errors.New("nothing was recorded")
	}
	t0 := entries[0].StartUnixMs
	for _, e := range entries {
		t0 = min(t0, e.StartUnixMs)
	}
	m := Manifest{Room: room, ID: id, StartedAt: time.UnixMilli(t0), StopReason: "the server stopped during the recording"}
	for _, e := range entries {
		path := filepath.Join(dir, filepath.FromSlash(e.File))
		st, err := os.Stat(path)
		if err != nil {
			continue
		}
		end := st.ModTime().UnixMilli()
		if cfg.FFmpeg != "" {
			fixed := path + ".part"
			cmd := exec.CommandContext(ctx, cfg.FFmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
				"-i", path, "-c", "copy", "-f", "webm", fixed)
			if err := cmd.Run(); err == nil {
				_ = os.Rename(fixed, path)
			} else {
				_ = os.Remove(fixed)
				cfg.Log.Info("track not rewritten", zap.String("file", e.File), zap.Error(err))
			}
			st, _ = os.Stat(path)
		}
		tr := ManifestTrack{Member: e.Member, Name: e.Name, Source: e.Source, Kind: e.Kind, Codec: e.Codec,
			File: e.File, StartMs: e.StartUnixMs - t0, EndMs: end - t0}
		if st != nil {
			tr.Bytes = st.Size()
		}
		m.Tracks = append(m.Tracks, tr)
		m.DurationMs = max(m.DurationMs, tr.EndMs)
	}
	if len(m.Tracks) == 0 {
		return Result{Manifest: m}, errors.New("nothing was recorded")
	}
	m.EndedAt = m.StartedAt.Add(time.Duration(m.DurationMs) * time.Millisecond)
	if cfg.FFmpeg == "" {
		m.MixNote = "ffmpeg is not installed on the server: the recording is one file per track."
	} else if err := Mix(ctx, cfg.FFmpeg, dir, m.Tracks, "mixed.webm"); err != nil {
		_ = os.Remove(filepath.Join(dir, "mixed.webm"))
		m.MixNote = "The tracks could not be mixed into one file: " + err.Error()
	} else {
		m.Mixed = "mixed.webm"
	}
	if cfg.FFmpeg != "" {
		m.Participants = joinParticipants(ctx, cfg.FFmpeg, dir, m.Tracks, cfg.Log)
	}
	if err := writeJSON(filepath.Join(dir, "manifest.json"), m); err != nil {
		return Result{Manifest: m}, err
	}
	zipPath := filepath.Join(dir, "recording.zip")
	size, err := packZip(zipPath, dir, m)
	if err != nil {
		return Result{Manifest: m}, err
	}
	return Result{Manifest: m, Zip: zipPath, ZipSize: size}, nil
}
