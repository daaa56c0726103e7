package session

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// The sender's copy made from the shared bytes must decode, in the browser
// (JSON.parse) and in protojson, to exactly the frame encoded in full.
func checkWithReplyTo(t *testing.T, id, text string) {
	t.Helper()
	msg := &pb.ChatMessage{RoomId: "r", Seq: 7, Text: text, MemberId: "m1", ClientId: id, SentAtMs: 1700000000000}
	shared := Encode(&pb.ServerFrame{Body: &pb.ServerFrame_Chat{Chat: msg}})
	before := string(shared)
	got := WithReplyTo(shared, id)
	if string(shared) != before {
		t.Fatal("the shared frame was changed")
	}
	if !json.Valid(got) {
		t.Fatalf("not JSON: %s", got)
	}
	var decoded pb.ServerFrame
	if err := protojson.Unmarshal(got, &decoded); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	want := &pb.ServerFrame{ReplyTo: id, Body: &pb.ServerFrame_Chat{Chat: msg}}
	if !proto.Equal(&decoded, want) {
		t.Fatalf("decoded %v, want %v", &decoded, want)
	}
}

func TestWithReplyToAnswersTheFrame(t *testing.T) {
	for _, id := range []string{"", "c1", `q"uote\back`, "tab\tnew\nline", "<&>", "ünï ✓ 🙂", "\u2028"} {
		checkWithReplyTo(t, id, "hello, \"world\"")
	}
	// A frame with no fields gets just the answer.
	if got := string(WithReplyTo([]byte("{}"), "x")); got != `{"replyTo":"x"}` {
		t.Fatalf("got %s", got)
	}
}

func FuzzWithReplyTo(f *testing.F) {
	f.Add("c1", "hi")
	f.Add(`"}{`, "\x00")
	f.Fuzz(func(t *testing.T, id, text string) {
		// Strings are validated as UTF-8 where they enter; anything else
		// is refused before it could reach a frame.
		if !utf8.ValidString(id) || !utf8.ValidString(text) {
			return
		}
		checkWithReplyTo(t, id, text)
	})
}
