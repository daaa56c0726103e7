package room

import (
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// This file holds what issue 4 added to rooms: an owner agent, a schedule
// window, the entry form, short names and deletion.

const (
	maxEmailChars = 254
	maxURLChars   = 2048
	// A room's window may lie at most this far ahead and last at most this long.
	maxScheduleAhead = 5 * 366 * 24 * time.Hour
	maxDuration      = 31 * 24 * time.Hour
)

// CleanEmail trims and checks an email address: one plain addr-spec, no
// display name, no control characters.
func CleanEmail(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmailChars || strings.ContainsAny(s, "<>\"\\ ,;") {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", false
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", false
	}
	return s, true
}

// CleanHTTPURL trims and checks an absolute http(s) URL.
func CleanHTTPURL(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxURLChars || !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return "", false
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	return s, true
}

// checkCreate validates what CreateRoom adds beyond names and password.
func checkCreate(msg *pb.CreateRoom, now time.Time) *pb.Error {
	if msg.OwnerAgentId != "" && !persistence.ValidID(msg.OwnerAgentId) {
		return errorf("invalid", "owner agent id is not valid")
	}
	if msg.ShortName != "" && !persistence.ValidID(msg.ShortName) {
		return errorf("invalid", "short name must be 1-64 letters, digits, '-' or '_'")
	}
	s, e := msg.StartsAtMs, msg.EndsAtMs
	if s < 0 || e < 0 {
		return errorf("invalid", "start and end must not be negative")
	}
	if s > now.Add(maxScheduleAhead).UnixMilli() {
		return errorf("invalid", "start time is too far ahead")
	}
	if e != 0 && e <= s {
		return errorf("invalid", "the room must close after it opens")
	}
	if s != 0 && e != 0 && time.Duration(e-s)*time.Millisecond > maxDuration {
		return errorf("invalid", "a scheduled room may last at most 31 days")
	}
	return nil
}

// checkWindow refuses visitors outside the room's schedule.
func (g *grain) checkWindow(now time.Time) *pb.Error {
	ms := now.UnixMilli()
	if s := g.rec.StartsAtMs; s != 0 && ms < s {
		return errorf("room_not_open", "This room opens at "+time.UnixMilli(s).UTC().Format("2006-01-02 15:04 MST")+".")
	}
	if e := g.rec.EndsAtMs; e != 0 && ms >= e {
		return errorf("room_closed", "This meeting has ended; the room is closed.")
	}
	return nil
}

// checkEntry validates a visitor's entry-form fields and returns the cleaned
// email and avatar URL (empty when the form does not ask for them).
func (g *grain) checkEntry(req *pb.JoinRequest) (email, avatar string, perr *pb.Error) {
	f := g.rec.GetEntryForm()
	if !f.GetEnabled() {
		return "", "", nil
	}
	var missing []string
	if f.ShowEmail {
		if strings.TrimSpace(req.GetEmail()) != "" {
			var ok bool
			if email, ok = CleanEmail(req.GetEmail()); !ok {
				return "", "", errorf("invalid", "The email address is not valid.")
			}
		} else if f.Required {
			missing = append(missing, "email")
		}
	}
	if f.ShowAvatar {
		if strings.TrimSpace(req.GetAvatarUrl()) != "" {
			var ok bool
			if avatar, ok = CleanHTTPURL(req.GetAvatarUrl()); !ok {
				return "", "", errorf("invalid", "The avatar must be an http or https URL.")
			}
		} else if f.Required {
			missing = append(missing, "avatar URL")
		}
	}
	if len(missing) > 0 {
		return "", "", errorf("entry_required", "Please fill in: "+strings.Join(missing, ", ")+".")
	}
	return email, avatar, nil
}

// storeEntry keeps a visitor's entry-form data with the room.
func (g *grain) storeEntry(b *persistence.Batch, m *member) error {
	raw, err := proto.Marshal(&pb.EntryRecord{MemberId: m.info.MemberId, Name: m.info.Name, Email: m.email,
		AvatarUrl: m.info.AvatarUrl, JoinedAtMs: time.Now().UnixMilli()})
	if err != nil {
		return err
	}
	b.Set(persistence.EntryKey(g.id, m.info.MemberId), raw)
	return nil
}

// memberFor is what a member with role `to` may see of m: the entry form's
// email goes to agents only. m.info itself never holds it, so code that
// sends m.info to everyone cannot leak it.
func memberFor(m *member, to pb.Role) *pb.Member {
	if to != pb.Role_ROLE_AGENT || m.email == "" {
		return m.info
	}
	c := proto.Clone(m.info).(*pb.Member)
	c.Email = m.email
	return c
}

func (g *grain) memberList(to pb.Role) []*pb.Member {
	list := make([]*pb.Member, len(g.members))
	for i, x := range g.members {
		list[i] = memberFor(x, to)
	}
	return list
}

// broadcastMember tells everyone but m that m joined or left.
func (g *grain) broadcastMember(ctx actor.Context, m *member, kind pb.MemberEvent_Kind) {
	for _, o := range g.members {
		if o != m {
			g.send(ctx, o.pid, &pb.ServerFrame{Body: &pb.ServerFrame_Member{Member: &pb.MemberEvent{
				Kind: kind, Member: memberFor(m, o.info.Role)}}})
		}
	}
}

// deleteRoom removes the room and everything stored with it, and tells the
// members it is gone.
func (g *grain) deleteRoom(ctx actor.Context) *pb.DeleteRoomResult {
	if g.rec == nil {
		return &pb.DeleteRoomResult{Error: g.missing()}
	}
	// No chat write may land after the range deletes below; messages
	// queued behind it are refused once the room is gone, or written if
	// deleting fails.
	g.settleChat(ctx)
	defer g.startChat(ctx)
	// Range deletes, so a room with a long history costs no more memory to
	// delete than an empty one. An empty fenced write first makes sure this
	// activation still owns the room (a superseded one must not delete what
	// the newer one keeps); the record goes last, so a failure halfway leaves
	// a room that still exists and can be deleted again.
	if err := g.write(ctx, &persistence.Batch{}); err != nil {
		g.log.Error("delete room", zap.Error(err))
		return &pb.DeleteRoomResult{Error: errInternal}
	}
	for _, p := range [][]byte{persistence.ChatPrefix(g.id), persistence.FilePrefix(g.id), persistence.EntryPrefix(g.id),
		persistence.MemberPrefix(g.id), persistence.WbPrefix(g.id), persistence.RecordingPrefix(g.id)} {
		if err := g.deps.Store.DeleteRange(p, persistence.PrefixEnd(p)); err != nil {
			g.log.Error("delete room data", zap.Error(err))
			return &pb.DeleteRoomResult{Error: errInternal}
		}
	}
	var b persistence.Batch
	b.Delete(persistence.RoomKey(g.id))
	if err := g.write(ctx, &b); err != nil {
		g.log.Error("delete room", zap.Error(err))
		return &pb.DeleteRoomResult{Error: errInternal}
	}
	if len(g.members) > 0 {
		g.emit(webhook.RoomEnded, map[string]string{"reason": "deleted"})
	}
	gone := &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: errorf("room_deleted", "This room was deleted.")}}
	for _, m := range g.members {
		ctx.Unwatch(m.pid)
		g.send(ctx, m.pid, gone)
	}
	g.members = nil
	// The board's grain may hold the board in memory and connections that
	// still have it: tell it the room is gone (see whiteboardGone).
	g.whiteboardGone(ctx, g.rec.GetGeneration())
	g.rec = nil
	g.lastSeq = 0
	g.failChat(ctx, errNotFound)
	g.armIdle(ctx)
	g.log.Info("room deleted")
	return &pb.DeleteRoomResult{}
}
