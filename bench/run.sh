#!/usr/bin/env bash
# Kavach benchmarks, side by side with a minimal axum baseline, in one run.
#
#   bench/run.sh                 # SQLite and PostgreSQL (needs 127.0.0.1:5432)
#   BENCH_DB=sqlite bench/run.sh
#   DURATION=20s CONNECTIONS=8 bench/run.sh
#   SCENARIOS="refresh verify" bench/run.sh   # a subset: session org cc refresh agent agent2 exchange signin verify methods (default: all)
#   KAVACH_BIN=/path/to/older/kavach BENCH_LABEL=1a2ce12 bench/run.sh   # compare with another build
#   PEERS="better-auth oidc-provider" bench/run.sh   # peers side by side: better-auth better-auth-rs oidc-provider (default: all; PEERS= for none)
#   REPEAT=5 bench/run.sh          # each measurement repeated (default 3): the median is reported, the spread kept
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
#   - methods: sign-ins without a password, each with a fresh single-use input (a magic
#     link followed, an email code, a passkey answer), vs the baseline
#   - sign-ins (Argon2id) with 16 connections: sign-ins/s, p50, p99, peak RSS during the run
#     (VmHWM) and RSS after it, against the bound idle + cores x 20 MB
#   - the same scenarios on the peers (better-auth 1.7.25 on Node with SQLite and PostgreSQL,
#     the better-auth Rust port on SQLite, panva's oidc-provider for client_credentials),
#     installed by bench/peers/*/setup.sh from the registries at pinned versions
# Every measurement runs REPEAT times; each run's req/s, p50, p99 and the server's peak
# resident memory (VmHWM, reset before the run) go to bench/results/<timestamp>.tsv.
# Writes a summary to bench/results/<timestamp>.txt, and bench/report.py turns the TSV into
# bench/results/<timestamp>.md (medians, spread, ratios to the baseline) and a chart (.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SCENARIOS=" ${SCENARIOS:-session org cc refresh agent agent2 exchange signin verify methods} "
want() { [[ "$SCENARIOS" == *" $1 "* ]]; }
PEERS=" ${PEERS-better-auth better-auth-rs oidc-provider} "
peer() { [[ "$PEERS" == *" $1 "* ]]; }
# shellcheck source=bench/lib.sh
. bench/lib.sh
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach-server -p kavach-bench-baseline
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach --example bench_verify --example bench_tokens
BIN=$(realpath "${KAVACH_BIN:-target/release/kavach}")   # KAVACH_BIN: another build (an older commit) to compare with
BASE=target/release/kavach-bench-baseline
report_header "Kavach benchmark"
report ""

# In process, on a quiet machine: JWT verification in the resource-server layer, and the
# time of one password hash (sign-ins are bounded by cores / that time).
hash_ms=
if want verify || want signin; then
  target/release/examples/bench_verify > "$work/inprocess.txt"
  hash_ms=$(sed -n 's/^password hash.*: \([0-9.]*\) ms per hash.*/\1/p' "$work/inprocess.txt")
  printf 'kavach-in-process\t-\tpassword-hash\t1\t%s\t%sms\t\t\t\n' "$(python3 -c "print(f'{1000 / $hash_ms:.2f}')")" "$hash_ms" >> "$tsv"
  while read -r line; do report "$line"; done < "$work/inprocess.txt"
  # "resource-server verify EdDSA: mean 21.0 µs, p50 20.1 µs, p99 30.2 µs, 47619 verifications/s on one core"
  sed -n 's/^resource-server verify \([A-Za-z0-9]*\) *: mean [0-9.]* µs, p50 \([0-9.]*\) µs, p99 \([0-9.]*\) µs, \([0-9]*\) verifications.*/kavach-in-process\t-\tjwt-verify-\1\t1\t\4\t\2us\t\3us\t\t/p' "$work/inprocess.txt" >> "$tsv"
  report ""
fi

# Baseline.
b_rps=
if want session || want org || want cc || want agent || want agent2 || want methods; then
bport=$(free_port)
$BASE "127.0.0.1:$bport" > "$work/baseline.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$bport/get-session" >/dev/null && break; sleep 0.05; done
measure baseline - get-session "${pids[-1]}" $(W) "http://127.0.0.1:$bport/get-session"
b_rps=$rps
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
report "baseline (minimal axum handler, same JSON shape): ${b_rps} req/s, p50 ${p50}, p99 ${p99} (median of $REPEAT)"
fi

