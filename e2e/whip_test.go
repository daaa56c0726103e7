package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// pionAPI is a WebRTC stack standing in for an encoder (WHIP) or a player
// (WHEP), with loopback candidates so it reaches a server on 127.0.0.1.
func pionAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// postSDP sends pc's complete offer to url and applies the answer; it
// returns the status and the resource's Location.
func postSDP(t *testing.T, pc *webrtc.PeerConnection, url, token string) (int, string, string) {
	t.Helper()
	if pc.LocalDescription() == nil {
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		done := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	req, _ := http.NewRequest("POST", url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, "", string(body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" || resp.Header.Get("ETag") == "" {
		t.Fatalf("answer headers: %v", resp.Header)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatalf("answer: %v\n%s", err, body)
	}
	return resp.StatusCode, resp.Header.Get("Location"), ""
}

// whepPlayer polls POST /whep until the broadcast has tracks, and returns a
// channel of the RTP payloads of the video it receives.
func whepPlayer(t *testing.T, api *webrtc.API, srv *server, id string) (*webrtc.PeerConnection, string, chan []byte) {
	t.Helper()
	payloads := make(chan []byte, 1000)
	deadline := time.Now().Add(60 * time.Second)
	for {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			if tr.Kind() != webrtc.RTPCodecTypeVideo {
				return
			}
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				select {
				case payloads <- append([]byte(nil), p.Payload...):
				default:
				}
			}
		})
		code, loc, body := postSDP(t, pc, srv.URL+"/whep/"+id, "")
		if code == http.StatusCreated {
			t.Cleanup(func() { _ = pc.Close() })
			return pc, loc, payloads
		}
		_ = pc.Close()
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("WHEP: %d %s", code, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func createBroadcast(t *testing.T, srv *server, key, id string) (broadcasterKey string, broadcasterURL string) {
	t.Helper()
	code, b := apiCall(t, srv, "POST", "/api/v1/broadcasts", key, `{"id":"`+id+`"}`)
	if code != 201 {
		t.Fatalf("create broadcast: %d %v", code, b)
	}
	u := b["broadcasterUrl"].(string)
	return u[strings.Index(u, "#key=")+5:], u
}

func deleteResource(t *testing.T, srv *server, loc string) int {
	t.Helper()
	req, _ := http.NewRequest("DELETE", srv.URL+loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWHIPPublisherToWHEPPlayerAndDeleteEnds(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "obs", "OBS", "", "obs-password")
	key := addAPIKey(t, dir, "obs")
	srv := startServer(t, dir)
	bkey, _ := createBroadcast(t, srv, key, "stage")
	api := pionAPI(t)

	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "encoder")
	if _, err := pub.AddTransceiverFromTrack(video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	if code, _, body := postSDP(t, pub, srv.URL+"/whip/stage", "wrong-key"); code != http.StatusUnauthorized {
		t.Fatalf("WHIP with a wrong key: %d %s", code, body)
	}
	code, loc, body := postSDP(t, pub, srv.URL+"/whip/stage", bkey)
	if code != http.StatusCreated || !strings.HasPrefix(loc, "/whip/stage/") {
		t.Fatalf("WHIP: %d %q %s", code, loc, body)
	}
	// The encoder sends marked packets (the SFU forwards payloads untouched).
	mark := []byte("liveroom-whip")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			payload := append([]byte{0x10, 0x00}, mark...)
			_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
				Timestamp: uint32(seq) * 3000, Marker: true}, Payload: payload})
		}
	}()

	_, playLoc, payloads := whepPlayer(t, api, srv, "stage")
	select {
	case p := <-payloads:
		if !bytes.Contains(p, mark) {
			t.Fatalf("the player got %q, not the encoder's packets", p)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the WHEP player received no video")
	}
	if code, info := apiCall(t, srv, "GET", "/api/broadcasts/stage", "", ""); code != 200 || info["phase"] != "live" || info["viewers"] != float64(1) {
		t.Fatalf("while live: %d %v", code, info)
	}

	// Trickle is not offered; DELETE ends the player, then the broadcast.
	req, _ := http.NewRequest("PATCH", srv.URL+loc, strings.NewReader("a=end-of-candidates"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PATCH: %v %v", err, resp)
	}
	if code := deleteResource(t, srv, playLoc); code != http.StatusOK {
		t.Fatalf("DELETE player: %d", code)
	}
	if code := deleteResource(t, srv, loc); code != http.StatusOK {
		t.Fatalf("DELETE publisher: %d", code)
	}
	if code := deleteResource(t, srv, loc); code != http.StatusNotFound {
		t.Fatalf("DELETE publisher twice: %d", code)
	}
	if code, info := apiCall(t, srv, "GET", "/api/broadcasts/stage", "", ""); code != 200 || info["phase"] != "ended" || info["viewers"] != float64(0) {
		t.Fatalf("after DELETE: %d %v", code, info)
	}
}

func TestWHEPPlayerReceivesBrowserBroadcaster(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "ivy", "Ivy", "", "ivy-password")
	key := addAPIKey(t, dir, "ivy")
	srv := startServer(t, dir)
	_, broadcasterURL := createBroadcast(t, srv, key, "show")

	browser := newBrowser(t)
	host := newPage(t, browser)
	do(t, host, chromedp.Navigate(broadcasterURL))
	waitBroadcast(t, host, "the broadcaster preview", `!document.querySelector("#live").hidden &&
		document.querySelector("#preview").srcObject !== null`)
	do(t, host, chromedp.Click(chromedp.ID("go-live")))

	_, _, payloads := whepPlayer(t, pionAPI(t), srv, "show")
	got := 0
	deadline := time.After(60 * time.Second)
	for got < 50 {
		select {
		case <-payloads:
			got++
		case <-deadline:
			t.Fatalf("the WHEP player got %d video packets from the browser", got)
		}
	}
	waitBroadcast(t, host, "1 watching", `document.querySelector("#viewer-count").textContent === "1"`)
}

