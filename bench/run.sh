#!/usr/bin/env bash
# Runs the standard load scenarios and prints one table (Markdown):
#   idle  sessions held in rooms of 10, no chat: server memory per session
#   chat  chat fan-out latency at 1,000 sessions in 50 rooms of 20, each
#         member posting every second (20 messages/s in every room)
#   chat-calm  the same rooms at one message per member every 5 seconds
#   sfu   SFU forwarding: one publisher (audio + 1 Mbit/s video, real Pion
#         peers) to 19 subscribers; server CPU per forwarded track and loss
#
#   bash bench/run.sh                        fresh local server per run, on loopback
#   REPEAT=3 bash bench/run.sh               each scenario 3 times; the table shows medians
#   SCENARIOS=chat bash bench/run.sh         only some scenarios (space-separated)
#   QUIET_LOAD=1.0 bash bench/run.sh         before each run, wait (up to 10 minutes) until
#                                            the 1-minute load average is below 1.0
#   SERVERS=http://a:8080,http://b:8080 bash bench/run.sh
#                                            an existing deployment, one or many nodes;
#                                            sessions are spread over them round-robin
#
# The scenarios are bench/<name>.json (see `liveroom load -h`); their rates fit
# a server's default limits (20 frames/s per socket, 20 members per room).
# Everything runs on this machine, load tool included: the figures are for the
# server and the load generator sharing its cores.
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=${REPEAT:-1}
scenarios=${SCENARIOS:-idle chat chat-calm sfu}
servers=${SERVERS:-}
quiet_load=${QUIET_LOAD:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/liveroom-bench.XXXXXX")
results="$work/results"
mkdir -p "$results"
server_pid=""

. bench/lib.sh
cleanup() {
  stop_server
  rm -rf "$work/bin" "$work"/data-*
}
trap cleanup EXIT

echo "building into $work/bin" >&2
go build -o "$work/bin/liveroom" ./cmd/liveroom
go build -o "$work/bin/table" ./bench/table


# start_server NAME: a fresh node with its own data folder; sets url.
start_server() {
  local port
  port=$(free_port)
  url="http://127.0.0.1:$port"
  mkdir -p "$work/data-$1"
  # Run from the data folder so no ./liveroom.json of the caller is picked up.
  # Every simulated member comes from this one address: lift the per-address
  # bounds on sockets and anonymous room creation.
  (cd "$work/data-$1" && exec "$work/bin/liveroom" serve --addr "127.0.0.1:$port" \
    --data-dir "$work/data-$1" --log-level warn \
    --max-sockets-per-ip 0 --rooms-per-ip-per-minute 0 --rooms-per-ip-per-day 0) >"$results/$1.server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$url/healthz"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server for $1 did not become healthy; its log:" >&2
  cat "$results/$1.server.log" >&2
  return 1
}

# Other work on the machine skews latency; the load average says how much.
load_before=$( [ -r /proc/loadavg ] && cut -d' ' -f1-3 /proc/loadavg || echo unknown)

wait_quiet() {
  [ -n "$quiet_load" ] && [ -r /proc/loadavg ] || return 0
  local l
  for _ in $(seq 1 120); do
    l=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$l" -v q="$quiet_load" 'BEGIN { exit !(l < q) }'; then
      return 0
    fi
    echo "waiting for the machine to quiet down (load average $l)" >&2
    sleep 5
  done
  echo "note: load average still $l; running anyway" >&2
}

for name in $scenarios; do
  for i in $(seq 1 "$repeat"); do
    wait_quiet
    echo "== $name, run $i of $repeat (load average $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown))" >&2
    if [ -n "$servers" ]; then
      url=$servers
    else
      start_server "$name-$i"
    fi
    # A failed run still writes its report; the table shows its failure ratio.
    "$work/bin/liveroom" load --scenario "bench/$name.json" --server "$url" --json \
      >"$results/$name-$i.json" || echo "note: $name run $i reported failures" >&2
    stop_server
  done
done

echo >&2
echo "reports: $results" >&2
"$work/bin/table" "$results"
if [ -r /proc/loadavg ]; then
  echo
  echo "machine: $(nproc) cores; load average at start $load_before, at end $(cut -d' ' -f1-3 /proc/loadavg)"
fi
