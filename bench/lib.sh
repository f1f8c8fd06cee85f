# Shared by bench/run.sh, scale.sh and cluster.sh (sourced from the repository root, with
# RESULTS_SUFFIX naming the kind of run): the common settings, the results files
# (bench/results/<timestamp><suffix>.txt and .tsv, in $out and $tsv), a work directory
# removed on exit, every started process stopped on exit, wrk runs repeated and recorded.
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-8}
THREADS=${THREADS:-2}
REPEAT=${REPEAT:-3}
BENCH_DB=${BENCH_DB:-both}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)${RESULTS_SUFFIX:-}
out=bench/results/$stamp.txt tsv=bench/results/$stamp.tsv
printf 'system\tdatabase\tscenario\trun\trps\tp50\tp99\tpeak_rss_mb\terrors\n' > "$tsv"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# wrk prints "Requests/sec:" and, with --latency, "50%" and "99%" lines.
field() { awk -v k="$1" '$1==k {print $2}'; }
# Sets rps, p50, p99 and errs (non-2xx answers, socket errors) from a wrk output file.
read_wrk() {
  rps=$(field Requests/sec: < "$1")
  p50=$(field 50% < "$1"); p99=$(field 99% < "$1")
  errs=$(grep -E "Non-2xx|Socket errors" "$1" || true)
}

report() { echo "$*" | tee -a "$out"; }
# report_header TITLE [WHAT_SHARES_THE_MACHINE]: the run's title, the build ($BIN, named
# without a machine path: BENCH_LABEL, e.g. a commit, else the binary's name) and the machine.
report_header() {
  report "# $1 $(date -u +%FT%TZ)"
  report "build: ${BENCH_LABEL:-$(basename "$BIN")} (built $(date -u -r "$BIN" +%FT%TZ))"
  report "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); ${2:-wrk -t$THREADS -c$CONNECTIONS -d$DURATION on the same machine}"
}

# The client_credentials request every system gets: the same resource and scope.
CC_BODY="grant_type=client_credentials&scope=mcp%3Atools&resource=https%3A%2F%2Fmcp.example.com%2Fmcp"
cc_lua() { # file client_id secret
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.body = "$CC_BODY"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf '%s:%s' "$2" "$3" | base64 -w0)"
LUA
}

