#!/usr/bin/env bash
# What idle sessions cost a server, for two builds run alternately:
#
#   bash bench/idle-sessions.sh OLD_BINARY NEW_BINARY [SESSIONS ...]
#
# For each count (default 10000) and each binary in turn: a fresh server
# (its own data folder, per-address bounds lifted), `liveroom load` from
# NEW_BINARY holding that many idle sessions in rooms of 10, opened from
# 127.0.0.2, 127.0.0.3, ... (one source address per 20,000 sessions, below
# the ephemeral port range). Once every session is in and 20 s have passed,
# the server's /metrics is sampled; one line per run:
#
#   build sessions open rss_mib rss_per_session_kib heap_per_session_kib
#   stack_per_session_kib goroutines_per_session load_average
#
# per-session figures are (value during the hold - value before the run) /
# sessions. REPEAT=n runs each pair n times. Every session is a descriptor
# in the server and one in the load tool: the script raises its open-file
# limit to the hard limit (or NOFILE), which bounds the largest count.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(realpath "$1")
new=$(realpath "$2")
shift 2
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000)
repeat=${REPEAT:-1}
ramp=${RAMP:-250}
ulimit -n "${NOFILE:-$(ulimit -Hn)}"
work=$(mktemp -d "${TMPDIR:-/tmp}/liveroom-idle.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

metric() { # metric URL NAME: the value of an unlabelled series
  curl -sf "$1/metrics" | awk -v n="$2" '$1 == n && !done { printf "%.0f\n", $2; done = 1 }'
}

run_one() { # run_one LABEL BINARY SESSIONS
  local label=$1 bin=$2 n=$3 port url srcs i rooms
  port=$((20000 + RANDOM % 20000))
  url="http://127.0.0.1:$port"
  rm -rf "$work/data"
  mkdir -p "$work/data"
  (cd "$work/data" && exec "$bin" serve --addr "127.0.0.1:$port" --data-dir "$work/data" --log-level warn \
    --max-sockets-per-ip 0 --rooms-per-ip-per-minute 0 --rooms-per-ip-per-day 0) >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do curl -sf -o /dev/null "$url/healthz" && break; sleep 0.2; done
  if ! curl -sf -o /dev/null "$url/healthz"; then
    echo "$label server did not become healthy; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 2
  local rss0 heap0 stack0 g0
  rss0=$(metric "$url" process_resident_memory_bytes)
  heap0=$(metric "$url" go_memstats_heap_alloc_bytes)
  stack0=$(metric "$url" go_memstats_stack_inuse_bytes)
  g0=$(metric "$url" go_goroutines)
  srcs=""
  for i in $(seq 2 $((2 + (n - 1) / 20000))); do srcs="$srcs${srcs:+,}127.0.0.$i"; done
  rooms=$((n / 10))
  "$new" load --server "$url" --rooms "$rooms" --room-size 10 --ramp "$ramp" --msg-rate 0 \
    --duration "$((n / ramp + 120))s" --connect-timeout 60s --join-timeout 60s \
    --source-addrs "$srcs" --quiet --json >"$work/load.json" 2>"$work/load.err" &
  local load_pid=$! open=0 last=-1 still=0
  # Until every session is in, or the count has not moved for 30 s (some
  # failed: the figures are then per open socket).
  for _ in $(seq 1 $((n / ramp * 4 + 600))); do
    open=$(metric "$url" liveroom_sockets_open || echo 0)
    [ "${open:-0}" -ge "$n" ] && break
    if [ "${open:-0}" -eq "$last" ]; then still=$((still + 1)); else still=0; last=${open:-0}; fi
    [ "$still" -ge 30 ] && [ "${open:-0}" -gt 0 ] && break
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 1
  done
  if [ "${open:-0}" -lt "$n" ]; then
    echo "note: $label: only ${open:-0} of $n sessions open; load tool said:" >&2
    tail -5 "$work/load.err" >&2
  fi
  sleep 20
  local rss heap stack g
  open=$(metric "$url" liveroom_sockets_open)
  rss=$(metric "$url" process_resident_memory_bytes)
  heap=$(metric "$url" go_memstats_heap_alloc_bytes)
  stack=$(metric "$url" go_memstats_stack_inuse_bytes)
  g=$(metric "$url" go_goroutines)
  kill -INT "$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  [ "${open:-0}" -gt 0 ] || { echo "$label $n: no session open" >&2; return 0; }
  awk -v l="$label" -v n="$n" -v o="$open" -v r="$rss" -v r0="$rss0" -v h="$heap" -v h0="$heap0" \
    -v s="$stack" -v s0="$stack0" -v g="$g" -v g0="$g0" -v la="$(cut -d' ' -f1-3 /proc/loadavg)" \
    'BEGIN { printf "%s %d %d %.0f %.1f %.1f %.1f %.2f %s\n", l, n, o, r/1048576, (r-r0)/o/1024, (h-h0)/o/1024, (s-s0)/o/1024, (g-g0)/o, la }'
}

echo "build sessions open rss_mib rss_per_session_kib heap_per_session_kib stack_per_session_kib goroutines_per_session load_average"
for n in "${counts[@]}"; do
  for _ in $(seq 1 "$repeat"); do
    run_one old "$old" "$n"
    run_one new "$new" "$n"
  done
done
