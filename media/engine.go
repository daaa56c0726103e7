// Package media is Liveroom's SFU: one Pion WebRTC API per node (one UDP port
// for every peer, optional ICE-TCP), and a media actor per room that owns the
// room's peer connections and forwards each published track to every other
// call member.
package media

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
	"go.uber.org/zap"

	"liveroom/media/recorder"
	"liveroom/proto/pb"
)

// Config is the node's WebRTC configuration.
type Config struct {
	// UDPPort is the one UDP port every peer connection uses.
	UDPPort int
	// TCPPort, when not 0, accepts ICE over TCP for networks that block UDP.
	TCPPort int
	// PublicIPs are announced instead of the host's own addresses (1:1 NAT).
	PublicIPs []string
	// ICEServers are handed to browsers (STUN and TURN).
	ICEServers []*pb.IceServer
	// ICETimeout drops a peer connection that has not connected by then.
	ICETimeout time.Duration
	// MaxTracksPerPeer bounds what one browser may publish.
	MaxTracksPerPeer int
	// Recording is where and how calls are recorded; an empty Dir turns
	// recording off.
	Recording recorder.Config
}

// Engine is the node-wide WebRTC API shared by every room's media actor.
type Engine struct {
	api *webrtc.API
	cfg Config
	log *zap.Logger
	udp *ice.MultiUDPMuxDefault
	// out is the UDP sockets under udp: forwarding holds them around the
	// fan-out of a packet so its copies leave in one system call.
	out batchGroup
	// Forwarding counters: packets read from publishers, copies written to
	// subscribers, and copies sent again on a subscriber's NACK.
	packetsIn, packetsOut, packetsResent atomic.Uint64
	// simSwitches counts subscribers moved from one simulcast layer to
	// another.
	simSwitches atomic.Uint64
	tcpLis      net.Listener
	tcp         ice.TCPMux
}

// NewEngine opens the UDP (and TCP) ports and builds the Pion API with the
// codecs we forward and the interceptors browsers need: NACKs for what
// publishers lose, RTCP sender and receiver reports, TWCC feedback to
// publishers. Subscribers' NACKs are answered by the fan-out track from one
// history per published track, not by Pion's per-subscriber NACK responder.
func NewEngine(cfg Config, log *zap.Logger) (*Engine, error) {
	if cfg.ICETimeout <= 0 {
		cfg.ICETimeout = 20 * time.Second
	}
	if cfg.MaxTracksPerPeer <= 0 {
		cfg.MaxTracksPerPeer = 3
	}
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	ir, err := interceptors(me)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: log}

	se := webrtc.SettingEngine{}
	udp, out, err := listenUDP(cfg.UDPPort, log)
	if err != nil {
		return nil, fmt.Errorf("webrtc UDP port %d: %w", cfg.UDPPort, err)
	}
	e.udp, e.out = udp, out
	se.SetICEUDPMux(udp)
	// Peers on this machine (tests, a laptop demo) reach us over loopback.
	se.SetIncludeLoopbackCandidate(true)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if cfg.TCPPort != 0 {
		lis, err := net.Listen("tcp4", net.JoinHostPort("", strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			_ = udp.Close()
			return nil, fmt.Errorf("webrtc TCP port %d: %w", cfg.TCPPort, err)
		}
		e.tcpLis = lis
		e.tcp = webrtc.NewICETCPMux(nil, lis, 32)
		se.SetICETCPMux(e.tcp)
		networks = append(networks, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(networks)
	if len(cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			e.Close()
			return nil, fmt.Errorf("webrtc public address: %w", err)
		}
	}
	e.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return e, nil
}

// listenUDP opens the port on every up IPv4 address, loopback included (as
// ice.NewMultiUDPMuxFromPort does), each socket wrapped in a batchConn, and
// puts one ICE mux on each.
func listenUDP(port int, log *zap.Logger) (*ice.MultiUDPMuxDefault, batchGroup, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, nil, err
	}
	var out batchGroup
	fail := func(err error) (*ice.MultiUDPMuxDefault, batchGroup, error) {
		for _, c := range out {
			_ = c.Close()
		}
		return nil, nil, err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ipn.IP.To4(), Port: port})
			if err != nil {
				return fail(err)
			}
			bc := newBatchConn(c)
			bc.onError = func(err error) { log.Debug("udp batch send", zap.Error(err)) }
			out = append(out, bc)
		}
	}
	if len(out) == 0 {
		return nil, nil, errors.New("no IPv4 address to listen on")
	}
	muxes := make([]ice.UDPMux, len(out))
	for i, c := range out {
		muxes[i] = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: c})
	}
	return ice.NewMultiUDPMuxDefault(muxes...), out, nil
}

// interceptors is webrtc.RegisterDefaultInterceptors without the NACK
// responder (see fanout) and the stats interceptor, whose per-packet
// bookkeeping only feeds GetStats, which the SFU never calls.
func interceptors(me *webrtc.MediaEngine) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorMaxNacksPerPacket(nackTries))
	if err != nil {
		return nil, err
	}
	ir.Add(gen)
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, err
	}
	return ir, nil
}

// nackTries bounds how often the SFU asks a publisher for one lost packet.
// Pion's generator never sees packets that come again on the RTX stream (they
// bypass the main stream's interceptors), so unbounded it would keep asking
// every 100 ms, and the browser keep resending, for packets it already has.
const nackTries = 5

// ForwardStats returns the node's forwarding counters since it started:
// RTP packets read from publishers, copies written to subscribers, and
// copies sent again for subscribers' NACKs.
func (e *Engine) ForwardStats() (in, out, resent uint64) {
	return e.packetsIn.Load(), e.packetsOut.Load(), e.packetsResent.Load()
}

// SimulcastSwitches is how many times a subscriber was moved from one
// simulcast layer to another since the node started.
func (e *Engine) SimulcastSwitches() uint64 { return e.simSwitches.Load() }

// registerCodecs limits negotiation to what every current browser can decode,
// since the SFU forwards packets untouched and cannot transcode.
func registerCodecs(me *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	codecs := []struct {
		c   webrtc.RTPCodecParameters
		typ webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"}, PayloadType: 97}, webrtc.RTPCodecTypeVideo},
		// H.264 constrained baseline, packetization-mode 1: what Safari on a phone sends.
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=102"}, PayloadType: 103}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := me.RegisterCodec(c.c, c.typ); err != nil {
			return err
		}
	}
	return nil
}

// ICEServers is what browsers put in their RTCPeerConnection configuration.
func (e *Engine) ICEServers() []*pb.IceServer { return e.cfg.ICEServers }

// RecordingConfig is how this node records calls.
func (e *Engine) RecordingConfig() recorder.Config { return e.cfg.Recording }

// UDPPort is the port peers reach us on.
func (e *Engine) UDPPort() int { return e.cfg.UDPPort }

// Close releases the ports.
func (e *Engine) Close() {
	var errs []error
	if e.udp != nil {
		errs = append(errs, e.udp.Close())
	}
	if e.tcp != nil {
		errs = append(errs, e.tcp.Close())
	}
	if e.tcpLis != nil {
		_ = e.tcpLis.Close()
	}
	if err := errors.Join(errs...); err != nil {
		e.log.Debug("closing webrtc ports", zap.Error(err))
	}
}
