#!/usr/bin/env bash
# Resident memory of every Berth process (the cluster primary and each worker), on a fresh filesystem store:
# 2 s and 10 s after start, then 2 s after some traffic (an image pushed with curl and its manifest fetched
# 1,000 times by tag over four connections) and SETTLE_SECONDS after it (default 20). V8 gives back the heap
# that start-up or traffic grew only once the process has been idle for a while (its memory reducer runs about
# 8 s after a burst of allocation), hence the later columns. Each figure is VmRSS in MiB, with RssAnon, the
# part that is the process's own, in parentheses: the rest is mostly pages of the node binary, shared by every
# node process on the machine.
#
# Berth runs as the Dockerfile and `npm start` run it (node --max-semi-space-size=2; NODE_FLAGS overrides).
#
# usage: bench/idle-rss.sh [workers ...]     (BERTH_WORKERS values, default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 2)
settle=${SETTLE_SECONDS:-20}
read -r -a node_flags <<< "${NODE_FLAGS---max-semi-space-size=2}"
[ -f dist/server.js ] || npm run build >/dev/null
work=$(mktemp -d)
group=''
# Berth runs in a process group of its own, so that whatever happens here, it and its workers die with us.
cleanup () { if [ -n "$group" ]; then kill -KILL -- "-$group" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

mib () { awk -v k="$2:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
sample () { echo "$(mib "$1" VmRSS) ($(mib "$1" RssAnon))"; }

# The image: a 1 MiB layer and a config, pushed monolithically (POST ?digest=), and its manifest.
head -c $((1024 * 1024)) /dev/urandom > "$work/layer"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$work/config"
digest () { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$(digest "$work/config")\",\"size\":$(stat -c%s "$work/config")},\
\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$(digest "$work/layer")\",\"size\":$(stat -c%s "$work/layer")}]}"

traffic () {
  local base=$1 blob
  for blob in "$work/config" "$work/layer"; do
    curl -sf -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$blob" -o /dev/null \
      "$base/v2/bench/rss/blobs/uploads/?digest=$(digest "$blob")"
  done
  curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data "$manifest" -o /dev/null \
    "$base/v2/bench/rss/manifests/v1"
  # 4 connections of 250 requests each: with several workers, connections are spread over them.
  seq 250 | sed "s#.*#url = \"$base/v2/bench/rss/manifests/v1\"\noutput = \"/dev/null\"#" > "$work/urls"
  local clients=()
  for _ in 1 2 3 4; do
    curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' -K "$work/urls" &
    clients+=($!)
  done
  wait "${clients[@]}"
}

printf '| BERTH_WORKERS | process | 2 s after start | 10 s after start | 2 s after traffic | %s s after traffic |\n' "$settle"
printf '| --- | --- | ---: | ---: | ---: | ---: |\n'
for count in "${counts[@]}"; do
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  base="http://127.0.0.1:$port"
  rm -rf "$work/data"
  HOST=127.0.0.1 PORT=$port BERTH_DATA_DIR="$work/data" LOG_LEVEL=warn BERTH_WORKERS=$count \
    setsid node "${node_flags[@]}" dist/server.js >/dev/null 2>&1 &
  primary=$!
  group=$primary
  sleep 2
  curl -sf -o /dev/null "$base/v2/" || { echo "Berth did not answer within 2 s" >&2; exit 1; }
  # The processes, primary first; with one worker the primary serves and there is no other.
  pids=("$primary"); names=("$([ "$count" -gt 1 ] && echo primary || echo server)")
  if [ "$count" -gt 1 ]; then
    n=0; for pid in $(pgrep -P "$primary"); do pids+=("$pid"); names+=("worker $((n += 1))"); done
  fi
  declare -A start=() idle=() busy=() settled=()
  for pid in "${pids[@]}"; do start[$pid]=$(sample "$pid"); done
  sleep 8
  for pid in "${pids[@]}"; do idle[$pid]=$(sample "$pid"); done
  traffic "$base"
  sleep 2
  for pid in "${pids[@]}"; do busy[$pid]=$(sample "$pid"); done
  sleep $((settle - 2))
  for pid in "${pids[@]}"; do settled[$pid]=$(sample "$pid"); done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    printf '| %s | %s | %s | %s | %s | %s |\n' "$count" "${names[$i]}" "${start[$pid]}" "${idle[$pid]}" "${busy[$pid]}" "${settled[$pid]}"
  done
  unset start idle busy settled
  kill -TERM "$primary"; wait "$primary" 2>/dev/null || true
  kill -KILL -- "-$group" 2>/dev/null || true
  group=''
done
