#!/usr/bin/env bash
# Crash drill: SIGKILL the instance again and again — during start-up, during concurrent ingest, during an
# off-host backup (sometimes killing the backup as well) — and after every kill prove the store passes
# integrity_check and holds every record it acknowledged. Then a clean start, backup and stop that leave nothing
# behind. The work is in crash-drill.mjs; this turns its results into the drill's checks.
#
#   bash drills/crash.sh                       # 100 kills, a fresh seed (printed)
#   CRASH_KILLS=20 bash drills/crash.sh        # fewer kills
#   CRASH_SEED=1234 bash drills/crash.sh       # replay a run's schedule of kills
source "$(dirname "$0")/lib.sh"
export WORK PORT
KILLS=${CRASH_KILLS:-100}

step "crash drill: $KILLS SIGKILLs of spl serve under ingest, then a clean start, backup and stop"
rc=0
node "$ROOT/drills/crash-drill.mjs" 2>&1 | tee "$WORK/crash-drill.out" || rc=$?

# crash-drill.mjs SIGKILLs every process it started before it exits, so a PID file still here is stale (its pid
# may even belong to someone else by now): drop it rather than let lib.sh's cleanup signal that pid. Only if the
# drill itself was killed can its instance still run; that one is ours, recognisable by its port.
if [ -f "$SYNCROPEL_HOME/run/spl.pid" ]; then
  pid=$(cat "$SYNCROPEL_HOME/run/spl.pid")
  if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "$ROOT/bin/spl serve --foreground --port $PORT "; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$SYNCROPEL_HOME/run/spl.pid"
fi

step "results"
while IFS= read -r line; do
  case "$line" in
    "result: ok: "*) pass "${line#result: ok: }" ;;
    "result: FAIL: "*) fail "${line#result: FAIL: }" ;;
  esac
done < <(grep -E '^result: (ok|FAIL): ' "$WORK/crash-drill.out" || true)

TOTALS=$(grep -E '^crash drill: [0-9]+ kills ' "$WORK/crash-drill.out" | tail -n 1 || true)
re='^crash drill: ([0-9]+) kills \(([0-9]+) during start-up, ([0-9]+) during ingest, ([0-9]+) during a backup\), ([0-9]+) records acknowledged, ([0-9]+) lost, integrity_check ok ([0-9]+)/([0-9]+)$'
if [[ $TOTALS =~ $re ]]; then
  n=${BASH_REMATCH[1]} a=${BASH_REMATCH[2]} b=${BASH_REMATCH[3]} c=${BASH_REMATCH[4]} m=${BASH_REMATCH[5]}
  check "kills" "$n" "$KILLS"
  check "kills by moment add up (start-up + ingest + backup)" "$((a + b + c))" "$n"
  if [ "$KILLS" -ge 3 ]; then
    check "kills during start-up, ingest and a backup all happened" "$([ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$c" -gt 0 ] && echo yes || echo "no ($a/$b/$c)")" yes
  fi
  check "records acknowledged" "$([ "$m" -gt 0 ] && echo some || echo none)" some
  check "acknowledged records lost" "${BASH_REMATCH[6]}" 0
  check "integrity_check ok after every kill" "${BASH_REMATCH[7]}/${BASH_REMATCH[8]}" "$n/$n"
else
  fail "no totals line from crash-drill.mjs${TOTALS:+: $TOTALS}"
fi
check "crash-drill.mjs exit status" "$rc" 0
printf '%s\n' "$TOTALS"
finish "crash drill"
