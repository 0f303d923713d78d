# Shared helpers for the operator drills: a throwaway HOME, a free port, loud checks.
# Sourced, not run. Everything lives under $WORK; nothing touches the real ~.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/spl-drill.XXXXXX")
export HOME="$WORK/home"
export SYNCROPEL_HOME="$HOME/.syncro"
unset XDG_DATA_HOME SPL_ACTOR SPL_SERVE_URL SPL_TOKEN NOTIFY_SOCKET INVOCATION_ID || true
mkdir -p "$HOME"
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
FAILED=0

step() { printf '\n== %s\n' "$*"; }
pass() { printf '  ok    %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; FAILED=$((FAILED + 1)); }
check() { # check "description" actual expected
  if [ "$2" == "$3" ]; then pass "$1 ($2)"; else fail "$1: expected [$3], got [$2]"; fi
}
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const f=new Function("v","return "+process.argv[1]);const r=f(v);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }

# api METHOD PATH: the instance's API over its unix socket (trusted by file mode), body on stdout.
api() { node -e 'const r=require("http").request({socketPath:process.argv[1],method:process.argv[2],path:process.argv[3]},res=>{let s="";res.on("data",d=>s+=d).on("end",()=>{process.stdout.write(s);process.exit(res.statusCode<300?0:1)})});r.on("error",e=>{console.error(e.message);process.exit(1)});r.end()' "$SYNCROPEL_HOME/run/spl.sock" "$1" "$2"; }

cleanup() {
  # Stop any instance this drill started (by the PID file it wrote), then remove the scratch tree.
  if [ -f "$SYNCROPEL_HOME/run/spl.pid" ]; then kill "$(cat "$SYNCROPEL_HOME/run/spl.pid")" 2>/dev/null || true; sleep 0.5; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

finish() {
  if [ "$FAILED" -eq 0 ]; then printf '\n%s: PASS\n' "$1"; exit 0; fi
  printf '\n%s: FAIL (%d check(s) failed)\n' "$1" "$FAILED"; exit 1
}
