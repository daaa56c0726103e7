#!/usr/bin/env bash
# Chat on three nodes behind HAProxy (PostgreSQL store, etcd membership)
# against the same load on one node with the same PostgreSQL store.
#
#   bash bench/cluster.sh               3,000 sessions in 150 rooms of 20
#   ROOMS=50 RATE=0.2 DURATION=20s bash bench/cluster.sh
#   NODES=2 bash bench/cluster.sh       two nodes instead of three
#   LIVEROOM_BIN=path bash bench/cluster.sh
#                                       run that binary instead of building this tree
#                                       (to compare two versions in one sitting)
#
# Prints, per setup: the load tool's report (latency p50/p95/p99, receptions),
# the nodes' CPU seconds during the run (from /proc, summed over the nodes),
# deliveries per server CPU-second, and the mean latency of grain requests
# that crossed nodes (liveroom_grain_request_seconds{where="remote"}), and
# the node-local fan-out: messages that carried frames to another node's
# sessions, the deliveries they made there and their mean latency
# (liveroom_fanout_*).
# Needs initdb/pg_ctl (Debian postgresql), etcd (etcd-server) and haproxy.
set -euo pipefail
cd "$(dirname "$0")/.."

rooms=${ROOMS:-150}
size=${ROOM_SIZE:-20}
rate=${RATE:-0.2}
duration=${DURATION:-20s}
ramp=${RAMP:-300}
nodes=${NODES:-3}
bin=${LIVEROOM_BIN:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/liveroom-cluster-bench.XXXXXX")
chmod 755 "$work"
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -f "$work/pg/data/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" stop -m fast -D "$work/pg/data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# A port nobody listens on, and not one handed out before (the kernel may
# give a closed port out again at once; $(...) runs in a subshell, hence the file).
free_port() { # [host]
  local p
  while :; do
    p=$(python3 -c 'import socket, sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "${1:-127.0.0.1}")
    grep -qx "$p" "$work/ports" 2>/dev/null && continue
    echo "$p" >>"$work/ports"
    echo "$p"
    return
  done
}

pgbin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
# PostgreSQL refuses to run as root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    local u=postgres
    id postgres >/dev/null 2>&1 || u=nobody
    setpriv --reuid "$u" --regid "$(id -g "$u")" --clear-groups "$@"
  else
    "$@"
  fi
}

if [ -n "$bin" ]; then
  cp "$bin" "$work/liveroom"
else
  echo "building" >&2
  go build -o "$work/liveroom" ./cmd/liveroom
fi

pg_port=$(free_port)
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown "$(id -u postgres 2>/dev/null || id -u nobody)" "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -U liveroom --auth=trust -E UTF8 --no-locale >/dev/null
as_pg "$pgbin/pg_ctl" start -w -D "$work/pg/data" -l "$work/pg/log" -o "-p $pg_port -h 127.0.0.1 -k $work/pg -c max_connections=300" >/dev/null
pg_db() { as_pg psql -h 127.0.0.1 -p "$pg_port" -U liveroom -d postgres -qc "CREATE DATABASE $1" >/dev/null; echo "postgres://liveroom@127.0.0.1:$pg_port/$1?sslmode=disable"; }

etcd_port=$(free_port)
etcd_peer=$(free_port)
etcd --name b --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
  --advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" --initial-cluster "b=http://127.0.0.1:$etcd_peer" \
  --log-level error >"$work/etcd.log" 2>&1 &
pids+=($!)

node_args=(--secret bench-secret-0123456789abcdef --rate-per-second 20 --rate-burst 40 --log-level warn --files-dir "$work/files"
  --max-sockets-per-ip 0 --rooms-per-ip-per-minute 0 --rooms-per-ip-per-day 0)

wait_healthy() {
  for _ in $(seq 1 300); do
    curl -fs "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$1 not healthy" >&2
  tail -c 3000 "$work"/*.log >&2 || true
  return 1
}

cpu_of() { # utime+stime in seconds of the given pids
  local t=0
  for p in "$@"; do
    read -r -a f <"/proc/$p/stat"
    t=$((t + f[13] + f[14]))
  done
  echo "scale=2; $t / $(getconf CLK_TCK)" | bc
}

remote_latency() { # mean cross-node grain request latency over the nodes, in ms
  local sum=0 count=0
  for u in "$@"; do
    s=$(curl -fs "$u/metrics" | awk '/^liveroom_grain_request_seconds_sum\{where="remote"\}/ {print $2}')
    c=$(curl -fs "$u/metrics" | awk '/^liveroom_grain_request_seconds_count\{where="remote"\}/ {print $2}')
    sum=$(echo "$sum + ${s:-0}" | bc -l)
    count=$(echo "$count + ${c:-0}" | bc -l)
  done
  if [ "$(echo "$count > 0" | bc)" = 1 ]; then echo "scale=2; 1000 * $sum / $count" | bc -l; else echo "-"; fi
}

metric_sum() { # metric-line-prefix urls...: the sum of that series over the nodes
  local name=$1 sum=0 v
  shift
  for u in "$@"; do
    v=$(curl -fs "$u/metrics" | awk -v n="$name" 'index($0, n" ") == 1 {print $2}')
    sum=$(echo "$sum + ${v:-0}" | bc -l)
  done
  echo "$sum"
}

fanout() { # cross-node fan-out over the nodes: messages, deliveries, mean latency
  local sent got lsum lcount
  sent=$(metric_sum 'liveroom_fanout_messages_total{direction="sent"}' "$@")
  got=$(metric_sum liveroom_fanout_deliveries_total "$@")
  lsum=$(metric_sum liveroom_fanout_latency_seconds_sum "$@")
  lcount=$(metric_sum liveroom_fanout_latency_seconds_count "$@")
  local mean="-"
  if [ "$(echo "$lcount > 0" | bc)" = 1 ]; then mean=$(echo "scale=2; 1000 * $lsum / $lcount" | bc -l); fi
  echo "fan-out messages to other nodes $sent, deliveries made from them $got, mean latency ${mean} ms"
}

run_load() { # name target node-urls... ; node pids in $node_pids
  local name=$1 target=$2
  shift 2
  local before after
  before=$(cpu_of "${node_pids[@]}")
  "$work/liveroom" load --server "$target" --rooms "$rooms" --room-size "$size" --ramp "$ramp/s" \
    --duration "$duration" --msg-rate "$rate" --quiet --json >"$work/$name.json" || true
  after=$(cpu_of "${node_pids[@]}")
  local cpu
  cpu=$(echo "$after - $before" | bc)
  echo "== $name: target $target"
  python3 - "$work/$name.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
def g(*path):
    v = r
    for p in path:
        if not isinstance(v, dict) or p not in v:
            return None
        v = v[p]
    return v
print(json.dumps({k: r[k] for k in r if k not in ("servers",)}, indent=1)[:3000])
EOF
  echo "server CPU seconds during the run: $cpu"
  local received
  received=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"]["received"])' "$work/$name.json" 2>/dev/null || echo 0)
  echo "deliveries per server CPU-second: $(echo "scale=0; $received / $cpu" | bc 2>/dev/null || echo -)"
  echo "remote grain request mean latency (ms): $(remote_latency "$@")"
  fanout "$@"
}

# --- one node, PostgreSQL store
url1=$(pg_db single)
port=$(free_port)
"$work/liveroom" serve --addr "127.0.0.1:$port" --data-dir "$work/d0" --store postgres --postgres-url "$url1" \
  "${node_args[@]}" >"$work/single.log" 2>&1 &
pids+=($!)
node_pids=($!)
wait_healthy "http://127.0.0.1:$port"
run_load one-node "http://127.0.0.1:$port" "http://127.0.0.1:$port"
kill -TERM "${node_pids[0]}"
wait "${node_pids[0]}" 2>/dev/null || true

# --- $nodes nodes behind HAProxy
url3=$(pg_db cluster)
node_pids=()
urls=()
servers=""
i=0
for host in $(seq -f "127.0.0.%g" 1 "$nodes"); do
  i=$((i + 1))
  port=$(free_port "$host")
  "$work/liveroom" serve --addr "$host:$port" --data-dir "$work/d$i" --store postgres --postgres-url "$url3" \
    --cluster-provider etcd --etcd-endpoints "127.0.0.1:$etcd_port" --cluster-host "$host" \
    --cluster-port "$(free_port "$host")" "${node_args[@]}" >"$work/node$i.log" 2>&1 &
  pids+=($!)
  node_pids+=($!)
  urls+=("http://$host:$port")
  servers+="  server n$i $host:$port check"$'\n'
done
for u in "${urls[@]}"; do wait_healthy "$u"; done
proxy_port=$(free_port)
cat >"$work/haproxy.cfg" <<EOF
global
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h
frontend f
  bind 127.0.0.1:$proxy_port
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /healthz
  default-server inter 1s fall 2 rise 2 maxconn 4000
$servers
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
wait_healthy "http://127.0.0.1:$proxy_port"
sleep 3 # let every node see the others
run_load "$nodes-nodes" "http://127.0.0.1:$proxy_port" "${urls[@]}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
