#!/usr/bin/env bash
# systemd drill (SPEC §7–§9): spl under a REAL systemd, installed as an operator would.
#
# Boots a Debian bookworm container (debootstrap + systemd-nspawn, booted with its own systemd as PID 1),
# installs the .deb built from this tree with dpkg, and drives the units with systemctl and journalctl:
#   1. systemctl start spl: active within a timeout, STATUS= with the record count and bind address
#   2. journalctl -u spl -p warning shows a PERMISSION DENIED WARN; SPL_TARGET/SPL_ACTOR/SPL_THREAD/SPL_RECORD,
#      PRIORITY and SYSLOG_IDENTIFIER=spl are journal fields
#   3. systemctl reload spl is prompt and the new [log] level takes effect (DEBUG lines come and go)
#   4. SIGSTOP of the main process: the watchdog restarts it (WatchdogSec lowered to 6s by a drop-in)
#   5. systemctl stop spl: inactive (not failed), PID file gone, WAL checkpointed
#   6. spl-backup.timer is listed once enabled; spl-backup.service writes an off-host backup that verifies
#   7. spl-healthcheck.service succeeds while spl runs and fails while it is stopped
#   8. hub.db missing: the start fails with exit 2 and StatusText says why
#   9. a dispatched worker that allocates past MemoryMax= (a drop-in) is OOM-killed: the dispatch is recorded with
#      oom_killed: true, its uncommitted work stays in the worktree, spl.service stays up, the pre-flight WARNs
#   and spl@worker1.service: a second instance with its own home (/var/lib/spl-worker1) and port (9101)
#
#   bash drills/systemd.sh            # as root, from anywhere; needs network for apt-get/debootstrap/npm
#
# Environment:
#   SPL_DRILL_DEB=FILE          use this .deb instead of building one with packaging/build-deb.sh
#   SPL_DRILL_MIRROR=URL        Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   SPL_DRILL_CACHE=DIR         where the pristine rootfs is cached (default /var/cache/spl-drills)
#   SPL_DRILL_START_TIMEOUT=S   bound on `systemctl start spl` (default 60)
#
# The pristine rootfs is cached in $SPL_DRILL_CACHE/bookworm-<hash of the package list>: debootstrap runs in
# the background while the package builds, into this run's scratch directory, which is renamed into the cache
# only when debootstrap succeeded. Every run boots a fresh copy (cp -a), removed at exit together with the
# container (SIGTERM to the systemd-nspawn this drill started: a clean poweroff). Infrastructure failures
# (apt-get, debootstrap, the build, nspawn, the boot, the package install) end the drill at once with a FAIL;
# they are never skipped. Sections that need a running spl.service count as one failure each when it is not.
set -Eeuo pipefail
umask 022

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPL_DRILL_CACHE:-/var/cache/spl-drills}
MIRROR=${SPL_DRILL_MIRROR:-http://deb.debian.org/debian}
START_TIMEOUT=${SPL_DRILL_START_TIMEOUT:-60}
SUITE=bookworm
INCLUDE=systemd,systemd-sysv,dbus,procps,git # git: the worktrees of check 9's dispatches
WATCHDOG_SECS=6
BACKUP_DEST=/srv/spl-backups
DRILL_ACTOR=did:sync:user:spl # the service user's default actor: the instance's admin (README, [identity])
INTRUDER=did:sync:user:systemd-drill-intruder

FAILED=0
FINISHED=0
ERR_AT=''
INTERRUPTED=''
WORK=''
NSPAWN_PID=''
INIT_PID=''
DEBOOTSTRAP_PID=''
ROOTFS=''
UNIT_ENV=()

# ---------------------------------------------------------------------------------------------------------
# output, as drills/lib.sh (not sourced: its throwaway HOME/SYNCROPEL_HOME are for a host instance)

step() { printf '\n== %s\n' "$*"; }
pass() { printf '  ok    %s\n' "$*"; }
TAIL_SHOWN=''
fail() { # fail MESSAGE [UNIT|-]: count it; the unit's journal tail (spl unless named, none for -), once per phase
  printf '  FAIL  %s\n' "$1"
  FAILED=$((FAILED + 1))
  if [ "${2:-spl}" != - ] && [ "$TAIL_SHOWN" != "$PHASE_NAME/${2:-spl}" ]; then
    TAIL_SHOWN="$PHASE_NAME/${2:-spl}"
    journal_tail "${2:-spl}"
  fi
}
check() { # check "description" actual expected
  if [ "$2" == "$3" ]; then pass "$1 ($2)"; else fail "$1: expected [$3], got [$2]"; fi
}
note() { printf '        %s\n' "$*"; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const f=new Function("v","return "+process.argv[1]);const r=f(v);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }
now_ms() { date +%s%3N; }

finish() {
  FINISHED=1
  print_timings
  if [ "$FAILED" -eq 0 ]; then printf '\nsystemd drill: PASS\n'; exit 0; fi
  printf '\nsystemd drill: FAIL (%d check(s) failed)\n' "$FAILED"
  exit 1
}

die() { # an infrastructure failure: the drill cannot go on
  printf '  FAIL  %s\n' "$*"
  FAILED=$((FAILED + 1))
  if [ -n "$INIT_PID" ]; then journal_tail spl; fi
  finish
}

# Phase timings: phase NAME closes the previous phase.
PHASES=()
PHASE_NAME=''
PHASE_START=0
phase() {
  local t
  t=$(now_ms)
  if [ -n "$PHASE_NAME" ]; then PHASES+=("$(printf '%7.1fs  %s' "$(((t - PHASE_START) / 100))e-1" "$PHASE_NAME")"); fi
  PHASE_NAME=$1
  PHASE_START=$t
  step "$1"
}
print_timings() {
  phase '' >/dev/null 2>&1 || true
  [ ${#PHASES[@]} -gt 0 ] || return 0
  printf '\n== timings\n'
  printf '  %s\n' "${PHASES[@]}"
}

# ---------------------------------------------------------------------------------------------------------
# the container

# ct CMD…: run in the container (all its namespaces), as root, with a clean environment.
ct() {
  nsenter -t "$INIT_PID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 SYSTEMD_PAGER='' SYSTEMD_COLORS=0 "$@"
}
# asspl CMD…: as the spl user with spl.service's own Environment= (the CLI finds the service's home).
asspl() { ct runuser -u spl -- env "${UNIT_ENV[@]}" "$@"; }

container_alive() { [ -n "$INIT_PID" ] && [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; }

journal_tail() { # journal_tail UNIT [LINES]
  container_alive || return 0
  ct journalctl --sync >/dev/null 2>&1 || true
  printf '        --- journalctl -u %s (last %s lines) ---\n' "$1" "${2:-15}"
  ct timeout 10 journalctl -u "$1" -n "${2:-15}" --no-pager -o short-precise 2>&1 | sed 's/^/        | /' || true
}

# A point in time to read the journal from. Not a cursor: journalctl 252's --after-cursor combined with matches
# (-u, -p, FIELD=) drops the first matching entry when the cursor's own entry does not match. The container
# shares the host's clock, and journald stamps an entry when it receives it, so --since @MARK is exact.
mark() { date +%s.%6N; }
journal_since() { # journal_since MARK ARGS…: MESSAGE lines since MARK
  local m=$1
  shift
  ct journalctl --sync >/dev/null 2>&1 || true
  ct timeout 10 journalctl --no-pager -o cat --since="@$m" "$@" 2>/dev/null || true
}

prop() { ct systemctl show -p "$2" --value "$1"; } # prop UNIT PROPERTY
# timed SECS VERB UNIT: systemctl VERB UNIT in the container, bounded; sets RC (124: timed out) and MS.
RC=0
MS=0
timed() {
  local t0
  RC=0
  t0=$(now_ms)
  ct timeout "$1" systemctl "$2" "$3" || RC=$?
  MS=$(($(now_ms) - t0))
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM ERR
  set +e # tear down as much as possible, whatever fails
  if [ "$FINISHED" -eq 0 ]; then
    # set -e stopped the drill on a command outside the checks: say so, loudly, after the journal tail.
    journal_tail spl || true
    if [ -n "$INTERRUPTED" ]; then
      printf '\nsystemd drill: FAIL (interrupted by %s)\n' "$INTERRUPTED"
    else
      printf '\nsystemd drill: FAIL (stopped by an unexpected error%s, exit %s)\n' "${ERR_AT:+ at line $ERR_AT}" "$rc"
    fi
    [ "$rc" -ne 0 ] || rc=1
  fi
  if [ -n "$DEBOOTSTRAP_PID" ] && kill -0 "$DEBOOTSTRAP_PID" 2>/dev/null; then
    # the background debootstrap: SIGTERM, on which it unmounts what it mounted in the target
    kill -TERM "$DEBOOTSTRAP_PID" 2>/dev/null || true
    wait "$DEBOOTSTRAP_PID" 2>/dev/null || true
  fi
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    # SIGTERM makes systemd-nspawn power the container off (SIGRTMIN+3 to its init); a second one forces it.
    kill -TERM "$NSPAWN_PID" 2>/dev/null || true
    for i in $(seq 1 60); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      echo "systemd drill: the container did not power off in 30s; sending a second SIGTERM" >&2
      kill -TERM "$NSPAWN_PID" 2>/dev/null || true
      for i in $(seq 1 20); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
    fi
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      echo "systemd drill: systemd-nspawn (pid $NSPAWN_PID) still runs; SIGKILL" >&2
      kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
    wait "$NSPAWN_PID" 2>/dev/null || true
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # nspawn's mounts live in its own mount namespace; an interrupted debootstrap may leave proc/sys mounted in
    # the target: unmount whatever is under $WORK, and --one-file-system guards against anything left behind.
    findmnt -rn -o TARGET 2>/dev/null | grep "^$WORK/" | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$WORK" || echo "systemd drill: could not remove $WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'ERR_AT=${ERR_AT:-$LINENO}' ERR
trap 'INTERRUPTED=SIGINT; exit 130' INT
trap 'INTERRUPTED=SIGTERM; exit 143' TERM

# ---------------------------------------------------------------------------------------------------------
phase "prerequisites"

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, systemd-nspawn and nsenter need it)"
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v nsenter >/dev/null 2>&1 || missing+=(util-linux)
if [ -z "${SPL_DRILL_DEB:-}" ]; then
  # what packaging/install.sh needs to build node-sqlite3 (and any other native module) from source
  for tool in python3 make g++; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
fi
command -v node >/dev/null 2>&1 || die "node is not installed: the container runs the host's Node.js (>= 20.17), bind-mounted"
NODE_BIN=$(readlink -f "$(command -v node)")
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)' ||
  die "the host's Node.js $(node --version) is too old: spl needs >= 20.17"
pass "debootstrap, systemd-nspawn, nsenter; host node $(node --version) at $NODE_BIN"
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/run.XXXXXX")

# ---------------------------------------------------------------------------------------------------------
phase "root file system: the cache, or debootstrap $SUITE ($INCLUDE) in the background"

CACHE_KEY=$(printf '%s' "$INCLUDE" | sha256sum | cut -c1-12)
PRISTINE=$CACHE/$SUITE-$CACHE_KEY
if [ -d "$PRISTINE" ]; then
  pass "cached: $PRISTINE"
else
  # Runs in the background while the package builds. Built inside this run's $WORK (removed at exit, whatever
  # happens) on the cache's file system, then renamed into place only when debootstrap succeeded.
  echo "debootstrap --variant=minbase --include=$INCLUDE $SUITE $MIRROR, in the background while the package builds"
  DEBOOTSTRAP_START=$(date +%s)
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$WORK/bootstrap" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 </dev/null &
  DEBOOTSTRAP_PID=$!
fi

# ---------------------------------------------------------------------------------------------------------
phase "package: the .deb an operator installs"

if [ -n "${SPL_DRILL_DEB:-}" ]; then
  [ -f "$SPL_DRILL_DEB" ] || die "SPL_DRILL_DEB=$SPL_DRILL_DEB is not a file"
  DEB=$(readlink -f "$SPL_DRILL_DEB")
  pass "using SPL_DRILL_DEB=$DEB (not built from this tree by this run)"
else
  echo "packaging/build-deb.sh --out $WORK/deb (npm ci and the build in a scratch copy)"
  "$ROOT/packaging/build-deb.sh" --out "$WORK/deb" >"$WORK/build-deb.log" 2>&1 || {
    tail -n 40 "$WORK/build-deb.log" | sed 's/^/        | /'
    die "packaging/build-deb.sh failed (log above)"
  }
  DEB=$(find "$WORK/deb" -maxdepth 1 -name 'spl_*.deb' | head -n 1)
  [ -n "$DEB" ] || die "packaging/build-deb.sh wrote no spl_*.deb to $WORK/deb"
  pass "built $(basename "$DEB")"
fi
DEB_DEPENDS=$(dpkg-deb -f "$DEB" Depends)
note "Depends: $DEB_DEPENDS"

# ---------------------------------------------------------------------------------------------------------
phase "root file system: wait for debootstrap, copy the pristine tree"

if [ -n "$DEBOOTSTRAP_PID" ]; then
  if wait "$DEBOOTSTRAP_PID"; then bs_rc=0; else bs_rc=$?; fi
  DEBOOTSTRAP_PID=''
  if [ "$bs_rc" -ne 0 ]; then
    tail -n 30 "$WORK/debootstrap.log" | sed 's/^/        | /'
    die "debootstrap failed (exit $bs_rc; log above)"
  fi
  note "debootstrap took $(($(stat -c %Y "$WORK/debootstrap.log") - DEBOOTSTRAP_START))s (its log's last write)"
  # Another run may have finished first: then keep theirs (ours goes with $WORK).
  if mv -T "$WORK/bootstrap" "$PRISTINE" 2>/dev/null; then pass "built and cached: $PRISTINE"; else pass "another run cached $PRISTINE first; using it"; fi
fi
[ -x "$PRISTINE/usr/lib/systemd/systemd" ] || die "$PRISTINE has no /usr/lib/systemd/systemd: a broken cache; remove it (rm -rf $PRISTINE) and rerun"

ROOTFS=$WORK/root
cp -a --reflink=auto "$PRISTINE" "$ROOTFS"
pass "fresh copy in $ROOTFS"

# ---------------------------------------------------------------------------------------------------------
phase "boot: systemd-nspawn -b (systemd as the container's PID 1)"

# --private-network: the container has its own loopback, so 127.0.0.1:9100 is never the host's port.
# node: the container's Debian nodejs is 18; the host's Node.js (same Debian release) is bind-mounted read-only.
# --keep-unit: stay in this process's cgroup when the host has no systemd to ask for a scope (this VM, many CI
# runners); on a systemd host nspawn asks it for a transient scope, as usual.
scope=(--keep-unit)
scope_note='--keep-unit'
if [ -d /run/systemd/system ]; then scope=() scope_note='in a transient scope of the host systemd'; fi
systemd-nspawn --quiet -D "$ROOTFS" -M spl-drill -b --register=no "${scope[@]}" --private-network \
  --console=read-only --bind-ro="$NODE_BIN:/usr/bin/node" </dev/null >"$WORK/console.log" 2>&1 &
NSPAWN_PID=$!
note "systemd-nspawn pid $NSPAWN_PID, $scope_note (console log $WORK/console.log)"
deadline=$(($(date +%s) + 30))
while [ -z "$INIT_PID" ]; do
  kill -0 "$NSPAWN_PID" 2>/dev/null || { sed 's/^/        | /' "$WORK/console.log" | tail -n 30; NSPAWN_PID=''; die "systemd-nspawn exited during boot (console above)"; }
  # shellcheck disable=SC2013 # the children files are space-separated pids
  for child in $(cat /proc/"$NSPAWN_PID"/task/*/children 2>/dev/null); do
    if [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ]; then INIT_PID=$child; fi
  done
  [ -n "$INIT_PID" ] && break
  [ "$(date +%s)" -lt "$deadline" ] || die "no systemd child of systemd-nspawn (pid $NSPAWN_PID) within 30s"
  sleep 0.2
done
note "container init (systemd) is host pid $INIT_PID"
# systemctl answers once PID 1 listens on its private socket; --wait then blocks until start-up finished.
state=''
deadline=$(($(date +%s) + 120))
while :; do
  state=$(ct timeout 120 systemctl is-system-running --wait 2>/dev/null) || true
  case $state in running | degraded) break ;; esac
  kill -0 "$NSPAWN_PID" 2>/dev/null || { tail -n 30 "$WORK/console.log" | sed 's/^/        | /'; die "the container stopped during boot (console above)"; }
  [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$WORK/console.log" | sed 's/^/        | /'; die "the container did not finish booting within 120s (state '$state')"; }
  sleep 0.5
done
if [ "$state" = degraded ]; then
  note "boot finished degraded; failed units (not spl's, nothing is installed yet):"
  ct systemctl --failed --no-legend --plain | sed 's/^/        | /'
fi
pass "booted: $state ($(ct systemctl --version | head -n 1))"

# ---------------------------------------------------------------------------------------------------------
phase "install: dpkg -i the package, spl init as the spl user"

cp "$DEB" "$ROOTFS/root/"
echo "dpkg -i --ignore-depends=nodejs $(basename "$DEB")"
note "the package Depends: nodejs (>= 20.17); the container's Debian nodejs is 18, so node is the host's Node.js"
note "$(node --version), bind-mounted read-only at /usr/bin/node, and dpkg is told to ignore that one dependency"
if ! ct dpkg -i --ignore-depends=nodejs "/root/$(basename "$DEB")" 2>&1 | sed 's/^/        | /'; then die "dpkg -i failed (output above)"; fi
# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
check "package installed" "$(ct dpkg-query -W -f '${Status}' spl)" "install ok installed"
check "postinst created the spl user" "$(ct id -un spl 2>&1)" spl
check "postinst created /var/lib/spl and /var/lib/spl-data (spl, 0700)" "$(ct stat -c '%U:%G %a' /var/lib/spl /var/lib/spl-data | sort -u | tr '\n' ' ' | sed 's/ $//')" "spl:spl 700"
check "/usr/bin/node in the container is the host's" "$(ct node --version)" "$(node --version)"

# The CLI runs with spl.service's own environment, read from the unit (not copied from its comments).
read -r -a UNIT_ENV <<<"$(prop spl.service Environment)"
note "spl.service Environment=${UNIT_ENV[*]}"
case " ${UNIT_ENV[*]} " in *" SYNCROPEL_HOME=/var/lib/spl "*) ;; *) die "spl.service does not set SYNCROPEL_HOME=/var/lib/spl (Environment=${UNIT_ENV[*]})" ;; esac
# The documented preparation (packaging/tmpfiles.d/spl.conf, units/spl@.service). `spl serve` under the unit
# would create the same home itself on a first start (ensureHome, default config.toml, key and store).
if ! asspl spl init 2>&1 | sed 's/^/        | /'; then die "spl init as the spl user failed (output above)"; fi
check "spl init wrote config.toml (spl, 0600)" "$(ct stat -c '%U %a' /var/lib/spl/config.toml)" "spl 600"

# Drill-only drop-in: the watchdog at 6s instead of 30s, so a hung main process is restarted within seconds.
mkdir -p "$ROOTFS/etc/systemd/system/spl.service.d"
printf '# systemd drill (drills/systemd.sh): a faster watchdog for check 4\n[Service]\nWatchdogSec=%ss\n' "$WATCHDOG_SECS" \
  >"$ROOTFS/etc/systemd/system/spl.service.d/50-drill-watchdog.conf"
ct systemctl daemon-reload
case $(prop spl DropInPaths) in
  *50-drill-watchdog.conf*) pass "drill drop-in spl.service.d/50-drill-watchdog.conf: WatchdogSec=${WATCHDOG_SECS}s instead of the unit's 30s" ;;
  *) die "systemd did not load the drill's drop-in (DropInPaths=$(prop spl DropInPaths))" ;;
esac

# ---------------------------------------------------------------------------------------------------------
# The checks. The sections that need a serving instance (requires_spl) are not run when spl.service is not
# active: each then counts as one failure naming the state, instead of a cascade of timeouts.

spl_state() { echo "$(prop spl ActiveState)/$(prop spl SubState)"; }
requires_spl() {
  [ "$(prop spl ActiveState)" = active ] && return 0
  fail "not run: this needs spl.service active, and it is $(spl_state) (see check 1 and its journal)" -
  return 1
}
records_now() { # the instance's record count, or "not answering"
  local out
  if out=$(asspl spl status -o json 2>/dev/null); then printf '%s' "$out" | json 'v.records'; else echo 'not answering'; fi
}

# toml_set FILE SECTION KEY VALUE: KEY = VALUE (a TOML literal) in [SECTION], replacing an uncommented KEY
# there or adding it after the header; a missing section is appended. The file keeps its owner and mode.
toml_set() {
  local file=$1 section=$2 key=$3 value=$4 tmp
  tmp=$(mktemp)
  awk -v sec="[$section]" -v key="$key" -v line="$key = $value" '
    function header(s) { return s ~ /^[ \t]*\[[^]]*\][ \t]*(#.*)?$/ }
    { raw = $0; t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t]*(#.*)?$/, "", t) }
    header(raw) { if (insec && !done) { print line; done = 1 } insec = (t == sec); print raw; next }
    insec && raw ~ ("^[ \t]*" key "[ \t]*=") { if (!done) { print line; done = 1 } next }
    { print raw }
    END { if (insec && !done) { print line; done = 1 } if (!done) { print ""; print sec; print line } }
  ' "$file" >"$tmp"
  cat "$tmp" >"$file"
  rm -f "$tmp"
}
CONFIG=$ROOTFS/var/lib/spl/config.toml # the container's /var/lib/spl/config.toml, seen from the host

check_start() {
  local status_text
  timed "$START_TIMEOUT" start spl
  if [ "$RC" -eq 0 ]; then
    pass "systemctl start spl returned in ${MS} ms"
  elif [ "$RC" -eq 124 ]; then
    fail "systemctl start spl did not return within ${START_TIMEOUT}s (state $(spl_state)): no READY=1 from the main process (Type=notify), so the start job waits for TimeoutStartSec"
  else
    fail "systemctl start spl failed (exit $RC, state $(spl_state), result $(prop spl Result))"
  fi
  check "spl.service is active" "$(spl_state)" "active/running"
  status_text=$(prop spl StatusText)
  if [ -n "$status_text" ]; then pass "StatusText: $status_text"; else fail "systemctl show -p StatusText spl is empty: no STATUS= from the instance"; fi
  case $status_text in
    *127.0.0.1:9100*) pass "StatusText names the bind address 127.0.0.1:9100" ;;
    *) fail "StatusText does not name the bind address 127.0.0.1:9100 (got [$status_text])" ;;
  esac
  if [ "$(prop spl ActiveState)" != active ]; then
    # A start job left pending would hold back every unit ordered After=spl.service (backup, health check).
    note "stopping spl.service so that its pending start job does not hold back the units ordered after it"
    ct timeout 150 systemctl stop spl || true
    return 0
  fi
  check "the watchdog is armed with the drill's limit" "$(prop spl WatchdogUSec)" "${WATCHDOG_SECS}s"
  check "MainPID is the instance's own pid (spl status)" "$(asspl spl status -o json 2>/dev/null | json 'v.pid' 2>/dev/null || echo 'not answering')" "$(prop spl MainPID)"
}

write_traffic() {
  local i out thread='' records status_now=''
  requires_spl || return 0
  for i in 1 2 3 4 5; do
    out=$(asspl spl intend "systemd drill intent $i" -o json 2>&1) || { fail "spl intend failed: $out"; return 0; }
    thread=$(printf '%s' "$out" | json 'v.thread')
  done
  asspl spl "do" "systemd drill step" --thread "$thread" -o json >/dev/null || fail "spl do --thread $thread failed"
  asspl spl know "systemd drill done" --thread "$thread" --fulfills -o json >/dev/null || fail "spl know --fulfills failed"
  records=$(records_now)
  check "records written and counted (spl status)" "$records" 7
  # STATUS= is refreshed while serving: it should come to show the new count.
  for i in $(seq 1 30); do
    status_now=$(prop spl StatusText)
    case $status_now in *"$records records"*) break ;; esac
    sleep 0.5
  done
  case $status_now in
    *"$records records"*) pass "StatusText follows the record count: $status_now" ;;
    *) fail "StatusText does not show '$records records' within 15s (got [$status_now])" ;;
  esac
}

check_journal() {
  local since out warnings ready_lines
  requires_spl || return 0
  since=$(mark)
  # Provoke the WARN the runbook promises: permissions on, a write by an actor no rule allows, permissions off.
  asspl spl config add-permission-rule drill-admin --expression "current_actor() == \"$DRILL_ACTOR\"" --priority 1000 >/dev/null ||
    fail "spl config add-permission-rule failed"
  asspl spl config permissions-enable >/dev/null || fail "spl config permissions-enable failed"
  if out=$(asspl env SPL_ACTOR="$INTRUDER" spl intend "an intruder's record" 2>&1); then
    fail "a write by $INTRUDER was accepted with permissions enabled: $out"
  else
    pass "a write by $INTRUDER is denied: $(printf '%s' "$out" | head -n 1)"
  fi
  asspl spl config permissions-disable >/dev/null || fail "spl config permissions-disable failed"

  warnings=$(journal_since "$since" -u spl -p warning)
  if grep -q 'PERMISSION DENIED' <<<"$warnings"; then
    pass "journalctl -u spl -p warning: $(grep -m1 'PERMISSION DENIED' <<<"$warnings" | cut -c1-150)"
  else
    fail "journalctl -u spl -p warning has no PERMISSION DENIED line (the WARN is not logged with PRIORITY=4; got $(grep -c . <<<"$warnings" || true) line(s))"
  fi
  check "INFO lines ('instance ready') stay out of -p warning" "$(ct journalctl --no-pager -o cat -u spl -p warning | grep -c 'instance ready' || true)" 0
  check "the denial has PRIORITY=4" "$(journal_since "$since" -u spl -o json | grep 'PERMISSION DENIED' | head -n 1 | json 'v.PRIORITY' 2>/dev/null || echo none)" 4
  check "SYSLOG_IDENTIFIER=spl" "$(journal_since "$since" -u spl SYSLOG_IDENTIFIER=spl | grep -c 'PERMISSION DENIED' || true)" 1
  check "journalctl -u spl SPL_TARGET=syncropel_http::permissions (the denial)" \
    "$(journal_since "$since" -u spl SPL_TARGET=syncropel_http::permissions -p warning | grep -c 'PERMISSION DENIED' || true)" 1
  check "journalctl -u spl SPL_ACTOR=$INTRUDER (the denial)" \
    "$(journal_since "$since" -u spl SPL_ACTOR="$INTRUDER" | grep -c 'PERMISSION DENIED' || true)" 1
  ready_lines=$(ct journalctl --no-pager -o cat -u spl SPL_TARGET=syncropel_instance 2>/dev/null | grep -c 'instance ready' || true)
  if [ "$ready_lines" -ge 1 ]; then pass "journalctl -u spl SPL_TARGET=syncropel_instance has the start-up line 'instance ready'"; else fail "journalctl -u spl SPL_TARGET=syncropel_instance returns no 'instance ready' line"; fi
  if ct journalctl -u spl --no-pager -o cat -n 200 | grep -q '^{"level"'; then
    fail "JSON log lines reach the journal as plain stdout text (the native protocol should carry MESSAGE and fields instead)"
  else
    pass "no raw JSON lines in the journal"
  fi
}

reload_to() { # reload_to LEVEL: [log] level in config.toml, systemctl reload spl, and how long that took
  toml_set "$CONFIG" log level "\"$1\""
  timed 30 reload spl
  if [ "$RC" -eq 0 ] && [ "$MS" -lt 10000 ]; then
    pass "systemctl reload spl (level $1) returned in ${MS} ms"
  elif [ "$RC" -eq 124 ]; then
    fail "systemctl reload spl (level $1) did not return within 30s"
  elif [ "$RC" -ne 0 ]; then
    fail "systemctl reload spl (level $1) failed (exit $RC)"
  else
    fail "systemctl reload spl (level $1) took ${MS} ms (limit 10000)"
  fi
  check "spl.service is active after the reload" "$(spl_state)" active/running
}
probe() { # probe LABEL: write one record, print "id thread"
  asspl spl intend "systemd drill probe $1" -o json | json 'v.id+" "+v.thread'
}

check_reload() {
  local since probe_id probe_thread debug_lines
  requires_spl || return 0
  since=$(mark)
  reload_to debug
  read -r probe_id probe_thread <<<"$(probe debug || echo '- -')"
  debug_lines=$(journal_since "$since" -u spl | grep -c 'record appended' || true)
  if [ "$debug_lines" -ge 1 ]; then pass "after the reload to debug, DEBUG 'record appended' is logged ($debug_lines line(s))"; else fail "no DEBUG 'record appended' line after the reload to debug and a write"; fi
  check "the DEBUG line has PRIORITY=7 (journalctl -p debug..debug)" "$(journal_since "$since" -u spl -p debug..debug | grep -c 'record appended' || true)" 1
  check "journalctl -u spl SPL_RECORD=<the probe's id>" "$(journal_since "$since" -u spl SPL_RECORD="$probe_id" | grep -c 'record appended' || true)" 1
  check "journalctl -u spl SPL_THREAD=<the probe's thread>" "$(journal_since "$since" -u spl SPL_THREAD="$probe_thread" | grep -c 'record appended' || true)" 1
  check "journalctl -u spl SPL_ACTOR=$DRILL_ACTOR finds the probe" "$(journal_since "$since" -u spl SPL_ACTOR="$DRILL_ACTOR" | grep -c 'record appended' || true)" 1
  if journal_since "$since" -u spl | grep -q 'configuration re-read'; then pass "the instance logged 'SIGHUP: configuration re-read'"; else fail "no 'configuration re-read' line after systemctl reload spl"; fi

  since=$(mark)
  reload_to info
  probe info >/dev/null || true
  check "after the reload back to info, no DEBUG lines" "$(journal_since "$since" -u spl | grep -c 'record appended' || true)" 0

  # A broken config.toml: the reload must fail (not report success for settings it never applied), and the
  # instance keeps serving with the settings it has.
  local saved
  saved=$(cat "$CONFIG")
  printf '%s\n[log\nlevel = \n' "$saved" >"$CONFIG"
  timed 30 reload spl >/dev/null 2>&1
  printf '%s\n' "$saved" >"$CONFIG"
  if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then pass "systemctl reload spl with a broken config.toml fails (exit $RC)"; else fail "systemctl reload spl with a broken config.toml: exit $RC (expected a failure)"; fi
  check "spl.service still active after the failed reload" "$(spl_state)" active/running
  local n
  n=$(records_now)
  case $n in '' | *[!0-9]*) fail "spl status after the failed reload: $n" ;; *) pass "and still serving: spl status answers ($n records)" ;; esac
}

check_healthcheck_up() {
  requires_spl || return 0
  if ct timeout 90 systemctl start spl-healthcheck.service; then
    pass "systemctl start spl-healthcheck.service succeeded"
  else
    fail "systemctl start spl-healthcheck.service failed while spl runs" spl-healthcheck
  fi
  check "spl-healthcheck.service result" "$(prop spl-healthcheck.service Result)" success
}

check_backup() {
  local timers records backup_file verify
  if ! ct systemctl enable --now spl-backup.timer spl-healthcheck.timer 2>&1 | sed 's/^/        | /'; then
    fail "systemctl enable --now spl-backup.timer spl-healthcheck.timer failed" spl-backup.timer
  fi
  timers=$(ct systemctl list-timers --all --no-legend --no-pager --plain 2>&1)
  if grep -q 'spl-backup.timer' <<<"$timers"; then
    pass "systemctl list-timers lists spl-backup.timer: $(grep 'spl-backup.timer' <<<"$timers" | tr -s ' ' | cut -c1-120)"
  else
    fail "systemctl list-timers does not list spl-backup.timer" spl-backup.timer
  fi
  if grep -q 'spl-healthcheck.timer' <<<"$timers"; then pass "and spl-healthcheck.timer"; else fail "systemctl list-timers does not list spl-healthcheck.timer" spl-healthcheck.timer; fi

  # As units/spl-backup.service says: a destination owned by spl, made writable by a drop-in, named in config.toml.
  ct install -d -o spl -g spl -m 0700 "$BACKUP_DEST"
  mkdir -p "$ROOTFS/etc/systemd/system/spl-backup.service.d"
  printf '# systemd drill: the off-host destination (units/spl-backup.service)\n[Service]\nReadWritePaths=%s\n' "$BACKUP_DEST" \
    >"$ROOTFS/etc/systemd/system/spl-backup.service.d/50-drill-dest.conf"
  ct systemctl daemon-reload
  toml_set "$CONFIG" backup dest "\"$BACKUP_DEST\""
  note "drop-in spl-backup.service.d/50-drill-dest.conf: ReadWritePaths=$BACKUP_DEST; config.toml [backup] dest = \"$BACKUP_DEST\""
  records=$(records_now) # the snapshot is consistent whether or not spl runs; with spl up, the counts must agree
  if ct timeout 120 systemctl start spl-backup.service; then
    pass "systemctl start spl-backup.service succeeded"
  else
    fail "systemctl start spl-backup.service failed" spl-backup
  fi
  backup_file=$(ct sh -c "ls -1t $BACKUP_DEST/hub.db.*.bak 2>/dev/null | head -n 1")
  if [ -z "$backup_file" ]; then
    fail "no hub.db.*.bak in $BACKUP_DEST after spl-backup.service" spl-backup
    return 0
  fi
  pass "backup written: $backup_file, $(ct sh -c "ls $BACKUP_DEST" | tr '\n' ' ')"
  verify=$(asspl spl backup verify "$backup_file" -o json 2>&1) || true
  check "spl backup verify (as spl): ok, checksum" "$(printf '%s' "$verify" | json 'v.ok+" "+v.checksum' 2>/dev/null || echo "$verify")" "true match"
  if [ "$records" != 'not answering' ]; then
    check "the backup holds the instance's $records records" "$(printf '%s' "$verify" | json 'v.records' 2>/dev/null || echo '?')" "$records"
  fi
}

check_watchdog() {
  local old_pid old_restarts records since t0 new_pid
  requires_spl || return 0
  old_pid=$(prop spl MainPID)
  old_restarts=$(prop spl NRestarts)
  check "no restarts so far: WATCHDOG=1 pings keep spl alive under WatchdogSec=${WATCHDOG_SECS}s" "$old_restarts" 0
  records=$(records_now)
  since=$(mark)
  if ! ct systemctl kill --kill-who=main -s SIGSTOP spl; then
    fail "systemctl kill --kill-who=main -s SIGSTOP spl failed"
    return 0
  fi
  check "main process $old_pid is stopped (state T)" "$(ct ps -o stat= -p "$old_pid" | cut -c1)" T
  t0=$(now_ms)
  new_pid=$old_pid
  while :; do
    new_pid=$(prop spl MainPID)
    if [ "$(prop spl NRestarts)" -gt "$old_restarts" ] && [ "$new_pid" != 0 ] && [ "$new_pid" != "$old_pid" ] && [ "$(prop spl ActiveState)" = active ]; then break; fi
    [ $(($(now_ms) - t0)) -lt $(((WATCHDOG_SECS + 30) * 1000)) ] || break
    sleep 0.5
  done
  if [ "$new_pid" != "$old_pid" ] && [ "$new_pid" != 0 ] && [ "$(prop spl ActiveState)" = active ]; then
    pass "restarted after $(($(now_ms) - t0)) ms: MainPID $old_pid → $new_pid, NRestarts $old_restarts → $(prop spl NRestarts)"
  else
    fail "no restart within $((WATCHDOG_SECS + 30))s of SIGSTOP: MainPID $new_pid, NRestarts $(prop spl NRestarts), $(spl_state)"
  fi
  if journal_since "$since" -u spl | grep -qi 'watchdog timeout'; then
    pass "journal: $(journal_since "$since" -u spl | grep -i -m1 'watchdog timeout')"
  else
    fail "the journal has no 'Watchdog timeout' line for spl.service"
  fi
  check "records intact after the watchdog restart" "$(records_now)" "$records"
  # An operator who runs spl doctor afterwards is told that systemd had to restart the instance.
  local doc
  doc=$(asspl spl doctor --json 2>/dev/null || true)
  check "spl doctor's systemd check is a warn after the restart" "$(printf '%s' "$doc" | json 'v.checks.find((c) => c.id === "systemd").status' 2>/dev/null || echo 'no report')" warn
  case $(printf '%s' "$doc" | json 'v.checks.find((c) => c.id === "systemd").summary' 2>/dev/null) in
    *"restarted it 1 time"*) pass "and says systemd restarted it once" ;;
    *) fail "spl doctor's systemd summary does not mention the restart: $(printf '%s' "$doc" | head -c 600)" - ;;
  esac
  if journal_since "$since" -u spl -p warning | grep -q 'stale PID file'; then
    pass "the new instance replaced the killed one's PID file with a WARN (-p warning)"
  else
    note "no 'stale PID file' WARN after the restart (informational)"
  fi
}

# spl@NAME.service: a second instance beside spl.service, prepared as units/spl@.service documents it.
check_template() {
  local name=worker1 home=/var/lib/spl-worker1 st env
  requires_spl || return 0
  env=(SYNCROPEL_HOME=$home HOME=$home XDG_DATA_HOME=$home/share)
  ct install -d -o spl -g spl -m 0700 "$home" "$home-data"
  if ! ct runuser -u spl -- env "${env[@]}" spl init >/dev/null 2>&1; then fail "spl init for $home failed" "spl@$name"; return 0; fi
  toml_set "$ROOTFS$home/config.toml" server port 9101
  timed "$START_TIMEOUT" start "spl@$name.service"
  if [ "$RC" -eq 0 ]; then pass "systemctl start spl@$name returned in ${MS} ms"; else fail "systemctl start spl@$name failed (exit $RC)" "spl@$name"; fi
  check "spl@$name.service is active" "$(prop "spl@$name" ActiveState)/$(prop "spl@$name" SubState)" active/running
  st=$(prop "spl@$name" StatusText)
  case $st in *127.0.0.1:9101*"$home/run/spl.sock"*) pass "its StatusText: $st" ;; *) fail "spl@$name StatusText does not name 127.0.0.1:9101 and $home/run/spl.sock (got [$st])" "spl@$name" ;; esac
  check "spl.service is still active beside it" "$(spl_state)" active/running
  check "its own home answers (spl status, 0 records)" "$(ct runuser -u spl -- env "${env[@]}" spl status -o json 2>/dev/null | json 'v.records' 2>/dev/null || echo 'not answering')" 0
  check "journalctl -u spl@$name has its start-up line" "$(ct journalctl -u "spl@$name" -o cat --no-pager 2>/dev/null | grep -c 'instance ready' || true)" 1
  timed 150 stop "spl@$name.service"
  check "systemctl stop spl@$name: inactive, not failed" "$RC $(prop "spl@$name" ActiveState)/$(prop "spl@$name" Result)" "0 inactive/success"
}

# Check 9: a dispatched worker that allocates past the unit's MemoryMax= is the OOM killer's; the service is not.
MEMORY_MAX=300M # the instance itself stays near 100 MB; the pre-flight then reads < 0.3 GiB: the critical band
MEMORY_MAX_BYTES=314572800
MEMORY_DROPIN=$ROOTFS/etc/systemd/system/spl.service.d/60-drill-memory.conf
FAKE_AGENT=/usr/local/lib/spl-drill/fake-claude.mjs # test/fixtures/agents/fake-claude.mjs (the .deb has no fixtures)
DISPATCH_REPO=/var/lib/spl/drill-repo               # under the state directory: writable under ProtectSystem=strict
DISPATCH_ADAPTER=did:sync:agent:systemd-drill-oom
OOM_WAIT_SECS=45

# memory_controller: makes MemoryMax= enforceable for the container's units, and says which cgroup layout it found.
# cgroup v2 (unified): nothing to do. cgroup v1 (legacy or hybrid): systemd-nspawn mounts the v1 memory hierarchy
# read-only in the container, and the container's systemd, which probes once at start-up whether it can write
# there, then gives no unit a memory cgroup: MemoryMax= is silently ignored. A read-write bind remount of that one
# mount (in the container's mount namespace only) and a re-exec of systemd (daemon-reload does not probe again) fix it.
memory_controller() {
  local layout=legacy opts
  if [ "$(ct stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo "cgroup v2 (unified): MemoryMax= applies as it is"; return 0; fi
  if [ "$(ct stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then layout=hybrid; fi
  if ! opts=$(ct findmnt -n -o OPTIONS /sys/fs/cgroup/memory); then echo "cgroup v1 ($layout) with no memory hierarchy mounted at /sys/fs/cgroup/memory"; return 1; fi
  case ,$opts, in
    *,ro,*)
      ct mount -o remount,bind,rw /sys/fs/cgroup/memory || { echo "cgroup v1 ($layout): mount -o remount,bind,rw /sys/fs/cgroup/memory failed"; return 1; }
      ct timeout 60 systemctl daemon-reexec || { echo "cgroup v1 ($layout): systemctl daemon-reexec failed after the remount"; return 1; }
      echo "cgroup v1 ($layout): /sys/fs/cgroup/memory was read-only in the container; remounted read-write, then systemctl daemon-reexec"
      ;;
    *) echo "cgroup v1 ($layout): /sys/fs/cgroup/memory is writable in the container" ;;
  esac
}

# spl_memcg FILE…: the first of these files that exists in spl.service's memory cgroup (v1: the memory controller's
# hierarchy; v2: the unified one), read by root in the container. Fails when the unit has no memory cgroup of its own.
spl_memcg() {
  local cg v1 v2 f
  cg=$(ct cat "/proc/$(prop spl MainPID)/cgroup" 2>/dev/null) || return 1
  v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' <<<"$cg")
  v2=$(awk -F: '$1 == 0 && $2 == "" {print $3; exit}' <<<"$cg")
  for f in "$@"; do
    if [ -n "$v1" ] && [ "$v1" != / ]; then ct cat "/sys/fs/cgroup/memory$v1/$f" 2>/dev/null && return 0; fi
    if [ -z "$v1" ] && [ -n "$v2" ] && [ "$v2" != / ]; then ct cat "/sys/fs/cgroup$v2/$f" 2>/dev/null && return 0; fi
  done
  return 1
}
oom_kill_count() { spl_memcg memory.events memory.oom_control | awk '$1 == "oom_kill" {print $2; exit}'; }

check_dispatch_oom() {
  local how limit
  requires_spl || return 0
  if ! how=$(memory_controller); then
    fail "the memory controller cannot be made to work in the container, so MemoryMax= would not be enforced: $how" -
    return 0
  fi
  note "$how"
  printf '# systemd drill (drills/systemd.sh): a memory ceiling for check 9\n[Service]\nMemoryMax=%s\n' "$MEMORY_MAX" >"$MEMORY_DROPIN"
  ct systemctl daemon-reload
  timed 150 restart spl
  if [ "$RC" -eq 0 ]; then pass "systemctl restart spl with MemoryMax=$MEMORY_MAX returned in ${MS} ms"; else fail "systemctl restart spl with MemoryMax=$MEMORY_MAX failed (exit $RC)"; fi
  case $(prop spl DropInPaths) in
    *60-drill-memory.conf*) pass "drill drop-in spl.service.d/60-drill-memory.conf is loaded: MemoryMax=$(prop spl MemoryMax)" ;;
    *) fail "systemd did not load spl.service.d/60-drill-memory.conf (DropInPaths=$(prop spl DropInPaths))" ;;
  esac
  limit=$(spl_memcg memory.max memory.limit_in_bytes | tr -d '[:space:]' || true)
  if [ "$limit" = "$MEMORY_MAX_BYTES" ]; then
    pass "the kernel enforces it: spl.service's memory cgroup limit is $limit bytes (MemoryCurrent=$(prop spl MemoryCurrent))"
    if [ "$(prop spl ActiveState)" = active ]; then dispatch_oom; else fail "spl.service is $(spl_state) after the restart with MemoryMax=$MEMORY_MAX"; fi
  else
    fail "MemoryMax=$MEMORY_MAX is not enforced: spl.service's memory cgroup limit reads [${limit:-no memory cgroup of its own}], not $MEMORY_MAX_BYTES; no worker is dispatched to allocate past it"
  fi

  # Back to the unit as the later checks expect it: no memory ceiling, a fresh instance.
  rm -f "$MEMORY_DROPIN"
  ct systemctl daemon-reload
  timed 150 restart spl
  if [ "$RC" -eq 0 ]; then pass "drop-in removed; systemctl restart spl returned in ${MS} ms"; else fail "systemctl restart spl without the drop-in failed (exit $RC)"; fi
  check "spl.service is active without the memory ceiling" "$(spl_state) $(prop spl MemoryMax)" "active/running infinity"
}

# The dispatches themselves, under MemoryMax=: one queued by the critical band and taken out, one forced that the
# OOM killer ends.
dispatch_oom() {
  local out reply queued forced pid main_pid restarts oom_before oom_after since t0 state diag warn
  if ! install -D -m 0755 "$ROOT/test/fixtures/agents/fake-claude.mjs" "$ROOTFS$FAKE_AGENT"; then
    fail "could not copy test/fixtures/agents/fake-claude.mjs into the container ($FAKE_AGENT)" -
    return 0
  fi
  # shellcheck disable=SC2016 # expanded by the container's sh
  if ! out=$(asspl sh -ec 'git init -q -b main "$1"; printf "systemd drill\n" >"$1/README"; git -C "$1" add README
      git -C "$1" -c user.name="spl drill" -c user.email=drill@localhost commit -q -m "systemd drill: first commit"' sh "$DISPATCH_REPO" 2>&1); then
    fail "a git repository for the dispatches at $DISPATCH_REPO (as spl) could not be made: $out"
    return 0
  fi
  if ! out=$(asspl spl adapter add "$DISPATCH_ADAPTER" --family exec --command "/usr/bin/node $FAKE_AGENT oom" --timeout 60 --line-timeout 30 2>&1); then
    fail "spl adapter add $DISPATCH_ADAPTER failed: $out"
    return 0
  fi
  pass "adapter $DISPATCH_ADAPTER (exec): /usr/bin/node $FAKE_AGENT oom, in repository $DISPATCH_REPO"

  # Without --force, the critical band holds the dispatch back; spl task interrupt takes it out of the queue.
  queued=$(asspl spl task add "systemd drill: a dispatch held back by the memory pre-flight" --body "Allocate memory until stopped." --repo "$DISPATCH_REPO" -o json | json 'v.alias' || true)
  since=$(mark)
  reply=$(asspl spl task dispatch "$queued" -o json 2>&1 || true)
  check "spl task dispatch $queued (no --force) is queued for memory in the critical band, figures from the cgroup" \
    "$(printf '%s' "$reply" | json 'v.state+" "+v.queued_reason+" "+v.preflight.band+" "+v.preflight.source' 2>/dev/null || echo "$reply")" "queued memory critical cgroup"
  note "its pre-flight: $(printf '%s' "$reply" | json 'v.preflight.line' 2>/dev/null || true)"
  check "spl task interrupt $queued takes the queued dispatch out" "$(asspl spl task interrupt "$queued" -o json 2>&1 | json 'v.state' 2>/dev/null || echo 'failed')" queued
  check "$queued: withdrawn, still active (nothing ran), no dispatch left" "$(asspl spl task show "$queued" -o json 2>&1 | json 'v.status+" "+v.dispatch' 2>/dev/null || echo 'not shown')" "active null"
  if [ "$(printf '%s' "$reply" | json 'v.preflight.source+" "+v.preflight.band' 2>/dev/null)" != "cgroup critical" ]; then
    # Without the cgroup's figures the instance does not know the ceiling, and a worker that allocates without end
    # is only safe where the kernel holds it: do not start one.
    fail "not dispatching with --force: the pre-flight did not read the cgroup's limit (reply: $(printf '%s' "$reply" | head -c 400))" -
    return 0
  fi

  # With --force it starts; the worker allocates past MemoryMax= and the kernel's memcg OOM killer ends it.
  main_pid=$(prop spl MainPID)
  restarts=$(prop spl NRestarts)
  oom_before=$(oom_kill_count || true)
  forced=$(asspl spl task add "systemd drill: a worker past MemoryMax=" --body "Allocate memory until stopped." --repo "$DISPATCH_REPO" -o json | json 'v.alias' || true)
  reply=$(asspl spl task dispatch "$forced" --force -o json 2>&1 || true)
  pid=$(printf '%s' "$reply" | json 'v.pid' 2>/dev/null || echo null)
  check "spl task dispatch $forced --force starts it in the critical band" \
    "$(printf '%s' "$reply" | json 'v.state+" forced="+v.forced+" "+v.preflight.band' 2>/dev/null || echo "$reply")" "running forced=true critical"
  case $pid in '' | null | *[!0-9]*) fail "the dispatch reply has no worker pid: $(printf '%s' "$reply" | head -c 400)" ;; *) pass "worker pid $pid" ;; esac
  t0=$(now_ms)
  state=''
  while :; do
    state=$(asspl spl task show "$forced" -o json 2>/dev/null | json 'v.status+" "+(v.dispatch===null?"ended":v.dispatch.state)' 2>/dev/null || echo 'not shown')
    [ "$state" != "failed ended" ] || break
    [ $(($(now_ms) - t0)) -lt $((OOM_WAIT_SECS * 1000)) ] || break
    sleep 0.5
  done
  if [ "$state" = "failed ended" ]; then
    pass "$forced failed $(($(now_ms) - t0)) ms after the dispatch"
  else
    fail "$forced did not fail within ${OOM_WAIT_SECS}s of the dispatch (status and dispatch: $state)"
    asspl spl task interrupt "$forced" >/dev/null 2>&1 || true # the restart that follows stops it in any case
  fi

  diag=$(asspl spl task diagnose "$forced" 2>&1 || true)
  check "spl task diagnose $forced: the Subprocess and Completion blocks" \
    "$(grep -E '^(exit_code|signal|oom_killed): ' <<<"$diag" | tr '\n' ' ' | sed 's/ $//')" "exit_code: None signal: Some(9) oom_killed: true"
  check "spl task diagnose $forced -o json: completion.oom_killed, subprocess.signal" \
    "$(asspl spl task diagnose "$forced" -o json 2>/dev/null | json 'v.completion.oom_killed+" "+v.subprocess.signal' 2>/dev/null || echo 'no diagnosis')" "true 9"
  oom_after=$(oom_kill_count || true)
  if [ -n "$oom_before" ] && [ -n "$oom_after" ] && [ "$oom_after" -gt "$oom_before" ]; then
    pass "the cgroup's oom_kill counter went $oom_before → $oom_after"
  else
    fail "the cgroup's oom_kill counter did not grow: [$oom_before] → [$oom_after]"
  fi
  check "spl.service stays active, same MainPID, no restart" "$(spl_state) $(prop spl MainPID) $(prop spl NRestarts)" "active/running $main_pid $restarts"

  warn="dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch avail_gb="
  check "journalctl -u spl -g 'dispatch pre-flight': the critical band's WARN, once per dispatch" \
    "$(journal_since "$since" -u spl -g 'dispatch pre-flight' | grep -cF "$warn" || true)" 2
  note "$(journal_since "$since" -u spl -g 'dispatch pre-flight' | tail -n 1)"
  check "the line ends as the runbook prints it (avail_gb=N.N, nothing after)" "$(journal_since "$since" -u spl -g 'dispatch pre-flight' | grep -F "$warn" | grep -cE 'avail_gb=[0-9]+\.[0-9]$' || true)" 2
  check "and it has PRIORITY=4 (-p warning)" "$(journal_since "$since" -u spl -p warning -g 'dispatch pre-flight' | grep -cF "$warn" || true)" 2
  check "the worker's exit is in the journal" "$(journal_since "$since" -u spl -g "dispatch of $forced failed" | grep -c 'killed by the OOM killer' || true)" 1
  check "the worker's uncommitted work is still in its worktree ($DISPATCH_REPO-$forced/partial.txt)" \
    "$(ct test -f "$DISPATCH_REPO-$forced/partial.txt" && echo present || echo absent)" present
}

check_stop() {
  local since
  if ! requires_spl; then
    ct timeout 150 systemctl stop spl >/dev/null 2>&1 || true # whatever state it is in: stopped for 7b
    return 0
  fi
  since=$(mark)
  timed 150 stop spl
  if [ "$RC" -eq 0 ]; then pass "systemctl stop spl returned in ${MS} ms"; else fail "systemctl stop spl failed or hung (exit $RC)"; fi
  check "spl.service is inactive, not failed" "$(prop spl ActiveState)/$(prop spl Result)" "inactive/success"
  check "main process exit status" "$(prop spl ExecMainStatus)" 0
  check "/var/lib/spl/run/spl.pid removed" "$(ct test -e /var/lib/spl/run/spl.pid && echo present || echo absent)" absent
  check "/var/lib/spl/run/spl.sock removed" "$(ct test -e /var/lib/spl/run/spl.sock && echo present || echo absent)" absent
  # shellcheck disable=SC2016 # expanded by the container's sh
  check "hub.db-wal absent or empty (WAL checkpointed)" "$(ct sh -c 'test -s /var/lib/spl/hub.db-wal && echo "$(stat -c %s /var/lib/spl/hub.db-wal) bytes" || echo empty')" empty
  if journal_since "$since" -u spl | grep -q 'shutdown complete'; then pass "the instance logged 'shutdown complete'"; else fail "no 'shutdown complete' line on stop"; fi
}

check_healthcheck_down() {
  if ct timeout 90 systemctl start spl-healthcheck.service 2>/dev/null; then
    fail "systemctl start spl-healthcheck.service succeeded with spl stopped" spl-healthcheck
  else
    pass "systemctl start spl-healthcheck.service fails with spl stopped"
  fi
  check "spl-healthcheck.service state" "$(prop spl-healthcheck.service ActiveState)/$(prop spl-healthcheck.service Result)" "failed/exit-code"
  check "it failed on spl status (exit 3: not running)" "$(prop spl-healthcheck.service ExecMainStatus)" 3
  ct systemctl reset-failed spl-healthcheck.service || true
}

check_missing_store() {
  local status_text
  # shellcheck disable=SC2016 # expanded by the container's sh
  ct sh -c 'cd /var/lib/spl && for f in hub.db hub.db-wal hub.db-shm; do if [ -e "$f" ]; then mv "$f" "$f.drill-aside"; fi; done'
  timed 60 start spl
  if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then pass "systemctl start spl fails with hub.db moved away (exit $RC)"; else fail "systemctl start spl with hub.db missing: exit $RC (expected a failed start)"; fi
  check "spl.service failed with exit 2 and is not restarted into the same refusal (RestartPreventExitStatus=2)" "$(prop spl ActiveState)/$(prop spl Result) $(prop spl ExecMainStatus)" "failed/exit-code 2"
  status_text=$(prop spl StatusText)
  case $status_text in
    *"is missing, but this home had data"*"best backup"*) pass "StatusText says why: $status_text" ;;
    *) fail "StatusText does not say why the start failed (got [$status_text])" ;;
  esac
  check "no empty hub.db was made in its place" "$(ct test -e /var/lib/spl/hub.db && echo present || echo absent)" absent
  # shellcheck disable=SC2016 # expanded by the container's sh
  ct sh -c 'cd /var/lib/spl && for f in hub.db hub.db-wal hub.db-shm; do if [ -e "$f.drill-aside" ]; then mv "$f.drill-aside" "$f"; fi; done'
  ct systemctl reset-failed spl || true
}

phase "1. systemctl start spl (Type=notify: READY=1, STATUS=)"
check_start
phase "write traffic: records through the CLI as the spl user"
write_traffic
phase "2. journal: priorities (-p warning) and spl's structured fields"
check_journal
phase "3. systemctl reload spl: [log] level = debug, then back to info"
check_reload
phase "7a. spl-healthcheck.service while spl runs"
check_healthcheck_up
phase "6. spl-backup.timer and an off-host backup by spl-backup.service"
check_backup
phase "spl@worker1.service: one more instance, its own home and port"
check_template
phase "9. dispatch under MemoryMax=: the OOM killer takes the worker, not the service"
check_dispatch_oom
phase "4. watchdog: SIGSTOP the main process, systemd restarts it"
check_watchdog
phase "5. systemctl stop spl: graceful"
check_stop
phase "7b. spl-healthcheck.service while spl is stopped"
check_healthcheck_down
phase "8. hub.db missing: systemctl start spl fails, Status: says why, no empty store is made"
check_missing_store

finish
