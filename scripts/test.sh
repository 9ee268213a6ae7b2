#!/usr/bin/env bash
# The test command: sets up a fresh machine (scripts/setup.sh), builds the
# capture module, then runs every test: the workspace's unit and end-to-end
# tests against real servers, and the tests of the guest crates (which build
# for wasm32-wasip2 and live outside the workspace). Extra arguments go to
# the workspace's `cargo test`. The last line totals every test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p wb-capture
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"
for guest in sdk/wb-guest sdk/template jobs/mask-pii; do
  (cd "$guest" && cargo test --target-dir ../../target/guests) 2>&1 | tee -a "$log"
done
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
