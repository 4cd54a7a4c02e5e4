#!/usr/bin/env bash
# Pushes blobs of growing size through Berth with `curl -T` (POST for a session, then a monolithic PUT),
# pulls each back, checks the digest, and reports throughput and the server's peak RSS (VmHWM) per size.
# Memory must stay flat as the blob grows: blobs stream from the socket to the store and back.
#
# usage: bench/blob-stream-memory.sh [size-in-MiB ...]     (default: 64 256 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(64 256 1024)
work=$(mktemp -d); trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
[ -f dist/server.js ] || npm run build >/dev/null

printf '%8s %12s %12s %14s\n' 'MiB' 'push MB/s' 'pull MB/s' 'peak RSS MiB'
for mib in "${sizes[@]}"; do
  # A fresh server per size, so each peak RSS belongs to that size alone.
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  HOST=127.0.0.1 PORT=$port BERTH_DATA_DIR="$work/data-$mib" LOG_LEVEL=warn node dist/server.js &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.2; done
  head -c $((mib * 1024 * 1024)) /dev/urandom > "$work/blob"
  digest="sha256:$(sha256sum "$work/blob" | cut -d' ' -f1)"
  location=$(curl -sf -X POST -D - -o /dev/null "http://127.0.0.1:$port/v2/bench/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}')
  push=$(curl -sf -T "$work/blob" -o /dev/null -w '%{speed_upload}' "http://127.0.0.1:$port$location?digest=$digest")
  pull=$(curl -sf -o "$work/pulled" -w '%{speed_download}' "http://127.0.0.1:$port/v2/bench/blobs/$digest")
  [ "sha256:$(sha256sum "$work/pulled" | cut -d' ' -f1)" = "$digest" ] || { echo "pulled bytes differ for $mib MiB" >&2; exit 1; }
  rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  printf '%8s %12.0f %12.0f %14.1f\n' "$mib" "$(echo "$push / 1000000" | bc -l)" "$(echo "$pull / 1000000" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$work/blob" "$work/pulled"; rm -rf "$work/data-$mib"
done
