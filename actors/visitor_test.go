package actors_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"liveroom/actors/visitor"
	"liveroom/persistence"
	"liveroom/proto/pb"
)

func visitorAsk(t *testing.T, n *testNode, key string, msg interface{}) *pb.VisitorSessionReply {
	t.Helper()
	r, err := n.VisitorSession(context.Background(), key, msg)
	if err != nil {
		t.Fatalf("visitor session %T: %v", msg, err)
	}
	return r
}

// waitSession asks the visitor session until ok accepts its summary.
func waitSession(t *testing.T, n *testNode, key, what string, ok func(*pb.VisitorSessionSummary) bool) *pb.VisitorSessionSummary {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := n.VisitorSession(ctx, key, &pb.VisitorSessionGet{})
		cancel()
		if err == nil && r.Error == nil && ok(r.Summary) {
			return r.Summary
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v %v", what, err, r.GetSummary())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVisitorSessionAcrossPagesAndActivations: one visitor (one cookie id)
// opens a page, closes it, opens another and asks for a call; the session
// keeps the pages (the closed one with its close time), the name and the
// request. Then its grain is superseded, as when it re-activates on another
// node: the old activation's write fails and it stops, the new one has
// everything and still watches the page that is open. Runs on Pebble and
// PostgreSQL.
func TestVisitorSessionAcrossPagesAndActivations(t *testing.T) {
	eachStore(t, func(t *testing.T, store persistence.Store) {
		n := startNodeStore(t, store)
		const key = "k5Jq0cY1f3ZpX9uRw2LmTa"
		if !visitor.ValidKey(key) || visitor.ValidKey("short") || visitor.ValidKey("has/slash-0123456789") {
			t.Fatal("ValidKey")
		}
		p1 := newSink(t, n)
		r := visitorAsk(t, n, key, &pb.VisitorSessionOpen{Session: p1.pid, AgentId: "alice",
			PageUrl: "http://shop.example/", PageTitle: "Shop\x00"})
		if r.Error != nil || r.Summary.PageLoads != 1 || len(r.Summary.Pages) != 1 || r.Summary.Pages[0].PageTitle != "Shop" {
			t.Fatalf("first page: %v", r)
		}
		n.System.Root.Stop(p1.pid)
		waitSession(t, n, key, "first page closed", func(s *pb.VisitorSessionSummary) bool {
			return len(s.Pages) == 1 && s.Pages[0].ClosedMs >= s.Pages[0].OpenedMs && s.Pages[0].ClosedMs > 0
		})

		p2 := newSink(t, n)
		r = visitorAsk(t, n, key, &pb.VisitorSessionOpen{Session: p2.pid, AgentId: "alice",
			PageUrl: "http://shop.example/cart", PageTitle: "Cart", Name: "Vera"})
		if r.Error != nil || r.Summary.PageLoads != 2 || len(r.Summary.Pages) != 2 || r.Summary.Name != "Vera" ||
			r.Summary.Pages[1].PageUrl != "http://shop.example/cart" || r.Summary.Pages[1].ClosedMs != 0 {
			t.Fatalf("second page: %v", r)
		}
		r = visitorAsk(t, n, key, &pb.VisitorSessionRequest{AgentId: "alice", Kind: pb.CallKind_CALL_KIND_VIDEO,
			PageUrl: "http://shop.example/cart"})
		if r.Error != nil || len(r.Summary.Requests) != 1 || r.Summary.Requests[0].Kind != pb.CallKind_CALL_KIND_VIDEO {
			t.Fatalf("request: %v", r)
		}
		if r := visitorAsk(t, n, key, &pb.VisitorSessionOpen{AgentId: "alice"}); r.GetError().GetCode() != "invalid" {
			t.Fatalf("open without a socket: %v", r)
		}

		// Another activation takes over.
		if _, err := persistence.TakeFence(store, persistence.FenceKey(visitor.Kind, key)); err != nil {
			t.Fatal(err)
		}
		p3 := newSink(t, n)
		if r := visitorAsk(t, n, key, &pb.VisitorSessionOpen{Session: p3.pid, AgentId: "alice", PageUrl: "http://shop.example/lost"}); r.Error == nil {
			t.Fatal("the superseded activation stored a page")
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := n.VisitorSession(ctx, key, &pb.VisitorSessionOpen{Session: p3.pid, AgentId: "alice", PageUrl: "http://shop.example/help"})
			cancel()
			if err == nil && r.Error == nil {
				s := r.Summary
				if s.PageLoads != 3 || len(s.Pages) != 3 || s.Name != "Vera" || len(s.Requests) != 1 ||
					s.Pages[2].PageUrl != "http://shop.example/help" || s.Pages[1].ClosedMs != 0 {
					t.Fatalf("after the take-over: %v", s)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("visitor session did not come back: %v %v", err, r.GetError())
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The page opened before the take-over closes: the new activation
		// watches it too.
		n.System.Root.Stop(p2.pid)
		waitSession(t, n, key, "second page closed by the new activation", func(s *pb.VisitorSessionSummary) bool {
			return len(s.Pages) == 3 && s.Pages[1].ClosedMs > 0 && s.Pages[2].ClosedMs == 0
		})
		n.System.Root.Stop(p3.pid)
		s := waitSession(t, n, key, "every page closed", func(s *pb.VisitorSessionSummary) bool {
			return len(s.Pages) == 3 && s.Pages[2].ClosedMs > 0
		})
		if s.TimeOnSiteMs <= 0 {
			t.Fatalf("time on site %d", s.TimeOnSiteMs)
		}
	})
}

// TestVisitorSessionSweep: sessions unused for longer than the limit go,
// with their fences; recent ones stay.
func TestVisitorSessionSweep(t *testing.T) {
	store, err := persistence.OpenPebble(filepath.Join(t.TempDir(), "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	for key, seen := range map[string]time.Time{
		"old-visitor-000000001": now.Add(-31 * 24 * time.Hour),
		"new-visitor-000000002": now.Add(-time.Hour),
	} {
		raw, _ := proto.Marshal(&pb.VisitorSessionRecord{LastSeenMs: seen.UnixMilli(), Name: key})
		if err := store.Set(persistence.VisitorSessionKey(key), raw); err != nil {
			t.Fatal(err)
		}
		if _, err := persistence.TakeFence(store, persistence.FenceKey(visitor.Kind, key)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := visitor.Sweep(store, visitor.DefaultForget, now)
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	for key, want := range map[string]bool{"old-visitor-000000001": false, "new-visitor-000000002": true} {
		_, err := store.Get(persistence.VisitorSessionKey(key))
		_, ferr := store.Get(persistence.FenceKey(visitor.Kind, key))
		if (err == nil) != want || (ferr == nil) != want {
			t.Errorf("%s: record %v, fence %v; want kept=%v", key, err, ferr, want)
		}
	}
}
