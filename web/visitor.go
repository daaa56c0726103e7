package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/internal/clientaddr"
	"liveroom/mail"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

func removeAll(dir string) error { return os.RemoveAll(dir) }

// cors lets pages on other sites (where the button lives) call a visitor
// endpoint. No credentials: the answer never depends on cookies.
func (a *agentWeb) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !a.Agents.OriginAllowed(origin) {
		apiError(w, http.StatusForbidden, "forbidden", "This site may not use the contact button.")
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	return true
}

func (a *agentWeb) offlinePreflight(w http.ResponseWriter, r *http.Request) {
	if !a.cors(w, r) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// offlineRequest is what the button's offline form posts.
type offlineRequest struct {
	AgentID string `json:"agentId"`
	RoomID  string `json:"roomId"`
	// To is the button's data-offline_email; it must be the agent's address.
	To      string `json:"to"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Message string `json:"message"`
	PageURL string `json:"pageUrl"`
}

// offline keeps a visitor's message for the agent and mails it. The message
// is stored first, so an SMTP failure loses nothing: the visitor is told it
// was not mailed, and the agent page shows it.
func (a *agentWeb) offline(w http.ResponseWriter, r *http.Request) {
	if !a.cors(w, r) {
		return
	}
	var req offlineRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	field := func(name, msg string) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "invalid", "message": msg, "field": name}})
	}
	if !persistence.ValidID(req.AgentID) || (req.RoomID != "" && !persistence.ValidID(req.RoomID)) {
		field("agentId", "The contact button is not set up correctly (agent or room id).")
		return
	}
	if _, ok := room.CleanName(req.Name, 64); !ok {
		field("name", "Please enter your name (at most 64 characters).")
		return
	}
	if _, ok := room.CleanEmail(req.Email); !ok {
		field("email", "Please enter a valid email address.")
		return
	}
	if t := strings.TrimSpace(req.Message); t == "" || len([]rune(t)) > 4000 {
		field("message", "Please write a message of at most 4000 characters.")
		return
	}
	if len(req.PageURL) > 2048 || len(req.To) > 254 {
		field("pageUrl", "The page address is too long.")
		return
	}
	// Only valid submissions count, so typos do not use up the allowance.
	if !a.offlineLimit.allow(clientaddr.Key(r)) {
		apiError(w, http.StatusTooManyRequests, "rate_limited", "You have sent several messages already; please try again later.")
		return
	}
	res, err := actors.AskAgent[*pb.AgentOfflineResult](r.Context(), a.Node, req.AgentID, &pb.AgentStoreOffline{
		To: req.To, Message: &pb.OfflineMessage{RoomId: req.RoomID, Name: req.Name, Email: req.Email,
			Text: req.Message, PageUrl: req.PageURL}})
	if err != nil {
		unavailable(w)
		return
	}
	if res.Error != nil {
		agentError(w, res.Error)
		return
	}
	kept := map[string]any{"stored": true, "mailed": false,
		"message": "We could not email your message right now, but it was saved and the agent will see it."}
	if !a.Agents.Mail.Enabled() || res.MailTo == "" {
		writeJSON(w, http.StatusAccepted, kept)
		return
	}
	m := res.Message
	body := fmt.Sprintf("%s <%s> left you a message", m.Name, m.Email)
	if m.PageUrl != "" {
		body += " on " + m.PageUrl
	}
	body += ":\n\n" + m.Text + "\n\n-- \nSent by the contact button of Liveroom. Reply to this mail to answer " + m.Name + ".\n"
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	sendErr := a.Agents.Mail.Send(ctx, mail.Message{To: res.MailTo, ReplyTo: m.Email, ReplyToName: m.Name,
		Subject: "Message from " + m.Name + " (contact button)", Body: body})
	mark := &pb.AgentMarkMailed{Id: m.Id, Mailed: sendErr == nil}
	if sendErr != nil {
		a.Log.Warn("offline message not mailed; kept for the agent", zap.String("agent", req.AgentID), zap.Error(sendErr))
		mark.MailError = sendErr.Error()
	}
	if _, err := actors.AskAgent[*pb.AgentReply](ctx, a.Node, req.AgentID, mark); err != nil {
		a.Log.Warn("mark offline message", zap.Error(err))
	}
	if sendErr != nil {
		writeJSON(w, http.StatusAccepted, kept)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stored": true, "mailed": true, "message": "Thank you, your message was sent."})
}
