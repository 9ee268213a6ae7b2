#!/usr/bin/env bash
# The test command: sets up a fresh machine (scripts/setup.sh), builds the
# capture module, then runs every test: the workspace's unit and end-to-end
# tests against real servers, and the tests of the guest crates (which build
# for wasm32-wasip2 and live outside the workspace). Extra arguments go to
# the workspace's `cargo test`. Then each example job's test cases run
# through `wb-engine test`. The last line totals every test binary and job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p wb-capture
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"
for guest in sdk/wb-guest sdk/template jobs/mask-pii jobs/normalize-contacts; do
  (cd "$guest" && cargo test --target-dir ../../target/guests) 2>&1 | tee -a "$log"
done
# Each example job's test cases (`wb-engine test`), through its real
# components: the stock mapper for declarative jobs, the job's own component
# (built where its job file names it) for jobs with a wasm step, both for
# jobs whose wasm steps come before declarative outputs. Cases live
# beside their job: jobs/P/jobs/NAME.cases.yaml for jobs/P/jobs/NAME.yaml,
# jobs/J/cases.yaml for jobs/J/job.yaml.
cargo build --quiet -p wb-engine
cargo build --quiet --release --target wasm32-wasip2 \
  --manifest-path sdk/mapper-component/Cargo.toml --target-dir target/guests
for job in jobs/mask-pii jobs/normalize-contacts; do
  (cd "$job" && cargo build --quiet --release --target wasm32-wasip2)
done
for cases in jobs/*/jobs/*.cases.yaml jobs/*/cases.yaml; do
  [ -e "$cases" ] || continue
  case "$cases" in
    */cases.yaml) job="$(dirname "$cases")/job.yaml" ;;
    *) job="${cases%.cases.yaml}.yaml" ;;
  esac
  echo "== wb-engine test $job --cases $cases"
  target/debug/wb-engine test "$job" --cases "$cases" 2>&1 | tee -a "$log"
done
awk '/^test result:/ || /^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed$/ {
       for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
