#!/usr/bin/env bash
# Build a Debian package of spl with dpkg-deb, from this source tree:
#
#   packaging/build-deb.sh [--out DIR]        # default DIR: packaging/out
#   sudo apt install ./packaging/out/spl_0.1.0_amd64.deb
#
# The files are what `packaging/install.sh --destdir` stages (/usr/lib/spl, /usr/bin/spl, the units in
# /usr/lib/systemd/{system,user}, sysusers.d and tmpfiles.d). The package depends on nodejs >= 20.17 (Debian
# 12's own nodejs is 18: use a Node.js 20+ repository). It is architecture-specific: node-sqlite3 and
# unix-dgram (sd_notify, journald) are native.
# Maintainer scripts:
#   postinst  creates the spl user (systemd-sysusers, else useradd) and /var/lib/spl{,-data} (systemd-tmpfiles,
#             else install -d); daemon-reload; on an upgrade, try-restart of running instances. It does not
#             enable or start anything: systemctl enable --now spl.service [spl-backup.timer spl-healthcheck.timer]
#   prerm     on remove: stops the timers, spl.service and every spl@ instance
#   postrm    daemon-reload; on purge, drops the enablement symlinks. /var/lib/spl* and the spl user stay.
# Needs dpkg-deb (package dpkg) and what install.sh needs (Node.js >= 20.17, npm, python3, make, g++).
set -euo pipefail
umask 022

die() {
  printf 'build-deb.sh: %s\n' "$*" >&2
  exit 1
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
out=$HERE/out
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is not installed (apt-get install dpkg)"
command -v node >/dev/null 2>&1 || die "node is not installed: spl needs Node.js >= 20.17"

version=$(node -p 'require(process.argv[1]).version' "$SRC/package.json")
debversion=${version/-/\~} # semver 1.2.0-rc.1 sorts before 1.2.0 only as Debian's 1.2.0~rc.1
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-spl maintainers <spl@localhost>}

stage=$(mktemp -d "${TMPDIR:-/tmp}/spl-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM
root=$stage/root

"$HERE/install.sh" --destdir "$root" --prefix /usr --no-systemctl

mkdir -p "$root/DEBIAN"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
installed_kib=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

cat >"$root/DEBIAN/control" <<EOF
Package: spl
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kib
Depends: nodejs (>= 20.17)
Recommends: systemd
Suggests: git
Section: admin
Priority: optional
Description: Syncropel instance: an append-only, content-addressed record log
 spl serve runs one instance: a SQLite store, an HTTP API on 127.0.0.1:9100
 and a unix socket for the local CLI, with trust, configuration and task
 state derived from the log. Runs as the systemd service spl.service (and
 spl@NAME.service for more instances), with daily off-host backups
 (spl-backup.timer) and health checks (spl-healthcheck.timer).
EOF

cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers spl.conf
    elif ! getent passwd spl >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/spl --no-create-home \
            --shell /usr/sbin/nologin --comment 'Syncropel instance (spl)' spl
    fi
    if command -v systemd-tmpfiles >/dev/null 2>&1; then
        systemd-tmpfiles --create spl.conf
    else
        install -d -o spl -g spl -m 0700 /var/lib/spl /var/lib/spl-data
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
        if [ -n "$2" ]; then
            # an upgrade: running instances pick up the new version (graceful stop, WAL checkpoint, start)
            systemctl try-restart spl.service 'spl@*.service' || true
        else
            echo "spl: start it with: systemctl enable --now spl.service spl-backup.timer spl-healthcheck.timer"
        fi
    fi
fi
exit 0
EOF

cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop spl-backup.timer spl-healthcheck.timer spl-backup.service spl-healthcheck.service \
        spl.service 'spl@*.service' || true
fi
exit 0
EOF

cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    # enablement symlinks from systemctl enable (kept on remove, so a reinstall comes back enabled)
    for link in /etc/systemd/system/*.wants/spl.service /etc/systemd/system/*.wants/spl@*.service \
        /etc/systemd/system/*.wants/spl-backup.timer /etc/systemd/system/*.wants/spl-healthcheck.timer; do
        if [ -L "$link" ]; then rm -f "$link"; fi
    done
    echo "spl: /var/lib/spl, /var/lib/spl-data and the spl user are kept (they hold your records); remove them by hand if you mean to"
fi
if [ "$1" = remove ] || [ "$1" = purge ]; then
    if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$out"
deb=$out/spl_${debversion}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb"
echo "== built $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
