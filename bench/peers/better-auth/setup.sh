#!/usr/bin/env bash
# Installs this benchmark peer (better-auth, pinned in package-lock.json) with `npm ci`
# into CACHE_DIR, outside the work tree. Idempotent: the install is keyed by a hash of
# package-lock.json and the Node version (better-sqlite3 is a native module), so a changed
# lock or Node reinstalls; otherwise only package.json, the lock and server.mjs are copied.
# Prints nothing but errors; exits non-zero on failure.
#
#   bench/peers/better-auth/setup.sh [CACHE_DIR]
#   CACHE_DIR defaults to ${BENCH_PEERS_CACHE:-$REPO/target/bench-peers}/better-auth
set -euo pipefail
name=better-auth
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${1:-${BENCH_PEERS_CACHE:-$repo/target/bench-peers}/$name}

# better-sqlite3 has no prebuilt binary reachable here (only the npm registry is), so its
# install script compiles it with node-gyp (gcc, g++, make, python3), which needs Node's
# headers: use the system's rather than a download when they are there.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
# shellcheck source=bench/peers/npm-peer.sh
. "$here/../npm-peer.sh"
npm_peer_setup "$name" "$here" "$cache" 'node -e '"'"'new (require("better-sqlite3"))(":memory:").close()'"'"'' better-sqlite3
