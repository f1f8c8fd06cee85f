#!/usr/bin/env bash
# Runs Kavach's whole test suite: unit, storage (SQLite and PostgreSQL), end-to-end
# (the real binary, a real SMTP server, better-auth's JS client). Extra arguments go to
# `cargo nextest run` (e.g. `scripts/test.sh -E 'test(/postgres/)'`); a run without a filter then
# compiles and runs the Rust snippets of docs/ (`cargo test --doc -p kavach`).
#
# Needs: Python 3, Node 20+, and the PostgreSQL and Redis server programs (initdb, pg_ctl,
# redis-server, redis-cli; Debian/Ubuntu: apt-get install -y postgresql redis-server).
# No service has to be running: unless KAVACH_TEST_PG / KAVACH_TEST_REDIS name servers to
# use, it starts a throwaway PostgreSQL and Redis on free ports of 127.0.0.1 in a temporary
# folder, and stops them and removes the folder on exit (also on failure or Ctrl-C).
# Installs the rest itself: cargo-nextest if missing, and aiosmtpd in a virtualenv under
# target/.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=target/test-tools
mkdir -p "$tools"
if [ ! -x "$tools/py/bin/python" ] || ! "$tools/py/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m venv "$tools/py"
  "$tools/py/bin/python" -m pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6
fi
export KAVACH_TEST_PYTHON="$PWD/$tools/py/bin/python"

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# --- Throwaway PostgreSQL and Redis, unless the caller named servers to use. ---

need_pg=0
need_redis=0
if [ -z "${KAVACH_TEST_PG:-}" ] && [ "${KAVACH_TEST_SKIP_PG:-}" != 1 ]; then need_pg=1; fi
if [ -z "${KAVACH_TEST_REDIS:-}" ]; then need_redis=1; fi

say() { echo "scripts/test.sh: $*" >&2; }

# initdb and pg_ctl: on PATH, or in Debian's versioned folder (the newest one).
pg_bin=""
if [ "$need_pg" = 1 ]; then
  if command -v initdb >/dev/null 2>&1; then
    pg_bin=$(dirname "$(readlink -f "$(command -v initdb)")")
  else
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
      if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then pg_bin=$d; break; fi
    done
  fi
fi
missing=()
if [ "$need_pg" = 1 ] && { [ -z "$pg_bin" ] || [ ! -x "$pg_bin/pg_ctl" ]; }; then missing+=("PostgreSQL server (initdb, pg_ctl)"); fi
if [ "$need_redis" = 1 ] && ! command -v redis-server >/dev/null 2>&1; then missing+=("redis-server"); fi
if [ "$need_redis" = 1 ] && ! command -v redis-cli >/dev/null 2>&1; then missing+=("redis-cli"); fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo "
  say "the tests need a PostgreSQL and a Redis server; not installed: ${missing[*]}."
  say "install them (Debian/Ubuntu; this script starts and stops its own instances):"
  echo "    ${sudo}apt-get install -y postgresql redis-server" >&2
  say "or point the tests at servers you run: KAVACH_TEST_PG=postgres://USER@HOST:PORT/postgres KAVACH_TEST_REDIS=redis://HOST:PORT"
  exit 2
fi

svc_dir=""
redis_pid=""
pg_started=0
# initdb refuses to run as root: as root, the cluster belongs to an unprivileged user.
as_pg=()
if [ "$need_pg" = 1 ] && [ "$(id -u)" = 0 ]; then
  pg_user=postgres
  if ! id "$pg_user" >/dev/null 2>&1; then pg_user=nobody; fi
  as_pg=(runuser -u "$pg_user" --)
fi

stop_services() {
  set +e
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
  fi
  if [ "$pg_started" = 1 ] && [ -f "$svc_dir/pg/postmaster.pid" ]; then
    ${as_pg[@]+"${as_pg[@]}"} "$pg_bin/pg_ctl" -D "$svc_dir/pg" -m immediate -w -t 20 stop >/dev/null 2>&1
    # Still there (pg_ctl failed)? The postmaster's pid is the first line of its pid file.
    if [ -f "$svc_dir/pg/postmaster.pid" ]; then kill -9 "$(head -n1 "$svc_dir/pg/postmaster.pid")" 2>/dev/null; fi
  fi
  if [ -n "$svc_dir" ]; then rm -rf "$svc_dir"; fi
}
on_exit() {
  local status=$?
  stop_services
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ "$need_pg" = 1 ] || [ "$need_redis" = 1 ]; then
  # Under /tmp, short: PostgreSQL's unix socket lives here too (paths are limited to ~100 bytes).
  svc_dir=$(mktemp -d /tmp/kavach-test-services.XXXXXX)
