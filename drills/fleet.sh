#!/usr/bin/env bash
# Fleet drill (SPEC §12, the runbook's "Multi-instance fleet operations"): one coordinator and two workers, each
# in its own network namespace — the project's own test hosts — reaching each other over HTTPS with tokens.
#
#   spl-fnet   holds the bridge spl-fbr0 (so no firewall of this host sees the fleet's traffic)
#   spl-fc     coordinator  10.231.0.1   ~ $WORK/coordinator
#   spl-fw1    worker-a     10.231.0.2   ~ $WORK/worker-a
#   spl-fw2    worker-b     10.231.0.3   ~ $WORK/worker-b
#
# Each namespace has lo and one veth to the bridge; nothing else (no route out). A CA made with openssl signs a
# certificate per member whose subjectAltName holds its address; every member serves HTTPS on its address
# ([server] tls_cert/tls_key), TCP auth on, and verifies the others with [fleet] ca_file alone (every command runs
# under env -i: no NODE_EXTRA_CA_CERTS, no system CA that knows the drill's). The workers carry a token minted on
# the coordinator ([fleet] token). Heartbeats every second: stale after 3 s, archived after 12 s.
#
# Verifies, printing each: convergence (3 live); fleet list/status/show/ping over HTTPS; a SIGKILLed worker is live
# 2 s after the kill, stale once three intervals pass (never before), archived after twelve, live again when it
# comes back; a graceful stop is left; a task dispatched --on worker-b runs there (the test suite's stand-in for
# the agent CLI, in a git worktree) and its records reach the coordinator; a soft freeze set on the coordinator
# refuses an INTEND on worker-a within one interval and is lifted the same way; the emergency stop interrupts
# worker-b's running agent (its exit recorded and sent back), refuses writes on worker-a and new dispatches; then
# the runbook's manual coordinator replacement, step by step, ending with every worker live on the new coordinator.
#
#   bash drills/fleet.sh      # as root (network namespaces); needs ip (iproute2), openssl, curl and node
#
# Everything it creates — the namespaces (with the bridge and veths inside them), the instances (stopped by the
# PIDs it started), $WORK — is removed by the EXIT trap. Anything missing or failing is a FAIL, never a skip.
set -Eeuo pipefail
umask 077

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPL="$ROOT/bin/spl"
NET=10.231.0
BRIDGE=spl-fbr0
BRIDGE_NS=spl-fnet
MEMBERS=(coordinator worker-a worker-b)
declare -A NS=([coordinator]=spl-fc [worker-a]=spl-fw1 [worker-b]=spl-fw2)
declare -A ADDR=([coordinator]=$NET.1 [worker-a]=$NET.2 [worker-b]=$NET.3)
PORT=9100
INTERVAL=1

FAILED=0
FINISHED=0
ERR_AT=''
INTERRUPTED=''
WORK=''
CREATED_NS=()
STARTED=() # pid:starttime of every instance this drill started

step() { printf '\n== %s\n' "$*"; }
pass() { printf '  ok    %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; FAILED=$((FAILED + 1)); }
note() { printf '        %s\n' "$*"; }
check() { # check "description" actual expected
  if [ "$2" == "$3" ]; then pass "$1 ($2)"; else fail "$1: expected [$3], got [$2]"; fi
}
check_match() { # check_match "description" actual ERE
  if [[ "$2" =~ $3 ]]; then pass "$1"; else fail "$1: [$2] does not match /$3/"; fi
}
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const f=new Function("v","return "+process.argv[1]);const r=f(v);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }
now_ms() { date +%s%3N; }

die() { # the drill cannot go on
  fail "$*"
  finish
}

finish() {
  FINISHED=1
  if [ "$FAILED" -eq 0 ]; then printf '\nfleet drill: PASS (%ss)\n' "$SECONDS"; exit 0; fi
  printf '\nfleet drill: FAIL (%d check(s) failed)\n' "$FAILED"
  exit 1
}

# ---------------------------------------------------------------------------------------------------------
# members: each runs in its namespace with its own HOME and SYNCROPEL_HOME, and nothing else from this shell

