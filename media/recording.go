package media

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"liveroom/media/recorder"
	"liveroom/proto/pb"
)

// recording is the media actor's running recording.
type recording struct {
	id string
	r  *recorder.Recording
}

// recordingStopped comes from the recorder when it must stop by itself.
type recordingStopped struct {
	id     string
	reason string
}

// finishLimit bounds the mixing step for a recording of the given length:
// ffmpeg gets the allowance (a minute by default) plus twice the
// recording's length, then it is killed and the per-track files are the
// result.
func finishLimit(allowance, d time.Duration) time.Duration {
	if allowance <= 0 {
		allowance = time.Minute
	}
	return allowance + 2*d
}

func (r *room) event(ev *pb.MediaRecordingEvent) {
	if r.parent != nil {
		r.system.Root.Send(r.parent, ev)
	}
}

func (r *room) startRecording(id string) {
	if r.rec != nil {
		r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FAILED, RecordingId: id,
			Reason: "A recording is already running."})
		return
	}
	cfg := r.e.cfg.Recording
	if cfg.Dir == "" {
		r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FAILED, RecordingId: id,
			Reason: "Recording is not enabled on this server."})
		return
	}
	cfg.Log = r.log
	self, system := r.self, r.system
	rec, err := recorder.Start(cfg, r.id, id, recorder.Events{
		FirstByte: func(at time.Time) {
			r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_STARTED, RecordingId: id, AtMs: at.UnixMilli()})
		},
		Stopped: func(reason error) {
			system.Root.Send(self, &recordingStopped{id: id, reason: reason.Error()})
		},
	})
	if err != nil {
		r.log.Warn("recording could not start", zap.Error(err))
		r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FAILED, RecordingId: id,
			Reason: "The recording could not start: " + err.Error()})
		return
	}
	r.rec = &recording{id: id, r: rec}
	for _, f := range r.tracks {
		r.record(f)
	}
	r.log.Info("recording started", zap.String("recording", id), zap.Int("tracks", len(r.tracks)))
}

// record adds a published track to the running recording, if any; the
// recorder asks the publisher for a keyframe so the file starts with one.
func (r *room) record(f *forwarded) {
	if r.rec == nil {
		return
	}
	name := f.owner
	if p := r.peers[f.owner]; p != nil && p.name != "" {
		name = p.name
	}
	c := f.remote.Codec()
	t := r.rec.r.AddTrack(recorder.TrackInfo{Member: f.owner, Name: name, Source: f.source,
		MimeType: c.MimeType, ClockRate: c.ClockRate, Channels: c.Channels, Keyframe: f.keyframe})
	if t != nil {
		f.rec.Store(t)
	}
}

// stopRecording detaches the recorder from every track at once and finishes
// the files off the actor; reason is empty when someone asked to stop.
func (r *room) stopRecording(reason string) {
	rec := r.rec
	if rec == nil {
		return
	}
	r.rec = nil
	for _, f := range r.tracks {
		f.rec.Store(nil)
	}
	r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_STOPPING, RecordingId: rec.id, Reason: reason})
	log := r.log.With(zap.String("recording", rec.id))
	go func() {
		stopErr := rec.r.Stop()
		if reason == "" && stopErr != nil {
			reason = stopErr.Error()
		}
		var why error
		if reason != "" {
			why = errors.New(reason)
		}
		length := time.Duration(0)
		if t0 := rec.r.Started(); !t0.IsZero() {
			length = time.Since(t0)
		}
		ctx, cancel := context.WithTimeout(context.Background(), finishLimit(r.e.cfg.Recording.MixAllowance, length))
		defer cancel()
		res, err := rec.r.Finish(ctx, why)
		if err != nil {
			log.Warn("recording not finished", zap.Error(err))
			r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FAILED, RecordingId: rec.id,
				Reason: reasonText(reason, err)})
			return
		}
		manifest, _ := recorder.ManifestJSON(res.Manifest)
		log.Info("recording finished", zap.Int64("bytes", res.ZipSize), zap.Int64("ms", res.Manifest.DurationMs))
		r.event(&pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FINISHED, RecordingId: rec.id,
			Reason: reason, Size: res.ZipSize, DurationMs: res.Manifest.DurationMs, Mixed: res.Manifest.Mixed != "",
			Note: res.Manifest.MixNote, Manifest: manifest})
	}()
}

func reasonText(reason string, err error) string {
	if reason != "" {
		return reason
	}
	return err.Error()
}
