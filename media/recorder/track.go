package recorder

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// queueLen bounds the packets waiting for one track's writer: about two
// seconds of a 1 Mbit/s camera. A full queue drops packets for the file only.
const queueLen = 256

// queued is a packet copy and when it arrived.
type queued struct {
	pkt *rtp.Packet
	at  time.Time
}

// Track writes one published track to its WebM file.
type Track struct {
	rec    *Recording
	info   TrackInfo
	video  bool
	rel    string // file path inside the recording folder
	serial int

	mu     sync.Mutex
	ch     chan queued
	closed bool
	halted bool
	done   chan struct{}

	// Owned by the writer goroutine until done is closed.
	sb        *samplebuilder.SampleBuilder
	arrival   map[uint32]time.Time // first arrival of each RTP timestamp not yet written
	w         webm.BlockWriteCloser
	file      *countingFile
	extTS     int64 // unwrapped RTP timestamp of the last sample
	lastRaw   uint32
	firstExt  int64
	lastMs    int64
	lastWall  time.Time
	firstWall time.Time
	askedKey  time.Time
	frames    int64
	dropped   int64
	err       error
}

var errCodec = errors.New("codec cannot be recorded in WebM")

func newTrack(r *Recording, info TrackInfo, serial int) (*Track, error) {
	t := &Track{rec: r, info: info, serial: serial, ch: make(chan queued, queueLen), done: make(chan struct{}),
		arrival: map[uint32]time.Time{}}
	t.rel = r.trackPath(info, serial)
	switch strings.ToLower(info.MimeType) {
	case "video/vp8":
		t.video = true
		t.sb = samplebuilder.New(256, &codecs.VP8Packet{}, info.ClockRate, samplebuilder.WithMaxTimeDelay(time.Second))
	case "audio/opus":
		t.sb = samplebuilder.New(64, &codecs.OpusPacket{}, info.ClockRate, samplebuilder.WithMaxTimeDelay(time.Second))
	default:
		return nil, errCodec
	}
	if t.info.ClockRate == 0 {
		return nil, errCodec
	}
	if t.video && t.info.Keyframe != nil {
		t.info.Keyframe()
		t.askedKey = time.Now()
	}
	go t.run()
	return t, nil
}

// Push queues a copy of pkt for the file. It never blocks: it is called on
// the forwarding path.
func (t *Track) Push(pkt *rtp.Packet) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.halted {
		return
	}
	cp := &rtp.Packet{Header: pkt.Header, Payload: append([]byte(nil), pkt.Payload...)}
	cp.Header.CSRC, cp.Header.Extensions = nil, nil
	select {
	case t.ch <- queued{pkt: cp, at: time.Now()}:
	default:
		t.dropped++
	}
}

// End closes the track's file once what is queued is written: the
// publisher left or stopped the track, or the recording stopped.
func (t *Track) End() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.ch)
	}
}

// halt stops taking packets after a failure; End still closes the file.
func (t *Track) halt() {
	t.mu.Lock()
	t.halted = true
	t.mu.Unlock()
}

func (t *Track) run() {
	defer close(t.done)
	for q := range t.ch {
		if _, seen := t.arrival[q.pkt.Timestamp]; !seen {
			if len(t.arrival) > 4096 { // samples the builder dropped
				clear(t.arrival)
			}
			t.arrival[q.pkt.Timestamp] = q.at
		}
		t.sb.Push(q.pkt)
		t.drain()
	}
	t.sb.Flush()
	t.drain()
	if t.w != nil {
		// Close writes the cues and the duration and closes the file.
		_ = t.w.Close()
	}
}

func (t *Track) drain() {
	for s := t.sb.Pop(); s != nil; s = t.sb.Pop() {
		if t.err == nil {
			t.write(s)
		}
	}
}

func (t *Track) write(s *media.Sample) {
	if len(s.Data) == 0 {
		return
	}
	// Time is taken from when the frame arrived, not when the builder let
	// it go (it holds each frame until the next one comes).
	now, ok := t.arrival[s.PacketTimestamp]
	if ok {
		delete(t.arrival, s.PacketTimestamp)
	} else {
		now = time.Now()
	}
	key := !t.video || s.Data[0]&0x01 == 0 // VP8: P bit clear on a keyframe
	if t.w == nil {
		if !key {
			// A file must start with a keyframe; keep asking for one.
			if t.info.Keyframe != nil && now.Sub(t.askedKey) > time.Second {
				t.askedKey = now
				t.info.Keyframe()
			}
			return
		}
		if err := t.open(s.Data); err != nil {
			t.fail(err)
			return
		}
		t.firstWall, t.lastWall = now, now
		t.lastRaw = s.PacketTimestamp
		t.extTS, t.firstExt = int64(s.PacketTimestamp), int64(s.PacketTimestamp)
		t.rec.wrote(now)
	} else {
		// Unwrap the 32-bit RTP clock.
		t.extTS += int64(int32(s.PacketTimestamp - t.lastRaw))
		t.lastRaw = s.PacketTimestamp
	}
	ms := (t.extTS - t.firstExt) * 1000 / int64(t.info.ClockRate)
	// A stopped camera, a muted sender that paused, or a publisher whose
	// clock jumped: when the RTP clock and the wall clock disagree by more
	// than two seconds, the wall clock tells where the frame belongs.
	wall := now.Sub(t.lastWall).Milliseconds()
	if d := (ms - t.lastMs) - wall; d > 2000 || d < -2000 {
		ms = t.lastMs + wall
		t.firstExt = t.extTS - ms*int64(t.info.ClockRate)/1000
	}
	if ms < t.lastMs {
		ms = t.lastMs
	}
	t.lastMs, t.lastWall = ms, now
	if _, err := t.w.Write(key, ms, s.Data); err != nil {
		t.fail(err)
		return
	}
	t.frames++
}

