package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"liveroom/loadgen"
)

const loadUsage = `usage: liveroom load [flags]

Simulates rooms full of members against running Liveroom servers through the
real WebSocket protocol, measures chat latency from each sender to every other
member, and reads each server's /metrics for its side (memory, goroutines,
sockets). Prints a report (text, or JSON with --json) and exits non-zero when
a server is unreachable or the failure ratio passes --max-failure-ratio.

Each session may send at most the server's --rate-per-second frames per second
(20 by default); to test higher message rates, start the server with a higher
--rate-per-second and --rate-burst, and --room-max-members at least --room-size.

flags:
`

// load is the CLI face of loadgen: flags over a scenario file over defaults.
func load(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runLoad(ctx, args, os.Stdout, os.Stderr, isTerminal(os.Stderr))
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// rateFlag reads "100", "100/s" or "6000/m".
type rateFlag struct{ v *float64 }

func (r rateFlag) String() string {
	if r.v == nil {
		return ""
	}
	return strconv.FormatFloat(*r.v, 'g', -1, 64) + "/s"
}

func (r rateFlag) Set(s string) error {
	v, err := loadgen.ParseRate(s)
	if err == nil {
		*r.v = v
	}
	return err
}

// durationFlag binds a loadgen.Duration.
type durationFlag struct{ d *loadgen.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err == nil {
		*f.d = loadgen.Duration(v)
	}
	return err
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) error {
	// Flags are parsed into a throw-away config first; only the ones given
	// are copied over the scenario file, so the file's values survive unless
	// a flag overrides them.
	var flagCfg = loadgen.Defaults()
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, loadUsage)
		fs.PrintDefaults()
	}
	servers := fs.String("server", strings.Join(flagCfg.Servers, ","), "server base URLs, comma-separated; sessions are spread over them round-robin")
	fs.IntVar(&flagCfg.Rooms, "rooms", flagCfg.Rooms, "rooms to create")
	fs.IntVar(&flagCfg.RoomSize, "room-size", flagCfg.RoomSize, "members per room; the first joins as the room's agent")
	fs.Var(rateFlag{&flagCfg.Ramp}, "ramp", "sessions started per second (N or N/s)")
	fs.Var(durationFlag{&flagCfg.Duration}, "duration", "how long all sessions are held, chatting, after the ramp")
	fs.Var(rateFlag{&flagCfg.MsgRate}, "msg-rate", "chat messages per second per session (N or N/s, N/m); 0 holds idle sessions")
	fs.IntVar(&flagCfg.MsgBytes, "msg-bytes", flagCfg.MsgBytes, "chat text length, in characters")
	fs.Float64Var(&flagCfg.MaxFailureRatio, "max-failure-ratio", flagCfg.MaxFailureRatio, "exit non-zero when failed sessions, messages or receptions exceed this share")
	fs.Var(durationFlag{&flagCfg.ConnectTimeout}, "connect-timeout", "deadline for each WebSocket dial and API call")
	fs.Var(durationFlag{&flagCfg.JoinTimeout}, "join-timeout", "deadline for each join")
	fs.Var(durationFlag{&flagCfg.DrainTimeout}, "drain-timeout", "deadline, after the last send, for messages still in flight")
	fs.StringVar(&flagCfg.RunID, "run-id", "", "prefix of room ids (default: random)")
	fs.StringVar(&flagCfg.Media, "media", "", "put every session in its room's call with a Pion peer: all (everyone sends audio+video), publisher (the first member sends, the others receive) or broadcast (each room is a broadcast: one broadcaster sending audio+video, room-size-1 receive-only viewers; needs --api-key)")
	fs.StringVar(&flagCfg.APIKey, "api-key", "", "an agent's API key, to create broadcasts with --media broadcast (default $LIVEROOM_API_KEY)")
	fs.IntVar(&flagCfg.VideoBitrate, "video-bitrate", 1_000_000, "bits per second each synthetic camera sends, with --media")
	scenario := fs.String("scenario", "", "JSON scenario file with the same settings (keys: servers, rooms, room_size, ramp, duration, msg_rate, msg_bytes, max_failure_ratio, connect_timeout, join_timeout, drain_timeout, run_id, media, video_bitrate, api_key, source_addrs); flags override it")
	sourceAddrs := fs.String("source-addrs", "", "local IP addresses to open the sessions' sockets from, comma-separated, round-robin (e.g. 127.0.0.2,127.0.0.3 for more sessions than one address has ephemeral ports)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("load: unexpected argument %q", fs.Arg(0))
	}
	flagCfg.Servers = splitList(*servers)
	flagCfg.SourceAddrs = splitList(*sourceAddrs)

	cfg := loadgen.Defaults()
	if *scenario != "" {
		if err := loadgen.LoadScenario(*scenario, &cfg); err != nil {
			return err
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "server":
			cfg.Servers = flagCfg.Servers
		case "rooms":
			cfg.Rooms = flagCfg.Rooms
		case "room-size":
			cfg.RoomSize = flagCfg.RoomSize
		case "ramp":
			cfg.Ramp = flagCfg.Ramp
		case "duration":
			cfg.Duration = flagCfg.Duration
		case "msg-rate":
			cfg.MsgRate = flagCfg.MsgRate
		case "msg-bytes":
			cfg.MsgBytes = flagCfg.MsgBytes
		case "max-failure-ratio":
			cfg.MaxFailureRatio = flagCfg.MaxFailureRatio
		case "connect-timeout":
			cfg.ConnectTimeout = flagCfg.ConnectTimeout
		case "join-timeout":
			cfg.JoinTimeout = flagCfg.JoinTimeout
		case "drain-timeout":
			cfg.DrainTimeout = flagCfg.DrainTimeout
		case "media":
			cfg.Media = flagCfg.Media
		case "video-bitrate":
			cfg.VideoBitrate = flagCfg.VideoBitrate
		case "api-key":
			cfg.APIKey = flagCfg.APIKey
		case "run-id":
			cfg.RunID = flagCfg.RunID
		case "source-addrs":
			cfg.SourceAddrs = flagCfg.SourceAddrs
		}
	})

	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("LIVEROOM_API_KEY")
	}
	opt := loadgen.Options{Terminal: terminal}
	if !*quiet {
		opt.Progress = stderr
		if cfg.MsgRate >= 20 {
			fmt.Fprintf(stderr, "note: %g messages/s per session reaches the server's default limit of 20 frames/s; start it with a higher --rate-per-second\n", cfg.MsgRate)
		}
	}
	rep, err := loadgen.Run(ctx, cfg, opt)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(stdout)
	}
	return rep.Err()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
