#!/usr/bin/env bash
# Capture benchmark: HSET throughput of the same server binary with the
# capture module tracking the benchmark's keys vs. without the module, in one
# run, with and without pipelining.
#
# Each server is pinned to CPU 0 and redis-benchmark to CPU 1 (when the
# machine has two or more), runs alternate plain/module, and the median of
# the runs is reported with the ratio module/plain. Beside throughput, the
# server's own CPU time per HSET (from /proc) is reported: without pipelining
# the single benchmark client is the limit, and the CPU time shows what the
# module costs the server.
#
# Usage: bench/capture.sh [requests-per-run] [runs]   (defaults 500000, 5)
# Needs: scripts/setup.sh done and `cargo build --release -p wb-capture`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requests=${1:-500000}
runs=${2:-5}
keyspace=100000
clients=50
module="$root/target/release/libwb_capture.so"
[ -f "$module" ] || { echo "build the module first: cargo build --release -p wb-capture" >&2; exit 1; }

if [ "$(nproc)" -ge 2 ]; then server_cpu="taskset -c 0"; client_cpu="taskset -c 1"; else server_cpu=""; client_cpu=""; fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # binary port [module]
  local args=(--port "$2" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/$2.log")
  [ -n "${3:-}" ] && args+=(--loadmodule "$3")
  $server_cpu "$1" "${args[@]}" & pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "server on port $2 did not start" >&2; cat "$work/$2.log" >&2; exit 1
}

server_ticks() { # port -> utime+stime of the server, in clock ticks
  local pid; pid=$(redis-cli -p "$1" INFO server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
  awk '{print $14 + $15}' "/proc/$pid/stat"
}
hz=$(getconf CLK_TCK)

rps() { # port pipeline requests
  $client_cpu redis-benchmark -p "$1" -c "$clients" -n "$3" -r "$keyspace" -P "$2" -q \
    HSET 'key:__rand_int__' f v 2>/dev/null | tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | awk '{print $1}'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

flavors=("valkey-server 9.1:$root/.deps/bin/valkey-server" "redis-server 8.2:$root/.deps/bin/redis-server-8")
printf '| server | pipeline | plain HSET/s | with capture HSET/s | ratio | plain server CPU µs/HSET | with capture CPU µs/HSET |\n|---|---|---|---|---|---|---|\n'
for flavor in "${flavors[@]}"; do
  name=${flavor%%:*}; binary=${flavor#*:}
  plain=$(free_port); start "$binary" "$plain"
  captured=$(free_port); start "$binary" "$captured" "$module"
  stream=$(redis-cli -p "$captured" WB.JOB.SET bench 'key:*')
  # Warm-up: create the whole keyspace on both, so every measured HSET updates.
  for port in "$plain" "$captured"; do rps "$port" 16 $((keyspace * 3)) >/dev/null; done
  for pipeline in 1 16; do
    p_runs=(); c_runs=(); p_cpu=(); c_cpu=()
    for _ in $(seq 1 "$runs"); do
      redis-cli -p "$captured" DEL "$stream" >/dev/null
      for side in plain captured; do
        port=${!side}
        t0=$(server_ticks "$port"); r=$(rps "$port" "$pipeline" "$requests"); t1=$(server_ticks "$port")
        us=$(echo "($t1 - $t0) * 1000000 / $hz / $requests" | bc -l)
        if [ "$side" = plain ]; then p_runs+=("$r"); p_cpu+=("$us"); else c_runs+=("$r"); c_cpu+=("$us"); fi
      done
    done
    p=$(printf '%s\n' "${p_runs[@]}" | median); c=$(printf '%s\n' "${c_runs[@]}" | median)
    pc=$(printf '%s\n' "${p_cpu[@]}" | median); cc=$(printf '%s\n' "${c_cpu[@]}" | median)
    entries=$(redis-cli -p "$captured" XLEN "$stream")
    [ "$entries" -eq "$requests" ] || { echo "capture recorded $entries of $requests changes" >&2; exit 1; }
    printf '| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f |\n' "$name" "$pipeline" "$p" "$c" "$(echo "$c / $p" | bc -l)" "$pc" "$cc"
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pids=()
  sleep 0.3
done
echo
echo "requests per run: $requests, runs: $runs (median), clients: $clients, keyspace: $keyspace, cpus: $(nproc)"
