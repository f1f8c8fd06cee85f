#!/usr/bin/env bash
# Installs this benchmark peer (panva's oidc-provider, pinned in package-lock.json) with
# `npm ci` into CACHE_DIR, outside the work tree. Idempotent: the install is keyed by a hash
# of package-lock.json and the Node version, so a changed lock or Node reinstalls; otherwise
# only package.json, the lock and server.mjs are copied. Prints nothing but errors; exits
# non-zero on failure.
#
#   bench/peers/oidc-provider/setup.sh [CACHE_DIR]
#   CACHE_DIR defaults to ${BENCH_PEERS_CACHE:-$REPO/target/bench-peers}/oidc-provider
set -euo pipefail
name=oidc-provider
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${1:-${BENCH_PEERS_CACHE:-$repo/target/bench-peers}/$name}

# shellcheck source=bench/peers/npm-peer.sh
. "$here/../npm-peer.sh"
npm_peer_setup "$name" "$here" "$cache" 'node --input-type=module -e '"'"'await import("oidc-provider")'"'"''