home_of() { echo "$WORK/$1/.syncro"; }
# spl_in MEMBER ARGS…: the CLI as that member's operator, inside its namespace (bounded).
spl_in() {
  local m=$1
  shift
  timeout 60 ip netns exec "${NS[$m]}" env -i PATH="$PATH" LANG=C.UTF-8 HOME="$WORK/$m" SYNCROPEL_HOME="$(home_of "$m")" node "$SPL" "$@"
}
pid_of() { cat "$(home_of "$1")/run/spl.pid"; }
start_time() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

# serve MEMBER: spl serve --daemon in its namespace; its PID is remembered for the cleanup.
serve() {
  local m=$1 out pid
  if ! out=$(timeout 60 ip netns exec "${NS[$m]}" env -i PATH="$PATH" LANG=C.UTF-8 HOME="$WORK/$m" SYNCROPEL_HOME="$(home_of "$m")" node "$SPL" serve --daemon 2>&1); then
    fail "$m: spl serve --daemon failed: $out"
    tail -n 20 "$(home_of "$m")/logs/spl.log" 2>/dev/null | sed 's/^/        | /' || true
    return 1
  fi
  pid=$(pid_of "$m")
  STARTED+=("$pid:$(start_time "$pid")")
  pass "$m serving: $(head -n 1 <<<"$out")"
}

write_config() { # write_config MEMBER [coordinator URL] [token]
  local m=$1 url=${2:-} token=${3:-} pki="$WORK/pki"
  mkdir -p "$(home_of "$m")"
  {
    printf '[server]\nhost = "%s"\nport = %s\ntls_cert = "%s"\ntls_key = "%s"\n\n' "${ADDR[$m]}" "$PORT" "$pki/$m.pem" "$pki/$m.key"
    printf '[fleet]\nheartbeat_interval_secs = %s\nca_file = "%s"\nadvertised_endpoint = "https://%s:%s"\n' "$INTERVAL" "$pki/ca.pem" "${ADDR[$m]}" "$PORT"
    if [ -n "$url" ]; then printf 'coordinator_url = "%s"\n' "$url"; fi
    if [ -n "$token" ]; then printf 'token = "%s"\n' "$token"; fi
  } >"$(home_of "$m")/config.toml"
}

# member_status COORDINATOR DID: the status the coordinator gives DID.
member_status() { spl_in "$1" fleet show "$2" -o json | json 'v.status'; }
# wait_status COORDINATOR DID STATUS SECS: polls until it is; prints what it last was.
wait_status() {
  local c=$1 did=$2 want=$3 deadline=$(($(now_ms) + $4 * 1000)) got=''
  while :; do
    got=$(member_status "$c" "$did" 2>/dev/null || echo '?')
    if [ "$got" == "$want" ] || [ "$(now_ms)" -gt "$deadline" ]; then break; fi
    sleep 0.2
  done
  echo "$got"
}

