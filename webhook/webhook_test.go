package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"liveroom/persistence"
	"liveroom/proto/pb"
)

// receiver records what it is sent, checks each signature, and answers
// with the status fail() chooses.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	got    []Body // accepted deliveries, in arrival order
	tries  map[string]int
	fail   func(b Body, try int) int
	badSig int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !Verify(rc.secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute) {
		rc.mu.Lock()
		rc.badSig++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil || r.Header.Get(HeaderEvent) != b.Type || r.Header.Get(HeaderDelivery) != b.ID {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.tries[b.ID]++
	try := rc.tries[b.ID]
	status := http.StatusOK
	if rc.fail != nil {
		status = rc.fail(b, try)
	}
	if status == http.StatusOK {
		rc.got = append(rc.got, b)
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "thanks")
}

func (rc *receiver) received() []Body {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Body(nil), rc.got...)
}

func (rc *receiver) setFail(f func(Body, int) int) {
	rc.mu.Lock()
	rc.fail = f
	rc.mu.Unlock()
}

func openStore(t *testing.T, dir string) *persistence.Pebble {
	t.Helper()
	s, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startDispatcher(s persistence.Store) (*Emitter, func()) {
	e := NewEmitter(s, "127.0.0.1:7000", zap.NewNop())
	d := &Dispatcher{Emitter: e, Backoff: func(int) time.Duration { return 50 * time.Millisecond }, MaxAttempts: 1000}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	return e, func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeliveriesAreSignedOrderedRetriedAndSurviveARestart: a receiver
// that answers 500 to one event gets it again, and none after it arrives
// before it; events queued while it fails survive a restart of the
// dispatcher and store, and arrive in order after it.
func TestDeliveriesAreSignedOrderedRetriedAndSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	rc := &receiver{t: t, secret: "s3cret", tries: map[string]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	store := openStore(t, dir)
	if err := SaveHook(store, &pb.WebhookRecord{Id: "h1", Url: srv.URL, Secret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	// A second receiver for another agent gets nothing of agent a's.
	other := &receiver{t: t, secret: "other", tries: map[string]int{}}
	srv2 := httptest.NewServer(other)
	defer srv2.Close()
	if err := SaveHook(store, &pb.WebhookRecord{Id: "h2", Url: srv2.URL, Secret: "other", AgentId: "b"}); err != nil {
		t.Fatal(err)
	}
	e, stop := startDispatcher(store)

	// The second event fails once with 500.
	rc.setFail(func(b Body, try int) int {
		if b.Data["n"] == "2" && try == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	for _, n := range []string{"1", "2", "3"} {
		e.Emit(MemberJoined, "room1", "a", map[string]string{"n": n})
	}
	waitFor(t, "three deliveries", func() bool { return len(rc.received()) == 3 })
	got := rc.received()
	for i, want := range []string{"1", "2", "3"} {
		if got[i].Data["n"] != want || got[i].Type != MemberJoined || got[i].RoomID != "room1" {
			t.Fatalf("delivery %d = %+v, want n=%s", i, got[i], want)
		}
	}
	rc.mu.Lock()
	if rc.tries[got[1].ID] != 2 {
		t.Errorf("event 2 was tried %d times, want 2 (a 500, then ok)", rc.tries[got[1].ID])
	}
	rc.mu.Unlock()
	// The receiver counts a delivery before its answer reaches the
	// dispatcher, which logs it after; wait for the log to catch up.
	waitFor(t, "four logged attempts", func() bool {
		l, _ := Deliveries(store, "h1", 10)
		return len(l) == 4
	})
	log, err := Deliveries(store, "h1", 10)
	if err != nil || len(log) != 4 || log[0].Status != 200 {
		t.Fatalf("delivery log: %v %+v", err, log)
	}
	failed := 0
	for _, l := range log {
		if l.Status == 500 && l.Answer == "thanks" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("log has %d failed attempts, want 1: %+v", failed, log)
	}

	// The receiver goes down (500 to all); events queue up; the node restarts.
	rc.setFail(func(Body, int) int { return http.StatusInternalServerError })
	for _, n := range []string{"4", "5", "6"} {
		e.Emit(MemberLeft, "room1", "a", map[string]string{"n": n})
	}
	waitFor(t, "a failed attempt at event 4", func() bool {
		l, _ := Deliveries(store, "h1", 1)
		return len(l) == 1 && l[0].Status == 500
	})
	stop()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	rc.setFail(nil)
	store = openStore(t, dir)
	defer store.Close()
	if n, _ := Pending(store, "127.0.0.1:7000", "h1"); n != 3 {
		t.Fatalf("%d jobs queued after the restart, want 3", n)
	}
	_, stop = startDispatcher(store)
	defer stop()
	waitFor(t, "six deliveries", func() bool { return len(rc.received()) == 6 })
	got = rc.received()
	for i, want := range []string{"4", "5", "6"} {
		if got[3+i].Data["n"] != want || got[3+i].Type != MemberLeft {
			t.Fatalf("delivery %d after restart = %+v, want n=%s", 3+i, got[3+i], want)
		}
	}
	if rc.badSig != 0 || len(other.received()) != 0 {
		t.Errorf("bad signatures %d, deliveries to the other agent's receiver %d", rc.badSig, len(other.received()))
	}
	// As above, the last job leaves the queue just after its answer.
	waitFor(t, "an empty queue", func() bool {
		n, _ := Pending(store, "127.0.0.1:7000", "h1")
		return n == 0
	})
}

func TestVerifyRefusesWrongSecretTamperedBodyAndOldTimestamps(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"x"}`)
	sig := Sign("k", now.Unix(), body)
	ts := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	if !Verify("k", ts(now), sig, body, now, time.Minute) {
		t.Fatal("a good signature was refused")
	}
	if Verify("other", ts(now), sig, body, now, time.Minute) || Verify("k", ts(now), sig, []byte(`{"id":"y"}`), now, time.Minute) ||
		Verify("k", ts(now), sig, body, now.Add(10*time.Minute), time.Minute) || Verify("k", "nonsense", sig, body, now, time.Minute) {
		t.Fatal("a bad signature was accepted")
	}
}
