#!/usr/bin/env bash
# Make this machine able to run the reference Centrifugo server that
# benchmarks/reference/centrifugo_fanout.ts compares Switchboard's group fan-out with
# (benchmarks/reference/centrifugo.ts starts it on loopback).
#
# Centrifugo is built from source with `go install` through the Go module proxy (the only
# network needed); the module is pinned below. GOPATH, GOMODCACHE and GOCACHE live under
# the cache dir, so nothing lands in the repo or in ~/go.
#
# Idempotent: when $CENTRIFUGO_BIN or the pinned binary exists it touches no network and
# returns at once. Prints the binary's path on the last line (centrifugo.ts finds it the
# same way: $CENTRIFUGO_BIN, else <cache>/centrifugo-v6.9.1/centrifugo).
#
# Env: CENTRIFUGO_BIN (use this binary, build nothing), SWITCHBOARD_CACHE (default
# ~/.cache/switchboard), GO (default: `go` on PATH, else /usr/local/go/bin/go).
set -euo pipefail
say() { printf 'ensure-deps: %s\n' "$*" >&2; }

# v6.9.1: the release served by the module proxy when this was written.
VERSION=v6.9.1
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
DIR="$CACHE/centrifugo-$VERSION"
BIN="$DIR/centrifugo"

if [ -n "${CENTRIFUGO_BIN:-}" ] && [ -x "$CENTRIFUGO_BIN" ]; then
  say "using \$CENTRIFUGO_BIN"
  echo "$CENTRIFUGO_BIN"
  exit 0
fi
if [ -x "$BIN" ]; then
  say "centrifugo $VERSION present: $BIN"
  echo "$BIN"
  exit 0
fi

GO="${GO:-}"
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO=go; else GO=/usr/local/go/bin/go; fi
fi
[ -x "$(command -v "$GO")" ] || { say "no Go toolchain (tried $GO); install Go or set GO=" >&2; exit 1; }

mkdir -p "$DIR"
export GOPATH="$CACHE/go"
export GOMODCACHE="$CACHE/go/pkg/mod"
export GOCACHE="$CACHE/go/build-cache"
# -mod=mod: resolve from the module's own go.mod, never a vendor dir; a clean GOFLAGS so a
# caller's flags (e.g. -buildvcs) do not change the build.
export GOFLAGS=-mod=mod
export CGO_ENABLED=0
say "building github.com/centrifugal/centrifugo/v6@$VERSION with $("$GO" version) (GOMODCACHE=$GOMODCACHE)"
say "this downloads the module graph from $("$GO" env GOPROXY) and compiles; takes a few minutes the first time"
start=$(date +%s)
# -ldflags as the release build (.goreleaser.yml): stripped, and the version stamped in
# (a plain go install reports "v0.0.0").
GOBIN="$DIR" "$GO" install -ldflags "-s -w -X github.com/centrifugal/centrifugo/v6/internal/build.Version=${VERSION#v}" \
  "github.com/centrifugal/centrifugo/v6@$VERSION"
say "go install took $(( $(date +%s) - start ))s"

[ -x "$BIN" ] || { say "go install produced no $BIN" >&2; exit 1; }
got="$("$BIN" version 2>&1 | head -n1)" || { say "$BIN version failed: $got" >&2; exit 1; }
case "$got" in *"$VERSION"*) ;; *) say "$BIN does not report $VERSION: $got" >&2; exit 1 ;; esac
say "centrifugo built: $got"
echo "$BIN"
