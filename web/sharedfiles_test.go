package web

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// With recordings in files_dir/.recordings (a cluster's shared folder), the
// sweep of unfinished uploads leaves a recording's files alone, and the
// uploads' disk use does not count them.
func TestUploadSweepAndDiskUseSkipRecordings(t *testing.T) {
	dir := t.TempDir()
	write := func(path string, n int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	upload := filepath.Join(dir, "room1", "f1.part")
	recording := filepath.Join(dir, ".recordings", "room1", "rec1", "recording.zip.part")
	write(upload, 10)
	write(recording, 1000)
	write(filepath.Join(dir, "room1", "f2"), 5)

	if bytes, files := diskUsed(dir); bytes != 15 || files != 2 {
		t.Fatalf("uploads use %d bytes in %d files, want 15 in 2", bytes, files)
	}
	removeUnfinishedUploads(dir, time.Minute, zap.NewNop())
	if _, err := os.Stat(upload); !os.IsNotExist(err) {
		t.Fatalf("stale upload kept: %v", err)
	}
	if _, err := os.Stat(recording); err != nil {
		t.Fatalf("a recording's file was swept as an upload: %v", err)
	}
}
