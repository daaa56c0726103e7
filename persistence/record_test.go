package persistence

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestGetRecord(t *testing.T) {
	s, err := OpenPebble(filepath.Join(t.TempDir(), "db"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := &wrapperspb.StringValue{}
	if found, err := GetRecord(s, []byte("k"), got); found || err != nil {
		t.Fatalf("missing key: found=%v err=%v", found, err)
	}
	raw, _ := proto.Marshal(wrapperspb.String("hello"))
	if err := s.Set([]byte("k"), raw); err != nil {
		t.Fatal(err)
	}
	if found, err := GetRecord(s, []byte("k"), got); !found || err != nil || got.Value != "hello" {
		t.Fatalf("stored record: found=%v err=%v value=%q", found, err, got.Value)
	}
	if err := s.Set([]byte("bad"), []byte{0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if found, err := GetRecord(s, []byte("bad"), got); found || err == nil {
		t.Fatalf("garbage decoded: found=%v err=%v", found, err)
	}
}
