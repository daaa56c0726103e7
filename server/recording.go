package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"liveroom/config"
	"liveroom/media/recorder"
	"liveroom/metrics"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// recordingsDir is where this node writes call recordings: a folder every
// node of a cluster shares when files_dir is (see config.RecordingsPath), so
// any node serves any recording.
func recordingsDir(cfg config.Config) string { return cfg.RecordingsPath() }

// recordingNode names this node in the recording index: its files are on
// this host's disk under this data folder, and a restart keeps the name.
func recordingNode(cfg config.Config) string {
	host, _ := os.Hostname()
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		dir = cfg.DataDir
	}
	return host + ":" + dir
}

func recordingConfig(cfg config.Config, m *metrics.Metrics, log *zap.Logger) recorder.Config {
	ffmpeg := ""
	if cfg.RecordingFFmpeg != "" {
		if p, err := exec.LookPath(cfg.RecordingFFmpeg); err == nil {
			ffmpeg = p
		} else {
			log.Info("ffmpeg not found: recordings are one file per track", zap.String("recording_ffmpeg", cfg.RecordingFFmpeg))
		}
	}
	return recorder.Config{
		Dir: recordingsDir(cfg), MaxDuration: time.Duration(cfg.RecordingMaxMinutes) * time.Minute,
		MinFreeBytes: uint64(cfg.RecordingMinFreeMB) << 20, FFmpeg: ffmpeg, Log: log.Named("recorder"),
		Hooks: recorder.Hooks{
			Active:     func(d int) { m.RecordingsActive.Add(float64(d)) },
			Bytes:      func(n int) { m.RecordedBytes.Add(float64(n)) },
			WriteError: func() { m.RecordingErrors.Inc() },
		},
	}
}

func recordingDefaults(cfg config.Config) *pb.RecordingOptions {
	return &pb.RecordingOptions{Enabled: cfg.Recording, Download: cfg.RecordingDownload,
		SaveServer: cfg.RecordingSaveServer, AutoStart: cfg.RecordingAutoStart, Visitors: cfg.RecordingVisitors}
}

// markInterruptedRecordings runs at start: recordings this node was writing
// when it last stopped are marked interrupted (their files stay readable up
// to the last cluster written).
//
// Their files are then salvaged in the background into the usual zip, so the
// agent can download what was recorded.
// A salvaged one is announced to webhook receivers like a finished one.
func markInterruptedRecordings(ctx context.Context, cfg config.Config, rc recorder.Config, store persistence.Store,
	events *webhook.Emitter, log *zap.Logger) {
	found, err := persistence.MarkInterrupted(store, recordingNode(cfg), time.Now())
	if err != nil {
		log.Error("mark interrupted recordings", zap.Error(err))
		return
	}
	for _, r := range found {
		log.Warn("recording was interrupted by a restart", zap.String("room", r.RoomId), zap.String("recording", r.Id))
	}
	if len(found) == 0 {
		return
	}
	go func() {
		for _, r := range found {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			res, err := recorder.Salvage(sctx, rc, r.RoomId, r.Id)
			cancel()
			if err != nil {
				log.Warn("recording not salvaged", zap.String("recording", r.Id), zap.Error(err))
				continue
			}
			r.Size, r.DurationMs, r.Mixed, r.Note = res.ZipSize, res.Manifest.DurationMs, res.Manifest.Mixed != "", res.Manifest.MixNote
			r.StartedAtMs = res.Manifest.StartedAt.UnixMilli()
			if err := persistence.PutRecording(store, r); err != nil {
				log.Warn("store recording", zap.Error(err))
				continue
			}
			events.Emit(webhook.RecordingReady, r.RoomId, r.OwnerAgentId, webhook.RecordingReadyData(r))
			log.Info("interrupted recording salvaged", zap.String("recording", r.Id), zap.Int64("bytes", r.Size))
		}
	}()
}

// unsavedKeep is how long a recording made without recording_save_server
// stays for its recorder to download.
const unsavedKeep = time.Hour

// sweepUnsavedRecordings removes, now and every ten minutes until ctx ends,
// the files of this node's finished recordings that were not to be kept.
func sweepUnsavedRecordings(ctx context.Context, cfg config.Config, store persistence.Store, log *zap.Logger) {
	node, dir := recordingNode(cfg), recordingsDir(cfg)
	sweep := func() {
		var old []*pb.RecordingRecord
		cutoff := time.Now().Add(-unsavedKeep).UnixMilli()
		err := persistence.ListRecordings(store, "", func(r *pb.RecordingRecord) bool {
			ended := r.State == persistence.RecordingDone || r.State == persistence.RecordingFailed ||
				r.State == persistence.RecordingInterrupted
			if !r.SaveServer && ended && r.Node == node && r.EndedAtMs < cutoff {
				old = append(old, r)
			}
			return true
		})
		if err != nil {
			log.Warn("list recordings", zap.Error(err))
			return
		}
		for _, r := range old {
			if err := os.RemoveAll(filepath.Join(dir, r.RoomId, r.Id)); err != nil {
				log.Warn("remove recording", zap.String("recording", r.Id), zap.Error(err))
				continue
			}
			r.State = persistence.RecordingDeleted
			if err := persistence.PutRecording(store, r); err != nil {
				log.Warn("store recording", zap.Error(err))
			}
		}
	}
	repeat(ctx, 10*time.Minute, sweep)
}