# ---------------------------------------------------------------------------------------------------------
# cleanup: the instances by the PIDs this drill started (if still the same processes), the namespaces, $WORK

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? entry pid st i ns
  trap - EXIT INT TERM ERR
  set +e
  if [ "$FINISHED" -eq 0 ]; then
    if [ -n "$INTERRUPTED" ]; then
      printf '\nfleet drill: FAIL (interrupted by %s)\n' "$INTERRUPTED"
    else
      printf '\nfleet drill: FAIL (stopped by an unexpected error%s, exit %s)\n' "${ERR_AT:+ at line $ERR_AT}" "$rc"
    fi
    [ "$rc" -ne 0 ] || rc=1
  fi
  for entry in "${STARTED[@]}"; do
    pid=${entry%%:*} st=${entry#*:}
    if [ -n "$st" ] && [ "$(start_time "$pid")" == "$st" ]; then kill -TERM "$pid" 2>/dev/null; fi
  done
  for entry in "${STARTED[@]}"; do
    pid=${entry%%:*} st=${entry#*:}
    for i in $(seq 1 50); do [ "$(start_time "$pid")" == "$st" ] || break; sleep 0.2; done
    if [ -n "$st" ] && [ "$(start_time "$pid")" == "$st" ]; then
      echo "fleet drill: instance pid $pid did not stop in 10s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  # Deleting a namespace destroys its interfaces: the veths (both ends) and the bridge.
  for ns in "${CREATED_NS[@]}"; do ip netns del "$ns" || echo "fleet drill: could not delete the network namespace $ns" >&2; done
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then rm -rf "$WORK" || echo "fleet drill: could not remove $WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'ERR_AT=${ERR_AT:-$LINENO}' ERR
trap 'INTERRUPTED=SIGINT; exit 130' INT
trap 'INTERRUPTED=SIGTERM; exit 143' TERM

# ---------------------------------------------------------------------------------------------------------
# set-up

preflight() {
  step "pre-flight"
  [ "$(id -u)" -eq 0 ] || die "needs root for network namespaces (run: sudo bash drills/fleet.sh)"
  local tool
  for tool in ip openssl node curl timeout; do command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install iproute2 openssl curl)"; done
  local ns
  for ns in "$BRIDGE_NS" "${NS[@]}"; do
    if ip netns list | grep -qw "^$ns"; then die "the network namespace $ns exists already (a drill still running, or one killed before its cleanup): ip netns del $ns"; fi
  done
  if [ ! -f "$ROOT/dist/cli/main.js" ]; then
    note "no build yet: npm run build"
    (cd "$ROOT" && npm run build >/dev/null) || die "npm run build failed"
  fi
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/spl-fleet-drill.XXXXXX")
  chmod 755 "$WORK"
  pass "root, ip, openssl, node $(node --version); scratch $WORK"
}

make_pki() {
  step "a CA and a certificate per member (openssl, EC P-256), its address in subjectAltName"
  local pki="$WORK/pki" m ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$pki"
  openssl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 -subj '/CN=spl fleet drill CA' 2>/dev/null || die "openssl could not make the CA"
  for m in "${MEMBERS[@]}"; do
    openssl req "${ec[@]}" -keyout "$pki/$m.key" -out "$pki/$m.csr" -subj "/CN=${ADDR[$m]}" 2>/dev/null || die "openssl could not make $m's key"
    printf 'subjectAltName=IP:%s\n' "${ADDR[$m]}" >"$pki/$m.ext"
    openssl x509 -req -in "$pki/$m.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -out "$pki/$m.pem" -days 2 -extfile "$pki/$m.ext" 2>/dev/null || die "openssl could not sign $m's certificate"
    check "$m's certificate verifies against the CA" "$(openssl verify -CAfile "$pki/ca.pem" "$pki/$m.pem" 2>&1)" "$pki/$m.pem: OK"
  done
}

make_network() {
  step "network: $BRIDGE in $BRIDGE_NS, and ${NS[*]} on it by veth pairs ($NET.0/24, nothing else)"
  ip netns add "$BRIDGE_NS" || die "ip netns add $BRIDGE_NS failed"
  CREATED_NS+=("$BRIDGE_NS")
  ip -n "$BRIDGE_NS" link add "$BRIDGE" type bridge
  ip -n "$BRIDGE_NS" link set lo up
  ip -n "$BRIDGE_NS" link set "$BRIDGE" up
  local m ns i=0
  for m in "${MEMBERS[@]}"; do
    ns=${NS[$m]}
    ip netns add "$ns" || die "ip netns add $ns failed"
    CREATED_NS+=("$ns")
    # Created inside the member's namespace, the bridge end moved to the bridge's: nothing passes through this host's.
    ip -n "$ns" link add eth0 type veth peer name "br-$i" netns "$BRIDGE_NS"
    ip -n "$BRIDGE_NS" link set "br-$i" master "$BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${ADDR[$m]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    i=$((i + 1))
  done
  local tries reached
  for m in worker-a worker-b; do
    # The bridge forwards within a moment; the first packets may need a retry. A refused port means the path works.
    reached=''
    for tries in $(seq 1 20); do
      if ip netns exec "${NS[$m]}" node -e 'const s=require("net").connect({host:process.argv[1],port:1});s.on("error",e=>process.exit(e.code==="ECONNREFUSED"?0:1));setTimeout(()=>process.exit(1),500)' "${ADDR[coordinator]}"; then reached=$tries; break; fi
      sleep 0.25
    done
    if [ -n "$reached" ]; then pass "$m (${ADDR[$m]}) reaches the coordinator's address ${ADDR[coordinator]} (attempt $reached)"; else die "$m cannot reach ${ADDR[coordinator]} over $BRIDGE"; fi
  done
  check "a member has no route beyond the fleet's subnet" "$(ip -n "${NS[worker-a]}" route get 1.1.1.1 2>&1 | grep -c 'unreachable')" 1
}

# ---------------------------------------------------------------------------------------------------------
# the fleet

declare -A DID=()
TOKEN=''
COORD_URL="https://$NET.1:$PORT"
LIST_LINE='^(did:sync:instance:[0-9a-f]{16}) +(https://[0-9.:]+) +(live|stale|archived|left) +[^ ]+ +[0-9]+[smhd] +[a-z]+$'

boot_fleet() {
  step "boot: the coordinator, a token minted on it, two workers pointing at it"
  write_config coordinator
  serve coordinator || die "the coordinator did not start"
  DID[coordinator]=$(spl_in coordinator status -o json | json 'v.instance_did')
  TOKEN=$(spl_in coordinator token create --name fleet-drill 2>/dev/null)
  check_match "spl token create --name fleet-drill on the coordinator prints the token" "$TOKEN" '^[A-Za-z0-9_-]{20,}$'
  local m
  for m in worker-a worker-b; do
    write_config "$m" "$COORD_URL" "$TOKEN"
    serve "$m" || die "$m did not start"
    DID[$m]=$(spl_in "$m" status -o json | json 'v.instance_did')
  done
  check "the worker's health over HTTPS from the coordinator's namespace, verified by the CA" \
    "$(ip netns exec "${NS[coordinator]}" curl -sS --cacert "$WORK/pki/ca.pem" "https://${ADDR[worker-a]}:$PORT/health" | json 'v.status+" "+v.instance_did')" "ok ${DID[worker-a]}"
  check "without the CA the certificate is refused" \
    "$(ip netns exec "${NS[coordinator]}" curl -sS "https://${ADDR[worker-a]}:$PORT/health" 2>&1 >/dev/null | grep -c 'certificate' || true)" 1
  check "a request without a token is refused over TCP (auth on)" \
    "$(ip netns exec "${NS[coordinator]}" curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/pki/ca.pem" "https://${ADDR[worker-a]}:$PORT/v1/instance")" 401
}

