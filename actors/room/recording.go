package room

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"liveroom/media/recorder"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// recState is one recording the grain knows of: the running one, or one
// whose files the media actor is still finishing.
type recState struct {
	state pb.RecordingState_State
	// by is who asked for it (or the agent, for an automatic start); the
	// finished file goes to them.
	by  *member
	rec *pb.RecordingRecord
	// salvaged says the recording was cut short on another node (see
	// salvageRecordings): its files are being made into the usual zip, and
	// it stays listed as interrupted.
	salvaged bool
}

// salvageDue comes SalvageAfter after an activation found recordings that
// an earlier one was still writing.
type salvageDue struct{ ids []string }

// salvageAfter is how long a new activation waits before it takes over the
// files of a recording an earlier activation was writing: long enough for
// an earlier activation that is still running (a node cut off for a moment
// rather than dead) to have been stopped by the topology change.
func (g *grain) salvageAfter() time.Duration {
	if d := g.deps.Settings.SalvageAfter; d > 0 {
		return d
	}
	return 15 * time.Second
}

// findOrphanRecordings runs when the room is activated: a recording still
// listed as being written by another node belonged to an earlier activation
// of this room, whose media (and recorder) died with its node. A restarted
// node marks and salvages its own at start (server.markInterruptedRecordings).
func (g *grain) findOrphanRecordings(ctx actor.Context) {
	if g.rec == nil {
		return
	}
	var ids []string
	err := persistence.ListRecordings(g.deps.Store, g.id, func(r *pb.RecordingRecord) bool {
		if r.State == persistence.RecordingActive && r.Node != g.deps.Settings.RecordingNode {
			ids = append(ids, r.Id)
		}
		return true
	})
	if err != nil {
		g.log.Warn("list recordings", zap.Error(err))
		return
	}
	if len(ids) == 0 {
		return
	}
	if g.recs == nil {
		g.recs = map[string]*recState{}
	}
	for _, id := range ids {
		// Held here, the room stays active until the result is stored.
		g.recs[id] = &recState{state: pb.RecordingState_STATE_FINISHING, salvaged: true, rec: &pb.RecordingRecord{Id: id}}
	}
	self, system := ctx.Self(), ctx.ActorSystem()
	time.AfterFunc(g.salvageAfter(), func() { system.Root.Send(self, &salvageDue{ids: ids}) })
	g.log.Info("recordings cut short on another node will be salvaged", zap.Strings("recordings", ids))
}

// salvageRecordings marks the orphaned recordings interrupted (only those
// still listed as being written: the dead node may have restarted and taken
// them itself meanwhile) and rebuilds each one's zip from its files in the
// shared folder, off the grain; the result comes back as a recording event.
func (g *grain) salvageRecordings(ctx actor.Context, ids []string) {
	self, system := ctx.Self(), ctx.ActorSystem()
	for _, id := range ids {
		rs := g.recs[id]
		if rs == nil || !rs.salvaged {
			continue
		}
		rec, ok, err := persistence.InterruptRecording(g.deps.Store, g.id, id, time.Now())
		if err != nil || !ok || g.deps.Media == nil {
			if err != nil {
				g.log.Warn("mark recording interrupted", zap.String("recording", id), zap.Error(err))
			}
			delete(g.recs, id)
			continue
		}
		rs.rec = rec
		cfg := g.deps.Media.RecordingConfig()
		cfg.Log = g.log
		room := g.id
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // as at a restart
			defer cancel()
			res, err := recorder.Salvage(sctx, cfg, room, id)
			ev := &pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FINISHED, RecordingId: id,
				Reason: "the server hosting the call stopped", Size: res.ZipSize, DurationMs: res.Manifest.DurationMs,
				Mixed: res.Manifest.Mixed != "", Note: res.Manifest.MixNote}
			if err != nil {
				ev = &pb.MediaRecordingEvent{Kind: pb.MediaRecordingEvent_KIND_FAILED, RecordingId: id,
					Reason: "The recording was cut short and could not be salvaged: " + err.Error()}
			}
			system.Root.Send(self, ev)
		}()
		g.log.Warn("salvaging a recording cut short on another node", zap.String("recording", id))
	}
	if len(g.recs) == 0 {
		g.armIdle(ctx)
	}
}

