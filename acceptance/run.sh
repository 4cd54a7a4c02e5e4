#!/usr/bin/env bash
# Runs the real-client acceptance suite (acceptance/suite.ts) against Berth, once per storage driver:
#   1. builds Berth if dist/server.js is missing or older than its sources (npm run build)
#   2. per storage driver: starts `node dist/server.js` on a free loopback port with a fresh data directory (for s3,
#      first a throwaway MinIO from scripts/minio.sh), waits for GET /v2/, runs every workflow, stops the server
#   3. prints one line per workflow step, a line per driver, and finally `acceptance: N passed, N failed` summed over
#      the drivers; exits non-zero if any step failed or a server did not start
#
# The clients are the pinned builds of scripts/tools.json (node scripts/install-tools.mjs) plus skopeo from PATH
# (see acceptance/lib/clients.ts). Results go to results/acceptance/<driver>/ (gitignored): junit.xml, the suite's
# output and the server log.
# Environment: BERTH_ACCEPTANCE_DRIVERS (space-separated; default "fs s3"),
#   BERTH_ACCEPTANCE_LARGE_MIB (size of the large-layer workflow's layer, default 200),
#   BERTH_ACCEPTANCE_ONLY (regex of workflow groups to run), BERTH_TOOLS_CACHE, BERTH_<CLIENT>_BIN.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RESULTS="$ROOT/results/acceptance"
DRIVERS=${BERTH_ACCEPTANCE_DRIVERS:-fs s3}
LARGE_MIB=${BERTH_ACCEPTANCE_LARGE_MIB:-200}

log() { echo "acceptance/run.sh: $*" >&2; }

# Server lifecycle (start_server, stop_server), JUnit totals (add_counts) and build_berth.
source "$ROOT/scripts/lib/run-berth.sh"
trap stop_server EXIT
trap 'exit 130' INT TERM

# --- 1. build Berth ---------------------------------------------------------------------------------------------------
build_berth

# --- 2. one run per storage driver ------------------------------------------------------------------------------------
for driver in $DRIVERS; do
  out="$RESULTS/$driver"
  start_driver_run "$driver" "$out" || continue
  url="http://127.0.0.1:$PORT"
  rc=0
  args=(--url "$url" --large-mib "$LARGE_MIB" --junit "$out/junit.xml")
  if [ -n "${BERTH_ACCEPTANCE_ONLY:-}" ]; then args+=(--only "$BERTH_ACCEPTANCE_ONLY"); fi
  npx --no-install tsx acceptance/suite.ts "${args[@]}" | tee "$out/suite.log" || rc=$?
  add_counts "$driver" "$out/junit.xml" "$rc"
  stop_server
done

# --- 3. summary -------------------------------------------------------------------------------------------------------
echo
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "acceptance: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if [ "$TOTAL_FAILED" -gt 0 ]; then STATUS=1; fi
exit "$STATUS"
