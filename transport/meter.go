package transport

import (
	"time"

	"golang.org/x/time/rate"
)

// meter applies a socket's frame-rate limit (rate_per_second, rate_burst)
// to the rate the client sends at, not the rate the server happens to read
// at. Frames are read as they come and handed to the room in order through
// a bounded queue; when the room stalls long enough to fill that queue the
// reader stops, the client's frames wait in TCP and later arrive in one
// burst. That burst is the server's doing: the time the reader was held up
// is credited back at the allowed rate, so a client that kept to the limit
// is never refused for it.
//
// Refusals are strikes; a client that keeps going over the limit is closed
// with 4029, but strikes wear off (one per second), so one burst long ago
// does not count against a client for the rest of its connection.
type meter struct {
	limiter *rate.Limiter
	perSec  float64
	// credit is frames the client may send beyond the limiter because the
	// server held up reading them.
	credit    float64
	maxCredit float64
	strikes   *rate.Limiter
}

func newMeter(perSecond float64, burst int) *meter {
	return &meter{
		limiter:   rate.NewLimiter(rate.Limit(perSecond), burst),
		perSec:    perSecond,
		maxCredit: perSecond * 120, // two minutes of stall at the full rate
		strikes:   rate.NewLimiter(1, 2*burst),
	}
}

// allow reports whether one more frame keeps within the limit.
func (m *meter) allow() bool {
	if m.credit >= 1 {
		m.credit--
		return true
	}
	return m.limiter.Allow()
}

// stalled credits a time the reader could not read because the room had not
// taken the previous frames yet.
func (m *meter) stalled(d time.Duration) {
	m.credit = min(m.credit+d.Seconds()*m.perSec, m.maxCredit)
}

// strike records a refused frame and reports whether the client has now
// gone over the limit for so long that it must be closed.
func (m *meter) strike() bool { return !m.strikes.Allow() }
