#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suites against Berth, on three setups, and fails on any failure:
#   fs    the filesystem store
#   s3    MinIO (a throwaway one from scripts/minio.sh)
#   auth  the filesystem store with auth on, as a user who is not an admin (the suites push to that user's own
#         namespace, `conformance/...`)
#
# On each setup:
#   1. the Ginkgo suite (af32c8c) with every workflow and automatic cross-mount (OCI_AUTOMATIC_CROSSMOUNT=1)
#   2. the redesigned suite (967efdc) with OCI_VERSION=1.1
#   3. Berth's own conformance/suite.ts (fs and s3; it has no credentials option)
#   4. Berth restarted on the same store with BERTH_SPARSE_MANIFESTS=true, and the redesigned suite again with
#      the optional API tests on (upload cancel, tag parameters, digest headers) and its sparse data set
#      (OCI_DATA_SPARSE=true). One pass for both: the suite's OCI_FILTER_TEST cannot select the sparse tests
#      alone (it then writes no report and exits 0), and the optional APIs do not depend on sparse validation,
#      which pass 2 checks strictly on the default server.
# Each pass uses its own repositories. The suites are built by conformance/install.sh (from the vendored source
# archives; a failure to build fails the run).
#
# With auth on, both suites get the user's OCI_USERNAME/OCI_PASSWORD and go through the Docker token flow: each
# request is answered 401 with a Bearer challenge, the suite fetches a token for the challenge's scope from
# GET /v2/token with Basic credentials, and retries with it.
#
# Prints one line per pass and setup with its duration, then `conformance: N passed, N failed` summed over every
# pass; exits non-zero if anything failed.
#
# Results go to results/<setup>/<pass>/ (gitignored: junit.xml, report.html, output.log), the server log to
# results/<setup>/server.log.
# Environment: BERTH_CONFORMANCE_SETUPS (space-separated, default "fs s3 auth"), BERTH_TOOLS_CACHE (see install.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RESULTS="$ROOT/results"
SETUPS=${BERTH_CONFORMANCE_SETUPS:-fs s3 auth}

log() { echo "conformance/run.sh: $*" >&2; }

# Server lifecycle (start_driver_run, relaunch_server, berth_cli, stop_server), JUnit totals (add_counts), build_berth.
source "$ROOT/scripts/lib/run-berth.sh"
trap stop_server EXIT
trap 'exit 130' INT TERM

# --- 1. build Berth and the suites ------------------------------------------------------------------------------------
build_berth
install_out=$(bash "$ROOT/conformance/install.sh")
GINKGO_SUITE=$(sed -n 's/^GINKGO_SUITE=//p' <<<"$install_out")
MAIN_SUITE=$(sed -n 's/^MAIN_SUITE=//p' <<<"$install_out")
[ -x "$GINKGO_SUITE" ] && [ -x "$MAIN_SUITE" ] || { log "install.sh did not produce both suites"; exit 1; }

TIMINGS=()

# timed LABEL CMD...: runs CMD, records its duration under LABEL, returns its status.
timed() {
  local label=$1 started=$SECONDS rc=0
  shift
  "$@" || rc=$?
  TIMINGS+=("$label: $((SECONDS - started)) s")
  return "$rc"
}

# run_ginkgo SETUP OUT: the Ginkgo suite, every workflow, automatic cross-mount expected to answer 201.
run_ginkgo() {
  local setup=$1 dir="$2/ginkgo" rc=0
  mkdir -p "$dir"
  log "$setup: Ginkgo suite"
  env OCI_ROOT_URL="http://127.0.0.1:$PORT" OCI_USERNAME="$USERNAME" OCI_PASSWORD="$PASSWORD" OCI_NAMESPACE=conformance/ginkgo/repo1 OCI_CROSSMOUNT_NAMESPACE=conformance/ginkgo/repo2 \
    OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
    OCI_AUTOMATIC_CROSSMOUNT=1 OCI_DELETE_MANIFEST_BEFORE_BLOBS=1 OCI_HIDE_SKIPPED_WORKFLOWS=1 \
    OCI_REPORT_DIR="$dir" OCI_DEBUG=0 \
    "$GINKGO_SUITE" -ginkgo.v -ginkgo.no-color >"$dir/output.log" 2>&1 || rc=$?
  grep -E '^(Ran |SUCCESS|FAIL)|\[FAIL\]' "$dir/output.log" | tail -n 20 >&2 || true
  [ -s "$dir/junit.xml" ] || { log "$setup: the Ginkgo suite wrote no junit.xml"; rc=1; }
  add_counts "$setup/ginkgo" "$dir/junit.xml" "$rc"
}