bench_kavach() { # label database_url
  local label=$1 url=$2 port dir start ready pid rss cookie
  port=$(free_port); dir="$work/$label"; mkdir -p "$dir"
  start=$(now_ms)
  kavach_serve "$dir" "$port" "$url"; pid=$kpid
  ready=$(( $(now_ms) - start ))
  sleep 1
  rss=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")
  local api="http://127.0.0.1:$port/api/kavach"
  kavach_user "$api" "$port"
  local rps p50 p99 errs
  if want session; then
  measure kavach "$label" get-session "$pid" $(W) -H "cookie: $cookie" "$api/get-session"
  report "kavach get-session on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}, ratio to baseline $(python3 -c "print(f'{$rps/$b_rps:.2f}')")${errs:+ ($errs)}"
  fi
  report "kavach on $label: idle RSS ${rss}, first start to ready ${ready} ms (a new database: schema and signing keys created; process start to first 200 from /readyz, polled by curl)"
  if want org; then
  # A second session of the same user, whose active organization is set by creating one.
  local no_org_rps="${rps:-}"
  kavach_org "$api" "$port"
  measure kavach "$label" get-session-with-org "$pid" $(W) -H "cookie: $cookie2" "$api/get-session"
  report "kavach get-session with an active organization on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}${no_org_rps:+, ratio to get-session without one $(python3 -c "print(f'{$rps/$no_org_rps:.2f}')")}${errs:+ ($errs)}"
  measure kavach "$label" has-permission "$pid" $(W) -s "$work/perm.lua" "$api/organization/has-permission"
  report "kavach organization has-permission on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}, ratio to baseline $(python3 -c "print(f'{$rps/$b_rps:.2f}')")${errs:+ ($errs)}"
  fi
  if want cc; then
  # Token endpoint: client_credentials grants (client authentication, a signed JWT access token).
  local creds id secret
  creds=$(cd "$dir" && KAVACH_LOG=warn "$BIN" clients create --name bench --grant client_credentials)
  id=$(echo "$creds" | awk '/^client_id:/ {print $2}'); secret=$(echo "$creds" | awk '/^client_secret:/ {print $2}')
  cc_lua "$work/cc.lua" "$id" "$secret"
  curl -sf -u "$id:$secret" -d "$CC_BODY" "$api/oauth2/token" | grep -q access_token
  measure kavach "$label" client-credentials "$pid" $(W) -s "$work/cc.lua" "$api/oauth2/token"
  report "kavach token endpoint (client_credentials, EdDSA JWT) on $label: ${rps} grants/s, p50 ${p50}, p99 ${p99}${b_rps:+, ratio to baseline $(ratio "$rps" "$b_rps")}${errs:+ ($errs)}"
  fi
  if want agent || want agent2 || want exchange; then
  # An agent of the user, with a delegate; both with OAuth client secrets.
  local child csecret rsecret
  kavach_agent "$api" "$port"
  fi
  if want agent || want agent2; then
  local audit_before audit_after
  audit_before=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
  measure kavach "$label" agent-decision "$pid" $(W) -s "$work/decide.lua" "$api/access/v1/evaluation"
  audit_after=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"] if not d["problems"] else "BROKEN")')
  report "kavach agent decision (AuthZEN, durable audit record each) on $label: ${rps} decisions/s, p50 ${p50}, p99 ${p99}, ratio to baseline $(python3 -c "print(f'{$rps/$b_rps:.2f}')"); audit records $audit_before -> $audit_after, chain verified${errs:+ ($errs)}"
  fi
  if want agent2 && [ "$label" = postgres ]; then
  # A second instance on the same database; both loaded at once, CONNECTIONS each.
  local port2 pid2 rps1 rps2 p99_1 p99_2
  port2=$(free_port); mkdir -p "$dir-2"
  kavach_serve "$dir-2" "$port2" "$url"; pid2=$kpid
  audit_before=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/decide.lua" "$api/access/v1/evaluation" > "$work/wrk-decide2a-$label.txt" &
  local wrk1=$!
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/decide.lua" "http://127.0.0.1:$port2/api/kavach/access/v1/evaluation" > "$work/wrk-decide2b-$label.txt"
  wait "$wrk1"
  read_wrk "$work/wrk-decide2a-$label.txt"; rps1=$rps; p99_1=$p99
  read_wrk "$work/wrk-decide2b-$label.txt"; rps2=$rps; p99_2=$p99
  audit_after=$(cd "$dir" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"] if not d["problems"] else "BROKEN")')
  report "kavach agent decision, two instances on one $label: $(python3 -c "print(f'{$rps1+$rps2:.0f}')") decisions/s together ($rps1 + $rps2), p99 ${p99_1} / ${p99_2}; audit records $audit_before -> $audit_after, chain verified"
  printf 'kavach-2-instances\t%s\tagent-decision\t1\t%s\t-\t%s\t\t\n' "$label" "$(python3 -c "print(f'{$rps1+$rps2:.2f}')")" "$(printf '%s\n%s\n' "$p99_1" "$p99_2" | sort -g | tail -1)" >> "$tsv"
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
  measure kavach "$label" token-exchange "$pid" $(W) -s "$work/exchange.lua" "$api/oauth2/token"
  report "kavach token exchange (RFC 8693, a delegate for its parent) on $label: ${rps} exchanges/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  if want refresh; then
  # Token endpoint: refresh_token grants with rotation. Each wrk connection (one per
  # thread) follows its own chain: every answer's refresh token is the next request's.
  mapfile -t rts < <(python3 bench/refresh_tokens.py "http://localhost:$port/api/kavach" "https://mcp.example.com/mcp" "$((CONNECTIONS * REPEAT))")
  [ "${#rts[@]}" -eq $((CONNECTIONS * REPEAT + 1)) ] || { echo "preparing refresh tokens failed (got ${#rts[@]} lines)"; exit 1; }
  local cid=${rts[0]}
  { echo "local tokens = {"; for t in "${rts[@]:1}"; do echo "  \"$t\","; done; echo "}"; cat <<'LUA'
-- Run r of the measurement (BENCH_RUN) starts its chains from the r-th set of tokens.
local n = (tonumber(os.getenv("BENCH_RUN") or "1") - 1) * CONNECTIONS
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
  } | sed "s/CLIENT_ID/$cid/; s/\* CONNECTIONS/* $CONNECTIONS/" > "$work/rt.lua"
  WARMUP=0 measure kavach "$label" refresh-token "$pid" -t"$CONNECTIONS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/rt.lua" "$api/oauth2/token"
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
  # Meanwhile a light probe (about 100 requests/s) asks for the session: other routes
  # must stay responsive while sign-ins saturate the hashing workers.
  python3 bench/probe.py "$api/get-session" "$(( ${DURATION%s} * REPEAT ))" "cookie: $cookie" > "$work/probe-$label.txt" &
  local probe=$!
  measure kavach "$label" sign-in "$pid" -t"$THREADS" -c16 -d"$DURATION" --latency -s "$work/signin.lua" "$api/sign-in/email"
  local s_rps=$rps s_p50=$p50 s_p99=$p99 s_errs=$errs
  wait "$probe"
  local n fails
  read -r n p50 p99 fails < "$work/probe-$label.txt"
  rps=$(python3 -c "print(f'{$n / (${DURATION%s} * $REPEAT):.1f}')"); p50=${p50}ms; p99=${p99}ms; errs=; [ "$fails" = 0 ] || errs="$fails failed"
  printf 'kavach\t%s\tget-session-during-sign-ins\t1\t%s\t%s\t%s\t\t%s\n' "$label" "$rps" "$p50" "$p99" "$errs" >> "$tsv"
  local after bound
  sleep 2
  after=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$pid/status")
  bound=$(awk -v idle="${rss% MB}" -v n="$(nproc)" 'BEGIN { printf "%.0f MB", idle + n * 20 }')
  report "kavach sign-in (Argon2id m=19456 t=2, 16 connections) on $label: ${s_rps} sign-ins/s, p50 ${s_p50}, p99 ${s_p99}${hash_ms:+, $(ratio "$s_rps" "$(python3 -c "print($(nproc) * 1000 / $hash_ms)")") of the Argon2id bound ($(nproc) cores / ${hash_ms} ms per hash)}; RSS idle ${rss}, before ${before}, peak during ${peak} MB, 2 s after ${after} (bound: idle + $(nproc) cores x 20 MB = ${bound})${s_errs:+ ($s_errs)}"
  report "kavach get-session on $label while sign-ins saturate hashing (a probe at about 100/s): ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  # A restart on the same database, timed by a poller that spawns nothing per poll.
  local restarts=()
  for _ in 1 2 3 4 5; do
    restarts+=("$(cd "$dir" && KAVACH_LOG=warn python3 "$ROOT/bench/ready.py" "$port" "$BIN" serve --listen "127.0.0.1:$port")")
  done
  report "kavach restart on $label: start to ready $(printf '%s\n' "${restarts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median %s ms (min %s, max %s) over %d restarts", a[int((NR+1)/2)], a[1], a[NR], NR}') (process start to first 200 from /readyz)"
}

# The peers: started from bench/peers/NAME/start.sh PORT [DATABASE_URL], which prints
# "ready" once it listens; sets peer_pid.
start_peer() { # name port [database_url]
  local name=$1 port=$2
  "$ROOT/bench/peers/$name/start.sh" "$port" ${3:+"$3"} > "$work/$name-$port.out" 2> "$work/$name-$port.err" &
  peer_pid=$!; pids+=("$peer_pid")
  for _ in $(seq 1 1200); do
    grep -q '^ready' "$work/$name-$port.out" && return 0
    kill -0 "$peer_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$name did not start:"; cat "$work/$name-$port.err"; exit 1
}
stop_peer() { kill "$peer_pid" 2>/dev/null || true; wait "$peer_pid" 2>/dev/null || true; }

# A better-auth server (the Node original, or the Rust port): the scenarios it serves.
bench_better_auth() { # system label database_url
  local sys=$1 label=$2 url=$3 port api cookie rss
  port=$(free_port); api="http://127.0.0.1:$port/api/auth"
  start_peer "$sys" "$port" "$url"
  sleep 1
  rss=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$peer_pid/status")
  cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
     -d '{"email":"bench@example.com","password":"benchmark passphrase","name":"Bench"}' "$api/sign-up/email" | session_cookie)
  [ -n "$cookie" ] || { echo "$sys: sign-up failed"; cat "$work/$sys-$port.err"; exit 1; }
  curl -sf -H "cookie: $cookie" "$api/get-session" | grep -q bench@example.com
  report "$sys on $label: idle RSS ${rss}"
  if want session; then
    measure "$sys" "$label" get-session "$peer_pid" $(W) -H "cookie: $cookie" "$api/get-session"
    report "$sys get-session on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}, peak RSS ${peak} MB${b_rps:+, ratio to baseline $(ratio "$rps" "$b_rps")}${errs:+ ($errs)}"
  fi
  if want org && [ "$sys" = better-auth ]; then
    curl -sf -H 'content-type: application/json' -H "origin: http://127.0.0.1:$port" -H "cookie: $cookie" \
       -d '{"name":"Bench Org","slug":"bench-org"}' "$api/organization/create" > /dev/null
    cat > "$work/perm-$sys.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"permissions":{"member":["create"],"invitation":["create"]}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "http://127.0.0.1:$port"
wrk.headers["Cookie"] = "$cookie"
LUA
    curl -sf -H 'content-type: application/json' -H "origin: http://127.0.0.1:$port" -H "cookie: $cookie" \
       -d '{"permissions":{"member":["create"],"invitation":["create"]}}' "$api/organization/has-permission" | grep -q '"success":true'
    measure "$sys" "$label" has-permission "$peer_pid" $(W) -s "$work/perm-$sys.lua" "$api/organization/has-permission"
    report "$sys organization has-permission on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  if want cc && [ "$sys" = better-auth ]; then
    cc_lua "$work/cc-$sys.lua" bench-client bench-secret-0123456789
    curl -sf -u bench-client:bench-secret-0123456789 -d "$CC_BODY" "$api/oauth2/token" | grep -q access_token
    measure "$sys" "$label" client-credentials "$peer_pid" $(W) -s "$work/cc-$sys.lua" "$api/oauth2/token"
    report "$sys token endpoint (client_credentials, @better-auth/oauth-provider, EdDSA JWT) on $label: ${rps} grants/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
  fi
  if want signin; then
    cat > "$work/signin-$sys.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"bench@example.com","password":"benchmark passphrase"}'
wrk.headers["Content-Type"] = "application/json"
LUA
    measure "$sys" "$label" sign-in "$peer_pid" -t"$THREADS" -c16 -d"$DURATION" --latency -s "$work/signin-$sys.lua" "$api/sign-in/email"
    report "$sys sign-in (16 connections) on $label: ${rps} sign-ins/s, p50 ${p50}, p99 ${p99}, peak RSS ${peak} MB${errs:+ ($errs)}"
  fi
  stop_peer
}

# The durable-write floor (SQLite): the baseline binary answering once a row of its own
# is committed, one INSERT per request, grouped through sqlx, grouped by a direct writer
# (bench/baseline/src/main.rs). No sign-in, which must commit before it answers, can
# beat the sqlx rows through the same driver.
bench_floor() {
  local port dir pid route
  port=$(free_port); dir="$work/floor"; mkdir -p "$dir"
  $BASE "127.0.0.1:$port" "$dir/floor.db" > "$dir/floor.log" 2>&1 &
  pid=$!; pids+=("$pid")
  until curl -sf "http://127.0.0.1:$port/write-each" >/dev/null; do kill -0 "$pid" 2>/dev/null || { cat "$dir/floor.log"; exit 1; }; sleep 0.01; done
  for route in write-each write-grouped write-direct; do
    measure floor sqlite "durable-$route" "$pid" -t"$THREADS" -c"$CONNECTIONS" -d"${METHOD_DURATION:-5s}" --latency "http://127.0.0.1:$port/$route"
    report "durable-write floor ($route) on sqlite: ${rps} req/s, p50 ${p50}, p99 ${p99}${b_rps:+, ratio to baseline $(ratio "$rps" "$b_rps")}${errs:+ ($errs)}"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

# Sign-ins without a password: each request verifies a fresh single-use input made just
# before by bench_tokens on the same database (a file per wrk run, split between wrk's
# threads), on a server with those methods on and a localhost base URL (a passkey's RP id
# cannot be an IP address).
bench_methods() { # label database_url
  local label=$1 url=$2 port dir pid api n kind
  port=$(free_port); dir="$work/methods-$label"; mkdir -p "$dir"
  printf '[magic_link]\nenabled = true\n[email_otp]\nenabled = true\n[passkey]\nenabled = true\n' > "$dir/kavach.toml"
  export KAVACH_DATABASE_URL="$url" KAVACH_SECRET="bench-secret-0123456789-abcdefghijklmnop" KAVACH_CONFIG="$dir/kavach.toml" KAVACH_BASE_URL="http://localhost:$port"
  (cd "$dir" && KAVACH_RATE_LIMIT=false KAVACH_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port" > server.log 2>&1) &
  pid=$!; pids+=("$pid")
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log"; exit 1; }; sleep 0.01; done
  api="http://127.0.0.1:$port/api/kavach"
  n=${METHOD_TOKENS:-80000}
  cat > "$work/methods.lua" <<'LUA'
-- One line of $TOKENS-$BENCH_RUN.txt per request, never twice: the lines are split
-- between wrk's threads. KIND: magic (GET the link), otp and passkey (POST the body).
local counter, lines, i = 0, {}, 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
  local k, threads = 0, tonumber(os.getenv("THREADS") or "2")
  for line in io.lines(os.getenv("TOKENS") .. "-" .. (os.getenv("BENCH_RUN") or "0") .. ".txt") do
    if k % threads == id then lines[#lines + 1] = line end
    k = k + 1
  end
end
function request()
  i = i + 1
  local line = lines[i] or lines[#lines]
  local kind = os.getenv("KIND")
  if kind == "magic" then
    return wrk.format("GET", wrk.path .. "?token=" .. line)
  end
  local headers = { ["Content-Type"] = "application/json", ["Origin"] = os.getenv("ORIGIN") }
  if kind == "passkey" then
    local cookie, body = line:match("^([^\t]*)\t(.*)$")
    headers["Cookie"] = cookie
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("POST", nil, headers, line)
end
LUA
  for kind in magic otp passkey; do
    local path scenario
    case $kind in
      magic) path=/magic-link/verify scenario=magic-link-verify ;;
      otp) path=/sign-in/email-otp scenario=email-otp-verify ;;
      passkey) path=/passkey/verify-authentication scenario=passkey-verify ;;
    esac
    target/release/examples/bench_tokens "$kind" "$dir" "$n" $(( REPEAT + 1 ))
    export TOKENS="$dir/$kind" KIND=$kind ORIGIN="http://localhost:$port" THREADS
    measure kavach "$label" "$scenario" "$pid" -t"$THREADS" -c"$CONNECTIONS" -d"${METHOD_DURATION:-5s}" --latency -s "$work/methods.lua" "$api$path"
    report "kavach $scenario on $label: ${rps} req/s, p50 ${p50}, p99 ${p99}${b_rps:+, ratio to baseline $(ratio "$rps" "$b_rps")}${errs:+ ($errs)}"
    rm -f "$dir/$kind"-*.txt
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  unset KAVACH_BASE_URL TOKENS KIND ORIGIN
}

if [ "$BENCH_DB" = sqlite ] || [ "$BENCH_DB" = both ]; then
  bench_kavach sqlite "sqlite://$work/sqlite/kavach.db"
  ! want methods || bench_floor
  ! want methods || bench_methods sqlite "sqlite://$work/methods-sqlite.db"
fi
if [ "$BENCH_DB" = postgres ] || [ "$BENCH_DB" = both ]; then
  db="kavach_bench_$$"
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
  bench_kavach postgres "postgres://postgres@127.0.0.1:5432/$db"
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)" postgres
  if want methods; then
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE ${db}_m" postgres
    bench_methods postgres "postgres://postgres@127.0.0.1:5432/${db}_m"
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE ${db}_m WITH (FORCE)" postgres
  fi
fi

report ""
if peer better-auth; then
  bench/peers/better-auth/setup.sh
  if [ "$BENCH_DB" = sqlite ] || [ "$BENCH_DB" = both ]; then
    bench_better_auth better-auth sqlite "sqlite://$work/better-auth/ba.sqlite"
  fi
  if [ "$BENCH_DB" = postgres ] || [ "$BENCH_DB" = both ]; then
    db="better_auth_bench_$$"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
    bench_better_auth better-auth postgres "postgres://postgres@127.0.0.1:5432/$db"
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)" postgres
  fi
