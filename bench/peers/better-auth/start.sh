#!/usr/bin/env bash
# Starts the better-auth benchmark peer in the foreground: `exec`s node, so this script's
# PID is the node server's. Prints "ready" on stdout once it listens on 127.0.0.1:PORT.
# Run setup.sh first (same CACHE_DIR).
#
#   bench/peers/better-auth/start.sh PORT [DATABASE_URL]
#   DATABASE_URL: none or sqlite://PATH -> SQLite (default: a file in a new temp dir);
#                 postgres://USER@HOST:PORT/DB -> PostgreSQL
#   CACHE_DIR: ${BENCH_PEERS_CACHE:-$REPO/target/bench-peers}/better-auth
set -euo pipefail
name=better-auth
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${BENCH_PEERS_CACHE:-$repo/target/bench-peers}/$name
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 PORT [DATABASE_URL]" >&2; exit 2; }
# shellcheck source=bench/peers/npm-peer.sh
. "$here/../npm-peer.sh"
npm_peer_start "$name" "$here" "$cache" "$@"
