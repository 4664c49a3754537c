#!/usr/bin/env bash
# Make this machine able to run the dev etcd (ops/etcd/etcd.ts) and haproxy
# (ops/haproxy/haproxy.ts): Debian's etcd-server, etcd-client and haproxy, installed
# with apt-get only when a binary is missing; and iptables, which the chaos harness's
# `partition` scenario uses inside a private network namespace (ops/chaos/README.md);
# and Debian's prometheus (it ships promtool), which ops/prometheus/prometheus.test.ts
# runs against a real node (the package's own service is never used).
# Idempotent: when everything is present it touches no network and returns at once.
#
# Env: SKIP_APT=1 to never call apt-get (then a missing binary is an error).
set -euo pipefail
say() { printf 'ensure-deps: %s\n' "$*"; }
# shellcheck source=../lib/apt_install.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/apt_install.sh"

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)

if [ "${#missing[@]}" -eq 0 ]; then
  say "etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p'), haproxy, iptables, prometheus $(prometheus --version 2>&1 | sed -n 's/^prometheus, version \([^ ]*\).*/\1/p') present"
  exit 0
fi
# The packages ship systemd units that may start a system-wide etcd/haproxy/prometheus
# on the default ports; the dev tools never use those, they start their own on free ports.
apt_install "${missing[@]}"
command -v etcd >/dev/null 2>&1 || { say "etcd still not found after install" >&2; exit 1; }
command -v promtool >/dev/null 2>&1 || { say "promtool still not found after installing prometheus" >&2; exit 1; }
say "installed ${missing[*]}"
