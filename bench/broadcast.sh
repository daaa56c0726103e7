#!/usr/bin/env bash
# Broadcast fan-out: one broadcaster (a Pion peer sending Opus and 1 Mbit/s
# VP8) to N receive-only viewers (Pion peers), on one fresh local node, for
# each N in VIEWERS. Prints each run's viewer lines (time to first frame,
# frames/packets/losses per viewer) and the server's CPU during the hold.
#
#   bash bench/broadcast.sh                      VIEWERS="1 50 100 250 500"
#   VIEWERS="1 100" DURATION=20s bash bench/broadcast.sh
#   BITRATE=500000 bash bench/broadcast.sh       video bits per second
#
# The load tool runs on the same machine: its viewers decrypt every packet
# the server encrypts, so the two share the cores.
set -euo pipefail
cd "$(dirname "$0")/.."

viewers=${VIEWERS:-1 50 100 250 500}
duration=${DURATION:-20s}
bitrate=${BITRATE:-1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/liveroom-bcast.XXXXXX")
server_pid=""

. bench/lib.sh
trap 'stop_server; rm -rf "$work"' EXIT

go build -o "$work/liveroom" ./cmd/liveroom


# start_server DATA: sets url.
start_server() {
  local port
  port=$(free_port)
  url="http://127.0.0.1:$port"
  (cd "$1" && exec "$work/liveroom" serve --addr "127.0.0.1:$port" --data-dir "$1" --log-level warn \
    --max-sockets-per-ip 0 --broadcast-max-viewers 100000) >>"$1/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "$url/healthz" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$1/server.log" >&2
  return 1
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
for n in $viewers; do
  data="$work/data-$n"
  mkdir -p "$data"
  # The store must exist before the admin command adds an agent and its key.
  start_server "$data"
  stop_server
  "$work/liveroom" admin agent add --data-dir "$data" --id bench --name Bench >/dev/null
  key=$("$work/liveroom" admin apikey add --data-dir "$data" --agent bench | tail -1)
  start_server "$data"
  echo "== 1 broadcaster, $n viewers, $duration (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  LIVEROOM_API_KEY=$key "$work/liveroom" load --server "$url" --media broadcast --rooms 1 \
    --room-size $((n + 1)) --ramp 50 --duration "$duration" --msg-rate 0 --video-bitrate "$bitrate" \
    --join-timeout 30s --quiet >"$work/report-$n.txt" || echo "note: the run reported failures"
  grep -E 'sessions  |media  |viewers  |per viewer|errors  |CPU during hold|load tool' "$work/report-$n.txt"
  stop_server
done
