#!/usr/bin/env bash
# Install spl from this source tree, in one command:
#
#   sudo packaging/install.sh                 # build, install to /usr, create the spl user, daemon-reload
#   systemctl enable --now spl.service
#
#   packaging/install.sh --destdir /tmp/root --no-systemctl     # staged install for a package (build-deb.sh)
#   sudo packaging/install.sh --prefix /usr/local
#
# Needs Node.js >= 20.17 and npm; node-sqlite3 may compile from source (python3, make, g++).
# What it does:
#   1. copies the sources to a temporary build directory: npm ci, npm run build, npm prune --omit=dev, and a
#      smoke test (the CLI loads, native module included);
#   2. puts the result in $PREFIX/lib/.spl.new.* beside the target, runs it there, then swaps directories by
#      rename(2) on one file system: the old tree is renamed aside, the new one renamed to $PREFIX/lib/spl
#      (renamed back if that fails), and only then is the old one deleted. Until the swap the installed
#      version is untouched: a failed build, copy or smoke test leaves it exactly as it was;
#   3. writes the $PREFIX/bin/spl launcher, the systemd units ($PREFIX/lib/systemd/system, the user unit in
#      $PREFIX/lib/systemd/user), sysusers.d and tmpfiles.d, each to a temporary name renamed into place;
#   4. on a real install (no DESTDIR) as root: creates the spl user (systemd-sysusers, else useradd) and
#      /var/lib/spl{,-data} (systemd-tmpfiles, else install -d), then `systemctl daemon-reload` when systemd
#      runs, unless --no-systemctl. Running instances are not restarted: systemctl try-restart spl 'spl@*'.
#
# Options (or the environment variables in brackets):
#   --prefix DIR     [PREFIX]   install prefix, default /usr
#   --destdir DIR    [DESTDIR]  stage everything under DIR (for packaging); nothing on this host is touched
#   --no-systemctl              do not call systemctl (containers, chroots)
set -euo pipefail
umask 022

die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

PREFIX=${PREFIX:-/usr}
DESTDIR=${DESTDIR:-}
systemctl_calls=1
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; DESTDIR=$2; shift 2 ;;
    --destdir=*) DESTDIR=${1#--destdir=}; shift ;;
    --no-systemctl) systemctl_calls=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# The prefix is written into the launcher and the units, so keep it to plain path characters.
[[ $PREFIX =~ ^/[A-Za-z0-9._/+-]*$ ]] || die "PREFIX must be an absolute path of plain characters (got '$PREFIX')"
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || die "PREFIX must not be /"
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR=$(cd "$DESTDIR" && pwd)
fi

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -f "$SRC/package.json" ] || [ ! -d "$SRC/lib" ] || [ ! -d "$SRC/units" ]; then die "$SRC is not an spl source tree"; fi

command -v node >/dev/null 2>&1 || die "node is not installed: spl needs Node.js >= 20.17"
command -v npm >/dev/null 2>&1 || die "npm is not installed (it comes with Node.js)"
# package.json "engines": ">=20.17"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)' ||
  die "Node.js $(node --version) is too old: spl needs >= 20.17"

LIBROOT=$DESTDIR$PREFIX/lib
TARGET=$LIBROOT/spl
BINDIR=$DESTDIR$PREFIX/bin
UNITDIR=$DESTDIR$PREFIX/lib/systemd/system
USERUNITDIR=$DESTDIR$PREFIX/lib/systemd/user
SYSUSERSDIR=$DESTDIR$PREFIX/lib/sysusers.d
TMPFILESDIR=$DESTDIR$PREFIX/lib/tmpfiles.d

