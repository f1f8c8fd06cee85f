#!/usr/bin/env bash
# Kavach benchmarks, side by side with a minimal axum baseline, in one run.
#
#   bench/run.sh                 # SQLite and PostgreSQL (needs 127.0.0.1:5432)
#   BENCH_DB=sqlite bench/run.sh
#   DURATION=20s CONNECTIONS=8 bench/run.sh
#   SCENARIOS="refresh verify" bench/run.sh   # a subset: session org cc refresh agent agent2 exchange signin verify (default: all)
#   KAVACH_BIN=/path/to/older/kavach BENCH_LABEL=1a2ce12 bench/run.sh   # compare with another build
#
# Measures, with wrk on this machine (client and server share its cores):
#   - GET {base}/get-session with a valid cookie vs the baseline handler: req/s, p50, p99, ratio
#   - org: get-session with an active organization (vs without one) and
#     POST {base}/organization/has-permission (vs the baseline)
#   - agent: POST {base}/access/v1/evaluation (an AuthZEN decision with its durable audit
#     record, the agent's own key) vs the baseline
#   - agent2: the same decision on two instances sharing one PostgreSQL, loaded at once
#   - exchange: RFC 8693 token exchanges at {base}/oauth2/token (a delegate acting for its parent)
#   - idle RSS of the server after start, and time from process start to ready (/readyz 200)
#   - sign-ins (Argon2id) with 16 connections: sign-ins/s, p50, p99, peak RSS during the run
#     (VmHWM) and RSS after it, against the bound idle + cores x 20 MB
# Writes a summary to bench/results/<timestamp>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
BENCH_DB=${BENCH_DB:-both}
SCENARIOS=" ${SCENARIOS:-session org cc refresh agent agent2 exchange signin verify} "
want() { [[ "$SCENARIOS" == *" $1 "* ]]; }
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach-server -p kavach-bench-baseline
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach --example bench_verify
BIN=$(realpath "${KAVACH_BIN:-target/release/kavach}")   # KAVACH_BIN: another build (an older commit) to compare with
BASE=target/release/kavach-bench-baseline
mkdir -p bench/results
out=bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# wrk prints "Requests/sec:" and, with --latency, "50%" and "99%" lines.
run_wrk() { # url [header]
  if [ -n "${2:-}" ]; then wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$2" "$1"; else wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$1"; fi
}
field() { awk -v k="$1" '$1==k {print $2}'; }
# Sets rps, p50, p99 and errs (non-2xx answers, socket errors) from a wrk output file.
read_wrk() {
  rps=$(field Requests/sec: < "$1")
  p50=$(field 50% < "$1"); p99=$(field 99% < "$1")
  errs=$(grep -E "Non-2xx|Socket errors" "$1" || true)
}

report() { echo "$*" | tee -a "$out"; }

report "# Kavach benchmark $(date -u +%FT%TZ)"
# Name the build without a machine path: BENCH_LABEL (e.g. a commit), else the binary's name.
report "build: ${BENCH_LABEL:-$(basename "$BIN")} (built $(date -u -r "$BIN" +%FT%TZ))"
report "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); wrk -t$THREADS -c$CONNECTIONS -d$DURATION on the same machine"
report ""

# Baseline.
b_rps=
if want session || want org || want agent || want agent2; then
bport=$(free_port)
$BASE "127.0.0.1:$bport" > "$work/baseline.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$bport/get-session" >/dev/null && break; sleep 0.05; done
run_wrk "http://127.0.0.1:$bport/get-session" > "$work/wrk-baseline.txt"
b_rps=$(field Requests/sec: < "$work/wrk-baseline.txt")
b_p50=$(field 50% < "$work/wrk-baseline.txt"); b_p99=$(field 99% < "$work/wrk-baseline.txt")
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
report "baseline (minimal axum handler, same JSON shape): ${b_rps} req/s, p50 ${b_p50}, p99 ${b_p99}"
fi

