#!/usr/bin/env bash
# Server CPU per forwarded packet, side by side: builds of Liveroom at given git
# refs and, optionally, any other SFU driven by its own load tool. Runs
# alternate (A B A B ...) so that the machine's drift hits every target alike.
#
# For each run the script reads the server's CPU time (utime + stime in
# /proc/<pid>/stat) before and after the load, and divides it by the packets
# forwarded during the load:
#   - Liveroom: the packets the load tool's subscribers received
#     (`liveroom load --json`, .media.packets_received);
#   - another SFU: the difference of OTHER_PACKETS's output before and after
#     the load (a counter of packets the server sent, e.g. from its Prometheus
#     endpoint), or, without OTHER_PACKETS, the last number its load command
#     prints on a line matching PACKETS_GREP. Servers that export counters in
#     batches (LiveKit every 5 s, and once more as each track closes) are read
#     until the counter holds still for OTHER_SETTLE seconds (default 2, at
#     most 15 tries), after the CPU time was read.
# The CPU includes the sessions' setup (signalling, ICE, DTLS), a few percent
# of the total at the default 30 s; every target pays it alike.
#
#   bash bench/sfu-compare.sh                  Liveroom main against the work tree
#   REFS="main perfsfu ." REPEAT=5 bash bench/sfu-compare.sh
#                                              git refs to build ("." is the work tree)
#   ROOMS=4 ROOM_SIZE=20 DURATION=30s VIDEO_BITRATE=1000000 bash bench/sfu-compare.sh
#                                              the Liveroom load: ROOMS rooms, one
#                                              publisher (Opus + VP8) and ROOM_SIZE-1
#                                              subscribers in each
#   OTHER_NAME=livekit OTHER_PID=$(pidof livekit-server) \
#   OTHER_LOAD='for r in $(seq 1 $ROOMS); do lk --dev load-test --room r$r-$RANDOM \
#     --video-publishers 1 --audio-publishers 1 --subscribers $((ROOM_SIZE - 1)) \
#     --no-simulcast --video-codec vp8 --num-per-second 10 --duration $DURATION & done; wait' \
#   OTHER_PACKETS='curl -s localhost:6789/metrics | awk "/^livekit_packet_total\{.*outgoing/ {s+=\$NF} END {printf \"%d\n\", s}"' \
#     bash bench/sfu-compare.sh                another SFU, already running, in the
#                                              alternation (the example's flags and
#                                              metric are LiveKit's; check them
#                                              against your version). OTHER_LOAD runs
#                                              with ROOMS, ROOM_SIZE and DURATION in
#                                              its environment
#
# Output: one Markdown row per run, then medians per target.
set -euo pipefail
cd "$(dirname "$0")/.."

