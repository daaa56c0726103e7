package media

import (
	"bytes"
	"encoding/json"
	"errors"

	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"liveroom/media/recorder"
	"liveroom/proto/pb"
)

// clip is real VP8 and Opus made by ffmpeg once per test binary, so that
// what is recorded can be decoded and mixed like a browser's media.
type clip struct {
	video [][]byte // 25 fps, a keyframe every second
	audio [][]byte // 20 ms Opus packets
}

var (
	clipOnce sync.Once
	theClip  *clip
	clipErr  error
)

func needFFmpeg(tb testing.TB) (ffmpeg, ffprobe string) {
	tb.Helper()
	ffmpeg, err1 := exec.LookPath("ffmpeg")
	ffprobe, err2 := exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		tb.Fatal("ffmpeg and ffprobe are needed (Debian package ffmpeg; see scripts/deps.sh)")
	}
	return ffmpeg, ffprobe
}

func loadClip(tb testing.TB) *clip {
	tb.Helper()
	ffmpeg, _ := needFFmpeg(tb)
	clipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "liveroom-clip")
		if err != nil {
			clipErr = err
			return
		}
		defer os.RemoveAll(dir)
		v, a := filepath.Join(dir, "v.ivf"), filepath.Join(dir, "a.ogg")
		for _, args := range [][]string{
			{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "4", "-c:v", "libvpx", "-g", "25", "-b:v", "300k", "-deadline", "realtime", v},
			{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "4", "-ac", "2", "-c:a", "libopus", "-page_duration", "20000", a},
		} {
			out, err := exec.Command(ffmpeg, append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
			if err != nil {
				clipErr = errors.New("ffmpeg: " + err.Error() + ": " + string(out))
				return
			}
		}
		c := &clip{}
		f, err := os.Open(v)
		if err != nil {
			clipErr = err
			return
		}
		defer f.Close()
		ivf, _, err := ivfreader.NewWith(f)
		if err != nil {
			clipErr = err
			return
		}
		for {
			frame, _, err := ivf.ParseNextFrame()
			if err != nil {
				break
			}
			c.video = append(c.video, frame)
		}
		g, err := os.Open(a)
		if err != nil {
			clipErr = err
			return
		}
		defer g.Close()
		ogg, _, err := oggreader.NewWith(g)
		if err != nil {
			clipErr = err
			return
		}
		for {
			page, hdr, err := ogg.ParseNextPage()
			if err != nil {
				break
			}
			if hdr.GranulePosition == 0 || bytes.HasPrefix(page, []byte("OpusTags")) {
				continue
			}
			c.audio = append(c.audio, page)
		}
		if len(c.video) < 50 || len(c.audio) < 100 {
			clipErr = errors.New("clip too short")
			return
		}
		theClip = c
	})
	if clipErr != nil {
		tb.Fatal(clipErr)
	}
	return theClip
}

// avPublisher is a Pion peer sending the clip (looped) as a camera and a
// microphone, answering keyframe requests with the next keyframe.
type avPublisher struct {
	p    *participant
	stop chan struct{}
	wg   sync.WaitGroup
}

