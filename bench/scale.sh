#!/usr/bin/env bash
# Kavach at scale: the hot paths measured on an empty database, then again after loading
# 1,000,000 users (each with an account and an organization membership), 2,000,000
# sessions, 100,000 agents in delegation chains and 10,000,000 audit records; then
# `kavach audit verify` over the whole chain (its time and peak memory).
#
#   bench/scale.sh                                  # SQLite and PostgreSQL (127.0.0.1:5432)
#   BENCH_DB=sqlite bench/scale.sh
#   SCALE_USERS=100000 SCALE_SESSIONS=200000 SCALE_AGENTS=10000 SCALE_AUDIT=1000000 bench/scale.sh   # a tenth
#
# Writes bench/results/<timestamp>-scale.{txt,tsv,md,svg}; the target is a p99 on the loaded
# database within 1.25 times the empty one's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
USERS=${SCALE_USERS:-1000000} SESSIONS=${SCALE_SESSIONS:-2000000} AGENTS=${SCALE_AGENTS:-100000} AUDIT=${SCALE_AUDIT:-10000000}
RESULTS_SUFFIX=-scale
# shellcheck source=bench/lib.sh
. bench/lib.sh
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach-server
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach --example bench_scale
BIN=$(realpath "${KAVACH_BIN:-target/release/kavach}")
GEN=target/release/examples/bench_scale
report_header "Kavach benchmark at scale"
report "load: $USERS users, $SESSIONS sessions, $AGENTS agents, $AUDIT audit records"
report ""

# The three hot paths on the running server (kpid), recorded under database label $1.
hot_paths() { # label api
  measure kavach "$1" get-session "$kpid" $(W) -H "cookie: $cookie" "$2/get-session"
  report "get-session on $1: ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  measure kavach "$1" has-permission "$kpid" $(W) -s "$work/perm.lua" "$2/organization/has-permission"
  report "has-permission on $1: ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  measure kavach "$1" agent-decision "$kpid" $(W) -s "$work/decide.lua" "$2/access/v1/evaluation"
  report "agent decision (durable audit record) on $1: ${rps} decisions/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
}

# Runs a command (its output in $work/timed.out) and reports its wall time and peak
# resident memory (GNU time).
timed() { # what command...
  local what=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" > "$work/timed.out"
  read -r secs kb < "$work/time.txt"
  report "$what: ${secs} s, peak RSS $(( kb / 1024 )) MB"
}

scale_run() { # label database_url
  local label=$1 url=$2 port dir api
  port=$(free_port); dir="$work/$label"; api="http://127.0.0.1:$port/api/kavach"
  kavach_serve "$dir" "$port" "$url"
  kavach_user "$api" "$port"; kavach_org "$api" "$port"; kavach_agent "$api" "$port"
  hot_paths "$label" "$api"
  kill "$kpid"; wait "$kpid" 2>/dev/null || true

  report "loading $label:"
  timed "load time on $label" "$GEN" "$url" --users "$USERS" --sessions "$SESSIONS" --agents "$AGENTS" --audit "$AUDIT"
  while read -r line; do report "  $line"; done < "$work/timed.out"
  if [[ "$url" == sqlite* ]]; then report "  database file: $(du -sh "${url#sqlite://}" | cut -f1)"; else
    report "  database size: $(psql -h 127.0.0.1 -U postgres -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))" "${url##*/}")"; fi

  local start ready
  start=$(now_ms)
  kavach_serve "$dir" "$port" "$url"
  ready=$(( $(now_ms) - start ))
  report "restart on the loaded $label database: ready in ${ready} ms (polled by curl)"
  hot_paths "$label-loaded" "$api"
  kill "$kpid"; wait "$kpid" 2>/dev/null || true

  timed "kavach audit verify over the loaded $label chain" env KAVACH_DATABASE_URL="$url" KAVACH_LOG=warn "$BIN" audit verify --json
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["records"], "records,", "intact" if not d["problems"] else "BROKEN: " + "; ".join(d["problems"][:3]))' "$work/timed.out" \
    | while read -r line; do report "  $line"; done
  report ""
}

if [ "$BENCH_DB" = sqlite ] || [ "$BENCH_DB" = both ]; then
  scale_run sqlite "sqlite://$work/sqlite/kavach.db"
fi
if [ "$BENCH_DB" = postgres ] || [ "$BENCH_DB" = both ]; then
  db="kavach_scale_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
  scale_run postgres "postgres://postgres@127.0.0.1:5432/$db"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)" postgres
fi
python3 bench/report.py "$tsv" "$out" > "bench/results/$stamp.md"
report "summary: $out, bench/results/$stamp.md"