func (t *Track) fail(err error) {
	if t.err == nil {
		t.err = err
		t.rec.fail(err)
	}
}

// open creates the file on the first frame, when a video track's size is
// known from its keyframe.
func (t *Track) open(first []byte) error {
	path := filepath.Join(t.rec.dir, t.rel)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o640)
	if err != nil {
		return err
	}
	t.file = &countingFile{f: f, t: t}
	entry := webm.TrackEntry{Name: t.info.Source, TrackNumber: 1, TrackUID: uint64(t.serial)}
	if t.video {
		w, h := vp8Size(first)
		entry.CodecID, entry.TrackType = "V_VP8", 1
		entry.Video = &webm.Video{PixelWidth: uint64(w), PixelHeight: uint64(h)}
	} else {
		ch := t.info.Channels
		if ch == 0 {
			ch = 2
		}
		entry.CodecID, entry.TrackType = "A_OPUS", 2
		entry.CodecPrivate = opusHead(uint8(ch))
		entry.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: uint64(ch)}
	}
	info := &webm.Info{TimecodeScale: 1000000, MuxingApp: "liveroom", WritingApp: "liveroom"}
	ws, err := webm.NewSimpleBlockWriter(t.file, []webm.TrackEntry{entry},
		mkvcore.WithSegmentInfo(info), mkvcore.WithBlockInterceptor(nil),
		mkvcore.WithSeekHead(true), mkvcore.WithCues(4096),
		mkvcore.WithOnFatalHandler(func(err error) { t.fileError(err) }),
		mkvcore.WithOnErrorHandler(func(err error) { t.fileError(err) }))
	if err != nil {
		_ = f.Close()
		return err
	}
	t.w = ws[0]
	kind := "audio"
	if t.video {
		kind = "video"
	}
	t.rec.journal(journalEntry{File: filepath.ToSlash(t.rel), Member: t.info.Member, Name: t.info.Name,
		Source: t.info.Source, Kind: kind, Codec: t.info.MimeType, StartUnixMs: time.Now().UnixMilli()})
	return nil
}

// fileError comes from the muxer's own goroutine.
func (t *Track) fileError(err error) { t.rec.fail(err) }

// vp8Size reads the frame size from a VP8 keyframe header (RFC 6386 9.1);
// 640x480 when the frame does not carry one.
func vp8Size(b []byte) (int, int) {
	if len(b) >= 10 && b[3] == 0x9d && b[4] == 0x01 && b[5] == 0x2a {
		w := int(binary.LittleEndian.Uint16(b[6:8]) & 0x3fff)
		h := int(binary.LittleEndian.Uint16(b[8:10]) & 0x3fff)
		if w > 0 && h > 0 {
			return w, h
		}
	}
	return 640, 480
}

// opusHead is the identification header WebM carries as Opus CodecPrivate
// (RFC 7845 5.1).
func opusHead(channels uint8) []byte {
	h := []byte("OpusHead")
	h = append(h, 1, channels, 0x38, 0x01) // version, channels, pre-skip 312
	h = binary.LittleEndian.AppendUint32(h, 48000)
	h = append(h, 0, 0, 0) // output gain, mapping family 0
	return h
}

// countingFile counts bytes for the metrics and reports write errors (a
// full disk) to the recording, which stops it.
type countingFile struct {
	f    *os.File
	t    *Track
	size int64
	mu   sync.Mutex
}

func (c *countingFile) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.count(n, err)
	return n, err
}

func (c *countingFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.f.WriteAt(p, off)
	if err != nil {
		c.t.rec.fail(err)
	}
	return n, err
}

func (c *countingFile) Close() error { return c.f.Close() }

func (c *countingFile) count(n int, err error) {
	c.mu.Lock()
	c.size += int64(n)
	c.mu.Unlock()
	if h := c.t.rec.cfg.Hooks.Bytes; h != nil && n > 0 {
		h(n)
	}
	if err != nil {
		c.t.rec.fail(err)
	}
}

func (c *countingFile) written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
