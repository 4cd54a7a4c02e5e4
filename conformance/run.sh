#!/usr/bin/env bash
# Runs the OCI conformance suites against Berth, once per storage setup:
#   1. builds Berth if dist/server.js is missing or older than its sources (npm run build)
#   2. builds/reuses the upstream suites (conformance/install.sh; they may be unavailable, see there)
#   3. per storage driver: starts `node dist/server.js` on a free loopback port with a fresh data dir, waits for
#      GET /v2/, runs the upstream Ginkgo suite and the redesigned suite (when built) and always Berth's own
#      conformance/suite.ts, then stops the server
#   4. prints `conformance: N passed, N failed` summed over every suite that ran; exits non-zero if any failed
#
# Results go to results/<driver>/{ginkgo,main,suite}/ (gitignored), the server log to results/<driver>/server.log.
# Environment: BERTH_CONFORMANCE_DRIVERS (space-separated, default "fs s3"), BERTH_TOOLS_CACHE (see install.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RESULTS="$ROOT/results"
DRIVERS=${BERTH_CONFORMANCE_DRIVERS:-fs s3}

log() { echo "conformance/run.sh: $*" >&2; }

# Server lifecycle (start_server, stop_server), JUnit totals (add_counts) and build_berth.
source "$ROOT/scripts/lib/run-berth.sh"
trap stop_server EXIT
trap 'exit 130' INT TERM

# --- 1. build Berth ---------------------------------------------------------------------------------------------------
build_berth

# --- 2. upstream suites -----------------------------------------------------------------------------------------------
install_out=$(bash "$ROOT/conformance/install.sh")
GINKGO_SUITE=$(sed -n 's/^GINKGO_SUITE=//p' <<<"$install_out")
MAIN_SUITE=$(sed -n 's/^MAIN_SUITE=//p' <<<"$install_out")

# --- 3. one run per storage setup -------------------------------------------------------------------------------------
for driver in $DRIVERS; do
  out="$RESULTS/$driver"
  start_driver_run "$driver" "$out" || continue
  url="http://127.0.0.1:$PORT"

  if [ -n "$GINKGO_SUITE" ]; then
    mkdir -p "$out/ginkgo"
    log "running upstream Ginkgo suite"
    rc=0
    env OCI_ROOT_URL="$url" OCI_NAMESPACE=conformance/ginkgo/repo1 OCI_CROSSMOUNT_NAMESPACE=conformance/ginkgo/repo2 \
      OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
      OCI_AUTOMATIC_CROSSMOUNT=1 OCI_DELETE_MANIFEST_BEFORE_BLOBS=1 OCI_HIDE_SKIPPED_WORKFLOWS=1 \
      OCI_REPORT_DIR="$out/ginkgo" OCI_DEBUG=0 \
      "$GINKGO_SUITE" -ginkgo.v -ginkgo.no-color >"$out/ginkgo/output.log" 2>&1 || rc=$?
    tail -n 30 "$out/ginkgo/output.log" >&2
    add_counts "$driver/ginkgo" "$out/ginkgo/junit.xml" "$rc"
  fi

  if [ -n "$MAIN_SUITE" ]; then
    mkdir -p "$out/main"
    log "running upstream redesigned suite"
    rc=0
    (cd "$out/main" && env OCI_REGISTRY="127.0.0.1:$PORT" OCI_TLS=disabled OCI_VERSION=1.1 \
      OCI_REPO1=conformance/main/repo1 OCI_REPO2=conformance/main/repo2 OCI_RESULTS_DIR="$out/main" OCI_LOG=warn \
      "$MAIN_SUITE" >"$out/main/output.log" 2>&1) || rc=$?
    tail -n 30 "$out/main/output.log" >&2
    add_counts "$driver/main" "$out/main/junit.xml" "$rc"
  fi

  log "running Berth's conformance/suite.ts"
  rc=0
  npx --no-install tsx conformance/suite.ts --url "$url" --repo conformance/repo1 --repo2 conformance/repo2 \
    --junit "$out/suite/junit.xml" | tee "$out/suite.log" || rc=$?
  add_counts "$driver/suite" "$out/suite/junit.xml" "$rc"

  stop_server
done

# --- 4. summary -------------------------------------------------------------------------------------------------------
[ -n "$GINKGO_SUITE" ] || SUMMARY+=("upstream Ginkgo suite: UNAVAILABLE (not run)")
[ -n "$MAIN_SUITE" ] || SUMMARY+=("upstream redesigned suite: UNAVAILABLE (not run)")
echo
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "conformance: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if [ "$TOTAL_FAILED" -gt 0 ]; then STATUS=1; fi
exit "$STATUS"
