# Shared by conformance/run.sh and acceptance/run.sh (sourced, not run): building Berth, running it once per
# storage driver on a free loopback port with a fresh data directory (for s3, behind a throwaway MinIO from
# scripts/minio.sh), and adding up JUnit results. The caller sets ROOT and defines log().

SERVER_PID=""
DATA_DIR=""
MINIO_STARTED=""
# The environment Berth was started with (storage, port, extras): the CLI reaches the same store with it.
SERVER_ENV=()
SERVER_LOG=""

# build_berth: builds dist/ when it is missing or older than its sources.
build_berth() {
  if [ ! -f dist/server.js ] || [ -n "$(find src package.json tsconfig.json tsconfig.build.json -newer dist/server.js -print -quit 2>/dev/null)" ]; then
    log "building Berth (npm run build)"
    npm run build >&2 || { log "npm run build failed"; exit 1; }
  fi
  [ -f dist/server.js ] || { log "npm run build did not produce dist/server.js"; exit 1; }
}

# stop_berth: stops the Berth process only (its store and MinIO stay).
stop_berth() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

# stop_server: stops Berth and its MinIO, if running, and removes the data directory.
stop_server() {
  stop_berth
  if [ -n "$MINIO_STARTED" ]; then
    bash "$ROOT/scripts/minio.sh" stop || true
    MINIO_STARTED=""
    unset BERTH_STORAGE BERTH_S3_ENDPOINT BERTH_S3_ACCESS_KEY BERTH_S3_SECRET_KEY BERTH_S3_BUCKET BERTH_S3_REGION \
      BERTH_MINIO_PID BERTH_MINIO_DIR
  fi
  if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; DATA_DIR=""; fi
  SERVER_ENV=()
}

free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

# start_server DRIVER LOGFILE [NAME=value...]: starts Berth with that driver's environment (fs or s3) and any
# extra variables; sets SERVER_PID, PORT and SERVER_ENV.
start_server() {
  local driver=$1 logfile=$2
  shift 2
  PORT=$(free_port)
  DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-run-$driver.XXXXXX")
  local -a env=(HOST=127.0.0.1 "PORT=$PORT" "BERTH_DATA_DIR=$DATA_DIR" LOG_LEVEL=warn)
  case "$driver" in
    fs) env+=(BERTH_STORAGE=filesystem) ;; # rooted at BERTH_DATA_DIR
    s3)
      # a throwaway MinIO on loopback; minio.sh prints `export BERTH_STORAGE=s3 BERTH_S3_*=...` lines
      local exports
      exports=$(bash "$ROOT/scripts/minio.sh" start) || { log "scripts/minio.sh start failed"; return 1; }
      MINIO_STARTED=1
      eval "$exports"
      env+=(BERTH_STORAGE=s3 "BERTH_S3_ENDPOINT=$BERTH_S3_ENDPOINT" "BERTH_S3_ACCESS_KEY=$BERTH_S3_ACCESS_KEY"
        "BERTH_S3_SECRET_KEY=$BERTH_S3_SECRET_KEY" "BERTH_S3_BUCKET=$BERTH_S3_BUCKET" "BERTH_S3_REGION=$BERTH_S3_REGION")
      ;;
    *) log "unknown storage driver '$driver'"; return 1 ;;
  esac
  SERVER_ENV=("${env[@]}" "$@")
  SERVER_LOG=$logfile
  launch_berth "${SERVER_ENV[@]}"
}

# launch_berth NAME=value...: runs node dist/server.js with exactly that environment added, appending to
# SERVER_LOG, and waits until GET /v2/ answers (200, or 401 with auth on).
launch_berth() {
  env "$@" node dist/server.js >>"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 150); do
    case "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" 2>/dev/null)" in 200 | 401) return 0 ;; esac
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "Berth exited during startup; log:"; cat "$SERVER_LOG" >&2; SERVER_PID=""; return 1
    fi
    sleep 0.2
  done
  log "Berth did not answer GET /v2/ within 30 s; log:"; cat "$SERVER_LOG" >&2
  return 1
}

# relaunch_server [NAME=value...]: restarts Berth on the same port and store (MinIO keeps running) with the
# environment it was started with plus these variables.
relaunch_server() {
  stop_berth
  launch_berth "${SERVER_ENV[@]}" "$@"
}

# berth_cli ARGS...: runs the berth CLI against the running server's store (stdin passes through).
berth_cli() {
  env "${SERVER_ENV[@]}" node dist/cli.js "$@"
}

# start_driver_run DRIVER OUT [NAME=value...]: a fresh results directory OUT and a started Berth (sets PORT),
# with any extra variables. If Berth does not start, records the failure and returns 1, so the caller moves on
# to the next driver.
start_driver_run() {
  local driver=$1 out=$2
  shift 2
  rm -rf "$out"
  mkdir -p "$out"
  log "=== storage driver: $driver ==="
  if ! start_server "$driver" "$out/server.log" "$@"; then
    add_counts "$driver/server" /dev/null 1
    stop_server
    return 1
  fi
  log "Berth ($driver) listening on http://127.0.0.1:$PORT"
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

# add_counts LABEL JUNIT RC: folds one run's results into the totals.
add_counts() {
  local label=$1 junit=$2 rc=$3 p=0 f=0
  if [ -f "$junit" ]; then read -r p f < <(junit_counts "$junit"); fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed or failed without a report: still a failure
  TOTAL_PASSED=$((TOTAL_PASSED + p)); TOTAL_FAILED=$((TOTAL_FAILED + f))
  SUMMARY+=("$label: $p passed, $f failed (exit $rc)")
  if [ "$rc" -ne 0 ]; then STATUS=1; fi
}
