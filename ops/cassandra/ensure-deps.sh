#!/usr/bin/env bash
# Make this machine able to run the local Cassandra 5.0 (ops/cassandra/cassandra.ts):
#   1. Java 17 and Maven, from Debian's packages, only if missing;
#   2. the server's jars, fetched into .cache/cassandra/lib, only if not cached.
# Idempotent. When everything is present it installs nothing, touches no network and
# takes well under a second. CI calls it before the tests; so can a developer.
#
# Env: SKIP_APT=1 to never call apt-get (then missing tools are an error).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
say() { printf 'ensure-deps: %s\n' "$*"; }
# shellcheck source=../lib/apt_install.sh
. ops/lib/apt_install.sh

java_major() { # prints the major version of the java binary $1, or nothing
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' | head -n1 |
    awk '{ print ($1 == 1 ? $2 : $1) }'
}

have_java17() {
  local j
  for j in "${CASSANDRA_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" java /usr/lib/jvm/*17*/bin/java; do
    [ -n "$j" ] || continue
    command -v "$j" >/dev/null 2>&1 || [ -x "$j" ] || continue
    if [ "$(java_major "$j")" = 17 ]; then say "java 17: $(command -v "$j" || echo "$j")"; return 0; fi
  done
  return 1
}

missing=()
# The JDK (not JRE) headless package: its modules include jdk.compiler and jdk.attach,
# which Cassandra's --add-exports name, plus jcmd/jstack for looking at a stuck node.
have_java17 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)

if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
  have_java17 || { say "java 17 still not found after install" >&2; exit 1; }
fi

if [ ! -x node_modules/.bin/tsx ]; then
  say "node_modules/.bin/tsx missing: run 'npm ci' first" >&2
  exit 1
fi
node --import tsx ops/cassandra/cassandra.ts fetch
