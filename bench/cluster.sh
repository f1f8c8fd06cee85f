#!/usr/bin/env bash
# Several Kavach instances on one PostgreSQL behind a round-robin HAProxy: throughput, the
# time a change on one instance takes to be enforced on the others, and faults under load.
#
#   bench/cluster.sh                       # needs haproxy (apt-get install haproxy), PostgreSQL on 127.0.0.1:5432
#   INSTANCES=2 ROUNDS=20 bench/cluster.sh
#   FAULTS="kill redis" bench/cluster.sh   # a subset of: kill postgres redis (default: all)
#
# Faults (each with a pass/fail line):
#   kill      one instance SIGKILLed under load: the others carry on; every acknowledged
#             sign-up is in the database
#   postgres  PostgreSQL restarted under load (pg_ctlcluster; needs the machine's cluster):
#             requests fail with 503 while it is down, Kavach recovers without a restart,
#             every acknowledged sign-up is there, the audit chain verifies
#   redis     the rate-limit Redis (a throwaway redis-server) stopped under load: rate-limited
#             routes fail closed with 503 as documented, others carry on, and limits work
#             again once Redis is back, without a restart
# Writes bench/results/<timestamp>-cluster.{txt,tsv,md,svg}.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
INSTANCES=${INSTANCES:-3}
ROUNDS=${ROUNDS:-10}
FAULTS=" ${FAULTS:-kill postgres redis} "
fault() { [[ "$FAULTS" == *" $1 "* ]]; }
RESULTS_SUFFIX=-cluster
# shellcheck source=bench/lib.sh
. bench/lib.sh
command -v haproxy >/dev/null || { echo "haproxy is needed: apt-get install haproxy"; exit 1; }
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -q -p kavach-server
BIN=$(realpath "${KAVACH_BIN:-target/release/kavach}")
verdicts=()
verdict() { verdicts+=("$1: $2"); report "$1: $2"; }

report_header "Kavach benchmark, $INSTANCES instances on one PostgreSQL" "HAProxy $(haproxy -v | awk 'NR==1 {print $3}'), instances, PostgreSQL and wrk on the same machine"
report ""

db="kavach_cluster_$$"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" postgres
url="postgres://postgres@127.0.0.1:5432/$db"
trap 'cleanup; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres >/dev/null 2>&1 || true' EXIT

# Every instance has the proxy's address as its base URL (the origin browsers would send).
proxy=$(free_port)
export KAVACH_BASE_URL="http://localhost:$proxy"
ports=() kpids=() bases=()
for i in $(seq 1 "$INSTANCES"); do
  p=$(free_port)
  kavach_serve "$work/k$i" "$p" "$url"
  ports+=("$p"); kpids+=("$kpid"); bases+=("http://127.0.0.1:$p/api/kavach")
done
# Round robin, health-checked on /readyz every 200 ms (a check may take 2 s: with every
# process on two cores a busy instance is slow, not down), a failed connection retried on
# another.
{
  printf 'global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n'
  printf '  retries 2\n  option redispatch\n  retry-on conn-failure empty-response\n  timeout check 2s\n'
  printf 'frontend f\n  bind 127.0.0.1:%s\n  default_backend k\n' "$proxy"
  printf 'backend k\n  balance roundrobin\n  option httpchk GET /readyz\n  default-server inter 200ms fall 2 rise 1\n'
  for i in $(seq 1 "$INSTANCES"); do printf '  server k%s 127.0.0.1:%s check\n' "$i" "${ports[$((i - 1))]}"; done
} > "$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &
pids+=($!)
until curl -sf "http://127.0.0.1:$proxy/readyz" > /dev/null; do sleep 0.05; done
api="http://127.0.0.1:$proxy/api/kavach"
kavach_user "$api" "$proxy"; kavach_org "$api" "$proxy"; kavach_agent "$api" "$proxy"

