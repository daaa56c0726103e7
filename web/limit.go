package web

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter rate-limits by a key such as a client address. It is a cache
// of token buckets local to this node: losing it (restart, another node)
// only resets the limits, which the per-account lockout in the agent grain
// does not depend on.
type keyedLimiter struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newKeyedLimiter(perPeriod int, period time.Duration) *keyedLimiter {
	if perPeriod < 1 {
		perPeriod = 1
	}
	return &keyedLimiter{every: rate.Every(period / time.Duration(perPeriod)), burst: perPeriod, m: map[string]*rate.Limiter{}}
}

func (k *keyedLimiter) allow(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.m[key]
	if l == nil {
		if len(k.m) >= 10000 {
			k.sweep()
		}
		l = rate.NewLimiter(k.every, k.burst)
		k.m[key] = l
	}
	return l.Allow()
}

// sweep forgets keys whose bucket has refilled: they carry no state.
func (k *keyedLimiter) sweep() {
	now := time.Now()
	for key, l := range k.m {
		if l.TokensAt(now) >= float64(k.burst) {
			delete(k.m, key)
		}
	}
}

// remoteIP is the client's address, for logs; limits count by
// clientaddr.Key, which groups an IPv6 client's /64. A proxy in front means
// every client has the proxy's address; Liveroom does not trust
// X-Forwarded-For, which any client could set.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
