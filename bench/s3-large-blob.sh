#!/usr/bin/env bash
# Large blobs through Berth on MinIO: for each size, pushes a blob monolithically (POST, then one streamed PUT
# with `curl -T`) and, separately, in 10 MiB chunks (PATCH with Content-Range, then PUT ?digest=), pulls it
# back, checks its sha256, and reports MB/s and Berth's peak RSS (VmHWM from /proc). Each (size, mode) gets a
# fresh Berth process and bucket, so each peak belongs to that run alone: memory must stay flat as the blob
# grows, since bodies stream into S3 multipart parts and commits are composed on the server.
#
# Everything runs on 127.0.0.1: a throwaway MinIO (scripts/minio.sh), Berth (dist/server.js), curl. One
# transfer at a time. Needs about 5x the largest size free on disk (blob and its chunks, MinIO data twice,
# pulled copy).
#
# usage: bench/s3-large-blob.sh [size-in-MiB ...]     (default: 256 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(256 2048)
CHUNK=$((10 * 1024 * 1024))

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-s3.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  scripts/minio.sh stop || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -f dist/server.js ] || [ -n "$(find src package.json tsconfig.json tsconfig.build.json -newer dist/server.js -print -quit)" ]; then
  npm run build >&2
fi
eval "$(scripts/minio.sh start)"

free_port() {
  node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

location_of() { tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}' | tail -n 1; }

# start_berth BUCKET: a fresh Berth on MinIO; sets pid and base.
start_berth() {
  local port
  port=$(free_port)
  HOST=127.0.0.1 PORT=$port LOG_LEVEL=error BERTH_S3_BUCKET=$1 node dist/server.js &
  pid=$!
  base="http://127.0.0.1:$port"
  until curl -sf -o /dev/null "$base/readyz"; do
    kill -0 "$pid" 2>/dev/null || { echo "Berth exited during startup" >&2; exit 1; }
    sleep 0.2
  done
}

stop_berth() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

mbps() { echo "$1 / $2 / 1000000" | bc -l; }
now() { date +%s.%N; }

printf '%8s  %-14s %10s %10s %14s\n' 'MiB' 'push' 'push MB/s' 'pull MB/s' 'peak RSS MiB'
rows=()
for mib in "${sizes[@]}"; do
  bytes=$((mib * 1024 * 1024))
  head -c "$bytes" /dev/urandom > "$work/blob"
  digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
  split -b "$CHUNK" -a 4 -d "$work/blob" "$work/chunk." # the 10 MiB chunks, cut before the clock starts
  for mode in monolithic chunked; do
    start_berth "bench-$mib-$mode-$$"
    repo="bench/s3-$mode"
    loc=$(curl -sf -X POST -D - -o /dev/null "$base/v2/$repo/blobs/uploads/" | location_of)
    t0=$(now)
    if [ "$mode" = monolithic ]; then
      curl -sf -T "$work/blob" -H 'Content-Type: application/octet-stream' -o /dev/null "$base$loc?digest=$digest"
    else
      offset=0
      for chunk in "$work"/chunk.*; do
        n=$(stat -c %s "$chunk")
        loc=$(curl -sf -X PATCH -T "$chunk" -D - -o /dev/null -H 'Content-Type: application/octet-stream' \
          -H "Content-Range: $offset-$((offset + n - 1))" "$base$loc" | location_of)
        offset=$((offset + n))
      done
      sep='?'; case "$loc" in *\?*) sep='&' ;; esac
      curl -sf -X PUT -o /dev/null "$base$loc${sep}digest=$digest"
    fi
    t1=$(now)
    curl -sf -o "$work/pulled" "$base/v2/$repo/blobs/$digest"
    t2=$(now)
    [ "sha256:$(sha256sum "$work/pulled" | cut -d' ' -f1)" = "$digest" ] || { echo "pulled bytes differ ($mib MiB, $mode)" >&2; exit 1; }
    rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
    push=$(mbps "$bytes" "$(echo "$t1 - $t0" | bc -l)")
    pull=$(mbps "$bytes" "$(echo "$t2 - $t1" | bc -l)")
    label=$([ "$mode" = monolithic ] && echo 'monolithic' || echo '10 MiB chunks')
    printf '%8s  %-14s %10.0f %10.0f %14.1f\n' "$mib" "$label" "$push" "$pull" "$(echo "$rss / 1024" | bc -l)"
    rows+=("$(printf '| %s MiB | %s | %.0f | %.0f | %.1f MiB |' "$mib" "$label" "$push" "$pull" "$(echo "$rss / 1024" | bc -l)")")
    stop_berth
    rm -f "$work/pulled"
  done
  rm -f "$work/blob" "$work"/chunk.*
done

echo
echo '| blob | push | push MB/s | pull MB/s | Berth peak RSS |'
echo '| --- | --- | --- | --- | --- |'
printf '%s\n' "${rows[@]}"
