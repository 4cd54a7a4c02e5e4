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

# --- server lifecycle (one at a time; the EXIT trap stops whatever is still running) ----------------------------------
SERVER_PID=""
DATA_DIR=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
  if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; DATA_DIR=""; fi
  if [ -n "${BERTH_MINIO_PID:-}" ]; then bash "$ROOT/scripts/minio.sh" stop; unset BERTH_MINIO_PID BERTH_MINIO_DIR; fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

# start_server DRIVER LOGFILE: starts Berth with that driver's environment; sets SERVER_PID and PORT.
start_server() {
  local driver=$1 logfile=$2
  PORT=$(free_port)
  DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-conformance-$driver.XXXXXX")
  local -a env=(HOST=127.0.0.1 "PORT=$PORT" "BERTH_DATA_DIR=$DATA_DIR" LOG_LEVEL=warn)
  case "$driver" in
    fs) ;; # filesystem driver: the default, rooted at BERTH_DATA_DIR
    s3) # a throwaway MinIO on a free loopback port (scripts/minio.sh prints the BERTH_S3_* exports)
      eval "$(bash "$ROOT/scripts/minio.sh" start)"
      env+=(BERTH_STORAGE=s3 "BERTH_S3_ENDPOINT=$BERTH_S3_ENDPOINT" "BERTH_S3_ACCESS_KEY=$BERTH_S3_ACCESS_KEY"
        "BERTH_S3_SECRET_KEY=$BERTH_S3_SECRET_KEY" "BERTH_S3_BUCKET=$BERTH_S3_BUCKET" "BERTH_S3_REGION=$BERTH_S3_REGION") ;;
    *) log "unknown storage driver '$driver'"; return 1 ;;
  esac
  env "${env[@]}" node dist/server.js >"$logfile" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/" 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "Berth ($driver) exited during startup; log:"; cat "$logfile" >&2; SERVER_PID=""; return 1
    fi
    sleep 0.2
  done
  log "Berth ($driver) did not answer GET /v2/ within 30 s; log:"; cat "$logfile" >&2
  return 1
}

# junit_counts FILE: prints "<passed> <failed>" from a JUnit XML report (skipped/disabled cases not counted).
junit_counts() {
  node -e '
    const xml = require("node:fs").readFileSync(process.argv[1], "utf8")
    let passed = 0, failed = 0
    for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const inner = m[2] ?? ""
      if (/<(failure|error)\b/.test(inner)) failed++
      else if (!/<skipped\b/.test(inner) && !/status="(skipped|disabled|pending)"/.test(m[0])) passed++
    }
    console.log(passed, failed)' "$1"
}

TOTAL_PASSED=0
TOTAL_FAILED=0
STATUS=0
SUMMARY=()

# add_counts LABEL JUNIT RC: folds one suite's results into the totals.
add_counts() {
  local label=$1 junit=$2 rc=$3 p=0 f=0
  if [ -f "$junit" ]; then read -r p f < <(junit_counts "$junit"); fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed or failed without a report: still a failure
  TOTAL_PASSED=$((TOTAL_PASSED + p)); TOTAL_FAILED=$((TOTAL_FAILED + f))
  SUMMARY+=("$label: $p passed, $f failed (exit $rc)")
  if [ "$rc" -ne 0 ]; then STATUS=1; fi
}

# --- 1. build Berth ---------------------------------------------------------------------------------------------------
if [ ! -f dist/server.js ] || [ -n "$(find src package.json tsconfig.json tsconfig.build.json -newer dist/server.js -print -quit 2>/dev/null)" ]; then
  log "building Berth (npm run build)"
  npm run build >&2 || { log "npm run build failed"; exit 1; }
fi
[ -f dist/server.js ] || { log "npm run build did not produce dist/server.js"; exit 1; }

# --- 2. upstream suites -----------------------------------------------------------------------------------------------
install_out=$(bash "$ROOT/conformance/install.sh")
GINKGO_SUITE=$(sed -n 's/^GINKGO_SUITE=//p' <<<"$install_out")
MAIN_SUITE=$(sed -n 's/^MAIN_SUITE=//p' <<<"$install_out")

# --- 3. one run per storage setup -------------------------------------------------------------------------------------
for driver in $DRIVERS; do
  out="$RESULTS/$driver"
  rm -rf "$out"
  mkdir -p "$out"
  log "=== storage driver: $driver ==="
  if ! start_server "$driver" "$out/server.log"; then
    add_counts "$driver/server" /dev/null 1
    stop_server
    continue
  fi
  url="http://127.0.0.1:$PORT"
  log "Berth ($driver) listening on $url"

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
