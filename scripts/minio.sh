#!/usr/bin/env bash
# Starts and stops a throwaway MinIO server for tests, benches and conformance runs: loopback only, a free port,
# data in a fresh temporary directory. The binary is the pinned build from scripts/tools.json (installed into
# ~/.cache/berth/tools by `node scripts/install-tools.mjs minio`, which this script runs when it is missing).
#
#   eval "$(scripts/minio.sh start)"    # prints `export` lines: BERTH_STORAGE=s3, BERTH_S3_*, BERTH_MINIO_PID/_DIR
#   ...                                 # run Berth with that environment
#   scripts/minio.sh stop               # stops the server named by BERTH_MINIO_PID and removes BERTH_MINIO_DIR
#
# `start` waits until MinIO answers its readiness probe (30 s at most) and fails loudly otherwise; stdout carries
# only the export lines, everything else goes to stderr. The server log is $BERTH_MINIO_DIR/minio.log.
# Environment for `start`: BERTH_S3_BUCKET (default berth; Berth creates it), BERTH_TOOLS_CACHE.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "minio.sh: $*" >&2; }

start() {
  local binary
  binary=$(cd "$ROOT" && node --input-type=module -e \
    'import { toolPath } from "./scripts/tool-paths.mjs"; console.log(toolPath("minio"))')
  if [ ! -x "$binary" ]; then
    (cd "$ROOT" && node scripts/install-tools.mjs minio) >&2
  fi
  local port dir pid user password
  port=$(node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })')
  dir=$(mktemp -d "${TMPDIR:-/tmp}/berth-minio.XXXXXX")
  mkdir -p "$dir/data"
  user="berth-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
  password="$(od -An -N16 -tx4 /dev/urandom | tr -d ' \n')"
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$password MINIO_BROWSER=off MINIO_UPDATE=off \
    nohup "$binary" server --quiet --address "127.0.0.1:$port" "$dir/data" >"$dir/minio.log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/ready" 2>/dev/null; then
      cat <<EOF
export BERTH_STORAGE=s3
export BERTH_S3_ENDPOINT=http://127.0.0.1:$port
export BERTH_S3_ACCESS_KEY=$user
export BERTH_S3_SECRET_KEY=$password
export BERTH_S3_BUCKET=${BERTH_S3_BUCKET:-berth}
export BERTH_S3_REGION=us-east-1
export BERTH_MINIO_PID=$pid
export BERTH_MINIO_DIR=$dir
EOF
      log "MinIO (pid $pid) listening on 127.0.0.1:$port, data in $dir/data"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "MinIO exited during startup; log:"; cat "$dir/minio.log" >&2; rm -rf "$dir"; return 1
    fi
    sleep 0.2
  done
  log "MinIO did not become ready within 30 s; log:"; cat "$dir/minio.log" >&2
  kill "$pid" 2>/dev/null || true
  rm -rf "$dir"
  return 1
}

stop() {
  local pid=${BERTH_MINIO_PID:-} dir=${BERTH_MINIO_DIR:-}
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Only ever remove a directory this script created.
  case "$dir" in
    "${TMPDIR:-/tmp}"/berth-minio.*) rm -rf "$dir" ;;
    "") ;;
    *) log "not removing $dir: not a directory made by minio.sh" ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/minio.sh start|stop" >&2; exit 2 ;;
esac
