package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"liveroom/config"
	"liveroom/internal/testserver"
)

func createRoom(t *testing.T, srv *testserver.Server) (int, string, string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error.Code, body.Error.Message
}

// Anonymous room creation is rate-limited per address: the request over the
// limit gets a 429 with a message the start page can show.
func TestRoomCreationIsRateLimitedPerAddress(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.RoomsPerIPPerMinute = 3; c.RoomsPerIPPerDay = 0 })
	for i := 0; i < 3; i++ {
		if status, code, _ := createRoom(t, srv); status != http.StatusCreated {
			t.Fatalf("room %d under the limit: %d %s", i+1, status, code)
		}
	}
	status, code, msg := createRoom(t, srv)
	if status != http.StatusTooManyRequests || code != "rate_limited" || !strings.Contains(msg, "minute") {
		t.Fatalf("room over the per-minute limit: %d %s %q", status, code, msg)
	}
}

// The daily cap holds even when the short-term rate would allow more.
func TestRoomCreationIsCappedPerAddressPerDay(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.RoomsPerIPPerMinute = 0; c.RoomsPerIPPerDay = 2 })
	for i := 0; i < 2; i++ {
		if status, code, _ := createRoom(t, srv); status != http.StatusCreated {
			t.Fatalf("room %d under the cap: %d %s", i+1, status, code)
		}
	}
	status, code, msg := createRoom(t, srv)
	if status != http.StatusTooManyRequests || code != "rate_limited" || !strings.Contains(msg, "today") {
		t.Fatalf("room over the daily cap: %d %s %q", status, code, msg)
	}
}
