package recorder

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// opusSilence is one 20 ms Opus frame (CELT, silence) that decoders accept.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

func packetTimes(t *testing.T, path string) []float64 {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatal("ffprobe is needed (Debian package ffmpeg; see scripts/deps.sh)")
	}
	out, err := exec.Command(bin, "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.Trim(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe line %q", l)
		}
		ts = append(ts, v)
	}
	return ts
}

// TestTimestampsReorderWrapAndGap feeds a track packets out of order, across
// the 32-bit RTP clock wrap, and then after a pause in which the sender's
// clock stood still: every frame is written once, in order, and the pause
// shows in the file as the time it took.
func TestTimestampsReorderWrapAndGap(t *testing.T) {
	var started, stopped int
	rec, err := Start(Config{Dir: t.TempDir()}, "room", "rec", Events{
		FirstByte: func(time.Time) { started++ },
		Stopped:   func(error) { stopped++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := rec.AddTrack(TrackInfo{Member: "m1", Name: "Ann", Source: "mic", MimeType: "audio/opus", ClockRate: 48000, Channels: 2})
	if tr == nil {
		t.Fatal("opus track not recorded")
	}
	seq, ts := uint16(65500), uint32(0xFFFFFFFF-960*10)
	var batch []*rtp.Packet
	next := func() *rtp.Packet {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: true}, Payload: opusSilence}
		seq++
		ts += 960
		return p
	}
	for i := 0; i < 150; i++ { // 3 s, every tenth pair swapped
		batch = append(batch, next())
	}
	for i := 5; i+1 < len(batch); i += 10 {
		batch[i], batch[i+1] = batch[i+1], batch[i]
	}
	for _, p := range batch {
		tr.Push(p)
	}
	time.Sleep(2500 * time.Millisecond)
	// The sender paused its clock: its next frame says 20 ms later.
	for i := 0; i < 50; i++ {
		tr.Push(next())
	}
	if err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := rec.Finish(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if started != 1 || stopped != 0 {
		t.Fatalf("first-byte events %d, stop events %d", started, stopped)
	}
	times := packetTimes(t, filepath.Join(rec.Dir(), res.Manifest.Tracks[0].File))
	if len(times) != 200 {
		t.Fatalf("%d frames in the file, 200 sent", len(times))
	}
	for i := 1; i < len(times); i++ {
		if times[i] < times[i-1] {
			t.Fatalf("frame %d at %.3fs after frame %d at %.3fs", i, times[i], i-1, times[i-1])
		}
	}
	if gap := times[150] - times[149]; gap < 2.2 || gap > 3.5 {
		t.Errorf("the pause shows as %.3fs, want about 2.5s", gap)
	}
	if last := times[len(times)-1]; last < 6.2 || last > 7.2 {
		t.Errorf("last frame at %.3fs, want about 6.5s", last)
	}
}

func TestVP8SizeFromKeyframe(t *testing.T) {
	key := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
	if w, h := vp8Size(key); w != 640 || h != 480 {
		t.Fatalf("vp8Size = %dx%d", w, h)
	}
	key[6], key[7], key[8], key[9] = 0x40, 0x01, 0xf0, 0x00
	if w, h := vp8Size(key); w != 320 || h != 240 {
		t.Fatalf("vp8Size = %dx%d", w, h)
	}
	if w, h := vp8Size([]byte{0, 1}); w != 640 || h != 480 {
		t.Fatalf("vp8Size of a short frame = %dx%d", w, h)
	}
}

func TestUnknownCodecIsNotRecorded(t *testing.T) {
	rec, err := Start(Config{Dir: t.TempDir()}, "room", "rec", Events{})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Stop()
	if tr := rec.AddTrack(TrackInfo{Member: "m", Source: "camera", MimeType: "video/H264", ClockRate: 90000}); tr != nil {
		t.Fatal("an H.264 track was accepted into WebM")
	}
	if got := safe("../../etc/passwd"); got != "etcpasswd" {
		t.Fatalf("safe = %q", got)
	}
}

// An audio-only call gives an audio-only mix; a track with a codec WebM
// cannot hold is named in the manifest as not recorded.
func TestAudioOnlyMixAndSkippedTrack(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg is needed (Debian package ffmpeg; see scripts/deps.sh)")
	}
	rec, err := Start(Config{Dir: t.TempDir(), FFmpeg: ffmpeg}, "room", "audio", Events{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.AddTrack(TrackInfo{Member: "m2", Name: "Bo", Source: "camera", MimeType: "video/H264", ClockRate: 90000}) != nil {
		t.Fatal("H.264 accepted")
	}
	for i, member := range []string{"m1", "m3"} {
		tr := rec.AddTrack(TrackInfo{Member: member, Source: "mic", MimeType: "audio/opus", ClockRate: 48000, Channels: 2})
		for n := 0; n < 100; n++ {
			tr.Push(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(n + i*1000), Timestamp: uint32(n * 960), Marker: true},
				Payload: opusSilence})
		}
	}
	if err := rec.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := rec.Finish(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Mixed == "" {
		t.Fatalf("no mix: %s", res.Manifest.MixNote)
	}
	if len(res.Manifest.Skipped) != 1 || res.Manifest.Skipped[0].Member != "m2" {
		t.Fatalf("skipped tracks: %+v", res.Manifest.Skipped)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
		filepath.Join(rec.Dir(), res.Manifest.Mixed)).Output()
	if err != nil || strings.TrimSpace(string(out)) != "audio" {
		t.Fatalf("mixed streams %q (%v), want audio only", out, err)
	}
}