refs=${REFS:-main .}
repeat=${REPEAT:-3}
rooms=${ROOMS:-4}
room_size=${ROOM_SIZE:-20}
duration=${DURATION:-30s}
video_bitrate=${VIDEO_BITRATE:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/sfu-compare.XXXXXX")
server_pid=""
hz=$(getconf CLK_TCK)

. bench/lib.sh
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

# cpu_ticks PID: user + system time of a process, in clock ticks.
cpu_ticks() {
  # The command name (field 2) may hold spaces: cut after its closing ')'.
  local rest
  rest=$(sed 's/^.*) //' "/proc/$1/stat")
  # utime and stime are fields 14 and 15, i.e. 12 and 13 after the name.
  awk '{ print $12 + $13 }' <<<"$rest"
}

# other_packets prints OTHER_PACKETS's counter as an integer: Prometheus
# writes large counters as floats (1.234567e+06), which shell arithmetic
# cannot read.
other_packets() {
  local v
  v=$(bash -c "$OTHER_PACKETS") || { echo "OTHER_PACKETS failed" >&2; return 1; }
  awk -v v="$v" 'BEGIN { if (v ~ /^[ \t\n]*[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?[ \t\n]*$/) printf "%.0f\n", v; else exit 1 }' ||
    { echo "OTHER_PACKETS printed no number: '$v'" >&2; return 1; }
}

# settled_packets reads other_packets until two readings OTHER_SETTLE seconds
# apart agree (or 15 tries passed).
settled_packets() {
  local a b
  a=$(other_packets) || return 1
  for _ in $(seq 1 15); do
    sleep "${OTHER_SETTLE:-2}"
    b=$(other_packets) || return 1
    [ "$a" = "$b" ] && break
    a=$b
  done
  echo "$b"
}

# Build every ref; the load tool comes from the first one.
names=()
for ref in $refs; do
  name=$ref
  [ "$ref" = . ] && name=worktree
  name=${name//\//_}
  mkdir -p "$work/src-$name"
  if [ "$ref" = . ]; then
    echo "building the work tree" >&2
    go build -o "$work/bin-$name" ./cmd/liveroom
  else
    echo "building $ref ($(git rev-parse --short "$ref"))" >&2
    git archive "$ref" | tar -x -C "$work/src-$name"
    (cd "$work/src-$name" && go build -o "$work/bin-$name" ./cmd/liveroom)
  fi
  names+=("$name")
done
loadtool="$work/bin-${names[0]}"
if [ -n "${OTHER_NAME:-}" ]; then
  names+=("other:$OTHER_NAME")
fi

cat >"$work/scenario.json" <<EOF
{"rooms": $rooms, "room_size": $room_size, "ramp": 50, "duration": "$duration",
 "msg_rate": 0, "media": "publisher", "video_bitrate": $video_bitrate,
 "max_failure_ratio": 0.05}
EOF


start_liveroom() {
  local bin=$1 data=$2 port
  port=$(free_port)
  url="http://127.0.0.1:$port"
  mkdir -p "$data"
  (cd "$data" && exec "$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" --log-level warn \
    --max-sockets-per-ip 0 --rooms-per-ip-per-minute 0 --rooms-per-ip-per-day 0) >"$data/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$url/healthz" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $bin did not become healthy:" >&2
  cat "$data/server.log" >&2
  return 1
}

rows="$work/rows"
: >"$rows"
echo "| target | run | load average | server CPU s | packets forwarded | µs CPU per packet | packets per CPU-second | loss | load tool |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for i in $(seq 1 "$repeat"); do
  for name in "${names[@]}"; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    loss="-"
    tool="-"
    case $name in
    other:*)
      pid=$OTHER_PID
      before=""
      [ -n "${OTHER_PACKETS:-}" ] && before=$(settled_packets)
      c0=$(cpu_ticks "$pid")
      out=$(ROOMS=$rooms ROOM_SIZE=$room_size DURATION=$duration bash -c "$OTHER_LOAD" 2>&1) ||
        echo "note: $name run $i: load command failed" >&2
      c1=$(cpu_ticks "$pid")
      if [ -n "${OTHER_PACKETS:-}" ]; then
        after=$(settled_packets)
        packets=$((after - before))
      else
        packets=$(grep -E "${PACKETS_GREP:-packets}" <<<"$out" | grep -oE '[0-9]+' | tail -1 || true)
        packets=${packets:-0}
      fi
      printf '%s\n' "$out" >"$work/$name-$i.log"
      ;;
    *)
      start_liveroom "$work/bin-$name" "$work/data-$name-$i"
      pid=$server_pid
      c0=$(cpu_ticks "$pid")
      "$loadtool" load --scenario "$work/scenario.json" --server "$url" --json >"$work/$name-$i.json" ||
        echo "note: $name run $i reported failures" >&2
      c1=$(cpu_ticks "$pid")
      stop_server
      packets=$(jq '.media.packets_received // 0' "$work/$name-$i.json")
      loss=$(jq -r '(.media.loss_ratio * 100000 | round) / 1000 | tostring + " %"' "$work/$name-$i.json")
      tool=$(jq -r '.media | "\(.peers) peers, \(.remote_tracks) tracks, \(.nacks_received) NACKs"' "$work/$name-$i.json")
      ;;
    esac
    cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
    per=$(awk -v c="$cpu" -v p="$packets" 'BEGIN { if (p > 0) printf "%.2f", c * 1e6 / p; else print "-" }')
    rate=$(awk -v c="$cpu" -v p="$packets" 'BEGIN { if (c > 0) printf "%.0f", p / c; else print "-" }')
    echo "| ${name#other:} | $i | $load | $cpu | $packets | $per | $rate | $loss | $tool |"
    echo "${name#other:} $per $rate" >>"$rows"
  done
done

echo
echo "| target | median µs CPU per packet | median packets per CPU-second |"
echo "| --- | --- | --- |"
for name in "${names[@]}"; do
  n=${name#other:}
  per=$(awk -v n="$n" '$1 == n && $2 != "-" { print $2 }' "$rows" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print "-" }')
  rate=$(awk -v n="$n" '$1 == n && $3 != "-" { print $3 }' "$rows" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print "-" }')
  echo "| $n | $per | $rate |"
done
echo
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
