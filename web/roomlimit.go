package web

import (
	"net/http"
	"time"

	"liveroom/internal/clientaddr"
)

// roomCreationLimit bounds the rooms one address may create without logging
// in: a short-term rate (a burst of a minute's worth) and a daily cap, so a
// script cannot fill the store with rooms. Agents and API keys are not
// bounded by it. Like every keyedLimiter it is local to the node.
type roomCreationLimit struct {
	perMinute, perDay *keyedLimiter
}

func newRoomCreationLimit(perMinute, perDay int) *roomCreationLimit {
	l := &roomCreationLimit{}
	if perMinute > 0 {
		l.perMinute = newKeyedLimiter(perMinute, time.Minute)
	}
	if perDay > 0 {
		l.perDay = newKeyedLimiter(perDay, 24*time.Hour)
	}
	return l
}

// allow reports whether r's address may create one more room now; when not,
// it has written the 429 answer the start page shows.
func (l *roomCreationLimit) allow(w http.ResponseWriter, r *http.Request) bool {
	ip := clientaddr.Key(r)
	if l.perMinute != nil && !l.perMinute.allow(ip) {
		w.Header().Set("Retry-After", "60")
		apiError(w, http.StatusTooManyRequests, "rate_limited",
			"Too many rooms were created from your address just now; wait a minute and try again.")
		return false
	}
	if l.perDay != nil && !l.perDay.allow(ip) {
		w.Header().Set("Retry-After", "3600")
		apiError(w, http.StatusTooManyRequests, "rate_limited",
			"Your address has created as many rooms as this server allows for today; try again tomorrow, or log in as an agent.")
		return false
	}
	return true
}
