package transport

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"liveroom/proto/pb"
)

// FuzzDecodeVisitorFrame feeds arbitrary bytes to the decoder of /ws/visitor,
// which any website can reach. It must never panic; a frame it accepts is
// one of the visitor messages (or a ping), never anything an agent sends,
// and survives a protojson round trip.
func FuzzDecodeVisitorFrame(f *testing.F) {
	for _, s := range []string{
		`{"id":"b1","hello":{"agentId":"alice","roomId":"sales","pageUrl":"https://shop.example/a?b=c","pageTitle":"Shop","name":"Vera"}}`,
		`{"id":"b2","call":{"kind":"CALL_KIND_VIDEO","name":"Vera"}}`,
		`{"id":"b3","call":{"kind":2}}`,
		`{"id":"b4","cancel":{}}`,
		`{"id":"b5","ping":{}}`,
		`{"hello":null}`,
		`{"watch":{}}`,
		`{"answer":{"requestId":"x","accept":true}}`,
		`{"join":{"roomId":"r"}}`,
		`{"call":{"kind":"CALL_KIND_NOPE"}}`,
		`{"id":"1","hello":{},"call":{}}`,
		`[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	v := &visitorHandler{}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, _, err := v.decode(data)
		if err != nil {
			return
		}
		switch msg.(type) {
		case nil, *pb.VisitorHello, *pb.VisitorCall, *pb.VisitorCancel:
		default:
			t.Fatalf("visitor socket decoded %T from %q", msg, data)
		}
		frame := &pb.VisitorClientFrame{}
		if err := presenceDecoder.Unmarshal(data, frame); err != nil {
			t.Fatalf("decode accepted what Unmarshal refuses: %q", data)
		}
		out, err := protojson.Marshal(frame)
		if err != nil {
			t.Fatalf("cannot re-encode %q: %v", data, err)
		}
		again := &pb.VisitorClientFrame{}
		if err := presenceDecoder.Unmarshal(out, again); err != nil || !proto.Equal(frame, again) {
			t.Fatalf("round trip changed %q: %v", data, err)
		}
	})
}

// FuzzDecodeAgentFrame does the same for /ws/agent.
func FuzzDecodeAgentFrame(f *testing.F) {
	for _, s := range []string{
		`{"id":"a1","watch":{"roomId":"sales"}}`, `{"id":"a2","watch":{}}`, `{"id":"a3","away":{"away":true}}`,
		`{"id":"a4","answer":{"requestId":"abc","accept":true}}`, `{"id":"a5","ping":{}}`, `{"hello":{}}`, `{"answer":null}`,
	} {
		f.Add([]byte(s))
	}
	a := &agentHandler{}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, _, err := a.decode(data)
		if err != nil {
			return
		}
		switch msg.(type) {
		case nil, *pb.AgentWatch, *pb.AgentSetAway, *pb.AgentAnswer:
		default:
			t.Fatalf("agent socket decoded %T from %q", msg, data)
		}
	})
}