fi

if [ "$need_pg" = 1 ]; then
  if [ ${#as_pg[@]} -gt 0 ]; then chown "$pg_user" "$svc_dir"; fi
  if ! ${as_pg[@]+"${as_pg[@]}"} "$pg_bin/initdb" -D "$svc_dir/pg" -U postgres --auth=trust --encoding=UTF8 --no-locale --no-sync \
    >"$svc_dir/initdb.log" 2>&1; then
    cat "$svc_dir/initdb.log" >&2
    say "initdb failed (see above)"
    exit 1
  fi
  for attempt in 1 2 3; do
    pg_port=$(free_port)
    pg_started=1
    if ${as_pg[@]+"${as_pg[@]}"} "$pg_bin/pg_ctl" -D "$svc_dir/pg" -l "$svc_dir/pg/server.log" -w -t 30 \
      -o "-c port=$pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$svc_dir -c fsync=off -c full_page_writes=off -c max_connections=300" \
      start >/dev/null; then
      break
    fi
    pg_started=0
    if [ "$attempt" = 3 ]; then
      cat "$svc_dir/pg/server.log" >&2
      say "could not start PostgreSQL (see its log above)"
      exit 1
    fi
  done
  export KAVACH_TEST_PG="postgres://postgres@127.0.0.1:$pg_port/postgres"
  say "started a throwaway PostgreSQL ($("$pg_bin/pg_ctl" --version)) for the tests: $KAVACH_TEST_PG"
fi

if [ "$need_redis" = 1 ]; then
  for attempt in 1 2 3; do
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$svc_dir" \
      --logfile "$svc_dir/redis.log" &
    redis_pid=$!
    for _ in $(seq 1 50); do
      if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 || ! kill -0 "$redis_pid" 2>/dev/null; then break; fi
      sleep 0.1
    done
    if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then break; fi
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
    if [ "$attempt" = 3 ]; then
      cat "$svc_dir/redis.log" >&2 || true
      say "could not start Redis (see its log above)"
      exit 1
    fi
  done
  export KAVACH_TEST_REDIS="redis://127.0.0.1:$redis_port"
  say "started a throwaway Redis for the tests: $KAVACH_TEST_REDIS"
fi

if [ "$need_pg" = 0 ] && [ "${KAVACH_TEST_SKIP_PG:-}" != 1 ]; then say "PostgreSQL for the tests: KAVACH_TEST_PG=$KAVACH_TEST_PG (yours)"; fi
if [ "$need_redis" = 0 ]; then say "Redis for the tests: KAVACH_TEST_REDIS=$KAVACH_TEST_REDIS (yours)"; fi

# Not `exec`: the EXIT trap stops the services when the tests end. In the background and
# waited for, so that a signal sent to this script alone (`kill`, `timeout`) is passed on
# at once instead of after the whole run; Ctrl-C reaches both anyway.
cargo nextest run --workspace --no-fail-fast "$@" &
tests=$!
# Started in the background, the tests ignore SIGINT unless they handle it: pass TERM on.
trap 'kill -TERM "$tests" 2>/dev/null; interrupted=130' INT
trap 'kill -TERM "$tests" 2>/dev/null; interrupted=143' TERM HUP
interrupted=0
while :; do
  status=0
  wait "$tests" || status=$?
  if ! kill -0 "$tests" 2>/dev/null; then break; fi
done
if [ "$interrupted" != 0 ]; then exit "$interrupted"; fi
# The docs' Rust snippets (nextest does not run doctests): on a whole run, not a filtered one.
case " $* " in
  *" -E "* | *" --filterset "* | *" -E="*) ;;
  *)
    doc=0
    cargo test --doc -p kavach || doc=$?
    if [ "$status" = 0 ]; then status=$doc; fi
    ;;
esac
exit "$status"
