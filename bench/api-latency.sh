#!/usr/bin/env bash
# API latency on this machine: starts a release `cerca` on a fresh SQLite
# file (or DATABASE_URL's Postgres database if set), seeds one clinic, one
# specialist, one patient and N consults today, then times M requests of a
# few endpoints with curl and prints the median and p90 in milliseconds.
# Every request here also appends audit rows (one per patient record read),
# which is what the figures mostly measure.
#   bench/api-latency.sh [N consults, default 20] [M requests, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}; m=${2:-200}
cargo build --release -p signaling --quiet
bin=${CARGO_TARGET_DIR:-target}/release/cerca
dir=$(mktemp -d /tmp/cerca-bench.XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
echo "bench password 123" | "$bin" --data-dir "$dir/data" admin create --email admin@bench.mx >/dev/null
"$bin" --data-dir "$dir/data" serve --addr 127.0.0.1:0 2> "$dir/log" &
pid=$!
for _ in $(seq 100); do grep -q "cerca listening.*addr=" "$dir/log" 2>/dev/null && break; sleep 0.1; done
base="http://$(grep "cerca listening" "$dir/log" | grep -o "addr=[0-9.:]*" | head -1 | cut -d= -f2)"
c() { curl -s -c "$dir/jar" -b "$dir/jar" -H 'content-type: application/json' "$@"; }
c -d '{"email":"admin@bench.mx","password":"bench password 123"}' "$base/api/auth/login" >/dev/null
c -d '{"clues":"BENCH00001","name":"Clínica de prueba"}' "$base/api/clinics" >/dev/null
c -d '{"email":"dra@bench.mx","password":"bench password 123","role":"specialist","full_name":"Dra. Bench","cedula":"1234567"}' "$base/api/users" >/dev/null
rm -f "$dir/jar"
c -d '{"email":"dra@bench.mx","password":"bench password 123"}' "$base/api/auth/login" >/dev/null
pid_patient=$(c -d '{"given_names":"Rosa","family_names":"Prueba","date_of_birth":"1970-01-01","sex":"F"}' "$base/api/patients" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
for i in $(seq "$n"); do
  start=$(date -u -d "+$((i % 50 + 1)) minutes" +%Y-%m-%dT%H:%M:%SZ)
  c -d "{\"patient_id\":$pid_patient,\"starts_at\":\"$start\",\"duration_min\":30,\"reason\":\"Bench $i\"}" "$base/api/consults" >/dev/null
done
time_it() {
  local label=$1; shift
  for _ in $(seq "$m"); do c -o /dev/null -w '%{time_total}\n' "$@"; done | sort -n |
    awk -v label="$label" '{ t[NR] = $1 * 1000 } END { printf "%-38s median %6.2f ms   p90 %6.2f ms   (%d requests)\n", label, t[int(NR * 0.5)], t[int(NR * 0.9)], NR }'
}
backend=${DATABASE_URL:+postgres}
echo "cerca API latency, $(nproc) cores, $n consults today, backend: ${backend:-sqlite}"
time_it "GET /healthz (no database write)" "$base/healthz"
time_it "GET /api/me (session lookup)" "$base/api/me"
time_it "GET /api/patients/{id} (1 audit row)" "$base/api/patients/$pid_patient"
time_it "GET /api/consults today ($n audit rows)" "$base/api/consults"