# run_main SETUP OUT PASS NAME=value...: one pass of the redesigned suite, in its own repositories.
run_main() {
  local setup=$1 pass=$3 dir="$2/$3" rc=0
  shift 3
  mkdir -p "$dir"
  log "$setup: redesigned suite, $pass"
  local -a creds=()
  [ -z "$USERNAME" ] || creds=("OCI_USERNAME=$USERNAME" "OCI_PASSWORD=$PASSWORD")
  (cd "$dir" && env OCI_REGISTRY="127.0.0.1:$PORT" OCI_TLS=disabled OCI_VERSION=1.1 \
    OCI_REPO1="conformance/$pass/repo1" OCI_REPO2="conformance/$pass/repo2" OCI_RESULTS_DIR="$dir" OCI_LOG=warn \
    "${creds[@]}" "$@" "$MAIN_SUITE" >"$dir/output.log" 2>&1) || rc=$?
  sed -n '/^OCI Conformance Result/,$p' "$dir/output.log" | grep -Ev ':\s+(Pass|Disabled)$' >&2 || true
  # The suite exits 0 without a report when it cannot write one (e.g. with OCI_FILTER_TEST): that is a failure.
  [ -s "$dir/junit.xml" ] || { log "$setup: the redesigned suite ($pass) wrote no junit.xml"; rc=1; }
  add_counts "$setup/$pass" "$dir/junit.xml" "$rc"
}

# run_suite_ts SETUP OUT: Berth's own checklist suite.
run_suite_ts() {
  local setup=$1 out=$2 rc=0
  log "$setup: Berth's conformance/suite.ts"
  npx --no-install tsx conformance/suite.ts --url "http://127.0.0.1:$PORT" --repo conformance/repo1 --repo2 conformance/repo2 \
    --junit "$out/suite/junit.xml" >"$out/suite.log" 2>&1 || rc=$?
  tail -n 3 "$out/suite.log" >&2
  add_counts "$setup/suite" "$out/suite/junit.xml" "$rc"
}

# --- 2. one run per setup ---------------------------------------------------------------------------------------------
for setup in $SETUPS; do
  out="$RESULTS/$setup"
  setup_started=$SECONDS
  USERNAME=""
  PASSWORD=""
  case "$setup" in
    fs | s3) start_driver_run "$setup" "$out" || continue ;;
    auth)
      # An admin from the environment turns auth on; the suites run as `conformance`, an ordinary user whose
      # namespace holds every repository they push to.
      admin_password=$(node -e 'console.log(require("node:crypto").randomBytes(18).toString("base64url"))')
      start_driver_run fs "$out" BERTH_ADMIN_USER=conformance-admin "BERTH_ADMIN_PASSWORD=$admin_password" || continue
      USERNAME=conformance
      PASSWORD=$(node -e 'console.log(require("node:crypto").randomBytes(18).toString("base64url"))')
      if ! printf %s "$PASSWORD" | berth_cli user add "$USERNAME" >&2; then
        add_counts "$setup/user" /dev/null 1
        stop_server
        continue
      fi
      ;;
    *) log "unknown setup '$setup' (fs, s3 or auth)"; add_counts "$setup" /dev/null 1; continue ;;
  esac

  timed "$setup/ginkgo" run_ginkgo "$setup" "$out"
  timed "$setup/main" run_main "$setup" "$out" main
  [ "$setup" = auth ] || timed "$setup/suite" run_suite_ts "$setup" "$out"

  log "$setup: restarting Berth with BERTH_SPARSE_MANIFESTS=true"
  if relaunch_server BERTH_SPARSE_MANIFESTS=true; then
    timed "$setup/optional+sparse" run_main "$setup" "$out" optional-sparse \
      OCI_API_BLOBS_UPLOAD_CANCEL=true OCI_API_MANIFESTS_TAG_PARAM=true \
      OCI_API_BLOBS_DIGEST_HEADER=true OCI_API_MANIFESTS_DIGEST_HEADER=true OCI_DATA_SPARSE=true
  else
    add_counts "$setup/sparse-server" /dev/null 1
  fi

  stop_server
  TIMINGS+=("$setup (whole setup, with server and MinIO start): $((SECONDS - setup_started)) s")
done

# --- 3. summary -------------------------------------------------------------------------------------------------------
echo
for line in "${SUMMARY[@]}"; do echo "  $line"; done
echo "durations:"
for line in "${TIMINGS[@]}"; do echo "  $line"; done
echo "conformance: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if [ "$TOTAL_FAILED" -gt 0 ]; then STATUS=1; fi
exit "$STATUS"
