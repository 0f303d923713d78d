#!/bin/sh
# spl inside the container image, installed as /usr/local/bin/spl (ahead of /usr/bin/spl on PATH). It is the
# image's entrypoint and what `docker exec <container> spl …` runs, so the instance and the CLI always run as the
# spl user even though the container starts as root:
#   - `serve` first makes the directories the runbook mounts writable by spl — the home (SYNCROPEL_HOME), its
#     -data sibling and the startup-backup directory ($HOME/.local/share/syncropel/backups) — because a host
#     directory bind-mounted there arrives owned by the host's user (or by root, when docker created it). Only the
#     directory itself is handed over, never what is inside it;
#   - then, as root, it drops to spl (setpriv) and runs the real spl with the same arguments.
set -eu
SPL_USER=${SPL_USER:-spl}
SPL_BIN=${SPL_BIN:-/usr/bin/spl}

if [ "$(id -u)" = 0 ]; then
  uid=$(id -u "$SPL_USER")
  gid=$(id -g "$SPL_USER")
  if [ "${1:-}" = serve ]; then
    home=${SYNCROPEL_HOME:-$HOME/.syncro}
    for dir in "$home" "$home-data" "${XDG_DATA_HOME:-$HOME/.local/share}/syncropel/backups"; do
      mkdir -p "$dir"
      owner=$(stat -c %u "$dir")
      if [ "$owner" != "$uid" ]; then
        echo "spl: $dir is owned by uid $owner; handing it to $SPL_USER (uid $uid) so the instance can write there" >&2
        chown "$uid:$gid" "$dir"
      fi
      chmod 0700 "$dir"
    done
  fi
  exec setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=-all -- "$SPL_BIN" "$@"
fi
exec "$SPL_BIN" "$@"
