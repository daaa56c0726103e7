package actors_test

import (
	"context"
	"testing"

	"liveroom/actors/room"
	"liveroom/proto/pb"
)

func TestChatRefusesControlAndBidiCharacters(t *testing.T) {
	n := startNode(t, t.TempDir(), room.Settings{})
	createRoom(t, n, "txt", "")
	c := newClient(t, n)
	mustJoin(t, n, c, &pb.JoinRequest{RoomId: "txt", Name: "Vic"})
	for _, text := range []string{
		"bell\a", "nul\x00byte", "esc\x1b[31mred", "cr\rreturn", "del\x7f", "c1\u0085",
		"file \u202egnp.exe", "lre\u202a", "pdf\u202c", "isolate \u2066x\u2069", "fsi\u2068",
	} {
		reply, err := n.Tell(context.Background(), "txt", &pb.PostChat{Session: c.pid, Text: text, FrameId: "f"})
		if err != nil {
			t.Fatal(err)
		}
		if reply.GetError().GetCode() != "invalid_text" {
			t.Errorf("chat %q: got %v, want invalid_text", text, reply.GetError())
		}
	}
	// Line breaks, tabs and ordinary right-to-left text stay allowed.
	for _, text := range []string{"two\nlines", "a\tb", "שלום עולם", "emoji 🎉"} {
		say(t, n, "txt", c, text)
	}
}
