#!/usr/bin/env bash
# ab_augur.sh: is augur build B faster than build A? Both serve at once, behind one mock, and wrk
# loads them in turn, --pairs times: A then B, then B then A in the next pair. On a VM whose speed
# drifts from one run to the next (one binary's user time a request has moved by more than half
# between 5 s runs here), only the ratio within a pair means much; the report gives the median of
# the pairs' ratios.
# Per run: requests a second at --conns connections, and the io thread's user and system time a
# request. Same setup as bench_proxy.sh (loadtest/bench_lib.sh: mock, config, request, pinning:
# servers on one CPU, wrk and both learning threads on the other). See --help.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOCK_BIN=${MOCK_BIN:-$REPO/build/loadtest/mock/augur-mock-upstream}
PAIRS=10
DURATION=5
WARMUP=2
CONNS=64
MOCK_TOKENS=16
MOCK_ECHO=0
INFER=true
LEARNING=true
SERVER_CPU=0
CLIENT_CPU=1

usage() {
  cat <<EOF
usage: ${0##*/} [options] A_BIN B_BIN
Runs two augur binaries side by side and reports B / A, paired run by run.
  --pairs N          pairs of runs, A first in odd pairs, B first in even ones (default $PAIRS)
  --duration S       seconds per run (default $DURATION)
  --warmup S         seconds of warm-up per binary before the pairs (default $WARMUP)
  --conns N          wrk connections (default $CONNS)
  --headerless       send bench_request_headerless.lua's calls (no run header: runs inferred)
  --no-infer         context.infer: false for both
  --lean             learning and SONA off for both
  --mock PATH        augur-mock-upstream binary (env MOCK_BIN; default $MOCK_BIN)
Environment: BENCH_REQUEST_LUA picks the request (default loadtest/bench_request.lua); any other
variable reaches both binaries.
EOF
}

die() {
  echo "ab_augur: $*" >&2
  exit 2
}

BINS=()
while (($#)); do
  case $1 in
    --pairs) PAIRS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --headerless) BENCH_REQUEST_LUA=$REPO/loadtest/bench_request_headerless.lua; shift ;;
    --no-infer) INFER=false; shift ;;
    --lean) LEARNING=false; shift ;;
    --mock) MOCK_BIN=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option: $1 (see --help)" ;;
    *) BINS+=("$1"); shift ;;
  esac
done
((${#BINS[@]} == 2)) || { usage >&2; exit 2; }
for n in "$PAIRS" "$DURATION" "$WARMUP" "$CONNS"; do
  [[ $n =~ ^[0-9]+$ ]] || die "not a whole number: $n"
done
((PAIRS >= 1 && DURATION >= 1 && CONNS >= 1)) || die "--pairs, --duration and --conns must be >= 1"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
if ! command -v taskset >/dev/null || (($(nproc) < 2)); then die "needs taskset and 2 CPUs"; fi
[[ -x $MOCK_BIN ]] || die "mock binary not found: $MOCK_BIN"
for b in "${BINS[@]}"; do [[ -x $b ]] || die "augur binary not found: $b"; done

# shellcheck source=loadtest/bench_lib.sh
source "$REPO/loadtest/bench_lib.sh"
bench_begin ab_augur

start_mock taskset -c "$SERVER_CPU"
declare -A URL IO
for k in A B; do
  bin=${BINS[0]}
  [[ $k == B ]] && bin=${BINS[1]}
  port=$(free_port)
  write_augur_conf "$TMP/$k.yaml" "$port" "$(free_port)" "$LEARNING" "$INFER"
  start_augur "$bin" "$TMP/$k.yaml" "$port" "$TMP/$k.log"
  URL[$k]=http://127.0.0.1:$port
  IO[$k]=$AUGUR_PID/task/$AUGUR_PID  # threads: 1, so the main thread serves
done

# load K SECONDS: wrk against K, its output in $TMP/wrk.out (the caller reads the io thread's CPU
# time around it).
load() {
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$2"s -s "$BENCH_REQUEST_LUA" "${URL[$1]}" >"$TMP/wrk.out"
  local errors
  errors=$(wrk_errors "$TMP/wrk.out")
  ((errors == 0)) || die "$1: $errors errors in a run: $(cat "$TMP/wrk.out")"
}

if ((WARMUP > 0)); then
  for k in A B; do load "$k" "$WARMUP"; done
fi
RPS_RATIO=() USER_RATIO=() SYS_RATIO=()
echo "| pair | A RPS | B RPS | A user µs/req | B user µs/req | A system µs/req | B system µs/req |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for pair in $(seq "$PAIRS"); do
  declare -A R U S
  order=(A B)
  ((pair % 2)) || order=(B A)
  for k in "${order[@]}"; do
    all0=$(cpu_ticks "${IO[$k]}")
    user0=$(cpu_ticks --user "${IO[$k]}")
    load "$k" "$DURATION"
    all1=$(cpu_ticks "${IO[$k]}")
    user1=$(cpu_ticks --user "${IO[$k]}")
    R[$k]=$(wrk_rps "$TMP/wrk.out")
    U[$k]=$(per_request "$user0" "$user1" "$TMP/wrk.out")
    S[$k]=$(per_request $((all0 - user0)) $((all1 - user1)) "$TMP/wrk.out")
  done
  echo "| $pair | ${R[A]} | ${R[B]} | ${U[A]} | ${U[B]} | ${S[A]} | ${S[B]} |"
  RPS_RATIO+=("$(awk -v a="${R[A]}" -v b="${R[B]}" 'BEGIN { printf "%.3f", b / a }')")
  USER_RATIO+=("$(awk -v a="${U[A]}" -v b="${U[B]}" 'BEGIN { printf "%.3f", b / a }')")
  SYS_RATIO+=("$(awk -v a="${S[A]}" -v b="${S[B]}" 'BEGIN { printf "%.3f", b / a }')")
done
echo
echo "B / A, median of $PAIRS pairs: RPS $(median "${RPS_RATIO[@]}")×, io thread user time" \
  "$(median "${USER_RATIO[@]}")×, system time $(median "${SYS_RATIO[@]}")× (each pair's RPS ratio:" \
  "${RPS_RATIO[*]})"
echo "A: ${BINS[0]}; B: ${BINS[1]}; $(basename "$BENCH_REQUEST_LUA"), c=$CONNS, ${DURATION}s runs," \
  "context.infer: $INFER, learning and SONA: $LEARNING; load average before: $LOAD_BEFORE"