func (p *participant) publishAV(tb testing.TB, c *clip) *avPublisher {
	tb.Helper()
	pc, err := p.s.client.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	p.pub = pc
	video, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", p.id)
	audio, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "mic", p.id)
	vs, err := pc.AddTrack(video)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := pc.AddTrack(audio); err != nil {
		tb.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	p.send(&pb.MediaCommand{Body: &pb.MediaCommand_PublishOffer{PublishOffer: &pb.Sdp{
		Sdp: complete(tb, pc, offer), Sources: map[string]string{"cam": "camera", "mic": "mic"}}}})
	var answer *pb.Sdp
	for answer == nil {
		answer = p.next(tb).GetPublishAnswer()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.Sdp}); err != nil {
		tb.Fatal(err)
	}
	a := &avPublisher{p: p, stop: make(chan struct{})}
	keyframe := make(chan struct{}, 1)
	go func() {
		for {
			pkts, _, err := vs.ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok {
					select {
					case keyframe <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	// Like a browser, the media clock follows the wall clock: on a busy
	// machine a late tick sends every frame that is due, so the RTP time
	// never falls behind real time.
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		start, next, frame := time.Now(), 0, 0
		for {
			select {
			case <-a.stop:
				return
			case <-keyframe:
				frame -= frame % 25 // jump back to the last keyframe
			case <-time.After(10 * time.Millisecond):
			}
			for ; next <= int(time.Since(start)/(40*time.Millisecond)); next, frame = next+1, frame+1 {
				_ = video.WriteSample(media.Sample{Data: c.video[frame%len(c.video)], Duration: 40 * time.Millisecond})
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		start, next := time.Now(), 0
		for {
			select {
			case <-a.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for ; next <= int(time.Since(start)/(20*time.Millisecond)); next++ {
				_ = audio.WriteSample(media.Sample{Data: c.audio[next%len(c.audio)], Duration: 20 * time.Millisecond})
			}
		}
	}()
	return a
}

func (a *avPublisher) Stop() {
	close(a.stop)
	a.wg.Wait()
}

func (s *sfu) recEvent(tb testing.TB, kind pb.MediaRecordingEvent_Kind, within time.Duration) *pb.MediaRecordingEvent {
	tb.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-s.recEvents:
			if ev.Kind == kind {
				return ev
			}
			if ev.Kind == pb.MediaRecordingEvent_KIND_FAILED {
				tb.Fatalf("recording failed: %s", ev.Reason)
			}
		case <-deadline:
			tb.Fatalf("no %v recording event within %v", kind, within)
			return nil
		}
	}
}

type probed struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Duration  string `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(tb testing.TB, path string) probed {
	tb.Helper()
	_, bin := needFFmpeg(tb)
	out, err := exec.Command(bin, "-v", "error", "-print_format", "json", "-show_streams", "-show_format", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probed
	if err := json.Unmarshal(out, &p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func (p probed) seconds() float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

func (p probed) kinds() string {
	var k []string
	for _, s := range p.Streams {
		k = append(k, s.CodecType+"/"+s.CodecName)
	}
	return strings.Join(k, ",")
}

func within(got, want, share float64) bool { return math.Abs(got-want) <= want*share }

// TestRecordingWritesEveryTrack records a publisher's camera and microphone
// for ten seconds, with a second publisher joining after five, and checks
// with ffprobe what a person opening the files would get.
func TestRecordingWritesEveryTrack(t *testing.T) {
	c := loadClip(t)
	ffmpeg, _ := needFFmpeg(t)
	dir := t.TempDir()
	// Mixing is slow on a busy machine; the test checks the file, not the time.
	s := newSFUWith(t, Config{ICETimeout: 15 * time.Second, Recording: recorder.Config{Dir: dir, FFmpeg: ffmpeg,
		MixAllowance: 10 * time.Minute}})
	alice := s.join("alice", nil)
	pa := alice.publishAV(t, c)
	defer pa.Stop()

	alice.send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStart{RecordStart: &pb.MediaRecordStart{RecordingId: "rec1"}}})
	started := s.recEvent(t, pb.MediaRecordingEvent_KIND_STARTED, 20*time.Second)
	t0 := time.UnixMilli(started.AtMs)

	time.Sleep(time.Until(t0.Add(5 * time.Second)))
	bob := s.join("bob", nil)
	pb2 := bob.publishAV(t, c)
	defer pb2.Stop()

	time.Sleep(time.Until(t0.Add(10 * time.Second)))
	alice.send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStop{RecordStop: &pb.MediaRecordStop{}}})
	s.recEvent(t, pb.MediaRecordingEvent_KIND_STOPPING, 10*time.Second)
	done := s.recEvent(t, pb.MediaRecordingEvent_KIND_FINISHED, 3*time.Minute)

	var m recorder.Manifest
	if err := json.Unmarshal([]byte(done.Manifest), &m); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "r", "rec1")
	seen := map[string]recorder.ManifestTrack{}
	for _, tr := range m.Tracks {
		seen[tr.Member+"/"+tr.Kind] = tr
		p := ffprobe(t, filepath.Join(base, tr.File))
		if len(p.Streams) != 1 || p.Streams[0].CodecType != tr.Kind {
			t.Fatalf("%s: ffprobe found %s, want one %s stream", tr.File, p.kinds(), tr.Kind)
		}
		want := float64(tr.EndMs-tr.StartMs) / 1000
		t.Logf("%s: %s, %.2fs (manifest %.2fs from %dms)", tr.File, p.kinds(), p.seconds(), want, tr.StartMs)
		if !within(p.seconds(), want, 0.1) {
			t.Errorf("%s lasts %.2fs, manifest says %.2fs", tr.File, p.seconds(), want)
		}
	}
	for _, k := range []string{"alice/audio", "alice/video", "bob/audio", "bob/video"} {
		if _, ok := seen[k]; !ok {
			t.Fatalf("no %s track in the manifest: %+v", k, m.Tracks)
		}
	}
	for _, k := range []string{"alice/audio", "alice/video"} {
		tr := seen[k]
		if tr.StartMs > 1000 || !within(float64(tr.EndMs-tr.StartMs)/1000, 10, 0.1) {
			t.Errorf("%s: from %dms to %dms, want about 0 to 10s", k, tr.StartMs, tr.EndMs)
		}
	}
	for _, k := range []string{"bob/audio", "bob/video"} {
		// Bob joined at 5 s; his media flows once his connection is up (a
		// little later on a busy machine), and his tracks end with Alice's:
		// offset and length put them at the right place in the recording.
		tr := seen[k]
		if tr.StartMs < 5000 || tr.StartMs > 9000 {
			t.Errorf("%s starts at %dms, want soon after 5s", k, tr.StartMs)
		}
		if d := tr.EndMs - seen["alice/"+tr.Kind].EndMs; d < -1000 || d > 1000 {
			t.Errorf("%s ends at %dms, Alice's at %dms", k, tr.EndMs, seen["alice/"+tr.Kind].EndMs)
		}
	}
	if !within(float64(m.DurationMs)/1000, 10, 0.1) {
		t.Errorf("recording lasts %dms, want about 10s", m.DurationMs)
	}

	// The mixed file has both streams for the whole length.
	if m.Mixed == "" {
		t.Fatalf("no mixed file: %s", m.MixNote)
	}
	mixed := ffprobe(t, filepath.Join(base, m.Mixed))
	t.Logf("mixed: %s, %.2fs", mixed.kinds(), mixed.seconds())
	if !strings.Contains(mixed.kinds(), "video/vp8") || !strings.Contains(mixed.kinds(), "audio/opus") || !within(mixed.seconds(), 10, 0.1) {
		t.Errorf("mixed file: %s, %.2fs; want VP8 and Opus, about 10s", mixed.kinds(), mixed.seconds())
	}
	// Each person also has one file with both tracks.
	if len(m.Participants) != 2 {
		t.Fatalf("participant files: %+v", m.Participants)
	}
	for _, p := range m.Participants {
		pp := ffprobe(t, filepath.Join(base, p.File))
		t.Logf("%s: %s, %.2fs from %dms", p.File, pp.kinds(), pp.seconds(), p.StartMs)
		if !strings.Contains(pp.kinds(), "video/vp8") || !strings.Contains(pp.kinds(), "audio/opus") {
			t.Errorf("%s: %s, want VP8 and Opus", p.File, pp.kinds())
		}
	}
	// And everything is in the one zip.
	if st, err := os.Stat(filepath.Join(base, "recording.zip")); err != nil || st.Size() != done.Size {
		t.Fatalf("zip: %v (size %d, event says %d)", err, st.Size(), done.Size)
	}
}

// TestRecordingWaitsForATrack starts a recording with nobody publishing:
// nothing is written and no start is reported until a track arrives.
func TestRecordingWaitsForATrack(t *testing.T) {
	c := loadClip(t)
	s := newSFUWith(t, Config{ICETimeout: 15 * time.Second, Recording: recorder.Config{Dir: t.TempDir()}})
	alice := s.join("alice", nil)
	alice.send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStart{RecordStart: &pb.MediaRecordStart{RecordingId: "rec2"}}})
	select {
	case ev := <-s.recEvents:
		t.Fatalf("event %v before anyone published", ev.Kind)
	case <-time.After(time.Second):
	}
	pa := alice.publishAV(t, c)
	defer pa.Stop()
	s.recEvent(t, pb.MediaRecordingEvent_KIND_STARTED, 20*time.Second)
	time.Sleep(2 * time.Second)
	alice.send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStop{RecordStop: &pb.MediaRecordStop{}}})
	done := s.recEvent(t, pb.MediaRecordingEvent_KIND_FINISHED, time.Minute)
	if done.Mixed || !strings.Contains(done.Note, "ffmpeg") {
		t.Errorf("without ffmpeg the result should say so: mixed=%v note=%q", done.Mixed, done.Note)
	}
}

// TestRecordingStopsWhenTheDiskFills: a recording stops by itself, with the
// reason, when free space drops below the floor; its files are finished and
// the call goes on. No recording starts on a full disk.
func TestRecordingStopsWhenTheDiskFills(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	s := newSFUWith(t, Config{ICETimeout: 15 * time.Second, Recording: recorder.Config{Dir: t.TempDir(),
		MinFreeBytes: 1 << 20, FreeSpace: func(string) (uint64, error) { return free.Load(), nil }}})
	payload := make([]byte, 200)
	vp8Packet(payload, true)
	sub := s.join("sub", payload)
	pub := s.join("pub", nil)
	track, _ := pub.publish(t)
	stop := make(chan struct{})
	defer close(stop)
	go sendRTP(track, payload, stop)
	sub.answerOffer(t)
	waitFor(t, "forwarded RTP", func() bool { return sub.matched.Load() >= 20 })

	pub.send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStart{RecordStart: &pb.MediaRecordStart{RecordingId: "full"}}})
	s.recEvent(t, pb.MediaRecordingEvent_KIND_STARTED, 20*time.Second)
	free.Store(0)
	stopping := s.recEvent(t, pb.MediaRecordingEvent_KIND_STOPPING, 20*time.Second)
	if !strings.Contains(stopping.Reason, "disk") {
		t.Fatalf("stopped with reason %q, want the disk named", stopping.Reason)
	}
	done := s.recEvent(t, pb.MediaRecordingEvent_KIND_FINISHED, time.Minute)
	if done.Reason != stopping.Reason || done.Size == 0 {
		t.Fatalf("finished: reason %q size %d", done.Reason, done.Size)
	}
	before := sub.matched.Load()
	waitFor(t, "forwarding after the recording stopped", func() bool { return sub.matched.Load() > before+20 })

	pub.send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStart{RecordStart: &pb.MediaRecordStart{RecordingId: "full2"}}})
	var failed *pb.MediaRecordingEvent
	select {
	case failed = <-s.recEvents:
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to a start on a full disk")
	}
	if failed.Kind != pb.MediaRecordingEvent_KIND_FAILED || !strings.Contains(failed.Reason, "disk") {
		t.Fatalf("start on a full disk: %v %q", failed.Kind, failed.Reason)
	}
}