fi
if peer better-auth-rs && [ "$BENCH_DB" != postgres ] && { want session || want signin; }; then
  # The Rust port's release build takes about 11 minutes once; build.sh reuses it after.
  bench/peers/better-auth-rs/build.sh > /dev/null
  mkdir -p "$work/better-auth-rs"
  bench_better_auth better-auth-rs sqlite "sqlite://$work/better-auth-rs/ba.sqlite?mode=rwc"
fi
if peer oidc-provider && want cc; then
  bench/peers/oidc-provider/setup.sh
  port=$(free_port)
  start_peer oidc-provider "$port"
  cc_lua "$work/cc-oidc.lua" bench-client bench-secret-0123456789
  curl -sf -u bench-client:bench-secret-0123456789 -d "$CC_BODY" "http://127.0.0.1:$port/token" | grep -q access_token
  measure oidc-provider - client-credentials "$peer_pid" $(W) -s "$work/cc-oidc.lua" "http://127.0.0.1:$port/token"
  report "oidc-provider token endpoint (client_credentials, resource indicators, EdDSA JWT, in-memory adapter): ${rps} grants/s, p50 ${p50}, p99 ${p99}, peak RSS ${peak} MB${errs:+ ($errs)}"
  stop_peer
fi
report ""
python3 bench/report.py "$tsv" "$out" > "bench/results/$stamp.md"
report "summary: $out, bench/results/$stamp.md, chart bench/results/$stamp.svg"