# Throughput: one instance directly, then all of them through the proxy.
label="postgres"
measure kavach "$label" get-session "${kpids[0]}" $(W) -H "cookie: $cookie" "${bases[0]}/get-session"
report "get-session, one instance directly: ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
measure "kavach-$INSTANCES-instances" "$label" get-session - $(W) -H "cookie: $cookie" "$api/get-session"
report "get-session, $INSTANCES instances behind HAProxy: ${rps} req/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
measure kavach "$label" agent-decision "${kpids[0]}" $(W) -s "$work/decide.lua" "${bases[0]}/access/v1/evaluation"
report "agent decision, one instance directly: ${rps} decisions/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
measure "kavach-$INSTANCES-instances" "$label" agent-decision - $(W) -s "$work/decide.lua" "$api/access/v1/evaluation"
report "agent decision, $INSTANCES instances behind HAProxy: ${rps} decisions/s, p50 ${p50}, p99 ${p99}${errs:+ ($errs)}"
report ""

# Propagation: a change on one instance, enforced on the others.
report "propagation ($ROUNDS rounds; each change made on the instances in turn, polled on all the others):"
if (cd "$work/k1" && ORIGIN="$KAVACH_BASE_URL" python3 "$ROOT/bench/propagation.py" "$BIN" "$ROUNDS" "${bases[@]}" > "$work/propagation.txt"); then ok=pass; else ok=FAIL; fi
while read -r line; do report "  $line"; done < "$work/propagation.txt"
verdict "propagation under one second" "$ok"
report ""

# A run under load through the proxy with a probe and a writer; $1 runs mid-way (at 5 s).
under_load() { # what seconds action...
  local what=$1 secs=$2; shift 2
  wrk -t1 -c4 -d"${secs}s" -H "cookie: $cookie" "$api/get-session" > "$work/load.txt" 2>&1 &
  local load=$!
  PROBE_STATUSES=1 python3 bench/probe.py "$api/get-session" "$secs" "cookie: $cookie" > "$work/probe.txt" &
  local probe=$!
  python3 bench/writer.py "$api" "$secs" "$work/acked.txt" > "$work/writer.txt" &
  local writer=$!
  sleep 5
  "$@"
  wait "$load" "$probe" "$writer"
  read -r n _ _ fails statuses window < "$work/probe.txt"
  read -r acked wfailed < "$work/writer.txt"
  read_wrk "$work/load.txt"
  report "  $what: load ${rps} req/s${errs:+ ($(echo "$errs" | tr '\n' ' '))}; probe $n requests, answers $statuses, failures over ${window} ms; writer $acked sign-ups acknowledged, $wfailed refused"
}
# Every acknowledged sign-up is in the database.
all_acked_present() {
  local want have
  want=$(wc -l < "$work/acked.txt")
  python3 - "$work/acked.txt" > "$work/acked.sql" <<'PY'
import sys
emails = [l.strip() for l in open(sys.argv[1]) if l.strip()]
print("SELECT count(*) FROM kavach_user WHERE email IN (" + ",".join(f"'{e}'" for e in emails or [""]) + ");")
PY
  have=$(psql -h 127.0.0.1 -U postgres -Atf "$work/acked.sql" "$db")
  report "  acknowledged sign-ups found in the database: $have of $want"
  [ "$have" = "$want" ]
}
chain_intact() {
  local r
  r=$(cd "$work/k1" && KAVACH_LOG=warn "$BIN" audit verify --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["records"], "records," , "intact" if not d["problems"] else "BROKEN")')
  report "  audit chain: $r"
  [[ "$r" == *intact ]]
}

if fault kill; then
  report "fault: one instance killed with SIGKILL under load"
  victim=${kpids[$((INSTANCES - 1))]}
  under_load "SIGKILL instance $INSTANCES at 5 s" 20 kill -9 "$victim"
  survivors=0
  for i in $(seq 1 $((INSTANCES - 1))); do curl -sf "${bases[$((i - 1))]}/get-session" -H "cookie: $cookie" | grep -q bench@example.com && survivors=$((survivors + 1)); done
  late=$(python3 bench/probe.py "$api/get-session" 3 "cookie: $cookie")
  report "  after: $survivors of $((INSTANCES - 1)) other instances answer; through the proxy: $late (requests p50 p99 failures)"
  if [ "$survivors" = $((INSTANCES - 1)) ] && [ "$(echo "$late" | awk '{print $4}')" = 0 ] && all_acked_present; then ok=pass; else ok=FAIL; fi
  verdict "SIGKILL of one instance" "$ok"
  report ""