# measure SYSTEM DATABASE SCENARIO PID WRK_ARGS...: wrk REPEAT times; each run is a TSV
# row, with the peak resident memory of PID (VmHWM, reset before the run; PID - for none).
# Sets rps, p50, p99, errs and peak from the run with the median rate.
measure() {
  local sys=$1 db=$2 sc=$3 mpid=$4 i f pk rows=()
  shift 4
  # A warm-up run first (a JIT compiles, pools fill), not recorded; WARMUP=0 for none.
  [ "${WARMUP:-2s}" = 0 ] || BENCH_RUN=0 wrk "$@" -d"${WARMUP:-2s}" > /dev/null
  for i in $(seq 1 "$REPEAT"); do
    f="$work/wrk-$sys-$db-$sc-$i.txt"
    [ "$mpid" = - ] || echo 5 > "/proc/$mpid/clear_refs" 2>/dev/null || true
    BENCH_RUN=$i wrk "$@" > "$f"
    pk=; [ "$mpid" = - ] || pk=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$mpid/status")
    read_wrk "$f"
    rows+=("$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$sys" "$db" "$sc" "$i" "$rps" "$p50" "$p99" "$pk" "$(echo "$errs" | tr '\n\t' '  ')")")
  done
  printf '%s\n' "${rows[@]}" >> "$tsv"
  local mid
  mid=$(printf '%s\n' "${rows[@]}" | sort -t$'\t' -k5,5g | sed -n "$(( (REPEAT + 1) / 2 ))p")
  # (Tabs are whitespace to read: adjacent ones would merge an empty field away.)
  IFS=$'\x1f' read -r _ _ _ _ rps p50 p99 peak errs <<< "${mid//$'\t'/$'\x1f'}"
  [ -n "${errs// /}" ] || errs=
}
# wrk's usual arguments for CONNECTIONS connections, then the caller's.
W() { echo -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

# The session cookie ("name=value") a sign-up or sign-in answer sets, from its headers on stdin.
session_cookie() { awk -F': ' 'tolower($1)=="set-cookie" && index($2,"session_token=") {split($2,a,";"); print a[1]}'; }

# kavach_serve DIR PORT DATABASE_URL: start $BIN in DIR (its configuration: a protected
# resource, organizations and agents on; no rate limits, since the sign-in scenario signs
# one account in thousands of times) and wait until /readyz answers. Sets kpid.
kavach_serve() {
  local dir=$1 port=$2 url=$3
  mkdir -p "$dir"
  printf '[[oauth.resources]]\nuri = "https://mcp.example.com/mcp"\nscopes = ["mcp:tools"]\n[organization]\nenabled = true\n[agents]\nenabled = true\n' > "$dir/kavach.toml"
  export KAVACH_DATABASE_URL="$url" KAVACH_SECRET="bench-secret-0123456789-abcdefghijklmnop" KAVACH_CONFIG="$dir/kavach.toml"
  (cd "$dir" && KAVACH_REQUIRE_EMAIL_VERIFICATION=false KAVACH_RATE_LIMIT=false KAVACH_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port" > server.log 2>&1) &
  kpid=$!; pids+=("$kpid")
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "$kpid" 2>/dev/null || { echo "kavach did not start:"; cat "$dir/server.log"; exit 1; }
    sleep 0.002
  done
}

# kavach_user API PORT: sign up bench@example.com (or sign in, when it exists). Sets cookie.
kavach_user() {
  local api=$1 port=$2
  cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -H "origin: http://localhost:$port" \
     -d '{"email":"bench@example.com","password":"benchmark passphrase","name":"Bench"}' "$api/sign-up/email" | session_cookie)
  [ -n "$cookie" ] || cookie=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -H "origin: http://localhost:$port" \
     -d '{"email":"bench@example.com","password":"benchmark passphrase"}' "$api/sign-in/email" | session_cookie)
  [ -n "$cookie" ] || { echo "sign-up and sign-in failed"; exit 1; }
  curl -sf -H "cookie: $cookie" "$api/get-session" | grep -q bench@example.com
}

# kavach_org API PORT: a second session of the bench user whose active organization is set
# by creating one; writes $work/perm.lua (has-permission with that session). Sets cookie2.
kavach_org() {
  local api=$1 port=$2
  cookie2=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -H "origin: http://localhost:$port" \
     -d '{"email":"bench@example.com","password":"benchmark passphrase"}' "$api/sign-in/email" | session_cookie)
  curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie2" \
     -d "{\"name\":\"Bench Org\",\"slug\":\"bench-org-$port\"}" "$api/organization/create" > /dev/null
  curl -sf -H "cookie: $cookie2" "$api/get-session" | grep -q '"activeOrganizationId":"'
  cat > "$work/perm.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"permissions":{"member":["create"],"invitation":["create"]}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = "http://localhost:$port"
wrk.headers["Cookie"] = "$cookie2"
LUA
  curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie2" \
     -d '{"permissions":{"member":["create"],"invitation":["create"]}}' "$api/organization/has-permission" | grep -q '"success":true'
}

# kavach_agent API PORT: an agent of the bench user (cookie) with its key; writes
# $work/decide.lua (an AuthZEN decision with that key). Sets agent and akey.
kavach_agent() {
  local api=$1 port=$2 ajson
  ajson=$(curl -sf -H 'content-type: application/json' -H "origin: http://localhost:$port" -H "cookie: $cookie" \
     -d '{"name":"bench-agent","permissions":[{"resource":"tool:**","actions":["tools/call"]}]}' "$api/agents")
  agent=$(echo "$ajson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["id"])')
  akey=$(echo "$ajson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  cat > "$work/decide.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"subject":{"type":"agent","id":"$agent"},"action":{"name":"tools/call"},"resource":{"type":"tool","id":"search","properties":{"q":"bench"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $akey"
LUA
  curl -sf -H 'content-type: application/json' -H "authorization: Bearer $akey" \
     -d "{\"subject\":{\"type\":\"agent\",\"id\":\"$agent\"},\"action\":{\"name\":\"tools/call\"},\"resource\":{\"type\":\"tool\",\"id\":\"search\"}}" "$api/access/v1/evaluation" | grep -q '"decision":true'
}
