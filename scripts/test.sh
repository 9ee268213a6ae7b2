#!/usr/bin/env bash
# The test command: sets up a fresh machine (scripts/setup.sh), builds the
# capture module, then runs every test: unit tests and the end-to-end suites
# against real servers. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p wb-capture
cargo test --workspace "$@"
