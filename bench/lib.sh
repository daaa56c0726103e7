# Shared by the bench scripts (sourced after they cd to the repository).

# stop_server stops the server started as $server_pid: SIGTERM, up to 20 s
# to finish, then SIGKILL.
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
