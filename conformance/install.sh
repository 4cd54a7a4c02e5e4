#!/usr/bin/env bash
# Builds the two OCI distribution-spec conformance suites from the Go module proxy at pinned commits,
# into a cache outside the repository. Nothing upstream is committed; a matching cached build is reused.
set -euo pipefail

CACHE="${BERTH_TOOLS_CACHE:-$HOME/.cache/berth/tools}"
GINKGO_COMMIT=af32c8c0de81      # Ginkgo suite (pseudo-version v0.0.0-20260120161942-af32c8c0de81)
GINKGO_PSEUDO=v0.0.0-20260120161942-af32c8c0de81
MAIN_COMMIT=967efdc079b91785ad18c77cc4f8991a47feefbf   # redesigned suite (package main)
MODULE=github.com/opencontainers/distribution-spec/conformance

ginkgo_bin="$CACHE/conformance-ginkgo-$GINKGO_COMMIT/conformance.test"
main_bin="$CACHE/conformance-main-${MAIN_COMMIT:0:12}/conformance"

if [ ! -x "$ginkgo_bin" ]; then
  echo "building Ginkgo conformance suite @$GINKGO_COMMIT" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init berth.invalid/conformance-runner >/dev/null 2>&1
    GOFLAGS=-mod=mod go get -t "$MODULE@$GINKGO_PSEUDO" >&2
    mkdir -p "$(dirname "$ginkgo_bin")"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go test -c -o "$ginkgo_bin.tmp" \
      -ldflags "-X $MODULE.Version=$GINKGO_PSEUDO" "$MODULE"
    mv "$ginkgo_bin.tmp" "$ginkgo_bin"
  )
fi

if [ ! -x "$main_bin" ]; then
  echo "building redesigned conformance suite @${MAIN_COMMIT:0:12}" >&2
  mkdir -p "$(dirname "$main_bin")"
  CGO_ENABLED=0 GOBIN="$(dirname "$main_bin")" go install "$MODULE@$MAIN_COMMIT"
fi

echo "GINKGO_SUITE=$ginkgo_bin"
echo "MAIN_SUITE=$main_bin"
