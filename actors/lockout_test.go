package actors_test

import (
	"testing"

	"liveroom/actors/room"
	"liveroom/proto/pb"
)

// Agent ids are public, so a stranger's wrong passwords must not lock the
// owner out: the lock holds for the stranger's address, not the owner's.
func TestOwnerLogsInWhileAStrangerIsLockedOut(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	addAgent(t, n, "alice", "Alice", "", "correct horse")
	const stranger, owner = "203.0.113.9", "198.51.100.1"
	code := ""
	for i := 0; i < 5; i++ {
		r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "guess", ClientAddr: stranger})
		code = r.GetError().GetCode()
	}
	if code != "account_locked" {
		t.Fatalf("fifth failure from the stranger: %q, want account_locked", code)
	}
	if r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "correct horse", ClientAddr: stranger}); r.GetError().GetCode() != "account_locked" {
		t.Fatalf("the stranger's address with the right password while locked: %v", r)
	}
	if r := ask[*pb.AgentLoginResult](t, n, "alice", &pb.AgentLogin{Password: "correct horse", ClientAddr: owner}); r.Error != nil || r.Token == "" {
		t.Fatalf("the owner was locked out by a stranger: %v", r.Error)
	}
}
