#!/usr/bin/env bash
# Build the better-auth-rs benchmark peer once (release) and print the binary's path on stdout.
#
#   bench/peers/better-auth-rs/build.sh            # -> .../better-auth-rs-target/release/kavach-bench-peer-better-auth-rs
#
# Target directory: ${BENCH_PEERS_CACHE:-<repo>/target/bench-peers}/better-auth-rs-target.
# A clean build compiles ~400 crates (about 11 minutes on 2 cores). When the binary is newer
# than Cargo.toml, Cargo.lock, src/main.rs and .cargo/config.toml, nothing is run at all.
# Cargo's own output goes to stderr. Needs libssl-dev and pkg-config.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${BENCH_PEERS_CACHE:-$repo/target/bench-peers}
mkdir -p "$cache"
export CARGO_TARGET_DIR
CARGO_TARGET_DIR="$(cd "$cache" && pwd)/better-auth-rs-target"
bin=$CARGO_TARGET_DIR/release/kavach-bench-peer-better-auth-rs

up_to_date() {
  [ -x "$bin" ] || return 1
  local f
  for f in Cargo.toml Cargo.lock src/main.rs .cargo/config.toml; do
    [ "$bin" -nt "$here/$f" ] || return 1
  done
}

if ! up_to_date; then
  # cd: cargo reads .cargo/config.toml (RUST_ICU_MAJOR_VERSION_NUMBER) from the working directory.
  (cd "$here" && cargo build --release --locked -j 2) >&2
  # Cargo leaves the binary untouched when only a comment changed; mark it current anyway.
  touch "$bin"
fi
echo "$bin"
