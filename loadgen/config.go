// Package loadgen simulates Liveroom users: many WebSocket sessions in many
// rooms, speaking the same protocol as the browser page, and measures what
// they see (chat latency from each sender to every other member, refusals,
// drops) together with what the servers report on /metrics.
package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is one load run. Its JSON form is the scenario file.
type Config struct {
	// Servers are the base URLs of the nodes; sessions are spread over them
	// round-robin, so one room's members may sit on different nodes.
	Servers []string `json:"servers"`
	Rooms   int      `json:"rooms"`
	// RoomSize is the number of sessions per room; the first joins as the
	// room's agent with the key the API handed out.
	RoomSize int `json:"room_size"`
	// Ramp is how many sessions start per second.
	Ramp float64 `json:"ramp"`
	// Duration is how long every session is held, chatting, after the ramp.
	Duration Duration `json:"duration"`
	// MsgRate is chat messages per second per session; 0 holds idle sessions.
	MsgRate float64 `json:"msg_rate"`
	// MsgBytes pads each chat text to this many characters.
	MsgBytes        int     `json:"msg_bytes"`
	MaxFailureRatio float64 `json:"max_failure_ratio"`

	ConnectTimeout Duration `json:"connect_timeout"`
	JoinTimeout    Duration `json:"join_timeout"`
	// DrainTimeout bounds the wait, after the last send, for acknowledgements
	// and receptions still in flight.
	DrainTimeout Duration `json:"drain_timeout"`
	// RunID prefixes room ids; empty picks a random one so runs never collide.
	RunID string `json:"run_id"`
	// Media puts every session in its room's call with a real Pion peer:
	// "" (no media), "all" (every member sends audio and video) or
	// "publisher" (the room's first member sends audio and video, the others
	// only receive: one publisher to room_size-1 subscribers), or
	// "broadcast" (each room is a broadcast created through
	// /api/v1/broadcasts with APIKey: its first member is the broadcaster,
	// who goes live and sends audio and video before any viewer joins, and
	// the other room_size-1 members are receive-only viewers).
	Media string `json:"media"`
	// APIKey is an agent's API key, needed to create broadcasts.
	APIKey string `json:"api_key,omitempty"`
	// VideoBitrate is what each synthetic camera sends, in bits per second.
	VideoBitrate int `json:"video_bitrate"`
	// SourceAddrs are local IP addresses the sessions' sockets are opened
	// from, round-robin; empty lets the system pick. One source address
	// reaches one server address with at most the ephemeral port range
	// (about 28,000 on Linux), so more sessions need more of them
	// (127.0.0.2, 127.0.0.3, ... on loopback).
	SourceAddrs []string `json:"source_addrs"`
}

// Defaults returns a small run against a local server.
func Defaults() Config {
	return Config{
		Servers:         []string{"http://127.0.0.1:8080"},
		Rooms:           10,
		RoomSize:        5,
		Ramp:            100,
		Duration:        Duration(10 * time.Second),
		MsgRate:         1,
		MsgBytes:        100,
		MaxFailureRatio: 0.01,
		ConnectTimeout:  Duration(10 * time.Second),
		JoinTimeout:     Duration(10 * time.Second),
		DrainTimeout:    Duration(10 * time.Second),
	}
}

// Bounds that keep a typo from turning the tool into a flood.
const (
	maxSessions = 100000
	maxMsgRate  = 1000
	maxDuration = 24 * time.Hour
	maxMsgBytes = 65536
)

// Validate checks ranges and normalises server addresses.
func (c *Config) Validate() error {
	switch c.Media {
	case "", "all", "publisher":
	case "broadcast":
		if c.APIKey == "" {
			return errors.New("media broadcast creates broadcasts: give an agent's API key (--api-key or $LIVEROOM_API_KEY)")
		}
		if c.RoomSize < 2 {
			return errors.New("media broadcast needs room size 2 or more: one broadcaster and its viewers")
		}
	default:
		return fmt.Errorf("media %q: want all, publisher or broadcast", c.Media)
	}
	if len(c.Servers) == 0 {
		return errors.New("no server given (--server)")
	}
	for i, s := range c.Servers {
		norm, err := normaliseServer(s)
		if err != nil {
			return err
		}
		c.Servers[i] = norm
	}
	switch {
	case c.Rooms < 1:
		return errors.New("rooms must be at least 1")
	case c.RoomSize < 1:
		return errors.New("room size must be at least 1")
	case c.Rooms*c.RoomSize > maxSessions:
		return fmt.Errorf("rooms × room size is %d sessions; at most %d", c.Rooms*c.RoomSize, maxSessions)
	case !(c.Ramp > 0):
		return errors.New("ramp must be above 0 sessions per second")
	case c.Duration < 0 || c.Duration.D() > maxDuration:
		return fmt.Errorf("duration must be between 0 and %s", maxDuration)
	case c.MsgRate < 0 || c.MsgRate > maxMsgRate:
		return fmt.Errorf("msg rate must be between 0 and %d per second", maxMsgRate)
	case c.MsgBytes < 0 || c.MsgBytes > maxMsgBytes:
		return fmt.Errorf("msg bytes must be between 0 and %d", maxMsgBytes)
	case c.MaxFailureRatio < 0 || c.MaxFailureRatio > 1:
		return errors.New("max failure ratio must be between 0 and 1")
	case c.ConnectTimeout <= 0 || c.JoinTimeout <= 0 || c.DrainTimeout <= 0:
		return errors.New("timeouts must be above 0")
	}
	for _, a := range c.SourceAddrs {
		if net.ParseIP(a) == nil {
			return fmt.Errorf("source address %q is not an IP address", a)
		}
	}
	if c.RunID != "" && !validRunID(c.RunID) {
		return errors.New("run id must be 1-24 letters, digits, '-' or '_'")
	}
	return nil
}

func validRunID(s string) bool {
	if len(s) == 0 || len(s) > 24 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}

// normaliseServer accepts "host:port" or a URL and returns scheme://host[/path]
// without a trailing slash.
func normaliseServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("server %q is not an http(s) address", s)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// Broadcast reports whether the run's rooms are broadcasts.
func (c *Config) Broadcast() bool { return c.Media == "broadcast" }

// Sessions is the number of sessions the run starts.
func (c *Config) Sessions() int { return c.Rooms * c.RoomSize }

// LoadScenario reads a scenario file over c: keys present in the file replace
// c's values, absent keys keep them.
func LoadScenario(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("scenario %s: %w", path, err)
	}
	return nil
}

// Duration is a time.Duration that reads "30s" or a number of seconds in JSON.
type Duration time.Duration

// D returns the plain duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "30s" or 30 (seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return errors.New(`duration must be a string like "30s" or a number of seconds`)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// ParseRate reads "100", "100/s" or "6000/m" as a rate per second.
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	per := 1.0
	switch {
	case strings.HasSuffix(s, "/s"):
		s = strings.TrimSuffix(s, "/s")
	case strings.HasSuffix(s, "/m"):
		s, per = strings.TrimSuffix(s, "/m"), 60
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q: want a number, N/s or N/m", s)
	}
	return v / per, nil
}
