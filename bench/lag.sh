#!/usr/bin/env bash
# Lag benchmark: a steady rate of hash writes to Redis for a while, carried
# to PostgreSQL by a running `wb-engine run`; for every write, the time
# until its row is visible to another PostgreSQL session (p50, p90, p99,
# max). See bench/lag/src/main.rs for how the time is taken.
#
# Usage: bench/lag.sh [rate] [seconds]   (default 5000 changes/s for 60 s)
# Needs: scripts/setup.sh done; cargo build --release -p wb-capture -p wb-engine
#        -p wb-bench-lag; the mapper component (scripts/quickstart.sh builds it).
set -euo pipefail
rate=${1:-5000}
seconds=${2:-60}
bench_schema=wb_lag
source "$(dirname "$0")/common.sh"
lag="$root/target/release/wb-bench-lag"
[ -f "$lag" ] || { echo "missing $lag: cargo build --release -p wb-bench-lag" >&2; exit 1; }

$pg -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS wb_lag CASCADE; CREATE SCHEMA wb_lag;
        CREATE TABLE wb_lag.events (seq int8 PRIMARY KEY, f2 text, f3 text, f4 text, f5 text,
                                    landed timestamptz NOT NULL DEFAULT clock_timestamp());"
project_config
cat > "$work/project/jobs/lag.yaml" <<YAML
source: {redis: {key_pattern: "lag:*"}}
output:
  - uses: relational.write
    with:
      connection: target
      schema: wb_lag
      table: events
      keys: [{seq: "key_part(1)"}]
      mapping: [f2, f3, f4, f5]
YAML
valkey_start
engine_start
# The engine is ready once it has registered the job with the module.
for _ in $(seq 1 200); do
  redis-cli -p "$port" WB.JOB.LIST 2>/dev/null | grep -q lag && break
  kill -0 "$engine_pid" 2>/dev/null || { cat "$work/engine.log" >&2; exit 1; }
  sleep 0.05
done
"$lag" --redis "redis://127.0.0.1:$port" --pg "host=127.0.0.1 port=5432 user=postgres dbname=test" \
  --rate "$rate" --seconds "$seconds"
echo
engine_stop
echo "engine time by stage: $stage_timings"
