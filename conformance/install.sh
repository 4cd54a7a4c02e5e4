#!/usr/bin/env bash
# Builds the two OCI distribution-spec conformance suites into a cache outside the repository, from the source
# archives in ../shared/vendor/oci-conformance/ (taken unchanged from opencontainers/distribution-spec with
# `git archive <commit> conformance`; the module proxy refuses the conformance module itself, but its dependencies
# resolve through it). Nothing from the archives is committed. A cached build is reused when its stamp names the
# same pinned commit and archive digest.
#
#   Ginkgo suite     af32c8c0de81 (2026-01-20), built with `go test -c`
#   redesigned suite 967efdc079b9 (2026-07-16), package main, built with `go build`
#
# Every failure (missing archive, sha256 mismatch, no Go toolchain, compile error, a dependency that cannot be
# fetched) exits non-zero: there is no fallback and nothing is skipped.
#
# Environment: BERTH_TOOLS_CACHE (default ~/.cache/berth/tools), BERTH_OCI_CONFORMANCE_SRC (default
# <checkout>/../shared/vendor/oci-conformance).
#
# stdout carries exactly two machine-readable lines (everything else, including Go's progress, goes to stderr):
#   GINKGO_SUITE=<path to conformance.test>
#   MAIN_SUITE=<path to conformance>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}"
SRC="${BERTH_OCI_CONFORMANCE_SRC:-$ROOT/../shared/vendor/oci-conformance}"

GINKGO_COMMIT=af32c8c0de81c7e2e7c74709fd98b1c11ac55659
GINKGO_SHA256=722e22273bdd8f7263d26e8c025540b9ed710f7b8f91e8b7994145ba7c20d459
MAIN_COMMIT=967efdc079b91785ad18c77cc4f8991a47feefbf
MAIN_SHA256=e1c000e70f3dc178255ab82c887d5808b1513f5618678a0349797d299357f4e8

log() { echo "install.sh: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v go >/dev/null 2>&1 || { log "go toolchain not found on PATH (needed to build the OCI conformance suites)"; exit 1; }

# cached BIN STAMP: true when BIN exists and its stamp file (written after a successful build) equals STAMP.
cached() {
  [ -x "$1" ] && [ -f "$1.pinned" ] && [ "$(cat "$1.pinned")" = "$2" ]
}

# unpack KIND COMMIT SHA256 DEST: verifies the archive's sha256 and unpacks it under DEST (giving DEST/conformance).
unpack() {
  local kind=$1 commit=$2 sha=$3 dest=$4
  local archive="$SRC/conformance-$kind-${commit:0:12}.tar.gz"
  [ -f "$archive" ] || { log "missing $archive (the suites' source; see ../shared/vendor/oci-conformance/README.md)"; exit 1; }
  local actual
  actual=$(sha256sum "$archive" | cut -d' ' -f1)
  if [ "$actual" != "$sha" ]; then
    log "sha256 mismatch for $archive: expected $sha, got $actual"
    exit 1
  fi
  mkdir -p "$dest"
  tar -xzf "$archive" -C "$dest"
  [ -f "$dest/conformance/go.mod" ] || { log "$archive does not hold conformance/go.mod"; exit 1; }
}

# go_build NAME DIR CMD...: runs a Go build in DIR, streaming Go's own progress (-x is too noisy; -v lists each
# package as it compiles) to stderr, with a heartbeat so a slow build on a busy machine still shows it is alive.
go_build() {
  local name=$1 dir=$2
  shift 2
  local started=$SECONDS
  (while sleep 30; do log "still building $name ($((SECONDS - started)) s)"; done) &
  local heartbeat=$!
  local rc=0
  (cd "$dir" && "$@") >&2 || rc=$?
  kill "$heartbeat" 2>/dev/null || true
  wait "$heartbeat" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    log "building $name failed (exit $rc)"
    exit 1
  fi
  log "built $name in $((SECONDS - started)) s"
}

# Module downloads go to the usual module cache; dependency fetches print `go: downloading ...` lines.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"

# --- Ginkgo suite (go test -c) ----------------------------------------------------------------------------------
ginkgo_dir="$CACHE/conformance-ginkgo-${GINKGO_COMMIT:0:12}"
ginkgo_bin="$ginkgo_dir/conformance.test"
ginkgo_stamp="$GINKGO_COMMIT $GINKGO_SHA256"
if cached "$ginkgo_bin" "$ginkgo_stamp"; then
  log "reusing cached Ginkgo suite $ginkgo_bin (${GINKGO_COMMIT:0:12})"
else
  log "building the Ginkgo conformance suite (${GINKGO_COMMIT:0:12}) into $ginkgo_dir"
  unpack ginkgo "$GINKGO_COMMIT" "$GINKGO_SHA256" "$work/ginkgo"
  mkdir -p "$ginkgo_dir"
  go_build "Ginkgo suite" "$work/ginkgo/conformance" \
    go test -c -v -o "$ginkgo_bin.tmp" \
      -ldflags "-X github.com/opencontainers/distribution-spec/conformance.Version=${GINKGO_COMMIT:0:12}" .
  mv "$ginkgo_bin.tmp" "$ginkgo_bin"
  echo "$ginkgo_stamp" >"$ginkgo_bin.pinned"
fi

# --- redesigned suite (package main, go build) ------------------------------------------------------------------
main_dir="$CACHE/conformance-main-${MAIN_COMMIT:0:12}"
main_bin="$main_dir/conformance"
main_stamp="$MAIN_COMMIT $MAIN_SHA256"
if cached "$main_bin" "$main_stamp"; then
  log "reusing cached redesigned suite $main_bin (${MAIN_COMMIT:0:12})"
else
  log "building the redesigned conformance suite (${MAIN_COMMIT:0:12}) into $main_dir"
  unpack main "$MAIN_COMMIT" "$MAIN_SHA256" "$work/main"
  mkdir -p "$main_dir"
  go_build "redesigned suite" "$work/main/conformance" \
    go build -v -buildvcs=false -o "$main_bin.tmp" -ldflags "-X main.Version=${MAIN_COMMIT:0:12}" .
  mv "$main_bin.tmp" "$main_bin"
  echo "$main_stamp" >"$main_bin.pinned"
fi

echo "GINKGO_SUITE=$ginkgo_bin"
echo "MAIN_SUITE=$main_bin"