// recOptions are the room's recording options; rooms made before recording
// existed get the server's defaults.
func (g *grain) recOptions() *pb.RecordingOptions {
	if g.rec != nil && g.rec.Recording != nil {
		return g.rec.Recording
	}
	if o := g.deps.Settings.Recording; o != nil {
		return o
	}
	return &pb.RecordingOptions{}
}

func (g *grain) mayRecord(m *member) bool {
	o := g.recOptions()
	return o.Enabled && (m.info.Role == pb.Role_ROLE_AGENT || o.Visitors)
}

// recordingState is the indicator every member sees.
func (g *grain) recordingState() *pb.RecordingState {
	rs := g.recs[g.activeRec]
	if rs == nil {
		return &pb.RecordingState{}
	}
	return &pb.RecordingState{State: rs.state, RecordingId: rs.rec.Id, StartedAtMs: rs.rec.StartedAtMs, By: rs.by.info}
}

func (g *grain) broadcastRecording(ctx actor.Context) {
	g.broadcast(ctx, nil, &pb.ServerFrame{Body: &pb.ServerFrame_Recording{Recording: g.recordingState()}})
}

// onRecording starts or stops the call's recording for a member.
func (g *grain) onRecording(ctx actor.Context, m *member, c *pb.RecordingControl) *pb.RoomReply {
	if !g.recOptions().Enabled {
		return &pb.RoomReply{Error: errorf("recording_disabled", "Recording is not enabled for this room.")}
	}
	if !g.mayRecord(m) {
		return &pb.RoomReply{Error: errorf("not_allowed", "Only the agent may record this call.")}
	}
	if !c.Start {
		if g.activeRec == "" {
			return &pb.RoomReply{Error: errorf("not_recording", "No recording is running.")}
		}
		ctx.Send(g.media(ctx), &pb.MediaCommand{Body: &pb.MediaCommand_RecordStop{RecordStop: &pb.MediaRecordStop{}}})
		return &pb.RoomReply{}
	}
	if g.call[m.info.MemberId] == nil {
		return &pb.RoomReply{Error: errNotInCall}
	}
	if g.activeRec != "" {
		return &pb.RoomReply{Error: errorf("already_recording", "The call is already being recorded.")}
	}
	if perr := g.startRecording(ctx, m); perr != nil {
		return &pb.RoomReply{Error: perr}
	}
	return &pb.RoomReply{}
}

// startRecording writes the index entry first, so a crash from here on
// leaves a record that the next start marks interrupted.
func (g *grain) startRecording(ctx actor.Context, by *member) *pb.Error {
	rec := &pb.RecordingRecord{Id: randomToken(9), RoomId: g.id, State: persistence.RecordingActive,
		CreatedAtMs: time.Now().UnixMilli(), ByMember: by.info.MemberId, ByName: by.info.Name,
		SaveServer: g.recOptions().SaveServer, Node: g.deps.Settings.RecordingNode, OwnerAgentId: g.rec.OwnerAgentId}
	if err := persistence.PutRecording(g.deps.Store, rec); err != nil {
		g.log.Error("store recording", zap.Error(err))
		return errInternal
	}
	if g.recs == nil {
		g.recs = map[string]*recState{}
	}
	g.recs[rec.Id] = &recState{state: pb.RecordingState_STATE_WAITING, by: by, rec: rec}
	g.activeRec = rec.Id
	ctx.Send(g.media(ctx), &pb.MediaCommand{MemberId: by.info.MemberId,
		Body: &pb.MediaCommand_RecordStart{RecordStart: &pb.MediaRecordStart{RecordingId: rec.Id}}})
	g.broadcastRecording(ctx)
	g.log.Info("recording requested", zap.String("recording", rec.Id), zap.String("by", by.info.MemberId))
	return nil
}

