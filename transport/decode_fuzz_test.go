package transport

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// FuzzDecodeClientFrame feeds arbitrary bytes to the decoder the WebSocket
// reader uses. It must never panic, and whatever it accepts must survive a
// protojson round trip unchanged.
func FuzzDecodeClientFrame(f *testing.F) {
	valid := []string{
		// Valid frames as the browser sends them (lowerCamelCase names,
		// 64-bit integers as strings).
		`{"id":"1","join":{"roomId":"room-1","name":"Ann","password":"pw","agentKey":"k3y","lastSeq":"42"}}`,
		`{"id":"j2","join":{"roomId":"r"}}`,
		`{"id":"2","chat":{"text":"hello, world"}}`,
		`{"id":"c-3","chat":{"text":"üñíçødé \u2603 \n\t\"quoted\""}}`,
		`{"id":"3","history":{"beforeSeq":"100","limit":20}}`,
		`{"id":"h","history":{}}`,
		`{"id":"4","ping":{}}`,
		`{"ping":{}}`,
		`{}`,
		// Accepted alternative spellings: proto field names, numbers as
		// numbers or strings, exponent forms, null fields.
		`{"id":"5","join":{"room_id":"r","last_seq":7,"agent_key":"k"}}`,
		`{"id":"6","history":{"before_seq":18446744073709551615,"limit":"4294967295"}}`,
		`{"id":"7","history":{"beforeSeq":"1e3","limit":1.0}}`,
		`{"id":null,"chat":null}`,
		` {"id" : "8" , "ping" : { } } `,
		`{"id":"9","recording":{"start":true}}`,
		`{"id":"10","recording":{"start":false}}`,
		`{"id":"11","recording":{}}`,
		// Broadcasts.
		`{"id":"b1","broadcastJoin":{"broadcastId":"talk","name":"Ann","password":"pw","broadcasterKey":"k","resumeToken":"t"}}`,
		`{"id":"b2","broadcastControl":{"action":"BROADCAST_ACTION_GO_LIVE"}}`,
		`{"id":"b3","broadcastControl":{"action":4}}`,
	}
	invalid := []string{
		``,
		`{`,
		`null`,
		`[]`,
		`"ping"`,
		`{"id":1}`,
		`{"join":{},"chat":{}}`,
		`{"ping":{},"ping":{}}`,
		`{"id":"x","id":"y"}`,
		`{"unknown":true}`,
		`{"join":{"roomId":"r","extra":1}}`,
		`{"broadcastJoin":{"broadcastId":"b"},"join":{}}`,
		`{"broadcastControl":{"action":"BROADCAST_ACTION_NOPE"}}`,
		`{"history":{"limit":-1}}`,
		`{"history":{"limit":4294967296}}`,
		`{"history":{"beforeSeq":"18446744073709551616"}}`,
		`{"history":{"beforeSeq":1.5}}`,
		`{"chat":{"text":"\ud800"}}`,
		"{\"chat\":{\"text\":\"\xff\xfe\"}}",
		`{"id":"1"}garbage`,
		`{"recording":{"start":"yes"}}`,
		`{"recording":true}`,
		"\x00\x01\x02",
	}
	for _, s := range valid {
		if err := decoder.Unmarshal([]byte(s), &pb.ClientFrame{}); err != nil {
			f.Fatalf("seed %s should decode: %v", s, err)
		}
		f.Add([]byte(s))
	}
	for _, s := range invalid {
		if err := decoder.Unmarshal([]byte(s), &pb.ClientFrame{}); err == nil {
			f.Fatalf("seed %q should be rejected", s)
		}
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		frame := &pb.ClientFrame{}
		if err := decoder.Unmarshal(data, frame); err != nil {
			return
		}
		// frameType must handle whatever decoded.
		_ = frameType(frame)

		out, err := protojson.Marshal(frame)
		if err != nil {
			t.Fatalf("decoded %q but cannot re-encode it: %v", data, err)
		}
		again := &pb.ClientFrame{}
		if err := decoder.Unmarshal(out, again); err != nil {
			t.Fatalf("re-encoded %q as %s, which does not decode: %v", data, out, err)
		}
		if !proto.Equal(frame, again) {
			t.Fatalf("round trip changed the frame:\ninput   %q\nfirst   %v\nencoded %s\nsecond  %v", data, frame, out, again)
		}
	})
}