bench_kavach() { # label database_url
  local label=$1 url=$2 port dir start ready pid rss cookie
  port=$(free_port); dir="$work/$label"; mkdir -p "$dir"
  start=$(now_ms)
  printf '[[oauth.resources]]\nuri = "https://mcp.example.com/mcp"\nscopes = ["mcp:tools"]\n[organization]\nenabled = true\n[agents]\nenabled = true\n' > "$dir/kavach.toml"
  export KAVACH_DATABASE_URL="$url" KAVACH_SECRET="bench-secret-0123456789-abcdefghijklmnop" KAVACH_CONFIG="$dir/kavach.toml"
  # No rate limits: the sign-in scenario signs one account in thousands of times.
  (cd "$dir" && KAVACH_REQUIRE_EMAIL_VERIFICATION=false KAVACH_RATE_LIMIT=false KAVACH_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port" > server.log 2>&1) &
  pid=$!; pids+=($pid)
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.002; done
  ready=$(( $(now_ms) - start ))
  sleep 1
  rss=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")
  local api="http://127.0.0.1:$port/api/kavach"
  cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -H "origin: http://localhost:$port" \
     -d '{"email":"bench@example.com","password":"benchmark passphrase","name":"Bench"}' "$api/sign-up/email" \
     | awk -F': ' 'tolower($1)=="set-cookie" && index($2,"session_token=") {split($2,a,";"); print a[1]}')
  [ -n "$cookie" ] || { echo "sign-up failed"; cat "$dir/server.log"; exit 1; }
  curl -sf -H "cookie: $cookie" "$api/get-session" | grep -q bench@example.com
  local rps p50 p99 errs
  if want session; then
  run_wrk "$api/get-session" "cookie: $cookie" > "$work/wrk-$label.txt"
  read_wrk "$work/wrk-$label.txt"
  report "kavach get-session on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}, ratio to baseline $(python3 -c "print(f'{$rps/$b_rps:.2f}')")${errs:+ ($errs)}"
  fi
  report "kavach on $label: idle RSS ${rss}, first start to ready ${ready} ms (a new database: schema and signing keys created; process start to first 200 from /readyz, polled by curl)"
  if want org; then
  # A second session of the same user, whose active organization is set by creating one.
  local cookie2 no_org_rps="${rps:-}"
  cookie2=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -H "origin: http://localhost:$port" \
     -d '{"email":"bench@example.com","password":"benchmark passphrase"}' "$api/sign-in/email" \
     | awk -F': ' 'tolower($1)=="set-cookie" && index($2,"session_token=") {split($2,a,";"); print a[1]}')
  curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie2" \
     -d '{"name":"Bench Org","slug":"bench-org"}' "$api/organization/create" > /dev/null
  curl -sf -H "cookie: $cookie2" "$api/get-session" | grep -q '"activeOrganizationId":"'
  run_wrk "$api/get-session" "cookie: $cookie2" > "$work/wrk-org-session-$label.txt"
  read_wrk "$work/wrk-org-session-$label.txt"
  report "kavach get-session with an active organization on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}${no_org_rps:+, ratio to get-session without one $(python3 -c "print(f'{$rps/$no_org_rps:.2f}')")}${errs:+ ($errs)}"
  cat > "$work/perm.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"permissions":{"member":["create"],"invitation":["create"]}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "http://localhost:$port"
wrk.headers["Cookie"] = "$cookie2"
LUA
  curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie2" \
     -d '{"permissions":{"member":["create"],"invitation":["create"]}}' "$api/organization/has-permission" | grep -q '"success":true'
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/perm.lua" "$api/organization/has-permission" > "$work/wrk-perm-$label.txt"
  read_wrk "$work/wrk-perm-$label.txt"
  report "kavach organization has-permission on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}, ratio to baseline $(python3 -c "print(f'{$rps/$b_rps:.2f}')")${errs:+ ($errs)}"
  fi
  if want cc; then
  # Token endpoint: client_credentials grants (client authentication, a signed JWT access token).
  local creds id secret
  creds=$(cd "$dir" && KAVACH_LOG=warn "$BIN" clients create --name bench --grant client_credentials)
  id=$(echo "$creds" | awk '/^client_id:/ {print $2}'); secret=$(echo "$creds" | awk '/^client_secret:/ {print $2}')
  cat > "$work/cc.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
