# Sourced by the ops/*/ensure-deps.sh scripts: apt_install PKG... installs Debian
# packages non-interactively (with sudo when not root), or fails with a clear message
# when apt-get is unavailable or SKIP_APT=1. Expects `say` to be defined.
apt_install() {
  if [ "${SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing $* and apt-get is not to be used here; install them by hand" >&2
    return 1
  fi
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