verify_convergence() {
  step "convergence: 3 live"
  local t0 list
  t0=$(now_ms)
  for m in worker-a worker-b; do check "$m is live on the coordinator" "$(wait_status coordinator "${DID[$m]}" live 15)" live; done
  note "converged $(($(now_ms) - t0)) ms after the last worker started"
  list=$(spl_in coordinator fleet list)
  printf '%s\n' "$list" | sed 's/^/        | /'
  check "fleet list header" "$(head -n 1 <<<"$list" | tr -s ' ')" "DID ENDPOINT STATUS VERSION UPTIME HEALTH"
  for m in "${MEMBERS[@]}"; do
    check "fleet list: $m" "$(grep "^${DID[$m]} " <<<"$list" | tr -s ' ' | cut -d' ' -f2,3,6)" "https://${ADDR[$m]}:$PORT live healthy"
  done
  check "fleet list: every row well-formed" "$(sed 1,1d <<<"$list" | sed '$d' | grep -Evc "$LIST_LINE" || true)" 0
  check "fleet list footer" "$(tail -n 1 <<<"$list")" "3 live · 0 stale · 0 archived"
}

verify_inspection() {
  step "fleet status, show, ping (over HTTPS, verified with [fleet] ca_file)"
  local status show ping m
  status=$(spl_in coordinator fleet status)
  printf '%s\n' "$status" | sed 's/^/        | /'
  check "fleet status" "$status" "$(printf 'Fleet status\nCoordinator URL: %s\nHeartbeat: every %ss\nInstances: 3 live · 0 stale · 0 archived\nActive freezes: (none)\nEmergency stop: inactive' "$COORD_URL" "$INTERVAL")"
  show=$(spl_in coordinator fleet show "${DID[worker-a]}")
  printf '%s\n' "$show" | sed 's/^/        | /'
  check_match "fleet show worker-a" "$show" "^Instance: ${DID[worker-a]}
Endpoint: https://${ADDR[worker-a]}:$PORT
Status: live
Version: [^ ]+
Uptime: [0-9]+s
Health: healthy
Active dispatches: 0
Store records: [0-9]+
Last heartbeat: [0-9]{10} \\(unix\\)$"
  for m in worker-a worker-b; do
    ping=$(spl_in coordinator fleet ping "${DID[$m]}") || true
    check_match "fleet ping $m: $ping" "$ping" "^✓ ${DID[$m]} reachable in [0-9]+ms \\(200 OK\\)$"
  done
}

