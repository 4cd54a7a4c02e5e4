#!/usr/bin/env bash
# Runs the real-client acceptance suite (acceptance/suite.ts) against Berth, once per storage driver:
#   1. builds Berth if dist/server.js is missing or older than its sources (npm run build)
#   2. per storage driver: starts `node dist/server.js` on a free loopback port with a fresh data directory (for s3,
#      first a throwaway MinIO from scripts/minio.sh), waits for GET /v2/, runs every workflow, stops the server
#   2a. before the first driver: a private dockerd for the docker workflow (acceptance/lib/dockerd.sh), stopped
#      at the end by its pid; the suite runs in a process group of its own that is killed if the run is stopped
#   3. prints one line per workflow step, a line per driver, and finally `acceptance: N passed, N failed` summed over
#      the drivers; exits non-zero if any step failed or a server did not start
#
# The clients are the pinned builds of scripts/tools.json (node scripts/install-tools.mjs) plus skopeo, docker and
# podman from Debian's packages (see acceptance/lib/clients.ts). Results go to results/acceptance/<driver>/
# (gitignored): junit.xml, the suite's output and the server log; the dockerd log is results/acceptance/dockerd.log.
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
# start_dockerd, stop_dockerd
source "$ROOT/acceptance/lib/dockerd.sh"
SUITE_PID=""
cleanup() {
  if [ -n "$SUITE_PID" ]; then kill -- "-$SUITE_PID" 2>/dev/null || true; wait "$SUITE_PID" 2>/dev/null || true; fi
  stop_server
  stop_dockerd
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. build Berth ---------------------------------------------------------------------------------------------------
build_berth

# --- 2. one run per storage driver ------------------------------------------------------------------------------------
mkdir -p "$RESULTS"
# the docker workflow needs the daemon; other selections do without it (the regex is matched case-insensitively,
# as the suite matches it)
if [ -z "${BERTH_ACCEPTANCE_ONLY:-}" ] || grep -qiE -- "$BERTH_ACCEPTANCE_ONLY" <<<"docker"; then
  if start_dockerd "$RESULTS/dockerd.log"; then log "dockerd listening on $DOCKER_SOCK_HOST (pid $DOCKERD_PID)"; fi
fi

for driver in $DRIVERS; do
  out="$RESULTS/$driver"
  start_driver_run "$driver" "$out" || continue
  url="http://127.0.0.1:$PORT"
  rc=0
  args=(--url "$url" --large-mib "$LARGE_MIB" --junit "$out/junit.xml")
  if [ -n "${BERTH_ACCEPTANCE_ONLY:-}" ]; then args+=(--only "$BERTH_ACCEPTANCE_ONLY"); fi
  if [ -n "$DOCKER_SOCK_HOST" ]; then args+=(--docker-host "$DOCKER_SOCK_HOST"); fi
  # in a session of its own, waited for in the background, so that a stopped run kills the suite, the clients
  # and any server it started (cleanup above) instead of waiting for them
  setsid bash -o pipefail -c '"$@" | tee "$0"' "$out/suite.log" npx --no-install tsx acceptance/suite.ts "${args[@]}" &
  SUITE_PID=$!
  wait "$SUITE_PID" || rc=$?
  SUITE_PID=""
  add_counts "$driver" "$out/junit.xml" "$rc"
  stop_server
done

# --- 3. summary -------------------------------------------------------------------------------------------------------
echo
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "acceptance: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if [ "$TOTAL_FAILED" -gt 0 ]; then STATUS=1; fi
exit "$STATUS"