build=''
payload=''
cleanup() {
  if [ -n "$payload" ] && [ -d "$payload" ]; then rm -rf "$payload"; fi
  if [ -n "$build" ] && [ -d "$build" ]; then rm -rf "$build"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for dir in "$LIBROOT" "$BINDIR" "$UNITDIR" "$USERUNITDIR" "$SYSUSERSDIR" "$TMPFILESDIR"; do
  if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then die "cannot write to $dir: run as root (sudo), or set --prefix / --destdir"; fi
done

# 1. Build in a scratch copy: the source tree (and its node_modules) is left as it was.
build=$(mktemp -d "${TMPDIR:-/tmp}/spl-build.XXXXXX")
echo "== building spl in $build"
for f in package.json package-lock.json tsconfig.json README.md .npmrc binding.gyp; do
  if [ -e "$SRC/$f" ]; then cp -p "$SRC/$f" "$build/"; fi
done
# native/: the sd_notify sender for abstract NOTIFY_SOCKET names; npm ci builds it with node-gyp (binding.gyp).
# tools/: the CLI bundler that `npm run build` runs after tsc.
cp -R "$SRC/lib" "$SRC/bin" "$SRC/native" "$SRC/tools" "$build/"
(
  cd "$build"
  npm ci --no-audit --no-fund || die "npm ci failed (see above; node-sqlite3 compiles from source when no prebuilt binary can be fetched, which needs python3, make and g++)"
  npm run build
  npm prune --omit=dev --no-audit --no-fund
  # Native modules keep their built .node file; the compiler's intermediates go (about 20 MB for sqlite3).
  find node_modules -type d -path '*/build/Release/*' \( -name obj -o -name obj.target -o -name .deps \) -prune -exec rm -rf {} +
  find node_modules -type f -path '*/build/Release/*' -name '*.a' -delete
  find node_modules -depth -type d -empty -delete
)
version=$(node -p 'require(process.argv[1]).version' "$build/package.json")

# 2. Stage beside the target (same file system, so the final step is a rename), check it runs, swap it in.
payload=$(mktemp -d "$LIBROOT/.spl.new.XXXXXX")
chmod 0755 "$payload"
for f in bin dist node_modules package.json package-lock.json README.md; do
  if [ -e "$build/$f" ]; then cp -R -p "$build/$f" "$payload/"; fi
done
[ -f "$build/build/Release/abstract_dgram.node" ] || die "npm ci did not build build/Release/abstract_dgram.node (node-gyp: python3, make and g++)"
mkdir -p "$payload/build/Release"
cp -p "$build/build/Release/abstract_dgram.node" "$payload/build/Release/"
# Smoke test from where it will run: the CLI loads and creates a store (native sqlite3 included) in a scratch home.
smoke() { env -i PATH="$PATH" HOME="$build/smoke" SYNCROPEL_HOME="$build/smoke/home" node "$payload/bin/spl" "$@"; }
mkdir -p "$build/smoke"
smoke init >/dev/null || die "the staged build does not work: spl init in a scratch home failed"
got=$(smoke version | head -n 1) || die "the staged build does not work: spl version failed"
env -i PATH="$PATH" node -e 'require(process.argv[1])' "$payload/build/Release/abstract_dgram.node" || die "the staged build does not work: its native sd_notify sender does not load"
[ "$got" = "spl $version" ] || die "the staged build reports '$got', expected 'spl $version'"

if [ -e "$TARGET" ] || [ -L "$TARGET" ]; then
  old=$(mktemp -d "$LIBROOT/.spl.old.XXXXXX")
  rmdir "$old"
  mv -T "$TARGET" "$old"
  if ! mv -T "$payload" "$TARGET"; then
    mv -T "$old" "$TARGET"
    die "could not rename the new build into $TARGET; the previous version is back in place"
  fi
  payload=''
  rm -rf "$old"
else
  mv -T "$payload" "$TARGET"
  payload=''
fi
echo "== installed spl $version in $TARGET"

# 3. Everything else: write to a temporary name in the destination directory, then rename over the old file.
# The units name /usr/bin/spl and /usr/lib/spl; another PREFIX is substituted.
put() { # put MODE SRC DEST [verbatim]: atomically; the prefix substituted unless "verbatim"
  local mode=$1 src=$2 dest=$3 how=${4:-} tmp
  tmp=$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")
  if [ "$PREFIX" = /usr ] || [ "$how" = verbatim ]; then
    cat "$src" >"$tmp"
  else
    sed -e "s#/usr/bin/spl#$PREFIX/bin/spl#g" -e "s#/usr/lib/spl/#$PREFIX/lib/spl/#g" "$src" >"$tmp"
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
}

launcher=$build/launcher
# shellcheck disable=SC2016 # "$@" is for the launcher, not for this script
printf '#!/bin/sh\n# spl %s, installed by packaging/install.sh\nexec node %s/lib/spl/bin/spl "$@"\n' "$version" "$PREFIX" >"$launcher"
put 0755 "$launcher" "$BINDIR/spl" verbatim

for unit in "$SRC"/units/*.service "$SRC"/units/*.timer; do
  put 0644 "$unit" "$UNITDIR/$(basename "$unit")"
done
put 0644 "$SRC/units/user/spl.service" "$USERUNITDIR/spl.service"
# Example drop-ins (documentation, not active): /usr/lib/spl/units/examples/.
mkdir -p "$TARGET/units/examples"
for example in "$SRC"/units/examples/*.conf; do
  put 0644 "$example" "$TARGET/units/examples/$(basename "$example")"
done
put 0644 "$SRC/packaging/sysusers.d/spl.conf" "$SYSUSERSDIR/spl.conf"
put 0644 "$SRC/packaging/tmpfiles.d/spl.conf" "$TMPFILESDIR/spl.conf"
echo "== installed $BINDIR/spl, units in $UNITDIR and $USERUNITDIR/spl.service"

# 4. This host: the user and state directories, and systemd's view of the new units.
if [ -n "$DESTDIR" ]; then
  echo "== staged in $DESTDIR (DESTDIR): no user created, systemd not told"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "== not root: no spl user or /var/lib/spl created; for the user unit: systemctl --user daemon-reload"
  exit 0
fi
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers "$SYSUSERSDIR/spl.conf"
elif ! getent passwd spl >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/spl --no-create-home --shell /usr/sbin/nologin --comment 'Syncropel instance (spl)' spl
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
  systemd-tmpfiles --create "$TMPFILESDIR/spl.conf"
else
  install -d -o spl -g spl -m 0700 /var/lib/spl /var/lib/spl-data
fi
if [ "$systemctl_calls" -eq 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "== systemd reloaded. Start it:    systemctl enable --now spl.service"
  echo "   after an upgrade, restart:     systemctl try-restart spl.service 'spl@*.service'"
  echo "   backups and health checks:     systemctl enable --now spl-backup.timer spl-healthcheck.timer"
else
  echo "== systemd not reloaded (--no-systemctl, or systemd is not running on this host)"
fi