verify_silence() {
  step "SIGKILL worker-b: live 2 s later, stale after 3 intervals (not before), archived after 12"
  local pid timeline
  pid=$(pid_of worker-b)
  # fleet-timeline.mjs kills it (by this PID) right after a beat arrived, then samples the coordinator every 100 ms.
  timeline=$(ip netns exec "${NS[coordinator]}" timeout 40 node "$ROOT/drills/fleet-timeline.mjs" "$(home_of coordinator)/run/spl.sock" "${DID[worker-b]}" "$pid" 20000) || die "the timeline of worker-b's silence failed"
  check "worker-b (pid $pid) is gone" "$(kill -0 "$pid" 2>/dev/null && echo alive || echo gone)" gone
  note "$(json '"killed "+v.last_beat_before_kill+" ms after its last beat; "+v.samples.length+" samples"' <<<"$timeline")"
  check "2 s after the kill it is still live" "$(json 'v.samples.find(s=>s.t>=2000).status' <<<"$timeline")" live
  check "no sample is stale or archived before 3 intervals without a beat" "$(json 'v.samples.filter(s=>s.status!=="live"&&s.age<=3000).length' <<<"$timeline")" 0
  check "the first status after live is stale, within half a second of 3 intervals" "$(json '(s=>s&&s.status==="stale"&&s.age>3000&&s.age<=3500?"stale":JSON.stringify(s))(v.samples.find(s=>s.status!=="live"))' <<<"$timeline")" stale
  note "$(json '(s=>"first stale at +"+s.t+" ms after the kill (last beat "+s.age+" ms old)")(v.samples.find(s=>s.status==="stale"))' <<<"$timeline")"
  check "not archived before 12 intervals" "$(json 'v.samples.filter(s=>s.status==="archived"&&s.age<=12000).length' <<<"$timeline")" 0
  check "archived within half a second of 12 intervals" "$(json '(s=>s&&s.age>12000&&s.age<=12500?"archived":JSON.stringify(s))(v.samples.find(s=>s.status==="archived"))' <<<"$timeline")" archived
  note "$(json '(s=>"archived at +"+s.t+" ms after the kill (last beat "+s.age+" ms old)")(v.samples.find(s=>s.status==="archived"))' <<<"$timeline")"
  check "never left (only a graceful stop is)" "$(json 'v.samples.filter(s=>s.status==="left").length' <<<"$timeline")" 0
  check "fleet list footer" "$(spl_in coordinator fleet list | tail -n 1)" "2 live · 0 stale · 1 archived"

  step "worker-b comes back: live again"
  serve worker-b || die "worker-b did not restart"
  check "worker-b is live again" "$(wait_status coordinator "${DID[worker-b]}" live 10)" live
  check "fleet list footer" "$(spl_in coordinator fleet list | tail -n 1)" "3 live · 0 stale · 0 archived"
}

verify_graceful_stop() {
  step "graceful stop of worker-a (spl stop): left, at once"
  local out
  out=$(spl_in worker-a stop) || fail "spl stop on worker-a failed: $out"
  pass "worker-a: $out"
  check "worker-a is left" "$(member_status coordinator "${DID[worker-a]}")" left
  check "fleet list footer" "$(spl_in coordinator fleet list | tail -n 1)" "2 live · 0 stale · 0 archived · 1 left"
  local ping
  ping=$(spl_in coordinator fleet ping "${DID[worker-a]}") && fail "fleet ping of a stopped worker succeeded: $ping"
  check_match "fleet ping worker-a: $ping" "$ping" "^✗ ${DID[worker-a]} unreachable at https://${ADDR[worker-a]}:$PORT: ECONNREFUSED"
  serve worker-a || die "worker-a did not restart"
  check "worker-a, back, is live" "$(wait_status coordinator "${DID[worker-a]}" live 10)" live
  check "fleet list footer" "$(spl_in coordinator fleet list | tail -n 1)" "3 live · 0 stale · 0 archived"
}

