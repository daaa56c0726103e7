package media

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"liveroom/internal/selfcpu"
	"liveroom/media/recorder"
	"liveroom/proto/pb"
)

// newRooms is one engine with n media actors (rooms), each under a parent
// that collects its recording events, as the room grains would.
func newRooms(tb testing.TB, n int, rec recorder.Config) []*sfu {
	tb.Helper()
	e, err := NewEngine(Config{UDPPort: freeUDPPort(tb), ICETimeout: 15 * time.Second, Recording: rec}, zap.NewNop())
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	client := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	var rooms []*sfu
	var parents []*actor.PID
	for i := range n {
		s := &sfu{tb: tb, system: system, client: client, recEvents: make(chan *pb.MediaRecordingEvent, 16)}
		ready := make(chan *actor.PID, 1)
		parents = append(parents, system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				ready <- ctx.Spawn(e.Props(fmt.Sprint("room", i)))
			case *pb.MediaRecordingEvent:
				s.recEvents <- m
			}
		})))
		s.room = <-ready
		rooms = append(rooms, s)
	}
	tb.Cleanup(func() {
		for _, p := range parents {
			_ = system.Root.StopFuture(p).Wait()
		}
		system.Shutdown()
		e.Close()
	})
	return rooms
}

// vp8Packet is a one-packet VP8 frame: payload descriptor with the start
// bit, then the frame header whose P bit tells a keyframe (0) from an
// interframe; the rest stands in for the picture.
func vp8Packet(payload []byte, key bool) {
	payload[0] = 0x10
	payload[1] = 0x01
	if key {
		payload[1] = 0x00
	}
}

// BenchmarkRecording forwards a ~1 Mbit/s camera (100 packets/s of 1,100
// bytes) in each of 10 rooms to one subscriber, and with recording=on also
// records every room. One op is one packet in every room (10 packets).
// Reported: process CPU per published stream, as a share of one core; the
// difference between the two runs is what recording one stream costs.
func BenchmarkRecording(b *testing.B) {
	const n = 10
	for _, recording := range []bool{false, true} {
		b.Run(fmt.Sprintf("rooms=%d/recording=%v", n, recording), func(b *testing.B) {
			rooms := newRooms(b, n, recorder.Config{Dir: b.TempDir()})
			payload := make([]byte, 1100)
			tracks := make([]*webrtc.TrackLocalStaticRTP, n)
			subs := make([]*participant, n)
			for i, s := range rooms {
				subs[i] = s.join("sub", nil)
				tracks[i], _ = s.join("pub", nil).publish(b)
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Marker: true}, Payload: payload}
			send := func(key bool) {
				pkt.SequenceNumber++
				pkt.Timestamp += 900
				vp8Packet(payload, key)
				for _, t := range tracks {
					if err := t.WriteRTP(pkt); err != nil {
						b.Fatal(err)
					}
				}
			}
			// Warm up: every subscriber is negotiated and the first
			// packets went through.
			warm := make(chan struct{})
			go func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-warm:
						return
					case <-tick.C:
						send(i%50 == 0)
					}
				}
			}()
			for _, sub := range subs {
				sub.answerOffer(b)
			}
			if recording {
				for i, s := range rooms {
					subs[i].send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStart{RecordStart: &pb.MediaRecordStart{RecordingId: "bench"}}})
					s.recEvent(b, pb.MediaRecordingEvent_KIND_STARTED, 20*time.Second)
				}
			}
			close(warm)
			time.Sleep(100 * time.Millisecond)

			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			cpu0 := selfcpu.Used()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				<-tick.C
				send(i%100 == 0) // a keyframe every second
			}
			elapsed := time.Since(start)
			cpu := selfcpu.Used() - cpu0
			b.StopTimer()
			b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds()/n, "cpu%/stream")
			b.ReportMetric(float64(b.N)*n/elapsed.Seconds(), "packets/s")
			if recording {
				for i, s := range rooms {
					subs[i].send(&pb.MediaCommand{Body: &pb.MediaCommand_RecordStop{RecordStop: &pb.MediaRecordStop{}}})
					ev := s.recEvent(b, pb.MediaRecordingEvent_KIND_FINISHED, time.Minute)
					if i == 0 {
						b.ReportMetric(float64(ev.Size)/elapsed.Seconds()*8/1e6, "Mbit/s-written")
					}
				}
			}
		})
	}
}
