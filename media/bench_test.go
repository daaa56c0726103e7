package media

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"liveroom/internal/selfcpu"
)

// BenchmarkForward publishes synthetic VP8 RTP (1,100-byte payloads, as a
// ~1 Mbit/s camera sends) through the SFU to n subscribers. One op is one
// packet from the publisher. The publisher is paced by a 500µs ticker (at
// most 2,000 packets/s) so loopback UDP buffers never drop. Reported: packets forwarded per second,
// the share of packets every subscriber got, and the process CPU per
// forwarded packet and per forwarded 100-packet/s stream. The CPU includes
// the Pion peers standing in for browsers (SRTP on both ends), so it is an
// upper bound for the server's share.
func BenchmarkForward(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			s := newSFU(b)
			payload := make([]byte, 1100)
			for i := range payload {
				payload[i] = byte(i)
			}
			subs := make([]*participant, n)
			for i := range subs {
				subs[i] = s.join(fmt.Sprint("s", i), payload)
			}
			pub := s.join("pub", nil)
			track, _ := pub.publish(b)
			warm := make(chan struct{})
			go sendRTP(track, payload, warm)
			for _, sub := range subs {
				sub.answerOffer(b)
			}
			for _, sub := range subs {
				waitFor(b, "warm-up RTP at "+sub.id, func() bool { return sub.matched.Load() >= 10 })
			}
			close(warm)
			time.Sleep(100 * time.Millisecond)
			base := make([]int64, n)
			for i, sub := range subs {
				base[i] = sub.matched.Load()
			}

			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 60000}, Payload: payload}
			tick := time.NewTicker(500 * time.Microsecond)
			defer tick.Stop()
			cpu0 := selfcpu.Used()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				<-tick.C
				pkt.SequenceNumber++
				pkt.Timestamp += 90
				if err := track.WriteRTP(pkt); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			var got int64
			for time.Now().Before(deadline) {
				got = 0
				for i, sub := range subs {
					got += sub.matched.Load() - base[i]
				}
				if got >= int64(b.N*n) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cpu := selfcpu.Used() - cpu0
			b.ReportMetric(float64(got)/elapsed.Seconds(), "forwarded/s")
			b.ReportMetric(float64(got)/float64(b.N*n), "delivered")
			if got > 0 {
				perPacket := cpu / time.Duration(got)
				b.ReportMetric(float64(perPacket.Nanoseconds()), "cpu-ns/fwd")
				// A 1 Mbit/s camera is about 100 packets a second.
				b.ReportMetric(float64(perPacket.Nanoseconds())*100/1e7, "cpu%/stream")
			}
		})
	}
}

// BenchmarkForwardSimulcast is BenchmarkForward for a simulcast publisher:
// one op is one frame on each of its three layers (1, 1 and 3 packets of
// simLayers), paced at one every 3 ms, and each of n subscribers gets the
// layer the SFU picked for it (the top one once its reports are clean; on a
// loaded machine some stay lower, reported as reached-top). The SFU reads every
// layer but forwards one per subscriber, so cpu-ns/fwd includes the reading
// of the layers nobody gets; compare it with BenchmarkForward's in the same
// run.
func BenchmarkForwardSimulcast(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			s := newSFU(b)
			subs := make([]*participant, n)
			got := make([]atomic.Int64, n)
			top := make([]atomic.Bool, n)
			for i := range subs {
				subs[i] = s.join(fmt.Sprint("s", i), nil)
				subs[i].onPacket = func(_ *webrtc.TrackRemote, pkt *rtp.Packet) {
					got[i].Add(1)
					if len(pkt.Payload) > layerAt && pkt.Payload[layerAt] == 2 {
						top[i].Store(true)
					}
				}
			}
			pub := s.join("pub", nil)
			frames := make(chan struct{})
			warm := make(chan struct{})
			publishSimulcastFrames(b, pub, frames)
			go func() {
				tick := time.NewTicker(33 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-warm:
						return
					case <-tick.C:
						frames <- struct{}{}
					}
				}
			}()
			for _, sub := range subs {
				sub.answerOffer(b)
			}
			for i := range subs {
				waitFor(b, "warm-up RTP at "+subs[i].id, func() bool { return got[i].Load() >= 10 })
			}
			// Time to move up: the middle layer, three clean reports, the
			// top layer's keyframe.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				all := true
				for i := range subs {
					all = all && top[i].Load()
				}
				if all {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			warm <- struct{}{}
			time.Sleep(100 * time.Millisecond)
			base := make([]int64, n)
			for i := range subs {
				base[i] = got[i].Load()
			}
			tick := time.NewTicker(3 * time.Millisecond)
			defer tick.Stop()
			cpu0 := selfcpu.Used()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				<-tick.C
				frames <- struct{}{}
			}
			// Until the copies stop coming (or 5 s).
			var total, last int64
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				total = 0
				for i := range subs {
					total += got[i].Load() - base[i]
				}
				if total == last {
					break
				}
				last = total
			}
			elapsed := time.Since(start)
			b.StopTimer()
			close(frames)
			cpu := selfcpu.Used() - cpu0
			b.ReportMetric(float64(total)/elapsed.Seconds(), "forwarded/s")
			onTop := 0
			for i := range subs {
				if top[i].Load() {
					onTop++
				}
			}
			b.ReportMetric(float64(onTop)/float64(n), "reached-top")
			if total > 0 {
				perPacket := cpu / time.Duration(total)
				b.ReportMetric(float64(perPacket.Nanoseconds()), "cpu-ns/fwd")
				b.ReportMetric(float64(perPacket.Nanoseconds())*100/1e7, "cpu%/stream")
			}
		})
	}
}
