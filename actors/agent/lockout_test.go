package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var guardSettings = Settings{MaxFailures: 3, MaxAccountFailures: 10, LockFor: time.Minute}

// fail makes n failed attempts from addr at now and returns the last error
// code ("" when the last attempt was a plain wrong password).
func fail(t *testing.T, l *loginGuard, addr string, now time.Time, n int) string {
	t.Helper()
	code := ""
	for i := 0; i < n; i++ {
		if e := l.begin(addr, now, guardSettings); e != nil {
			return e.Code
		}
		code = l.failed(addr, now, guardSettings).GetCode()
	}
	return code
}

// A stranger's failures lock the account for the stranger's address only.
func TestGuardLocksTheFailingAddressOnly(t *testing.T) {
	var l loginGuard
	now := time.Unix(1_000_000, 0)
	if code := fail(t, &l, "203.0.113.9", now, 3); code != "account_locked" {
		t.Fatalf("third failure from one address: %q, want account_locked", code)
	}
	if e := l.begin("203.0.113.9", now, guardSettings); e.GetCode() != "account_locked" {
		t.Fatalf("the locked address tried again: %v", e)
	}
	if e := l.begin("198.51.100.1", now, guardSettings); e != nil {
		t.Fatalf("the owner's address was refused: %v", e)
	}
	l.succeeded("198.51.100.1")
	if l.live(now.Add(time.Hour), guardSettings.LockFor) {
		t.Fatal("the guard still holds state long after every lock ended")
	}
}

// Each further lock of the same address lasts twice as long.
func TestGuardLockGrowsForARepeatOffender(t *testing.T) {
	var l loginGuard
	now := time.Unix(1_000_000, 0)
	addr := "203.0.113.9"
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		if code := fail(t, &l, addr, now, 3); code != "account_locked" {
			t.Fatalf("lock %d: %q", i+1, code)
		}
		until := l.addrs[addr].lockedUntil
		if got := until.Sub(now); got != want {
			t.Fatalf("lock %d lasts %s, want %s", i+1, got, want)
		}
		if e := l.begin(addr, until.Add(-time.Second), guardSettings); e.GetCode() != "account_locked" {
			t.Fatalf("lock %d let an attempt through before it ended: %v", i+1, e)
		}
		now = until
	}
	// An address that stays away for a lock's length starts over.
	now = now.Add(time.Hour)
	fail(t, &l, addr, now, 3)
	if got := l.addrs[addr].lockedUntil.Sub(now); got != time.Minute {
		t.Fatalf("lock after a long pause lasts %s, want %s", got, time.Minute)
	}
}

// Failures from many addresses together lock the account for everyone, and
// one address cannot reach that cap alone.
func TestGuardAccountCapNeedsManyAddresses(t *testing.T) {
	var l loginGuard
	now := time.Unix(1_000_000, 0)
	fail(t, &l, "203.0.113.9", now, 50)
	if e := l.begin("198.51.100.1", now, guardSettings); e != nil {
		t.Fatalf("one address's 50 attempts locked the owner out: %v", e)
	}
	l.succeeded("198.51.100.1")
	for i := 0; i < 4; i++ {
		fail(t, &l, fmt.Sprintf("192.0.2.%d", i), now, 3)
	}
	if e := l.begin("198.51.100.1", now, guardSettings); e.GetCode() != "account_locked" {
		t.Fatalf("after failures from many addresses: %v, want the account locked", e)
	}
}

// Parallel attempts count as failures while their passwords are checked.
func TestGuardCountsAttemptsInFlight(t *testing.T) {
	var l loginGuard
	now := time.Unix(1_000_000, 0)
	for i := 0; i < 3; i++ {
		if e := l.begin("203.0.113.9", now, guardSettings); e != nil {
			t.Fatalf("attempt %d: %v", i+1, e)
		}
	}
	if e := l.begin("203.0.113.9", now, guardSettings); e.GetCode() != "rate_limited" {
		t.Fatalf("fourth parallel attempt: %v, want rate_limited", e)
	}
	if e := l.begin("198.51.100.1", now, guardSettings); e != nil {
		t.Fatalf("another address during the burst: %v", e)
	}
}

// The number of addresses remembered is bounded.
func TestGuardForgetsIdleAddresses(t *testing.T) {
	var l loginGuard
	now := time.Unix(1_000_000, 0)
	for i := 0; i < maxTrackedAddrs+10; i++ {
		fail(t, &l, fmt.Sprintf("a%d", i), now.Add(time.Duration(i)*time.Minute), 1)
	}
	if len(l.addrs) > maxTrackedAddrs {
		t.Fatalf("%d addresses tracked, bound %d", len(l.addrs), maxTrackedAddrs)
	}
}

// The lock message tells a locked address that the lock is its own.
func TestGuardAddressLockSaysSo(t *testing.T) {
	var l loginGuard
	now := time.Now()
	fail(t, &l, "203.0.113.9", now, 2)
	l.begin("203.0.113.9", now, guardSettings)
	e := l.failed("203.0.113.9", now, guardSettings)
	if e.GetCode() != "account_locked" || !strings.Contains(e.GetMessage(), "from your address") {
		t.Fatalf("address lock: %v", e)
	}
}