fi

if fault postgres; then
  report "fault: PostgreSQL restarted under load"
  cluster=$(ls /etc/postgresql 2>/dev/null | head -1)
  if [ -z "$cluster" ]; then
    verdict "PostgreSQL restart" "not run (no pg_ctlcluster cluster on this machine)"
  else
    restart_pg() { pg_ctlcluster --skip-systemctl-redirect "$cluster" main stop -m fast; sleep 2; pg_ctlcluster --skip-systemctl-redirect "$cluster" main start; }
    under_load "PostgreSQL down for about 2 s at 5 s" 25 restart_pg
    late=$(python3 bench/probe.py "$api/get-session" 3 "cookie: $cookie")
    report "  after: through the proxy: $late (requests p50 p99 failures), no instance restarted"
    statuses=${statuses:-"{}"}
    only_503=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("yes" if set(d) <= {"200","503"} else "no")' "$statuses")
    report "  failed requests answered 503 (and nothing else): $only_503"
    if [ "$only_503" = yes ] && [ "$(echo "$late" | awk '{print $4}')" = 0 ] && all_acked_present && chain_intact; then ok=pass; else ok=FAIL; fi
    verdict "PostgreSQL restart" "$ok"
  fi
  report ""
fi

if fault redis; then
  report "fault: the rate-limit Redis stopped under load"
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no > "$work/redis.log" 2>&1 &
  rpid=$!; pids+=("$rpid")
  until redis-cli -p "$rport" ping > /dev/null 2>&1; do sleep 0.05; done
  # One more instance with rate limits on, in Redis.
  rl=$(free_port); mkdir -p "$work/rl"
  (cd "$work/rl" && KAVACH_DATABASE_URL="$url" KAVACH_REDIS_URL="redis://127.0.0.1:$rport" KAVACH_RATE_LIMIT=true KAVACH_LOG=warn \
     KAVACH_REQUIRE_EMAIL_VERIFICATION=false exec "$BIN" serve --listen "127.0.0.1:$rl" > server.log 2>&1) &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$rl/readyz" > /dev/null; do sleep 0.05; done
  rapi="http://127.0.0.1:$rl/api/kavach"
  signin_status() { curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"wrong passphrase"}' "$rapi/sign-in/email"; }
  before=$(signin_status)
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
  during=$(signin_status)
  session_during=$(curl -s -o /dev/null -w '%{http_code}' -H "cookie: $cookie" "$rapi/get-session")
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no > "$work/redis2.log" 2>&1 &
  pids+=($!)
  until redis-cli -p "$rport" ping > /dev/null 2>&1; do sleep 0.05; done
  sleep 1
  after=$(signin_status)
  # The limit holds again: repeated wrong passwords end in 429.
  limited=no
  for _ in $(seq 1 30); do [ "$(signin_status)" = 429 ] && { limited=yes; break; }; done
  report "  a wrong-password sign-in: $before with Redis up, $during with Redis down (get-session: $session_during), $after after it is back; limit enforced again after: $limited"
  if [ "$before" = 401 ] && [ "$during" = 503 ] && [ "$after" = 401 ] && [ "$limited" = yes ]; then ok=pass; else ok=FAIL; fi
  verdict "Redis stopped (rate limits fail closed with 503, then recover)" "$ok"
  report ""
fi

python3 bench/report.py "$tsv" "$out" > "bench/results/$stamp.md"
{ echo; echo "Faults and propagation:"; echo; for v in "${verdicts[@]}"; do echo "- $v"; done; } >> "bench/results/$stamp.md"
report "summary: $out, bench/results/$stamp.md"
