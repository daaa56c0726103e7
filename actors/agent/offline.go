package agent

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/room"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

const (
	// MaxOfflineChars bounds an offline message's text.
	MaxOfflineChars = 4000
	maxOfflineList  = 200
)

// newOfflineID starts with the time in fixed-width hex so ids, and the keys
// made from them, sort by arrival.
func newOfflineID(now time.Time) string {
	return fmt.Sprintf("%012x-%s", now.UnixMilli(), randomID(6))
}

func (g *grain) storeOffline(msg *pb.AgentStoreOffline) *pb.AgentOfflineResult {
	if g.rec == nil {
		return &pb.AgentOfflineResult{Error: g.missing()}
	}
	m, _ := proto.Clone(msg.GetMessage()).(*pb.OfflineMessage)
	if m == nil {
		return &pb.AgentOfflineResult{Error: errorf("invalid", "no message")}
	}
	// The handler validated already; the grain checks again because it owns
	// what is stored.
	name, ok := room.CleanName(m.Name, g.deps.Settings.MaxNameChars)
	if !ok {
		return &pb.AgentOfflineResult{Error: errorf("invalid", "Please enter your name (at most 64 characters).")}
	}
	email, ok := room.CleanEmail(m.Email)
	if !ok {
		return &pb.AgentOfflineResult{Error: errorf("invalid", "Please enter a valid email address.")}
	}
	text := strings.TrimSpace(m.Text)
	if text == "" || utf8.RuneCountInString(text) > MaxOfflineChars || !utf8.ValidString(text) {
		return &pb.AgentOfflineResult{Error: errorf("invalid", fmt.Sprintf("Please write a message of at most %d characters.", MaxOfflineChars))}
	}
	if m.RoomId != "" && g.rooms[m.RoomId] == nil {
		m.RoomId = ""
	}
	if to := strings.TrimSpace(msg.To); to != "" && g.rec.Email != "" && !strings.EqualFold(to, g.rec.Email) {
		// The button's address is visible in the page source; mailing
		// whatever it says would make this server an open relay.
		return &pb.AgentOfflineResult{Error: errorf("offline_email_mismatch",
			"This contact button is set up with an email address that is not the agent's.")}
	}
	now := time.Now()
	u, _ := room.CleanHTTPURL(m.PageUrl)
	stored := &pb.OfflineMessage{Id: newOfflineID(now), AgentId: g.id, RoomId: m.RoomId, Name: name, Email: email,
		Text: text, PageUrl: u, ReceivedAtMs: now.UnixMilli()}
	if err := g.putOffline(stored); err != nil {
		return &pb.AgentOfflineResult{Error: errInternal}
	}
	g.log.Info("offline message kept", zap.String("id", stored.Id))
	g.deps.Events.Emit(webhook.OfflineMessage, stored.RoomId, g.id, map[string]string{"id": stored.Id,
		"name": stored.Name, "email": stored.Email, "text": stored.Text, "pageUrl": stored.PageUrl})
	return &pb.AgentOfflineResult{Message: stored, MailTo: g.rec.Email, AgentName: g.rec.Name}
}

func (g *grain) putOffline(m *pb.OfflineMessage) error {
	raw, err := proto.Marshal(m)
	if err == nil {
		err = g.set(persistence.OfflineKey(g.id, m.Id), raw)
	}
	if err != nil {
		g.log.Error("store offline message", zap.Error(err))
	}
	return err
}

func (g *grain) getOffline(id string) (*pb.OfflineMessage, *pb.Error) {
	if !persistence.ValidID(id) {
		return nil, errorf("not_found", "No such message.")
	}
	raw, err := g.deps.Store.Get(persistence.OfflineKey(g.id, id))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, errorf("not_found", "No such message.")
	}
	m := &pb.OfflineMessage{}
	if err == nil {
		err = proto.Unmarshal(raw, m)
	}
	if err != nil {
		g.log.Error("read offline message", zap.Error(err))
		return nil, errInternal
	}
	return m, nil
}

func (g *grain) markMailed(msg *pb.AgentMarkMailed) *pb.AgentReply {
	if g.rec == nil {
		return &pb.AgentReply{Error: g.missing()}
	}
	m, perr := g.getOffline(msg.Id)
	if perr != nil {
		return &pb.AgentReply{Error: perr}
	}
	m.Mailed = msg.Mailed
	m.MailError = cleanText(msg.MailError, 300)
	if err := g.putOffline(m); err != nil {
		return &pb.AgentReply{Error: errInternal}
	}
	return &pb.AgentReply{}
}

func (g *grain) listOffline() *pb.AgentOfflineList {
	if g.rec == nil {
		return &pb.AgentOfflineList{Error: g.missing()}
	}
	var out []*pb.OfflineMessage
	var derr error
	p := persistence.OfflinePrefix(g.id)
	err := g.deps.Store.Scan(p, persistence.PrefixEnd(p), true, maxOfflineList, func(_, v []byte) bool {
		m := &pb.OfflineMessage{}
		if derr = proto.Unmarshal(v, m); derr != nil {
			return false
		}
		out = append(out, m)
		return true
	})
	if err != nil || derr != nil {
		g.log.Error("list offline messages", zap.Error(err), zap.NamedError("decode", derr))
		return &pb.AgentOfflineList{Error: errInternal}
	}
	return &pb.AgentOfflineList{Messages: out}
}

func (g *grain) deleteOffline(msg *pb.AgentDeleteOffline) *pb.AgentReply {
	if g.rec == nil {
		return &pb.AgentReply{Error: g.missing()}
	}
	if _, perr := g.getOffline(msg.Id); perr != nil {
		return &pb.AgentReply{Error: perr}
	}
	if err := g.del(persistence.OfflineKey(g.id, msg.Id)); err != nil {
		g.log.Error("delete offline message", zap.Error(err))
		return &pb.AgentReply{Error: errInternal}
	}
	return &pb.AgentReply{}
}
