package actors_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"liveroom/access"
	"liveroom/actors"
	"liveroom/actors/room"
	"liveroom/metrics"
	"liveroom/persistence"
)

// countingStore records the largest batch written through it.
type countingStore struct {
	persistence.Store
	mu       sync.Mutex
	maxBatch int
}

func (s *countingStore) Apply(b *persistence.Batch) error {
	s.mu.Lock()
	s.maxBatch = max(s.maxBatch, b.Len())
	s.mu.Unlock()
	return s.Store.Apply(b)
}

func (s *countingStore) largestBatch() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxBatch
}

// startNodeOn is startNode with the store wrapped by wrap.
func startNodeOn(tb testing.TB, dir string, wrap func(persistence.Store) persistence.Store) *testNode {
	tb.Helper()
	pebble, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	store := wrap(pebble)
	signer, _ := access.NewSigner([]byte("test-secret-0123456789"))
	settings := room.Settings{MaxMembers: 200, MaxChatChars: 4000, MaxNameChars: 64, HistoryPage: 50,
		IdleTimeout: time.Minute, TokenTTL: time.Hour, PasswordCost: 4}
	node, err := actors.StartNode(actors.NodeConfig{ClusterName: "test", Host: "127.0.0.1", Provider: "single",
		RequestTimeout: 30 * time.Second, // generous: -race on a busy machine
		Room:           room.Deps{Store: store, Signer: signer, Log: zap.NewNop(), Metrics: metrics.New(), Settings: settings},
	}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	n := &testNode{Node: node, store: pebble}
	tb.Cleanup(n.stop)
	return n
}
