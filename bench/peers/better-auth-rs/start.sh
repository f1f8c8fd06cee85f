#!/usr/bin/env bash
# Starts the better-auth-rs benchmark peer in the foreground: `exec`s the binary, so this
# script's PID is the server's. Prints "ready" on stdout once it listens on 127.0.0.1:PORT
# (routes under /api/auth, rate limiting off). Run build.sh first (same BENCH_PEERS_CACHE).
#
#   bench/peers/better-auth-rs/start.sh PORT [DATABASE_URL]
#   DATABASE_URL: none -> SQLite in a file in a new temp dir (a fresh database every start);
#                 sqlite://PATH -> that SQLite file (created when missing, parent dirs too);
#                 postgres://USER@HOST:PORT/DB -> PostgreSQL (untested)
#   Binary: $BETTER_AUTH_RS_PEER_BIN, else
#           ${BENCH_PEERS_CACHE:-$REPO/target/bench-peers}/better-auth-rs-target/release/kavach-bench-peer-better-auth-rs
set -euo pipefail
name=better-auth-rs
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 PORT [DATABASE_URL]" >&2; exit 2; }
bin=${BETTER_AUTH_RS_PEER_BIN:-${BENCH_PEERS_CACHE:-$repo/target/bench-peers}/$name-target/release/kavach-bench-peer-better-auth-rs}
[ -x "$bin" ] || { echo "$name: no binary at $bin; run $here/build.sh first" >&2; exit 1; }
if [ -z "${BETTER_AUTH_RS_PEER_BIN:-}" ]; then
  for f in Cargo.toml Cargo.lock src/main.rs .cargo/config.toml; do
    [ "$bin" -nt "$here/$f" ] || { echo "$name: warning: $bin is older than $f; run $here/build.sh" >&2; break; }
  done
fi
port=$1
db=${2:-}
[ -n "$db" ] || db="sqlite://$(mktemp -d -t "$name-peer.XXXXXX")/better-auth-rs.sqlite"
exec "$bin" "$port" "$db"
