#!/usr/bin/env bash
# perf_proxy.sh: where augur's io thread spends its time under the benchmark's load, sampled by
# `perf record -e cpu-clock` (a timer, so it needs no hardware counters and works in VMs that
# have none). Unlike callgrind_proxy.sh, which counts instructions, this measures time: code that
# waits on memory or mispredicts shows as it costs. Same setup as bench_proxy.sh
# (loadtest/bench_lib.sh: the mock and augur on one CPU, wrk and the learning thread on the other).
# Output: the io thread's time split between the kernel and user space, user space by library,
# and the user-space functions that take the most; --keep-tmp keeps perf.data for `perf report`.
# Build augur with symbols for readable names (Release plus -g changes no code):
#   cmake -S . -B build-prof -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUGUR_BIN=${AUGUR_BIN:-$REPO/build/app/augur}
MOCK_BIN=${MOCK_BIN:-$REPO/build/loadtest/mock/augur-mock-upstream}
SECONDS_RUN=10
WARMUP=3
FREQ=20000
CONNS=64
TOP=40
LEARNING=true
INFER=true
MOCK_TOKENS=16
MOCK_ECHO=0
KEEP_TMP=0
SERVER_CPU=0
CLIENT_CPU=1

usage() {
  cat <<EOF
usage: ${0##*/} [options]
  --augur PATH     augur binary (env AUGUR_BIN; default $AUGUR_BIN)
  --mock PATH      augur-mock-upstream binary (env MOCK_BIN; default $MOCK_BIN)
  --headerless     send bench_request_headerless.lua's calls (no run header: runs inferred)
  --no-infer       context.infer: false
  --lean           learning and SONA off
  --seconds S      sampled seconds (default $SECONDS_RUN), after a $WARMUP s warm-up
  --freq HZ        samples a second (default $FREQ)
  --conns N        wrk connections (default $CONNS)
  --top N          user-space functions listed (default $TOP)
  --keep-tmp       keep the temporary directory (perf.data, logs)
Environment: BENCH_REQUEST_LUA picks the request (default loadtest/bench_request.lua).
EOF
}

die() {
  echo "perf_proxy: $*" >&2
  exit 2
}

while (($#)); do
  case $1 in
    --augur) AUGUR_BIN=$2; shift 2 ;;
    --mock) MOCK_BIN=$2; shift 2 ;;
    --headerless) BENCH_REQUEST_LUA=$REPO/loadtest/bench_request_headerless.lua; shift ;;
    --no-infer) INFER=false; shift ;;
    --lean) LEARNING=false; shift ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --freq) FREQ=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --top) TOP=$2; shift 2 ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
for n in "$SECONDS_RUN" "$FREQ" "$CONNS" "$TOP"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: $n"
done
for tool in perf wrk taskset; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done
(($(nproc) >= 2)) || die "needs 2 CPUs (servers on one, wrk on the other)"
[[ -x $AUGUR_BIN ]] || die "augur binary not found: $AUGUR_BIN"
[[ -x $MOCK_BIN ]] || die "mock binary not found: $MOCK_BIN"

# shellcheck source=loadtest/bench_lib.sh
source "$REPO/loadtest/bench_lib.sh"
bench_begin perf_proxy

start_mock taskset -c "$SERVER_CPU"
PORT=$(free_port)
write_augur_conf "$TMP/augur.yaml" "$PORT" "$(free_port)" "$LEARNING" "$INFER"
start_augur "$AUGUR_BIN" "$TMP/augur.yaml" "$PORT" "$TMP/augur.log"

URL=http://127.0.0.1:$PORT
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_REQUEST_LUA" "$URL" \
  >"$TMP/warmup.txt" 2>&1
# wrk runs past both ends of the sampled window, so every sample is taken under full load.
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$((SECONDS_RUN + 3))s" -s "$BENCH_REQUEST_LUA" \
  "$URL" >"$TMP/wrk.txt" 2>&1 &
WRK_PID=$!
sleep 1
# threads: 1, so the main thread is the io thread.
perf record -q -e cpu-clock -F "$FREQ" -t "$AUGUR_PID" -o "$TMP/perf.data" -- sleep "$SECONDS_RUN" \
  >"$TMP/perf.log" 2>&1 || die "perf record failed: $(tail -3 "$TMP/perf.log")"
wait "$WRK_PID"
errors=$(wrk_errors "$TMP/wrk.txt")
((errors == 0)) || die "$errors errors under load: $(cat "$TMP/wrk.txt")"

# "share<TAB>library<TAB>symbol" for every sampled function.
perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null |
  awk '/^ *[0-9.]+%/ {
         share = $1; sub(/%/, "", share); dso = $2; $1 = ""; $2 = ""
         sub(/^ +/, ""); kernel = ($1 == "[k]"); $1 = ""; sub(/^ +/, "")
         print share "\t" (kernel ? "kernel" : dso) "\t" $0 }' >"$TMP/shares.tsv"
[[ -s $TMP/shares.tsv ]] || die "perf report gave no samples"

echo "## augur's io thread, sampled (perf_proxy.sh)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'):" \
  "$(basename "$BENCH_REQUEST_LUA"), c=$CONNS, ${SECONDS_RUN}s at ${FREQ} Hz, context.infer: $INFER," \
  "learning and SONA: $LEARNING; wrk: $(wrk_rps "$TMP/wrk.txt") requests/s over its run, sampling" \
  "included."
echo
echo "| where | share of the io thread's time |"
echo "|---|---:|"
awk -F'\t' '{ s[$2] += $1 } END { for (k in s) printf "| %s | %.2f%% |\n", k, s[k] }' \
  "$TMP/shares.tsv" | sort -t'|' -k3 -gr
echo
echo "Top $TOP user-space functions:"
echo
echo "| share | library | function |"
echo "|---:|---|---|"
awk -F'\t' '$2 != "kernel"' "$TMP/shares.tsv" | sort -t$'\t' -k1 -gr | head -n "$TOP" |
  awk -F'\t' '{ f = $3; if (length(f) > 110) f = substr(f, 1, 107) "..."; printf "| %.2f%% | %s | `%s` |\n", $1, $2, f }'
