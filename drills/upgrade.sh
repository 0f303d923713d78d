#!/usr/bin/env bash
# Upgrade drill (runbook "In-place upgrades"): build the previous release from git history and this one;
# with the old binary write 5 user records + 1 routing rule + 1 permission rule; stop, swap, start the new
# binary on the same home; verify all seven are intact and trust and rules rebuilt identically.
#   SPL_PREVIOUS_REF=<commit or tag> bash drills/upgrade.sh
source "$(dirname "$0")/lib.sh"

# The earliest commit whose CLI writes routing and permission rules; override to drill another pair.
PREV_REF=${SPL_PREVIOUS_REF:-5803dd0}

step "build the previous release ($PREV_REF) beside this one"
mkdir -p "$WORK/prev"
git -C "$ROOT" archive "$PREV_REF" | tar -x -C "$WORK/prev"
ln -s "$ROOT/node_modules" "$WORK/prev/node_modules"
(cd "$WORK/prev" && "$ROOT/node_modules/.bin/tsc" -p tsconfig.json)
(cd "$ROOT" && npm run --silent build)
OLD="node $WORK/prev/bin/spl"
NEW="node $ROOT/bin/spl"
pass "old: $($OLD version | head -n1) at $PREV_REF; new: $($NEW version | head -n1) at $(git -C "$ROOT" rev-parse --short HEAD)"

step "old release: serve and write 5 user records, 1 routing rule, 1 permission rule"
export SPL_ACTOR=did:sync:user:drill
$OLD serve --port "$PORT" >/dev/null
IDS=()
for i in 1 2 3 4 5; do IDS+=("$($OLD intend "upgrade drill record $i" -o json | json 'v.id')"); done
$OLD config add-rule drill-route --expression 'record.act == "INTEND"' --priority 5 >/dev/null
$OLD config add-permission-rule drill-admin --expression 'current_actor() == "did:sync:user:drill"' --priority 100 >/dev/null
T=$($OLD intend "review" -o json | json 'v.thread')
$OLD know "verdict" --thread "$T" --body '{"verdict":"accept","domain":"code","judged_by":"did:sync:agent:dev"}' >/dev/null
RULES_BEFORE=$($OLD config list-rules -o json | json 'v.map(r=>[r.topic,r.name,r.priority,r.expression,r.enabled])')
PERMS_BEFORE=$($OLD config list-permission-rules -o json | json 'v.map(r=>[r.name,r.priority,r.expression])')
TRUST_BEFORE=$($OLD trust -o json | json 'v.map(r=>[r.actor,r.domain,r.success,r.total,r.trust.toFixed(6)])')
RECORDS_BEFORE=$($OLD status -o json | json 'v.records')
pass "wrote ${#IDS[@]} user records, 2 rules, 1 verdict; $RECORDS_BEFORE records in the store"

step "runbook steps 1-2: snapshot first, then stop"
mkdir -p "$HOME/backups/syncropel"
$NEW backup create --dest "$HOME/backups/syncropel" >/dev/null
$OLD stop >/dev/null
check "no PID file after stop" "$(test -e "$SYNCROPEL_HOME/run/spl.pid" && echo present || echo absent)" absent

step "runbook steps 3-6: swap the binary, verify its version, restart, compare"
$NEW version
$NEW serve --port "$PORT" >/dev/null
check "record count after the upgrade" "$($NEW status -o json | json 'v.records')" "$RECORDS_BEFORE"
i=0
for id in "${IDS[@]}"; do
  i=$((i + 1))
  check "record $i (${id:0:12}) intact" "$(api GET "/v1/records/$id" | json 'v.body.text')" "upgrade drill record $i"
done
check "routing rules rebuilt" "$($NEW config list-rules -o json | json 'v.map(r=>[r.topic,r.name,r.priority,r.expression,r.enabled])')" "$RULES_BEFORE"
check "permission rule rebuilt" "$($NEW config list-permission-rules -o json | json 'v.map(r=>[r.name,r.priority,r.expression])')" "$PERMS_BEFORE"
check "trust rebuilt" "$($NEW trust -o json | json 'v.map(r=>[r.actor,r.domain,r.success,r.total,r.trust.toFixed(6)])')" "$TRUST_BEFORE"
check "store schema after the upgrade" "$($NEW version -o json | json 'v.store_schema_version')" "$($NEW version -o json | json 'v.schema_version')"
$NEW stop >/dev/null
finish "upgrade drill"
