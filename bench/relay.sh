#!/usr/bin/env bash
# Relay benchmark (issue #3): N consults of two str0m bots each through one
# relay on loopback, next to a bare UDP forwarder at the same packet rate.
# Usage: bench/relay.sh [consults=4] [seconds=20]
# Prints a Markdown table: relay CPU per datagram and datagrams per
# CPU-second, frame latency through the relay (median, p99), each next to
# the bare forwarder's figure, and RSS growth per participant.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p media-relay --example relay_bench -- "$@"