# wait_until SECS COMMAND…: runs COMMAND every 100 ms until it succeeds; prints the milliseconds it took, or fails.
wait_until() {
  local secs=$1 t0
  shift
  t0=$(now_ms)
  while ! "$@" >/dev/null 2>&1; do
    if [ $(($(now_ms) - t0)) -gt $((secs * 1000)) ]; then echo "timeout"; return 1; fi
    sleep 0.1
  done
  echo $(($(now_ms) - t0))
}
task_status_is() { [ "$(spl_in "$1" task show "$2" -o json | json 'v.status')" == "$3" ]; }
diagnosed_pid() { [ "$(spl_in "$1" task diagnose "$2" -o json | json 'v.subprocess&&v.subprocess.pid>0?"yes":"no"')" == yes ]; }
completed() { [ "$(spl_in "$1" task diagnose "$2" -o json | json 'v.completion?"yes":"no"')" == yes ]; }
# post_code MEMBER ACT BODY: POST /v1/records over the member's socket (quick enough to time a freeze's arrival to
# the tens of milliseconds); prints the HTTP status.
post_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$(home_of "$1")/run/spl.sock" -H 'content-type: application/json' \
    -d "{\"thread\":\"th_drill_ops\",\"actor\":\"did:sync:user:drill\",\"act\":\"$2\",\"body\":$3}" http://spl/v1/records
}
intend_refused() { [ "$(post_code "$1" INTEND "{\"namespace\":\"$2\"}")" == 403 ]; }
intend_accepted() { [ "$(post_code "$1" INTEND "{\"namespace\":\"$2\"}")" == 201 ]; }
do_accepted() { [ "$(post_code "$1" DO '{"text":"drill"}')" == 201 ]; }
do_refused() { ! do_accepted "$1"; }
freeze_shown() { spl_in "$1" fleet status | grep -q 'Active freezes: drill_ns'; }

# A git repository every member sees at the same path (the namespaces share the filesystem), and on each worker
# two adapters: the test suite's stand-in for the agent CLI, one that succeeds and one that hangs until stopped.
setup_dispatch() {
  local m
  REPO="$WORK/repo"
  mkdir -p "$REPO"
  git -C "$REPO" -c init.defaultBranch=main init -q
  echo drill >"$REPO/README"
  git -C "$REPO" add README
  git -C "$REPO" -c user.name=drill -c user.email=drill@example.invalid commit -q -m first
  for m in worker-a worker-b; do
    spl_in "$m" adapter add did:sync:agent:dev --family claude --command "node $ROOT/test/fixtures/agents/fake-claude.mjs success -p --verbose --output-format stream-json" >/dev/null || fail "$m: adapter add did:sync:agent:dev"
    spl_in "$m" adapter add did:sync:agent:slow --family claude --command "node $ROOT/test/fixtures/agents/fake-claude.mjs hang -p --verbose --output-format stream-json" >/dev/null || fail "$m: adapter add did:sync:agent:slow"
  done
  spl_in "worker-a" adapter list | sed 's/^/        | /'
}

verify_remote_dispatch() {
  step "remote dispatch: a task on the coordinator runs on worker-b; its records come back"
  setup_dispatch
  local alias out took diag
  alias=$(spl_in coordinator task add "drill job" --body "Make the drill pass." --repo "$REPO" -o json | json 'v.alias')
  check_match "a task on the coordinator" "$alias" '^TASK-[0-9]+$'
  out=$(spl_in coordinator task dispatch "$alias" --on "${DID[worker-b]}" --actor did:sync:agent:dev) || fail "task dispatch --on worker-b failed: $out"
  printf '%s\n' "$out" | sed 's/^/        | /'
  check_match "spl task dispatch --on names the worker" "$(head -n 1 <<<"$out")" "^$alias dispatched to ${DID[worker-b]} \\(https://${ADDR[worker-b]}:$PORT\\): it starts with that worker's next heartbeat$"
  took=$(wait_until 30 task_status_is coordinator "$alias" review) || fail "the task did not reach review on the coordinator: $(spl_in coordinator task show "$alias" | head -n 5)"
  note "review on the coordinator ${took} ms after the dispatch"
  diag=$(spl_in coordinator task diagnose "$alias" -o json)
  check "task diagnose on the coordinator: the worker's subprocess exited 0" "$(json 'v.subprocess.exit_code' <<<"$diag")" 0
  check "task diagnose on the coordinator: the completion succeeded" "$(json 'v.completion.success' <<<"$diag")" true
  check "the run was worker-b's (its log)" "$(grep -c "remote dispatch of $alias taken from the coordinator" "$(home_of worker-b)/logs/spl.log")" 1
  check "worker-a never saw it" "$(grep -c "remote dispatch of $alias" "$(home_of worker-a)/logs/spl.log" || true)" 0
  check "the coordinator ran nothing itself" "$(grep -c 'worker [0-9]* spawned' "$(home_of coordinator)/logs/spl.log" || true)" 0
}

verify_freeze() {
  step "soft freeze set on the coordinator: worker-a refuses an INTEND in it within one interval"
  local out took err
  check "worker-a accepts an INTEND in drill_ns before" "$(intend_accepted worker-a drill_ns && echo accepted)" accepted
  out=$(spl_in coordinator kill --namespace drill_ns --reason "fleet drill")
  check "spl kill --namespace drill_ns" "$out" "✓ soft freeze of 'drill_ns' recorded (INTEND, DO and CALL refused)"
  took=$(wait_until 10 intend_refused worker-a drill_ns) || fail "worker-a still accepts INTEND in drill_ns"
  note "refused on worker-a ${took} ms after the freeze was recorded (heartbeat interval ${INTERVAL}s)"
  check "within one interval (plus 300 ms for the round trip and the polling)" "$([ "$took" -le $((INTERVAL * 1000 + 300)) ] && echo yes || echo "no: $took ms")" yes
  err=$(spl_in worker-a intend "drill" --body '{"namespace":"drill_ns"}' 2>&1 >/dev/null || true)
  check_match "worker-a's refusal names the freeze and the fix" "$err" "namespace 'drill_ns' is frozen \\(soft: no INTEND, DO or CALL\\): fleet drill; set by .* on the coordinator"
  check "a KNOW in drill_ns still passes on worker-a" "$(spl_in worker-a know "status" --thread th_drill_ns >/dev/null 2>&1 && echo accepted)" accepted
  check "another namespace is not frozen" "$(intend_accepted worker-a other_ns && echo accepted)" accepted
  # worker-b's beats run on their own phase: it too has the freeze within one interval of it being recorded.
  took=$(wait_until 10 freeze_shown worker-b) || true
  check "worker-b's fleet status shows it" "$(spl_in worker-b fleet status | grep 'Active freezes')" "Active freezes: drill_ns (soft, from the coordinator)"
  check "fleet_frozen_namespaces() on worker-b" "$(spl_in worker-b expr eval 'fleet_frozen_namespaces()' -o json | json 'JSON.stringify(v.value)')" '["drill_ns"]'
  check "spl unkill on the coordinator" "$(spl_in coordinator unkill --namespace drill_ns)" "✓ freeze of 'drill_ns' lifted"
  took=$(wait_until 10 intend_accepted worker-a drill_ns) || fail "worker-a still refuses INTEND in drill_ns after unkill"
  note "accepted again on worker-a ${took} ms after the unkill"
}

verify_emergency() {
  step "emergency stop on the coordinator: worker-b's running agent is stopped, writes are refused fleet-wide"
  local alias out diag err took
  alias=$(spl_in coordinator task add "endless job" --body "Run until stopped." --repo "$REPO" -o json | json 'v.alias')
  spl_in coordinator task dispatch "$alias" --on "${DID[worker-b]}" --actor did:sync:agent:slow >/dev/null || fail "dispatch of $alias to worker-b failed"
  took=$(wait_until 30 diagnosed_pid coordinator "$alias") || fail "the agent for $alias never started on worker-b"
  note "the agent runs on worker-b (the coordinator has its spawn record ${took} ms after the dispatch)"
  out=$(spl_in coordinator kill --emergency --reason "fleet drill")
  check_match "spl kill --emergency" "$out" '^✓ emergency stop recorded \(fleet drill\)'
  took=$(wait_until 15 completed coordinator "$alias") || fail "the stopped run's completion never reached the coordinator"
  diag=$(spl_in coordinator task diagnose "$alias" -o json)
  check "the run was interrupted, its exit recorded and sent back" "$(json 'v.completion.failure_reason' <<<"$diag")" interrupted
  check "the agent's exit is recorded (a signal, no exit code)" "$(json 'v.subprocess.exit_code===null&&v.subprocess.signal!==null?"signalled":JSON.stringify(v.subprocess)' <<<"$diag")" signalled
  note "interrupted and recorded on the coordinator ${took} ms after the stop"
  check "worker-b logged the stop" "$(grep -c 'EMERGENCY STOP in force' "$(home_of worker-b)/logs/spl.log")" 1
  took=$(wait_until 10 do_refused worker-a) || fail "worker-a still accepts a DO"
  note "worker-a refuses writes ${took} ms after the stop was recorded"
  err=$(spl_in worker-a do "drill" --thread th_drill_ops 2>&1 >/dev/null || true)
  check_match "a DO on worker-a is refused" "$err" "the fleet's emergency stop is active \\(fleet drill\\)"
  check "a LEARN on worker-a passes" "$(spl_in worker-a learn "noted" --thread th_drill_ops >/dev/null 2>&1 && echo accepted)" accepted
  err=$(spl_in coordinator task dispatch "$alias" --on auto 2>&1 >/dev/null || true)
  check_match "no new dispatch starts" "$err" "emergency stop is active"
  check "fleet status on the coordinator" "$(spl_in coordinator fleet status | grep 'Emergency stop')" "Emergency stop: ACTIVE (fleet drill)"
  check "spl unkill --emergency" "$(spl_in coordinator unkill --emergency)" "✓ emergency stop lifted"
  took=$(wait_until 10 do_accepted worker-a) || fail "worker-a still refuses writes after the unkill"
  note "writes accepted on worker-a again ${took} ms after the unkill"
}

replace_coordinator() {
  step "manual coordinator replacement (the runbook, step by step)"
  local pid out url="https://${ADDR[worker-a]}:$PORT" token list
  pid=$(pid_of coordinator)
  kill -KILL "$pid"
  pass "the coordinator (pid $pid) is dead: SIGKILL"
  check "the workers keep serving locally: worker-b's spl status" "$(spl_in worker-b status -o json | json 'v.instance_did')" "${DID[worker-b]}"
  note "1. pick a surviving worker to promote: worker-a"
  out=$(spl_in worker-a stop) || fail "spl stop on worker-a failed: $out"
  pass "2. stop it cleanly: $out"
  sed -i '/^coordinator_url/d' "$(home_of worker-a)/config.toml"
  check "3. coordinator_url removed from worker-a's config.toml" "$(grep -c '^coordinator_url' "$(home_of worker-a)/config.toml" || true)" 0
  serve worker-a || die "worker-a did not start as the coordinator"
  check "4. restarted: worker-a is the coordinator (fleet status)" "$(spl_in worker-a fleet status | sed -n 2p)" "Coordinator URL: $url"
  token=$(spl_in worker-a token create --name fleet-drill-b 2>/dev/null)
  sed -i "s|^coordinator_url = .*|coordinator_url = \"$url\"|; s|^token = .*|token = \"$token\"|" "$(home_of worker-b)/config.toml"
  check "5. worker-b points at the new coordinator, with a token minted there" "$(grep -E '^(coordinator_url|token) ' "$(home_of worker-b)/config.toml" | sed 's/token = .*/token = …/' | tr '\n' ' ')" "coordinator_url = \"$url\" token = … "
  out=$(spl_in worker-b stop) || fail "spl stop on worker-b failed: $out"
  serve worker-b || die "worker-b did not restart"
  check "6. worker-b is live on the new coordinator" "$(wait_status worker-a "${DID[worker-b]}" live 10)" live
  list=$(spl_in worker-a fleet list)
  printf '%s\n' "$list" | sed 's/^/        | /'
  for m in worker-a worker-b; do
    check "fleet list on the new coordinator: $m" "$(grep "^${DID[$m]} " <<<"$list" | tr -s ' ' | cut -d' ' -f2,3)" "https://${ADDR[$m]}:$PORT live"
  done
  check "fleet list footer on the new coordinator" "$(tail -n 1 <<<"$list")" "2 live · 0 stale · 0 archived"
  out=$(spl_in worker-a fleet ping "${DID[worker-b]}") || true
  check_match "the new coordinator pings worker-b: $out" "$out" "^✓ ${DID[worker-b]} reachable in [0-9]+ms \\(200 OK\\)$"
}

preflight
make_pki
make_network
boot_fleet
verify_convergence
verify_inspection
verify_silence
verify_graceful_stop
verify_remote_dispatch
verify_freeze
verify_emergency
replace_coordinator
finish
