#!/usr/bin/env bash
# Drain benchmark: N hash changes already in a job's stream, written to
# PostgreSQL by `wb-engine run`, against the raw limit measured in the same
# run: the same rows loaded by COPY into a temporary table, then one
# INSERT ... ON CONFLICT into an identical target table.
#
# Also reports the engine's peak resident memory (VmHWM) during the drain.
# Each round starts afresh (new Valkey, new tables) and measures the drain
# then the raw load; the last line gives the median ratio of the rounds, as
# single rounds on a shared 2-core machine vary by 10-20%.
#
# Usage: bench/drain.sh [changes] [rounds]   (default 200000 changes, 1 round)
#        WB_READ_BATCH_SIZE=N sets the engine's read_batch_size (default: the
#        engine's own, 2000).
# Needs: scripts/setup.sh done; cargo build --release -p wb-capture -p wb-engine;
#        the mapper component (scripts/quickstart.sh builds it).
set -euo pipefail
n=${1:-200000}
rounds=${2:-1}
bench_schema=wb_drain
source "$(dirname "$0")/common.sh"

cols="f1 text, f2 text, f3 text, f4 text, f5 text, f6 text, f7 text, f8 text, f9 text, f10 text"

project_config "${WB_READ_BATCH_SIZE:-}"
cat > "$work/project/jobs/drain.yaml" <<YAML
source: {redis: {key_pattern: "user:*"}}
output:
  - uses: relational.write
    with:
      connection: target
      schema: wb_drain
      table: users
      keys: [{user_id: "key_part(1)"}]
      mapping: [f1, f2, f3, f4, f5, f6, f7, f8, f9, f10]
YAML