LUA
  curl -sf -X POST -H "Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)" -d 'grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp' "$api/oauth2/token" | grep -q access_token
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/cc.lua" "$api/oauth2/token" > "$work/wrk-cc-$label.txt"
  read_wrk "$work/wrk-cc-$label.txt"
  report "kavach token endpoint (client_credentials, EdDSA JWT) on $label: ${rps} grants/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  if want agent || want agent2 || want exchange; then
  # An agent of the user, with a delegate; both with OAuth client secrets.
  local agent akey ajson child csecret rsecret
  ajson=$(curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie" \
     -d '{"name":"bench-agent","permissions":[{"resource":"tool:**","actions":["tools/call"]}]}' "$api/agents")
  agent=$(echo "$ajson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["id"])')
  akey=$(echo "$ajson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  fi
  if want agent || want agent2; then
  cat > "$work/decide.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"subject":{"type":"agent","id":"$agent"},"action":{"name":"tools/call"},"resource":{"type":"tool","id":"search","properties":{"q":"bench"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $akey"
LUA
  curl -sf -H 'content-type: application/json' -H "authorization: Bearer $akey" \
     -d "{\"subject\":{\"type\":\"agent\",\"id\":\"$agent\"},\"action\":{\"name\":\"tools/call\"},\"resource\":{\"type\":\"tool\",\"id\":\"search\"}}" "$api/access/v1/evaluation" | grep -q '"decision":true'
  local audit_before audit_after
  audit_before=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/decide.lua" "$api/access/v1/evaluation" > "$work/wrk-decide-$label.txt"
  read_wrk "$work/wrk-decide-$label.txt"
  audit_after=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"] if not d["problems"] else "BROKEN")')
  report "kavach agent decision (AuthZEN, durable audit record each) on $label: ${rps} decisions/s, p50 ${p50}, p99 ${p99}, ratio to baseline $(python3 -c "print(f'{$rps/$b_rps:.2f}')"); audit records $audit_before -> $audit_after, chain verified${errs:+ ($errs)}"
  fi
  if want agent2 && [ "$label" = postgres ]; then
  # A second instance on the same database; both loaded at once, CONNECTIONS each.
  local port2 pid2 rps1 rps2 p99_1 p99_2
  port2=$(free_port); mkdir -p "$dir-2"
  (cd "$dir-2" && KAVACH_REQUIRE_EMAIL_VERIFICATION=false KAVACH_RATE_LIMIT=false KAVACH_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port2" > server.log 2>&1) &
  pid2=$!; pids+=($pid2)
  until curl -sf "http://127.0.0.1:$port2/readyz" >/dev/null; do sleep 0.01; done
  audit_before=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/decide.lua" "$api/access/v1/evaluation" > "$work/wrk-decide2a-$label.txt" &
  local wrk1=$!
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/decide.lua" "http://127.0.0.1:$port2/api/kavach/access/v1/evaluation" > "$work/wrk-decide2b-$label.txt"
  wait "$wrk1"
  read_wrk "$work/wrk-decide2a-$label.txt"; rps1=$rps; p99_1=$p99
  read_wrk "$work/wrk-decide2b-$label.txt"; rps2=$rps; p99_2=$p99
  audit_after=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"] if not d["problems"] else "BROKEN")')
  report "kavach agent decision, two instances on one $label: $(python3 -c "print(f'{$rps1+$rps2:.0f}')") decisions/s together ($rps1 + $rps2), p99 ${p99_1} / ${p99_2}; audit records $audit_before -> $audit_after, chain verified"
  kill "$pid2"; wait "$pid2" 2>/dev/null || true
  fi
  if want exchange; then
  child=$(curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie" \
     -d '{"name":"bench-child","permissions":[{"resource":"tool:**","actions":["tools/call"]}]}' "$api/agents/$agent/delegate" \
     | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["id"])')
  rsecret=$(curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie" -d '{}' "$api/agents/$agent/oauth-client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientSecret"])')
  csecret=$(curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie" -d '{}' "$api/agents/$child/oauth-client" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientSecret"])')
  local subject
  subject=$(curl -sf -u "$agent:$rsecret" -d 'grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp' "$api/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  local xbody="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=$subject"
  curl -sf -u "$child:$csecret" -d "$xbody" "$api/oauth2/token" | grep -q issued_token_type
  cat > "$work/exchange.lua" <<LUA
wrk.method = "POST"
wrk.body = "$xbody"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf '%s:%s' "$child" "$csecret" | base64 -w0)"
LUA
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/exchange.lua" "$api/oauth2/token" > "$work/wrk-exchange-$label.txt"
  read_wrk "$work/wrk-exchange-$label.txt"
  report "kavach token exchange (RFC 8693, a delegate for its parent) on $label: ${rps} exchanges/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  if want refresh; then
  # Token endpoint: refresh_token grants with rotation. Each wrk connection (one per
  # thread) follows its own chain: every answer's refresh token is the next request's.
  mapfile -t rts < <(python3 bench/refresh_tokens.py "http://localhost:$port/api/kavach" "https://mcp.example.com/mcp" "$CONNECTIONS")
  [ "${#rts[@]}" -eq $((CONNECTIONS + 1)) ] || { echo "preparing refresh tokens failed (got ${#rts[@]} lines)"; exit 1; }
  local cid=${rts[0]}
  { echo "local tokens = {"; for t in "${rts[@]:1}"; do echo "  \"$t\","; done; echo "}"; cat <<'LUA'
local n = 0
function setup(thread)
  n = n + 1
  thread:set("rt", tokens[n])
end
function request()
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&client_id=CLIENT_ID&refresh_token=" .. rt)
end
function response(status, headers, body)
  local next_rt = body:match('"refresh_token":"([^"]+)"')
  if next_rt then rt = next_rt end
end
LUA
  } | sed "s/CLIENT_ID/$cid/" > "$work/rt.lua"
  wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/rt.lua" "$api/oauth2/token" > "$work/wrk-rt-$label.txt"
  read_wrk "$work/wrk-rt-$label.txt"
  report "kavach token endpoint (refresh_token with rotation, $CONNECTIONS chains) on $label: ${rps} grants/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  if want signin; then
  # Sign-ins saturate password hashing (Argon2id, 19 MiB each). Resident memory must stay
  # bounded: the hashing workers reuse their memory (one per core).
  cat > "$work/signin.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"bench@example.com","password":"benchmark passphrase"}'
wrk.headers["Content-Type"] = "application/json"
LUA
  # The peak (VmHWM) of this scenario alone: reset it first (Linux: clear_refs 5).
  local before
  before=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")
  echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true
  wrk -t"$THREADS" -c16 -d"$DURATION" --latency -s "$work/signin.lua" "$api/sign-in/email" > "$work/wrk-signin-$label.txt"
  read_wrk "$work/wrk-signin-$label.txt"
  local peak after bound
  peak=$(awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")
  sleep 2
  after=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")
  bound=$(awk -v idle="${rss% MB}" -v n="$(nproc)" 'BEGIN { printf "%.0f MB", idle + n * 20 }')
  report "kavach sign-in (Argon2id m=19456 t=2, 16 connections) on $label: ${rps} sign-ins/s, p50 ${p50}, p99 ${p99}; RSS idle ${rss}, before ${before}, peak during ${peak}, 2 s after ${after} (bound: idle + $(nproc) cores x 20 MB = ${bound})${errs:+ ($errs)}"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # A restart on the same database, timed by a poller that spawns nothing per poll.
  local restarts=()
  for _ in 1 2 3 4 5; do
    restarts+=("$(cd "$dir" && KAVACH_LOG=warn python3 "$ROOT/bench/ready.py" "$port" "$BIN" serve --listen "127.0.0.1:$port")")
  done
  report "kavach restart on $label: start to ready $(printf '%s\n' "${restarts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %s ms (min %s, max %s) over %d restarts", a[int((NR+1)/2)], a[1], a[NR], NR}') (process start to first 200 from /readyz)"
}

if [ "$BENCH_DB" = sqlite ] || [ "$BENCH_DB" = both ]; then
  bench_kavach sqlite "sqlite://$work/sqlite/kavach.db"
fi
if [ "$BENCH_DB" = postgres ] || [ "$BENCH_DB" = both ]; then
  db="kavach_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
  bench_kavach postgres "postgres://postgres@127.0.0.1:5432/$db"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)" postgres
fi
report ""
# Resource-server verification of a JWT access token, in process (one core, JWKS cached).
want verify && target/release/examples/bench_verify | while read -r line; do report "$line"; done
report ""
report "summary: $out"
