#!/usr/bin/env bash
# Runs Kavach's whole test suite: unit, storage (SQLite and PostgreSQL), end-to-end
# (the real binary, a real SMTP server, better-auth's JS client).
#
# Needs: PostgreSQL on 127.0.0.1:5432 (or KAVACH_TEST_PG), Redis on 127.0.0.1:6379
# (or KAVACH_TEST_REDIS), Python 3 and Node 20+. Installs what it needs itself:
# cargo-nextest if missing, and aiosmtpd in a virtualenv under target/.
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

cargo nextest run --workspace --no-fail-fast "$@"
