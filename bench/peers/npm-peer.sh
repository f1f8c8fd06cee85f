# Shared by the npm peers' setup.sh and start.sh (sourced): install a peer, pinned by its
# package-lock.json, with `npm ci` into its folder under the cache (outside the work tree),
# and start its server.mjs.

# npm_peer_setup NAME HERE CACHE CHECK [MODULE]: install HERE's package.json, lock and
# server.mjs into CACHE. Idempotent: keyed by a hash of the lock and the Node version, so a
# changed lock or Node reinstalls; otherwise only the three files are copied. CHECK (a shell
# command run in CACHE) must succeed once installed; if it does not and MODULE is given,
# `npm rebuild MODULE` is tried once (npm may skip a native module's install script without
# failing). Prints nothing but errors; exits non-zero on failure.
npm_peer_setup() {
  local name=$1 here=$2 cache=$3 check=$4 module=${5:-} key stamp log
  command -v node >/dev/null || { echo "$name setup: node is not installed" >&2; exit 1; }
  command -v npm >/dev/null || { echo "$name setup: npm is not installed" >&2; exit 1; }
  mkdir -p "$cache"
  cache=$(cd "$cache" && pwd)
  key=$( { cat "$here/package-lock.json"; node --version; } | sha256sum | cut -d' ' -f1)
  stamp="$cache/.installed-lock-sha256"
  cp "$here/package.json" "$here/package-lock.json" "$here/server.mjs" "$cache/"
  if [ -d "$cache/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    return 0
  fi
  rm -f "$stamp"
  rm -rf "$cache/node_modules"
  log="$cache/setup.log"
  if ! (cd "$cache" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error) > "$log" 2>&1; then
    cat "$log" >&2
    echo "$name setup: npm ci failed in $cache (log above, also in $log)" >&2
    exit 1
  fi
  if ! (cd "$cache" && eval "$check") >> "$log" 2>&1; then
    if [ -z "$module" ] || ! (cd "$cache" && npm rebuild "$module" --loglevel=error && eval "$check") >> "$log" 2>&1; then
      cat "$log" >&2
      echo "$name setup: the install does not load in $cache (log above, also in $log)" >&2
      exit 1
    fi
  fi
  echo "$key" > "$stamp"
}

# npm_peer_start NAME HERE CACHE ARGS...: exec `node server.mjs ARGS...` in CACHE (so the
# caller's PID is the server's).
npm_peer_start() {
  local name=$1 here=$2 cache=$3
  shift 3
  [ -f "$cache/server.mjs" ] && [ -d "$cache/node_modules" ] || {
    echo "$name: not installed in $cache; run $here/setup.sh first" >&2; exit 1; }
  cd "$cache"
  exec node server.mjs "$@"
}