// whipPublisher posts a VP8 encoder to the broadcast and sends packets whose
// payload carries mark until the test ends; it returns the resource.
func whipPublisher(t *testing.T, api *webrtc.API, srv *server, id, key string, mark []byte) string {
	t.Helper()
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", string(mark))
	if _, err := pub.AddTransceiverFromTrack(video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	code, loc, body := postSDP(t, pub, srv.URL+"/whip/"+id, key)
	if code != http.StatusCreated {
		t.Fatalf("WHIP: %d %s", code, body)
	}
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// Every packet a one-packet keyframe, so any is a picture.
			payload := append([]byte{0x10, 0x00}, mark...)
			_ = video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
				Timestamp: uint32(seq) * 3000, Marker: true}, Payload: payload})
		}
	}()
	return loc
}

// waitMark reads the player's payloads until one carries mark.
func waitMark(t *testing.T, payloads chan []byte, mark []byte, what string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case p := <-payloads:
			if bytes.Contains(p, mark) {
				return
			}
		case <-deadline:
			t.Fatalf("the WHEP player never received %s", what)
		}
	}
}

// A WHEP session is answered once and never renegotiated: a player that
// connects before anyone is live gets the broadcaster's video when it goes
// live, and the next broadcaster's when the first one leaves, on the same
// connection.
func TestWHEPPlayerFollowsBroadcastersWithoutRenegotiating(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "eve", "Eve", "", "eve-password")
	key := addAPIKey(t, dir, "eve")
	srv := startServer(t, dir)
	bkey, _ := createBroadcast(t, srv, key, "relay")
	api := pionAPI(t)

	player, _, payloads := whepPlayer(t, api, srv, "relay")
	if code, info := apiCall(t, srv, "GET", "/api/broadcasts/relay", "", ""); code != 200 || info["phase"] != "waiting" {
		t.Fatalf("a player connected before anyone is live: %d %v", code, info)
	}
	first := whipPublisher(t, api, srv, "relay", bkey, []byte("first-encoder"))
	waitMark(t, payloads, []byte("first-encoder"), "the first broadcaster's video")

	if code := deleteResource(t, srv, first); code != http.StatusOK {
		t.Fatalf("DELETE first: %d", code)
	}
	whipPublisher(t, api, srv, "relay", bkey, []byte("second-encoder"))
	waitMark(t, payloads, []byte("second-encoder"), "the second broadcaster's video")
	if s := player.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
		t.Fatalf("player connection %s", s)
	}
	if n := len(player.GetTransceivers()); n != 2 {
		t.Fatalf("player has %d transceivers; its session was changed", n)
	}
}
