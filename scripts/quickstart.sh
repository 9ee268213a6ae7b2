#!/usr/bin/env bash
# Quick start: what wb does today, end to end on this machine.
#
# Starts a local Valkey 9.1 with the capture module and RedisJSON, tracks the
# key pattern `user:*`, writes sample data the way an application would, and
# shows the change stream the engine will consume. (The engine that writes
# these changes into SQLite/PostgreSQL is not built yet; see README.md.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p wb-capture
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
.deps/bin/valkey-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --daemonize yes \
  --logfile "$dir/valkey.log" \
  --loadmodule "$PWD/target/release/libwb_capture.so" --loadmodule "$PWD/.deps/lib/rejson.so"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

r() { echo "> $*"; redis-cli -p "$port" "$@"; }
r WB.JOB.SET users 'user:*' EXCLUDE expire
r HSET user:1 first_name Ann last_name Lee email ann@example.com
r HSET user:2 first_name Bob last_name Ray
r JSON.SET user:3 '$' '{"name":"Cy","addresses":[{"id":1,"city":"Oslo"}]}'
r JSON.ARRAPPEND user:3 '$.addresses' '{"id":2,"city":"Rome"}'
r SADD user:4:tags red blue
r HSET order:9 total 12
r DEL user:2
r EXPIRE user:1 300
echo
echo "Change stream of job 'users' (order:9 is not tracked; EXPIRE is excluded):"
redis-cli -p "$port" --no-raw XRANGE 'wb:{0}:changes:users' - +
