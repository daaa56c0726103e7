package agent

import (
	"strings"
	"time"

	"liveroom/proto/pb"
)

// loginGuard throttles password guessing against one agent account.
//
// Agent ids are public (they are in the contact button's snippet), so a lock
// on the whole account after a few failures would let anyone lock its owner
// out. Failures are therefore counted per client address: an address that
// fails MaxFailures times within LockFor is locked out of this account, and
// each further lock of that address lasts twice as long as the one before.
// Only failures from many addresses together (MaxAccountFailures within
// LockFor, far more than one address can reach before its own lock) lock the
// account for everyone, for LockFor.
type loginGuard struct {
	addrs map[string]*addrLogins

	failures    []time.Time // recent failures from every address
	lockedUntil time.Time   // account-wide lock
	inflight    int         // logins whose password is being checked
}

// addrLogins is what the guard remembers of one address.
type addrLogins struct {
	failures    []time.Time
	lockedUntil time.Time
	lastLock    time.Duration // length of the latest lock; the next is twice it
	inflight    int
}

// Bounds on the guard's memory: the addresses it tracks, and the longest lock.
const (
	maxTrackedAddrs = 10000
	maxAddrLock     = 24 * time.Hour
)

func keepRecent(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	kept := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	return kept
}

// remembered reports whether a forgets nothing yet: a lock in force, recent
// failures, a check in flight, or a lock recent enough that the next one
// should be longer.
func (a *addrLogins) remembered(now time.Time, window time.Duration) bool {
	return a.inflight > 0 || len(keepRecent(a.failures, now, window)) > 0 ||
		now.Before(a.lockedUntil.Add(a.lastLock))
}

func (l *loginGuard) addr(key string, now time.Time, window time.Duration) *addrLogins {
	if l.addrs == nil {
		l.addrs = map[string]*addrLogins{}
	}
	a := l.addrs[key]
	if a == nil {
		if len(l.addrs) >= maxTrackedAddrs {
			l.forget(now, window)
		}
		a = &addrLogins{}
		l.addrs[key] = a
	}
	return a
}

// forget drops the addresses there is nothing left to remember about.
func (l *loginGuard) forget(now time.Time, window time.Duration) {
	for k, a := range l.addrs {
		if !a.remembered(now, window) {
			delete(l.addrs, k)
		}
	}
}

// live reports whether the guard holds state that passivating the grain
// would lose.
func (l *loginGuard) live(now time.Time, window time.Duration) bool {
	if l.inflight > 0 || now.Before(l.lockedUntil) {
		return true
	}
	for _, a := range l.addrs {
		if a.remembered(now, window) {
			return true
		}
	}
	return false
}

// begin admits a login attempt from addr, or returns why not. An admitted
// attempt must be closed with failed or succeeded.
func (l *loginGuard) begin(addr string, now time.Time, s Settings) *pb.Error {
	if now.Before(l.lockedUntil) {
		return lockedError(l.lockedUntil)
	}
	a := l.addr(addr, now, s.LockFor)
	if now.Before(a.lockedUntil) {
		return addrLockedError(a.lockedUntil)
	}
	a.failures = keepRecent(a.failures, now, s.LockFor)
	l.failures = keepRecent(l.failures, now, s.LockFor)
	// Attempts in flight count as failures until proven otherwise, so a burst
	// of parallel guesses cannot slip past the limits.
	if len(a.failures)+a.inflight >= s.MaxFailures || len(l.failures)+l.inflight >= s.MaxAccountFailures {
		return errorf("rate_limited", "Too many login attempts at once; wait a moment.")
	}
	a.inflight++
	l.inflight++
	return nil
}

// failed records a wrong password from addr; it returns the lock error when
// this failure locked the address or the account.
func (l *loginGuard) failed(addr string, now time.Time, s Settings) *pb.Error {
	a := l.addr(addr, now, s.LockFor)
	a.inflight = max(a.inflight-1, 0)
	l.inflight = max(l.inflight-1, 0)
	a.failures = append(keepRecent(a.failures, now, s.LockFor), now)
	l.failures = append(keepRecent(l.failures, now, s.LockFor), now)
	if len(l.failures) >= s.MaxAccountFailures {
		l.lockedUntil = now.Add(s.LockFor)
		l.failures = nil
		return lockedError(l.lockedUntil)
	}
	if len(a.failures) >= s.MaxFailures {
		lock := s.LockFor
		if now.Before(a.lockedUntil.Add(a.lastLock)) {
			lock = min(2*a.lastLock, maxAddrLock)
		}
		a.lastLock = lock
		a.lockedUntil = now.Add(lock)
		a.failures = nil
		return addrLockedError(a.lockedUntil)
	}
	return nil
}

// addrLockedError says the lock holds for the caller's address: the account
// itself is open to its owner elsewhere.
func addrLockedError(until time.Time) *pb.Error {
	e := lockedError(until)
	e.Message = strings.Replace(e.Message, "for this account.", "for this account from your address.", 1)
	return e
}

// succeeded closes an admitted attempt whose password was right: the address
// has shown it knows the password, so its record goes.
func (l *loginGuard) succeeded(addr string) {
	l.inflight = max(l.inflight-1, 0)
	delete(l.addrs, addr)
}

// forgive drops every failure and lock, as when an admin has just set the
// account anew; password checks in flight stay counted.
func (l *loginGuard) forgive() {
	for _, a := range l.addrs {
		a.failures, a.lockedUntil, a.lastLock = nil, time.Time{}, 0
	}
	l.failures, l.lockedUntil = nil, time.Time{}
}
