#!/usr/bin/env bash
# Builds the two OCI distribution-spec conformance suites from the Go module proxy at pinned commits, into a
# cache outside the repository. Nothing upstream is committed; a cached build is reused when its pinned version
# matches.
#
#   Ginkgo suite     af32c8c (pseudo-version v0.0.0-20260120161942-af32c8c0de81), built with `go test -c`
#   redesigned suite 967efdc079b91785ad18c77cc4f8991a47feefbf (package main), built with `go install`
#
# If (and only if) the module proxy refuses the conformance module itself (403 / "This module version is not
# available"), a loud `UPSTREAM SUITE UNAVAILABLE: <which> (<reason>)` notice goes to stderr and that suite is
# reported with an empty path. Any other failure (no Go toolchain, compile error, a dependency that cannot be
# fetched, ...) exits non-zero.
#
# stdout carries exactly two machine-readable lines (everything else goes to stderr):
#   GINKGO_SUITE=<path to conformance.test or empty>
#   MAIN_SUITE=<path to conformance or empty>
set -euo pipefail

CACHE="${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}"
MODULE=github.com/opencontainers/distribution-spec/conformance
GINKGO_COMMIT=af32c8c0de81
GINKGO_PSEUDO=v0.0.0-20260120161942-af32c8c0de81
MAIN_COMMIT=967efdc079b91785ad18c77cc4f8991a47feefbf

ginkgo_dir="$CACHE/conformance-ginkgo-$GINKGO_COMMIT"
ginkgo_bin="$ginkgo_dir/conformance.test"
main_dir="$CACHE/conformance-main-${MAIN_COMMIT:0:12}"
main_bin="$main_dir/conformance"

log() { echo "install.sh: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# cached BIN PINNED: true when BIN exists and was built from exactly PINNED (stamp file written after a build).
cached() {
  [ -x "$1" ] && [ -f "$1.pinned" ] && [ "$(cat "$1.pinned")" = "$2" ]
}

# proxy_refusal LOG: prints the refusal reason and succeeds iff the log shows the proxy refusing the conformance
# module itself (not one of its dependencies).
proxy_refusal() {
  local line
  line=$(grep -E "/github\.com/opencontainers/distribution-spec/conformance/@v/[^ ]*: 403 Forbidden" "$1" | head -n1) || return 1
  if grep -q 'This module version is not available' "$1"; then
    echo "module proxy: 403 Forbidden: This module version is not available"
  else
    echo "module proxy: ${line##*: }"
  fi
}

unavailable() {
  {
    echo
    echo "################################################################################"
    echo "UPSTREAM SUITE UNAVAILABLE: $1 ($2)"
    echo "  The upstream suite will not run; only Berth's own conformance/suite.ts will."
    echo "################################################################################"
    echo
  } >&2
}

# build STEP_LOG CMD...: runs CMD with output to STEP_LOG; returns 0 on success, 2 on proxy refusal, exits on
# anything else.
build() {
  local steplog=$1
  shift
  if "$@" >"$steplog" 2>&1; then
    cat "$steplog" >&2
    return 0
  fi
  cat "$steplog" >&2
  if proxy_refusal "$steplog" >/dev/null; then
    return 2
  fi
  log "build failed: $*"
  exit 1
}

command -v go >/dev/null 2>&1 || { log "go toolchain not found on PATH (needed to build the upstream suites)"; exit 1; }

# --- Ginkgo suite (go test -c in a throwaway module) ------------------------------------------------------------
GINKGO_SUITE=""
if cached "$ginkgo_bin" "$GINKGO_PSEUDO"; then
  log "reusing cached Ginkgo suite $ginkgo_bin ($GINKGO_PSEUDO)"
  GINKGO_SUITE=$ginkgo_bin
else
  log "building Ginkgo conformance suite $MODULE@$GINKGO_PSEUDO"
  gwork="$work/ginkgo"
  mkdir -p "$gwork"
  (cd "$gwork" && go mod init berth.invalid/conformance-runner >/dev/null 2>&1)
  rc=0
  build "$work/ginkgo-get.log" \
    env -C "$gwork" GOFLAGS="${GOFLAGS:-} -mod=mod" go get -t "$MODULE@$GINKGO_PSEUDO" || rc=$?
  if [ "$rc" -eq 2 ]; then
    unavailable "Ginkgo suite $MODULE@$GINKGO_PSEUDO" "$(proxy_refusal "$work/ginkgo-get.log")"
  else
    mkdir -p "$ginkgo_dir"
    build "$work/ginkgo-build.log" \
      env -C "$gwork" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" go test -c -o "$ginkgo_bin.tmp" \
        -ldflags "-X $MODULE.Version=$GINKGO_PSEUDO" "$MODULE" || rc=$?
    if [ "$rc" -eq 2 ]; then
      unavailable "Ginkgo suite $MODULE@$GINKGO_PSEUDO" "$(proxy_refusal "$work/ginkgo-build.log")"
    else
      mv "$ginkgo_bin.tmp" "$ginkgo_bin"
      echo "$GINKGO_PSEUDO" >"$ginkgo_bin.pinned"
      GINKGO_SUITE=$ginkgo_bin
    fi
  fi
fi

# --- redesigned suite (package main, go install) ----------------------------------------------------------------
MAIN_SUITE=""
if cached "$main_bin" "$MAIN_COMMIT"; then
  log "reusing cached redesigned suite $main_bin ($MAIN_COMMIT)"
  MAIN_SUITE=$main_bin
else
  log "building redesigned conformance suite $MODULE@$MAIN_COMMIT"
  mkdir -p "$work/main-bin"
  rc=0
  build "$work/main-install.log" \
    env CGO_ENABLED=0 GOBIN="$work/main-bin" go install \
      -ldflags "-X main.Version=${MAIN_COMMIT:0:12}" "$MODULE@$MAIN_COMMIT" || rc=$?
  if [ "$rc" -eq 2 ]; then
    unavailable "redesigned suite $MODULE@$MAIN_COMMIT" "$(proxy_refusal "$work/main-install.log")"
  else
    mkdir -p "$main_dir"
    mv "$work/main-bin/conformance" "$main_bin"
    echo "$MAIN_COMMIT" >"$main_bin.pinned"
    MAIN_SUITE=$main_bin
  fi
fi

echo "GINKGO_SUITE=$GINKGO_SUITE"
echo "MAIN_SUITE=$MAIN_SUITE"
