#!/usr/bin/env bash
# Recovery drill (runbook "Backup discipline" and "Recovery from corruption or data loss"): capture the
# startup backup off-host right after it is written, wipe the volume, restore from the off-host copy with
# the runbook's own commands, and verify the record count and the rules.
source "$(dirname "$0")/lib.sh"
SPL="node $ROOT/bin/spl"
export SPL_ACTOR=did:sync:user:drill

step "serve, write records, rules and a task file"
$SPL serve --port "$PORT" >/dev/null
for i in $(seq 1 12); do $SPL intend "recovery drill record $i" >/dev/null; done
$SPL config add-rule drill-route --expression 'record.act == "INTEND"' --priority 5 >/dev/null
$SPL config add-permission-rule drill-admin --expression 'current_actor() == "did:sync:user:drill"' --priority 100 >/dev/null
$SPL task add "Recovery drill task" --alias MY-001 --domain ops --body "# MY-001" >/dev/null
$SPL task add "A second task" --body "the second brief" >/dev/null
$SPL task start MY-001 >/dev/null
TASKS=$($SPL task list --all -o json | json 'v.map(t=>[t.alias,t.status,t.title])')
HASHES=$(for a in MY-001 TASK-0001; do $SPL task show "$a" -o json | json 'v.alias+"="+v.content.sha256'; done)
RECORDS=$($SPL status -o json | json 'v.records')
RULES=$($SPL config list-rules -o json | json 'v.map(r=>[r.topic,r.name,r.priority,r.expression])')
$SPL stop >/dev/null
$SPL serve --port "$PORT" >/dev/null   # this start's backup holds everything written above
pass "$RECORDS records, $(echo "$RULES" | json 'v.length') rules; restarted so the startup backup holds them"

step "capture the backup off-host right after creation (the runbook's daily snapshot)"
DEST=$WORK/offhost/backups/syncropel
DATE=$(date +%Y%m%d-%H%M%S)
mkdir -p "$DEST"
cp ~/.local/share/syncropel/backups/*/hub.db.bak "$DEST/hub.db.$DATE.bak"
tar -czf "$DEST/syncro-data.$DATE.tar.gz" -C "$HOME" .syncro-data
check "off-host copy passes verification" "$($SPL backup verify "$DEST/hub.db.$DATE.bak" -o json | json 'v.ok+":"+v.records')" "true:$RECORDS"

step "disaster: wipe the volume (home, task data and the local backups)"
$SPL stop >/dev/null
rm -rf "$HOME/.syncro" "$HOME/.syncro-data" "$HOME/.local/share/syncropel"
check "home is gone" "$(test -e "$SYNCROPEL_HOME" && echo present || echo absent)" absent

step "restore with the runbook's commands"
mkdir -p ~/.syncro
cp "$DEST/hub.db.$DATE.bak" ~/.syncro/hub.db
tar -xzf "$DEST/syncro-data.$DATE.tar.gz" -C "$HOME"
$SPL serve --port "$PORT" >/dev/null
$SPL status
check "record count restored" "$($SPL status -o json | json 'v.records')" "$RECORDS"
check "rules rebuilt from the restored log" "$($SPL config list-rules -o json | json 'v.map(r=>[r.topic,r.name,r.priority,r.expression])')" "$RULES"
check "task content restored" "$(tail -n 1 "$HOME/.syncro-data/tasks/MY-001.md")" "# MY-001"
check "tasks rebuilt from the restored log" "$($SPL task list --all -o json | json 'v.map(t=>[t.alias,t.status,t.title])')" "$TASKS"
check "each restored content file has the sha256 its records hold" "$(for a in MY-001 TASK-0001; do $SPL task show "$a" -o json | json 'v.alias+"="+v.content.sha256+":"+v.content.state'; done)" "$(echo "$HASHES" | sed 's/$/:ok/')"
check "the alias map came back with the tarball" "$(grep -c '^"' "$HOME/.syncro-data/aliases.toml")" 2
check "spl doctor's task-content row" "$($SPL doctor -o json | json 'v.checks.find(c=>c.id==="task-content").status')" ok
check "health answers" "$(curl -fsS "http://127.0.0.1:$PORT/health" | json 'v.status')" ok
$SPL stop >/dev/null
finish "recovery drill"