# The changes, written before the engine starts: N distinct hashes of 10 fields.
python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def resp(*args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        out.append(f"${len(a.encode())}\r\n{a}\r\n")
    return "".join(out)
with open(f"{work}/writes.resp", "w") as w, open(f"{work}/rows.csv", "w") as c:
    for i in range(n):
        fields = [f"value-{j}-{i:08d}" for j in range(1, 11)]
        args = ["HSET", f"user:{i}"]
        for j, v in enumerate(fields, 1):
            args += [f"f{j}", v]
        w.write(resp(*args))
        c.write(",".join([str(i)] + fields) + "\n")
PY

# One round: fresh tables and a fresh Valkey, the changes written, the
# drain, then the raw load; prints its table row and the details under it.
round() {
  $pg -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS wb_drain CASCADE; CREATE SCHEMA wb_drain;
          CREATE TABLE wb_drain.users (user_id text PRIMARY KEY, $cols);
          CREATE TABLE wb_drain.raw (user_id text PRIMARY KEY, $cols);"
  # Each round starts without the previous round's dirty pages to write.
  $pg -c "CHECKPOINT"
  valkey_start
  redis-cli -p "$port" WB.JOB.SET drain 'user:*' >/dev/null
  redis-cli -p "$port" --pipe < "$work/writes.resp" >/dev/null
  stream_len=$(redis-cli -p "$port" XLEN 'wb:{0}:changes:drain')
  [ "$stream_len" -eq "$n" ] || { echo "stream holds $stream_len of $n changes" >&2; exit 1; }

  # The engine drains the stream. Done when the offset the engine stores with
  # each batch's rows (in the same transaction) is the stream's last entry:
  # every row is visible then. One PostgreSQL session polls that one row
  # every 5 ms (each query sees what has committed before it), which costs
  # the machine little, unlike counting a growing table or starting a
  # client for each look.
  last_id=$(redis-cli -p "$port" --raw XREVRANGE 'wb:{0}:changes:drain' + - COUNT 1 | head -n 1)
  $pg -c "DELETE FROM public.wb_offsets WHERE job = 'drain'" 2>/dev/null || true
  valkey_pid=$(redis-cli -p "$port" INFO server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
  valkey_cpu0=$(cpu_of_pid "$valkey_pid"); pg_cpu0=$(cpu_of postgres)
  start=$(date +%s.%N)
  engine_start
  $pg -c "DO \$\$ DECLARE seen text; BEGIN
            FOR i IN 1..120000 LOOP
              IF to_regclass('public.wb_offsets') IS NOT NULL THEN
                EXECUTE 'SELECT last_id FROM public.wb_offsets WHERE job = \$1' INTO seen USING 'drain';
              END IF;
              IF seen = '$last_id' THEN RETURN; END IF;
              PERFORM pg_sleep(0.005);
            END LOOP;
            RAISE EXCEPTION 'the drain did not end within 10 minutes';
          END \$\$" || { cat "$work/engine.log" >&2; exit 1; }
  end=$(date +%s.%N)
  kill -0 "$engine_pid" 2>/dev/null || { cat "$work/engine.log" >&2; exit 1; }
  # The peak resident memory (the kernel keeps the high-water mark).
  peak=$(awk '/VmHWM/ {print $2}' "/proc/$engine_pid/status")
  # The engine's own CPU time (user + system), to tell its cost from the
  # servers' on a shared machine.
  valkey_cpu=$(echo "$(cpu_of_pid "$valkey_pid") - $valkey_cpu0" | bc -l)
  pg_cpu=$(echo "$(cpu_of postgres) - $pg_cpu0" | bc -l)
  engine_cpu=$(cpu_of_pid "$engine_pid")
  engine_stop
  # Where Valkey's time went, by command (its own accounting, microseconds).
  commandstats=$(redis-cli -p "$port" INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_(xreadgroup|hgetall|xack|xtrim|xadd|type)/ {
      sub("cmdstat_", "", $1); printf "%s %d calls %.2f s; ", $1, $3, $5 / 1e6 }')
  pending=$(redis-cli -p "$port" XPENDING 'wb:{0}:changes:drain' wb | head -n 1)
  engine_s=$(echo "$end - $start" | bc -l)

  # The raw limit: the same rows by COPY into a temporary table, then one upsert.
  pg_raw0=$(cpu_of postgres)
  raw_start=$(date +%s.%N)
  $pg <<SQL
CREATE TEMP TABLE load (user_id text, $cols);
\copy load FROM '$work/rows.csv' WITH (FORMAT csv)
INSERT INTO wb_drain.raw SELECT * FROM load
  ON CONFLICT (user_id) DO UPDATE SET f1 = EXCLUDED.f1, f2 = EXCLUDED.f2, f3 = EXCLUDED.f3,
  f4 = EXCLUDED.f4, f5 = EXCLUDED.f5, f6 = EXCLUDED.f6, f7 = EXCLUDED.f7, f8 = EXCLUDED.f8,
  f9 = EXCLUDED.f9, f10 = EXCLUDED.f10;
SQL
  raw_end=$(date +%s.%N)
  raw_s=$(echo "$raw_end - $raw_start" | bc -l)
  pg_raw=$(echo "$(cpu_of postgres) - $pg_raw0" | bc -l)
  same=$($pg -Atc "SELECT count(*) FROM wb_drain.users u JOIN wb_drain.raw r USING (user_id)
                   WHERE (u.f1, u.f5, u.f10) = (r.f1, r.f5, r.f10)")

  printf '| %d | %.2f | %.0f | %.2f | %.0f | %.2f | %.1f | %d | %s |\n' "$n" "$engine_s" \
    "$(echo "$n / $engine_s" | bc -l)" "$raw_s" "$(echo "$n / $raw_s" | bc -l)" \
    "$(echo "$raw_s / $engine_s" | bc -l)" "$(echo "$peak / 1024" | bc -l)" "$same" "$pending"
  echo "$raw_s / $engine_s" | bc -l >> "$work/ratios"
  details+="round $1: engine time by stage: $stage_timings"$'\n'
  details+="round $1: CPU seconds during the drain: engine $engine_cpu, valkey $valkey_cpu, postgres $pg_cpu (all its processes); during the raw load: postgres $pg_raw"$'\n'
  details+="round $1: Valkey by command (during the load and the drain): $commandstats"$'\n'
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

details=""
printf '| changes | engine drain s | engine changes/s | raw COPY+upsert s | raw rows/s | ratio | engine peak RSS MiB | rows equal to raw | left pending |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for r in $(seq 1 "$rounds"); do round "$r"; done
echo
printf '%s' "$details"
sort -g "$work/ratios" | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "ratio to the raw limit over %d round(s): median %.2f, min %.2f, max %.2f\n", NR, m, v[1], v[NR] }'
echo "(other processes on the machine: load average $(cut -d' ' -f1-3 /proc/loadavg))"
