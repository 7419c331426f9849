#!/usr/bin/env bash
# Runs the browser end-to-end tests: real Chromium against the real `cerca`
# binary. Needs target/debug/cerca and target/debug/link-emulator
# (cargo build -p signaling -p link-emulator) or CERCA_BIN / LINK_EMULATOR_BIN.
# Installs Debian's chromium if missing, then the pinned playwright-core.
# `run.sh --deps-only` installs and stops (the rural benchmark uses it).
set -euo pipefail
cd "$(dirname "$0")"

deps_only=""
[ "${1:-}" = "--deps-only" ] && deps_only=1

export CERCA_BIN="${CERCA_BIN:-$(cd ../.. && pwd)/target/debug/cerca}"
if [ -z "$deps_only" ] && [ ! -x "$CERCA_BIN" ]; then
  echo "run.sh: no server binary at $CERCA_BIN; run 'cargo build -p signaling -p link-emulator' first or set CERCA_BIN" >&2
  exit 2
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian chromium" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing Debian nodejs and npm" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

[ -n "$deps_only" ] && exit 0

mkdir -p ../../artifacts/screenshots
# One file at a time: each starts its own server and browser, and the
# machine may be small.
exec node --test --test-concurrency=1 --test-reporter=spec "$@" ./*.test.js