// callChanged starts a recording when the call is established and the room
// records automatically, and stops it when the call ends.
func (g *grain) callChanged(ctx actor.Context, joined *member) {
	if len(g.call) == 0 {
		g.autoRecorded = false
		if g.activeRec != "" {
			ctx.Send(g.media(ctx), &pb.MediaCommand{Body: &pb.MediaCommand_RecordStop{RecordStop: &pb.MediaRecordStop{}}})
		}
		return
	}
	o := g.recOptions()
	if joined == nil || len(g.call) < 2 || !o.Enabled || !o.AutoStart || g.activeRec != "" || g.autoRecorded || g.deps.Media == nil {
		return
	}
	g.autoRecorded = true
	by := joined
	for _, c := range g.call {
		if c.m.info.Role == pb.Role_ROLE_AGENT {
			by = c.m
			break
		}
	}
	if perr := g.startRecording(ctx, by); perr != nil {
		g.send(ctx, by.pid, &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: perr}})
	}
}

// recipient is who gets a finished recording or its error: whoever asked,
// or, when they left, an agent still in the room.
func (g *grain) recipient(rs *recState) *member {
	for _, m := range g.members {
		if m == rs.by {
			return m
		}
	}
	for _, m := range g.members {
		if m.info.Role == pb.Role_ROLE_AGENT {
			return m
		}
	}
	return nil
}

// onRecordingEvent follows the media actor's recorder.
func (g *grain) onRecordingEvent(ctx actor.Context, ev *pb.MediaRecordingEvent) {
	rs := g.recs[ev.RecordingId]
	if rs == nil {
		return
	}
	rec := rs.rec
	switch ev.Kind {
	case pb.MediaRecordingEvent_KIND_STARTED:
		rs.state, rec.StartedAtMs = pb.RecordingState_STATE_RECORDING, ev.AtMs
		g.saveRecording(rec)
		if g.activeRec == rec.Id {
			g.broadcastRecording(ctx)
		}
	case pb.MediaRecordingEvent_KIND_STOPPING:
		rs.state = pb.RecordingState_STATE_FINISHING
		if m := g.recipient(rs); m != nil && ev.Reason != "" {
			g.send(ctx, m.pid, &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: errorf("recording_stopped",
				"The recording stopped: "+ev.Reason+".")}})
		}
		if g.activeRec == rec.Id {
			g.activeRec = ""
			g.broadcastRecording(ctx)
		}
	case pb.MediaRecordingEvent_KIND_FINISHED:
		delete(g.recs, rec.Id)
		rec.State, rec.EndedAtMs, rec.DurationMs = persistence.RecordingDone, time.Now().UnixMilli(), ev.DurationMs
		if rs.salvaged {
			rec.State, rec.EndedAtMs = persistence.RecordingInterrupted, rs.rec.EndedAtMs
		}
		rec.Size, rec.Mixed, rec.Note, rec.Error = ev.Size, ev.Mixed, ev.Note, ev.Reason
		g.saveRecording(rec)
		if m := g.recipient(rs); m != nil {
			g.send(ctx, m.pid, &pb.ServerFrame{Body: &pb.ServerFrame_RecordingDone{RecordingDone: &pb.RecordingDone{
				RecordingId: rec.Id, Url: "/recordings/" + g.id + "/" + rec.Id, Size: rec.Size,
				Download: g.recOptions().Download, Mixed: rec.Mixed, Note: rec.Note, DurationMs: rec.DurationMs,
				StopReason: ev.Reason}}})
		}
		// The zip is written and indexed: receivers may fetch it now.
		g.emit(webhook.RecordingReady, webhook.RecordingReadyData(rec))
		g.log.Info("recording finished", zap.String("recording", rec.Id), zap.Int64("bytes", rec.Size))
	case pb.MediaRecordingEvent_KIND_FAILED:
		delete(g.recs, rec.Id)
		rec.State, rec.EndedAtMs, rec.Error = persistence.RecordingFailed, time.Now().UnixMilli(), ev.Reason
		if rs.salvaged {
			rec.State, rec.EndedAtMs = persistence.RecordingInterrupted, rs.rec.EndedAtMs
		}
		g.saveRecording(rec)
		if m := g.recipient(rs); m != nil {
			g.send(ctx, m.pid, &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: errorf("recording_failed", ev.Reason)}})
		}
		if g.activeRec == rec.Id {
			g.activeRec = ""
			g.broadcastRecording(ctx)
		}
	}
}

func (g *grain) saveRecording(rec *pb.RecordingRecord) {
	if err := persistence.PutRecording(g.deps.Store, rec); err != nil {
		g.log.Error("store recording", zap.String("recording", rec.Id), zap.Error(err))
	}
}
