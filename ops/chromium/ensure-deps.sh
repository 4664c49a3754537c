#!/usr/bin/env bash
# Make this machine able to run the browser tests of the web chat (node/web/*.browser
# tests, driven by playwright-core, which downloads no browser) and the terminal
# client's tmux test (ops/chat/chat.test.ts): Debian's `chromium` and `tmux`, installed
# with apt-get only when missing. playwright-core is pinned in package.json to a
# release that drives this Chromium major (see ops/chromium/README.md).
# Idempotent: when everything is present it touches no network and returns at once.
#
# Env: SKIP_APT=1 to never call apt-get (then a missing binary is an error).
set -euo pipefail
say() { printf 'ensure-deps: %s\n' "$*"; }
# shellcheck source=../lib/apt_install.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt_install.sh"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)

if [ "${#missing[@]}" -eq 0 ]; then
  say "$(chromium --version 2>/dev/null | head -1), tmux $(tmux -V | sed 's/^tmux //') present"
  exit 0
fi
# Fonts come with chromium's dependencies (fonts-liberation); --no-install-recommends
# keeps the rest of a desktop out.
apt_install "${missing[@]}"
command -v chromium >/dev/null 2>&1 || { say "chromium still not found after install" >&2; exit 1; }
say "installed ${missing[*]}: $(chromium --version 2>/dev/null | head -1)"
