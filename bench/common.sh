# Shared by the whole-engine benchmarks (drain.sh, lag.sh): sourced, not run.
# Sets root, engine, mapper, pg and work; starts a Valkey with the capture
# module on a free port (valkey_start); runs the engine on a project
# (engine_start); cleans everything up on exit, including the schema named
# by $bench_schema. WB_ENGINE=PATH runs another build of the engine (to compare
# two builds in alternating runs).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
engine="${WB_ENGINE:-$root/target/release/wb-engine}"
mapper="$root/target/guests/wasm32-wasip2/release/wb_mapper_component.wasm"
for f in "$engine" "$mapper" "$root/target/release/libwb_capture.so"; do
  [ -f "$f" ] || { echo "missing $f: build it first (see the header)" >&2; exit 1; }
done
pg="psql -h 127.0.0.1 -U postgres -d test -q -v ON_ERROR_STOP=1"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
engine_pid=""
cleanup() {
  [ -n "$engine_pid" ] && kill "$engine_pid" 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  $pg -c "DROP SCHEMA IF EXISTS $bench_schema CASCADE" >/dev/null 2>&1 || true
  [ -n "${WB_BENCH_KEEP:-}" ] && cp "$work/engine.log" "$WB_BENCH_KEEP"
  rm -rf "$work"
}
trap cleanup EXIT

# A project in $work/project whose PostgreSQL connection is `target`;
# the caller writes its job files into $work/project/jobs. $1, if given, is
# the read_batch_size (else the engine's default).
project_config() {
  mkdir -p "$work/project/jobs"
  {
    echo "connections:"
    echo "  target: {type: postgresql, host: 127.0.0.1, port: 5432, database: test, user: postgres}"
    if [ -n "${1:-}" ]; then echo "applier: {read_batch_size: $1}"; fi
  } > "$work/project/config.yaml"
}

valkey_start() {
  "$root/.deps/bin/valkey-server" --port "$port" --bind 127.0.0.1 --dir "$work" --save "" \
    --daemonize yes --logfile "$work/valkey.log" --loadmodule "$root/target/release/libwb_capture.so"
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
}

# CPU seconds (user + system) used so far by the processes named $1 (pgrep
# -x) and their ended children (PostgreSQL's postmaster counts the backends
# it has reaped): take it before and after.
cpu_of() {
  local total=0 pid
  for pid in $(pgrep -x "$1"); do
    total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{ print t + ($14 + $15 + $16 + $17) / hz }' \
      "/proc/$pid/stat" 2>/dev/null || echo "$total")
  done
  echo "$total"
}

# CPU seconds (user + system) used so far by process $1.
cpu_of_pid() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

engine_start() {
  WB_REDIS_URL="redis://127.0.0.1:$port" ${WB_ENGINE_WRAP:-} "$engine" run --dir "$work/project" --mapper "$mapper" \
    2>"$work/engine.log" &
  engine_pid=$!
}

# Stops the engine (gracefully) and sets stage_timings to its per-stage
# totals. Not for a subshell: only this shell can wait for the engine.
engine_stop() {
  kill -TERM "$engine_pid"; wait "$engine_pid" || true; engine_pid=""
  stage_timings=$(grep -o "batches=[0-9]* .*fetch_ms=[0-9]* transform_ms=[0-9]* write_ms=[0-9]* acknowledge_ms=[0-9]*" \
    "$work/engine.log" | tail -n 1 || true)
}
