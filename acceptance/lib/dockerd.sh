# A private Docker engine for the docker workflow (sourced by acceptance/run.sh, not run): Debian's dockerd with
# vfs storage and no networking of its own, every path (data, exec root, pid file, socket) in a fresh temporary
# directory, so that no system-wide daemon, socket or image store is touched. Loopback registries are insecure by
# default for dockerd (127.0.0.0/8), so it reaches Berth over plain HTTP with no configuration.
#
#   start_dockerd LOGFILE   sets DOCKERD_PID and DOCKER_SOCK_HOST (unix://...); returns 1 if it does not come up
#   stop_dockerd            stops it by its pid (TERM, then KILL after 20 s) and removes its directory
#
# The daemon runs in a session of its own (setsid), so a Ctrl-C meant for the test run reaches the caller's trap,
# which stops it in order. A watchdog stops it too if the caller dies without running its traps (kill -9).
# The caller defines log().

DOCKERD_PID=""
DOCKERD_DIR=""
DOCKERD_WATCHDOG=""
DOCKER_SOCK_HOST=""

start_dockerd() {
  local logfile=$1 dockerd docker
  dockerd=$(command -v dockerd || true)
  docker=/usr/bin/docker
  [ -x "$docker" ] || docker=$(command -v docker || true)
  if [ -z "$dockerd" ] || [ -z "$docker" ]; then
    log "dockerd or docker is not installed (apt-get install docker.io); the docker workflow will fail"
    return 1
  fi
  DOCKERD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-dockerd.XXXXXX")
  DOCKER_SOCK_HOST="unix://$DOCKERD_DIR/docker.sock"
  setsid "$dockerd" --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" --pidfile "$DOCKERD_DIR/docker.pid" \
    -H "$DOCKER_SOCK_HOST" >"$logfile" 2>&1 </dev/null &
  DOCKERD_PID=$!
  local parent=$$ daemon=$DOCKERD_PID
  ( trap '' INT; while kill -0 "$parent" 2>/dev/null; do sleep 2; done; kill "$daemon" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
  DOCKERD_WATCHDOG=$!
  for _ in $(seq 120); do
    if DOCKER_HOST=$DOCKER_SOCK_HOST "$docker" version --format '{{.Server.Version}}' >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      log "dockerd exited during startup; log:"; tail -20 "$logfile" >&2; DOCKERD_PID=""; stop_dockerd; return 1
    fi
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; log:"; tail -20 "$logfile" >&2
  stop_dockerd
  return 1
}

stop_dockerd() {
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    # dockerd stops its containerd on TERM; give it time on a busy machine
    for _ in $(seq 200); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=""
  fi
  if [ -n "$DOCKERD_WATCHDOG" ]; then
    kill "$DOCKERD_WATCHDOG" 2>/dev/null || true
    wait "$DOCKERD_WATCHDOG" 2>/dev/null || true
    DOCKERD_WATCHDOG=""
  fi
  if [ -n "$DOCKERD_DIR" ]; then
    # vfs layers are plain directories; the exec root may hold mounts dockerd left behind if it was killed
    umount -R "$DOCKERD_DIR/exec" 2>/dev/null || true
    rm -rf "$DOCKERD_DIR" 2>/dev/null || true
    DOCKERD_DIR=""
  fi
  DOCKER_SOCK_HOST=""
}
