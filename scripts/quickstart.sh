#!/usr/bin/env bash
# Quick start: the main job, end to end on this machine.
#
# Starts a local Valkey 9.1 with the capture module and RedisJSON, runs
# `wb-engine run` on the project jobs/quickstart (hashes user:<id> -> the
# SQLite table `users`), writes sample data the way an application would,
# and shows the rows that landed in SQLite. The first run builds the engine
# in release mode (about 10 minutes on 2 cores); later runs start at once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p wb-capture -p wb-engine
cargo build --quiet --release --target wasm32-wasip2 \
  --manifest-path sdk/mapper-component/Cargo.toml --target-dir target/guests

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
engine_pid=""
cleanup() {
  [ -n "$engine_pid" ] && kill "$engine_pid" 2>/dev/null || true
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

.deps/bin/valkey-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --daemonize yes \
  --logfile "$work/valkey.log" \
  --loadmodule "$PWD/target/release/libwb_capture.so" --loadmodule "$PWD/.deps/lib/rejson.so"
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

export WB_SQLITE_PATH="$work/quickstart.db"
python3 - <<'PY'
import os, sqlite3
db = sqlite3.connect(os.environ["WB_SQLITE_PATH"])
db.execute("CREATE TABLE users (user_id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT)")
db.commit()
PY

echo "== wb-engine run --dir jobs/quickstart (Valkey on port $port, SQLite at $WB_SQLITE_PATH)"
WB_REDIS_URL="redis://127.0.0.1:$port" target/release/wb-engine run --dir jobs/quickstart \
  2>"$work/engine.log" &
engine_pid=$!
for _ in $(seq 1 200); do
  [ -n "$(redis-cli -p "$port" WB.STREAMS)" ] && break
  kill -0 "$engine_pid" 2>/dev/null || { cat "$work/engine.log"; exit 1; }
  sleep 0.05
done

r() { echo "> $*"; redis-cli -p "$port" "$@" >/dev/null; }
r HSET user:1 first_name Ann last_name Lee email Ann.Lee@Example.com
r HSET user:2 first_name Bob last_name Ray email bob@example.com
r HSET user:3 first_name Cy
r HSET order:9 total 12
r HSET user:2 last_name Rayner
r DEL user:3

python3 - <<'PY'
import os, sqlite3, time
want = [("1", "Ann", "Lee", "ann.lee@example.com"), ("2", "Bob", "Rayner", "bob@example.com")]
rows = []
for _ in range(300):
    db = sqlite3.connect(os.environ["WB_SQLITE_PATH"])
    rows = db.execute("SELECT user_id, first_name, last_name, email FROM users ORDER BY user_id").fetchall()
    db.close()
    if rows == want:
        break
    time.sleep(0.1)
print("\nRows in SQLite table users (order:9 is not tracked; user:3 was deleted):")
print("  user_id | first_name | last_name | email")
for row in rows:
    print("  " + " | ".join("" if v is None else str(v) for v in row))
if rows != want:
    raise SystemExit("the rows did not arrive as expected; see the engine log")
PY

kill -TERM "$engine_pid"
wait "$engine_pid" && echo && echo "wb-engine stopped cleanly: $(tail -n 1 "$work/engine.log" | sed 's/.*INFO //')"
engine_pid=""
