#!/usr/bin/env bash
# callgrind_proxy.sh: user-space instructions per proxied request, augur next to nginx, counted by
# valgrind's callgrind. Unlike time and CPU (bench_proxy.sh), the count does not move with the
# machine's load, so it shows small changes on a noisy VM. Same setup as bench_proxy.sh (mock,
# configs, request: loadtest/bench_lib.sh); each proxy runs under callgrind in turn, the counters
# are zeroed after a warm-up, and wrk's measured run is divided into the instructions the whole
# process (every thread) ran meanwhile. Kernel work is not counted: it is level between the two
# (2 recv + 2 send per request, strace). Output: a Markdown table; --keep-tmp keeps the profiles
# for callgrind_annotate.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUGUR_BIN=${AUGUR_BIN:-$REPO/build/app/augur}
MOCK_BIN=${MOCK_BIN:-$REPO/build/loadtest/mock/augur-mock-upstream}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
SECONDS_RUN=20  # wrk's measured run, wall time (callgrind runs the proxy ~50x slower)
WARMUP=5
CONNS=16
TARGETS_WANTED=(nginx augur)
AUGUR_LEARNING=false  # learning and SONA off; --augur-learning turns them on
MOCK_TOKENS=16
MOCK_ECHO=0
KEEP_TMP=0

usage() {
  cat <<USAGE
usage: $0 [options]
  --augur PATH       augur binary (env AUGUR_BIN; default $AUGUR_BIN)
  --mock PATH        augur-mock-upstream binary (env MOCK_BIN; default $MOCK_BIN)
  --nginx PATH       nginx binary (env NGINX_BIN; default $NGINX_BIN)
  --only T           measure only T (augur or nginx)
  --augur-learning   augur with learning and SONA on (default off, as bench_proxy.sh --augur-lean)
  --seconds S        wrk's measured run (default $SECONDS_RUN)
  --conns N          wrk connections (default $CONNS)
  --keep-tmp         keep the temporary directory (callgrind.out.* files, logs)
USAGE
}

die() {
  echo "callgrind_proxy: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --augur) AUGUR_BIN=$2; shift 2 ;;
    --mock) MOCK_BIN=$2; shift 2 ;;
    --nginx) NGINX_BIN=$2; shift 2 ;;
    --only) TARGETS_WANTED=("$2"); shift 2 ;;
    --augur-learning) AUGUR_LEARNING=true; shift ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
for tool in valgrind callgrind_control wrk; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done
[[ -x $MOCK_BIN ]] || die "mock binary not found: $MOCK_BIN"

# shellcheck source=loadtest/bench_lib.sh
source "$REPO/loadtest/bench_lib.sh"
bench_begin callgrind_proxy

# The mock runs under callgrind too: what a proxy's requests cost the upstream (the mock shares
# a CPU with the proxy in bench_proxy.sh, so that cost is in its RPS figures too).
start_mock valgrind --tool=callgrind --callgrind-out-file="$TMP/callgrind.out.mock"

# measure NAME PORT CMD...: runs CMD under callgrind, warms it up, zeroes its counters, drives it
# with wrk for SECONDS_RUN, dumps the counters and prints "NAME REQUESTS INSTRUCTIONS MAIN MOCK",
# MAIN being the main thread's share (augur's io thread with threads: 1), MOCK the mock's count.
measure() {
  local name=$1 port=$2
  shift 2
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$TMP/callgrind.out.$name" "$@" \
    >"$TMP/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_port "$port" 120 "$pid" || die "$name did not start under valgrind: $(tail -5 "$TMP/$name.log")"
  local url=http://127.0.0.1:$port
  wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_REQUEST_LUA" "$url" >"$TMP/$name.warmup" 2>&1
  callgrind_control -z "$pid" >/dev/null 2>&1
  callgrind_control -z "$MOCK_PID" >/dev/null 2>&1
  wrk -t1 -c"$CONNS" -d"${SECONDS_RUN}s" -s "$BENCH_REQUEST_LUA" "$url" >"$TMP/$name.wrk" 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  callgrind_control -d "$MOCK_PID" >/dev/null 2>&1
  local mock_part  # the mock's dumps are numbered parts, one per measured proxy
  mock_part=$(find "$TMP" -name 'callgrind.out.mock.*' | wc -l)
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -q 'Non-2xx' "$TMP/$name.wrk" && die "$name answered errors: $(cat "$TMP/$name.wrk")"
  local requests instructions main
  requests=$(wrk_requests "$TMP/$name.wrk")
  # The dump made by callgrind_control is part 1, one file per thread (suffix -01 is the main
  # thread); each "summary:" line counts since the counters were zeroed.
  instructions=$(cat "$TMP/callgrind.out.$name.1"-* | awk '/^summary:/ { t += $2 } END { printf "%.0f\n", t + 0 }')
  main=$(awk '/^summary:/ { print $2; exit }' "$TMP/callgrind.out.$name.1-01")
  [[ -n $requests && $instructions -gt 0 && $requests -gt 0 ]] || die "$name: no count ($TMP)"
  echo "$name $requests $instructions $main $(awk '/^summary:/ { print $2; exit }' \
    "$TMP/callgrind.out.mock.$mock_part")"
}

declare -A PER_REQUEST
rows=()
for t in "${TARGETS_WANTED[@]}"; do
  port=$(free_port)
  case $t in
    nginx)
      write_nginx_conf "$TMP/nginx" "$port" "master_process off;"  # one process to count
      line=$(measure nginx "$port" "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
        -e "$TMP/nginx/error.log") ;;
    augur)
      write_augur_conf "$TMP/augur.yaml" "$port" "$(free_port)" "$AUGUR_LEARNING"
      line=$(measure augur "$port" "$AUGUR_BIN" serve --config "$TMP/augur.yaml") ;;
    *) die "unknown target: $t (augur or nginx)" ;;
  esac
  read -r _ requests instructions main mock <<<"$line"
  PER_REQUEST[$t]=$((instructions / requests))
  rows+=("| $t | $requests | $instructions | ${PER_REQUEST[$t]} | $((main / requests)) | $((mock / requests)) |")
done

echo "## User-space instructions per proxied request (callgrind)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?');" \
  "wrk -t1 -c$CONNS, ${SECONDS_RUN}s after ${WARMUP}s of warm-up; augur: 1 io thread, learning and SONA" \
  "$([[ $AUGUR_LEARNING == true ]] && echo on || echo off)."
echo
echo "| target | requests | instructions | per request | of which main (io) thread | the mock's, per request |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
if [[ -n ${PER_REQUEST[augur]:-} && -n ${PER_REQUEST[nginx]:-} ]]; then
  echo
  awk -v a="${PER_REQUEST[augur]}" -v n="${PER_REQUEST[nginx]}" \
    'BEGIN { printf "augur / nginx: %.2f×\n", a / n }'
fi
