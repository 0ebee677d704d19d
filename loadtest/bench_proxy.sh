#!/usr/bin/env bash
# bench_proxy.sh: what does augur add on top of its upstream, next to nginx doing comparable work?
# One run measures, against the same augur-mock-upstream on loopback:
#   direct  (wrk → mock), nginx (wrk → nginx → mock), augur (wrk → augur → mock)
# (1) latency p50/p99 at one connection (wrk -c1 --latency), (2) requests/s at --conns connections,
# plus the proxy's CPU time per request during (2), which is far less noisy than RPS on a busy box.
# Targets are interleaved within each repetition and the median of the repetitions is reported.
# Output: a Markdown report on stdout (and --out FILE). See --help.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUGUR_BIN=${AUGUR_BIN:-$REPO/build/app/augur}
MOCK_BIN=${MOCK_BIN:-$REPO/build/loadtest/mock/augur-mock-upstream}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
NGINX_TEMPLATE=$REPO/loadtest/nginx/proxy.conf.in
DURATION=10      # seconds per measurement
WARMUP=2         # seconds of warm-up per target (fills keep-alive pools, caches)
REPS=3
CONNS=64
SERVER_CPU=0     # mock and proxies share this CPU (as a proxy and its origin would on one core)
CLIENT_CPU=1     # wrk
WITH_AUGUR=auto  # auto: if the binary exists
WITH_NGINX=1
AUGUR_LEARNING=true  # learning + SONA on, as augur runs by default (--augur-lean: both off)
AUGUR_INFER=true     # context.infer (--augur-no-infer: off)
LEARNING_CPU=client  # where augur's learning thread runs: client (wrk's CPU) or server
MOCK_ECHO=0      # 1: keep the mock's request echo (bigger responses, more mock CPU)
MOCK_TOKENS=16
OUT=""
KEEP_TMP=0

usage() {
  cat <<EOF
usage: $0 [options]
  --augur PATH       augur binary (env AUGUR_BIN; default $AUGUR_BIN)
  --mock PATH        augur-mock-upstream binary (env MOCK_BIN; default $MOCK_BIN)
  --nginx PATH       nginx binary (env NGINX_BIN; default $NGINX_BIN)
  --no-augur         skip augur (default: skipped with a note when the binary is missing)
  --require-augur    fail when augur is missing or does not start
  --no-nginx         skip nginx
  --augur-lean       augur with learning and SONA off (lookup + injection only)
  --augur-no-infer   augur with run inference off (context.infer: false): with --headerless, what
                     inferring runs costs, every call then being a run of its own
  --headerless       send loadtest/bench_request_headerless.lua's requests: no run header, 1-3 KB
                     growing conversations, so augur infers every run (default: the NAT-header
                     request of loadtest/bench_request.lua)
  --learning-cpu W   client (default): augur's background learning thread on wrk's CPU, its io
                     thread with the mock like nginx's worker; server: everything on one CPU
  --duration S       seconds per measurement (default $DURATION)
  --warmup S         warm-up seconds per target (default $WARMUP)
  --reps N           repetitions; the median is reported (default $REPS)
  --conns N          connections for the throughput run (default $CONNS)
  --server-cpu N     CPU for mock and proxies (default $SERVER_CPU)
  --client-cpu N     CPU for wrk (default $CLIENT_CPU)
  --tokens N         completion tokens per mock response (default $MOCK_TOKENS)
  --mock-echo        keep the mock's request-header/body echo in responses
  --out FILE         also write the report to FILE
  --keep-tmp         keep the temporary directory (configs, logs, raw wrk output)
EOF
}

die() {
  echo "bench_proxy: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --augur) AUGUR_BIN=$2; WITH_AUGUR=auto; shift 2 ;;
    --mock) MOCK_BIN=$2; shift 2 ;;
    --nginx) NGINX_BIN=$2; shift 2 ;;
    --no-augur) WITH_AUGUR=0; shift ;;
    --require-augur) WITH_AUGUR=1; shift ;;
    --no-nginx) WITH_NGINX=0; shift ;;
    --augur-lean) AUGUR_LEARNING=false; shift ;;
    --augur-no-infer) AUGUR_INFER=false; shift ;;
    --headerless) HEADERLESS=1; shift ;;
    --learning-cpu) LEARNING_CPU=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --client-cpu) CLIENT_CPU=$2; shift 2 ;;
    --tokens) MOCK_TOKENS=$2; shift 2 ;;
    --mock-echo) MOCK_ECHO=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[[ $LEARNING_CPU == client || $LEARNING_CPU == server ]] || die "--learning-cpu: client or server"
for n in "$DURATION" "$WARMUP" "$REPS" "$CONNS" "$MOCK_TOKENS"; do
  [[ $n =~ ^[0-9]+$ ]] || die "not a whole number: $n"
done
((REPS >= 1 && DURATION >= 1 && CONNS >= 1)) || die "--reps, --duration and --conns must be >= 1"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
[[ -x $MOCK_BIN ]] || die "mock binary not found: $MOCK_BIN (cmake --build BUILD --target augur-mock-upstream)"
NOTES=()
if [[ $WITH_NGINX == 1 && ! -x $NGINX_BIN ]]; then
  NOTES+=("nginx skipped: $NGINX_BIN not found")
  WITH_NGINX=0
fi
if [[ $WITH_AUGUR != 0 && ! -x $AUGUR_BIN ]]; then
  [[ $WITH_AUGUR == 1 ]] && die "augur binary not found: $AUGUR_BIN"
  NOTES+=("augur skipped: $AUGUR_BIN not found")
  WITH_AUGUR=0
fi

# Pinning: servers on one CPU, the load generator on another, so wrk never steals the servers' CPU.
PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
  PIN_SERVER=(taskset -c "$SERVER_CPU")
  PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
  NOTES+=("no CPU pinning (needs taskset and 2 CPUs)")
fi

# shellcheck source=loadtest/bench_lib.sh
source "$REPO/loadtest/bench_lib.sh"
bench_begin bench_proxy
[[ ${HEADERLESS:-0} == 1 ]] && BENCH_REQUEST_LUA=$REPO/loadtest/bench_request_headerless.lua
if [[ $BENCH_REQUEST_LUA == */bench_request_headerless.lua ]]; then
  REQUEST_DESCRIPTION="1.0-3.4 KB growing conversations (2-8 messages, tools), no run header (runs of 4 calls, inferred)"
else
  REQUEST_DESCRIPTION="~300-byte body, x-nat-* run headers (runs of 4 calls)"
fi

# How often the kernel took the CPU from the given processes or threads (as for cpu_ticks): their
# involuntary context switches. With the mock on the same CPU, each is the mock waking up and
# preempting the proxy, which then waits for the mock to drain its requests.
preemptions() {
  local pid
  for pid in "$@"; do cat "/proc/$pid/status" 2>/dev/null || true; done |
    awk '/^nonvoluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# ---------------------------------------------------------------------------------------------
# The upstream.
start_mock "${PIN_SERVER[@]}"

TARGETS=(direct)
declare -A URL PROC_PIDS
URL[direct]=http://127.0.0.1:$MOCK_PORT
PROC_PIDS[direct]=""  # no proxy

# ---------------------------------------------------------------------------------------------
# nginx.
if [[ $WITH_NGINX == 1 ]]; then
  NGINX_PORT=$(free_port)
  write_nginx_conf "$TMP/nginx" "$NGINX_PORT"
  "${PIN_SERVER[@]}" "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
    -e "$TMP/nginx/error.log" >"$TMP/nginx/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  if wait_port "$NGINX_PORT" 10 "$NGINX_PID"; then
    TARGETS+=(nginx)
    URL[nginx]=http://127.0.0.1:$NGINX_PORT
    PROC_PIDS[nginx]="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
  else
    NOTES+=("nginx failed to start: $(tail -3 "$TMP/nginx/error.log" "$TMP/nginx/stdout.log" 2>/dev/null | tr '\n' ' ')")
  fi
fi

# ---------------------------------------------------------------------------------------------
# augur doing its real per-request work: context tracking (run table), a trie lookup (NAT's fixture;
# the benchmark's function path is in it), SONA's embedding and suggestion, injection of x-nat-*
# headers plus nvext body hints, and timing every response into the learning queue. The learning
# thread (trie rebuilds, SONA's loops) is background work: by default it runs on wrk's CPU, as it
# would on a spare core in a deployment, and its CPU is still counted in augur's CPU per request;
# --learning-cpu server puts it on the proxies' CPU too.
if [[ $WITH_AUGUR != 0 ]]; then
  AUGUR_PORT=$(free_port)
  AUGUR_ADMIN_PORT=$(free_port)
  write_augur_conf "$TMP/augur.yaml" "$AUGUR_PORT" "$AUGUR_ADMIN_PORT" "$AUGUR_LEARNING" "$AUGUR_INFER"
  "${PIN_SERVER[@]}" "$AUGUR_BIN" serve --config "$TMP/augur.yaml" >"$TMP/augur.log" 2>&1 &
  AUGUR_PID=$!
  PIDS+=("$AUGUR_PID")
  if wait_port "$AUGUR_PORT" 15 "$AUGUR_PID"; then
    TARGETS+=(augur)
    URL[augur]=http://127.0.0.1:$AUGUR_PORT
    PROC_PIDS[augur]=$AUGUR_PID
    # The io thread is the main thread (threads: 1); the learning thread names itself.
    IO_THREAD=$AUGUR_PID/task/$AUGUR_PID
    LEARN_TID=""
    for task in /proc/"$AUGUR_PID"/task/*; do
      [[ $(cat "$task/comm" 2>/dev/null) == augur-learn ]] && LEARN_TID=${task##*/}
    done
    if [[ -n $LEARN_TID && $LEARNING_CPU == client && ${#PIN_CLIENT[@]} -gt 0 ]]; then
      taskset -p -c "$CLIENT_CPU" "$LEARN_TID" >/dev/null
    fi
  else
    [[ $WITH_AUGUR == 1 ]] && die "augur did not start: $(tail -5 "$TMP/augur.log")"
    NOTES+=("augur failed to start: $(tail -3 "$TMP/augur.log" | tr '\n' ' ')")
  fi
fi

# ---------------------------------------------------------------------------------------------
# Every target must answer the request with 200 before it is measured.
for t in "${TARGETS[@]}"; do
  code=$(curl -s -o "$TMP/check-$t.out" -w '%{http_code}' -m 5 -X POST \
    -H 'Content-Type: application/json' -H 'x-nat-run-id: bench-check' \
    -d '{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}' \
    "${URL[$t]}/v1/chat/completions" || true)
  [[ $code == 200 ]] || die "$t answered $code to the check request: $(head -c 300 "$TMP/check-$t.out")"
done

# run_wrk NAME TARGET CONNS SECONDS EXTRA...: raw output in $TMP/NAME.txt.
run_wrk() {
  local name=$1 target=$2 conns=$3 secs=$4
  shift 4
  "${PIN_CLIENT[@]}" wrk -t1 -c"$conns" -d"${secs}s" -s "$BENCH_REQUEST_LUA" "$@" "${URL[$target]}" \
    >"$TMP/$name.txt" 2>&1 || die "wrk failed for $target: $(tail -3 "$TMP/$name.txt")"
}

echo "bench_proxy: targets ${TARGETS[*]}; $REPS x (${DURATION}s at c=1 + ${DURATION}s at c=$CONNS) each" >&2
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# Other work on the box (compiles, tests) shows up as p99 in the tens of ms and RPS swings.
if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  NOTES+=("machine busy at start (load ${LOAD_BEFORE%% *} on $(nproc) CPUs): treat figures as noisy")
fi
if ((WARMUP > 0)); then
  for t in "${TARGETS[@]}"; do run_wrk "warmup-$t" "$t" "$CONNS" "$WARMUP"; done
fi

declare -A P50 P99 RPS CPU IOCPU IOUSER MOCKCPU PREEMPT ERR
# Each repetition runs every target once; the proxies swap places every other repetition, so a
# slow drift of the machine favours neither.
REVERSED=("${TARGETS[0]}")
for ((i = ${#TARGETS[@]} - 1; i >= 1; i--)); do REVERSED+=("${TARGETS[i]}"); done
for rep in $(seq "$REPS"); do
  order=("${TARGETS[@]}")
  ((rep % 2 == 0)) && order=("${REVERSED[@]}")
  for t in "${order[@]}"; do
    echo "bench_proxy: rep $rep/$REPS $t" >&2
    run_wrk "lat-$t-$rep" "$t" 1 "$DURATION" --latency
    P50[$t]+="$(wrk_pct "$TMP/lat-$t-$rep.txt" 50) "
    P99[$t]+="$(wrk_pct "$TMP/lat-$t-$rep.txt" 99) "
    # shellcheck disable=SC2086 # PROC_PIDS holds a list
    before=$(cpu_ticks ${PROC_PIDS[$t]})
    io_before=$([[ $t == augur ]] && cpu_ticks "$IO_THREAD" || echo 0)
    # The thread that serves requests: augur's io thread, nginx's worker (its master sleeps).
    serving=$([[ $t == augur ]] && echo "$IO_THREAD" || echo "${PROC_PIDS[$t]}")
    # shellcheck disable=SC2086 # serving may list processes
    user_before=$(cpu_ticks --user $serving)
    mock_before=$(cpu_ticks "$MOCK_PID")
    # shellcheck disable=SC2086
    pre_before=$(preemptions $serving)
    run_wrk "rps-$t-$rep" "$t" "$CONNS" "$DURATION"
    # shellcheck disable=SC2086
    after=$(cpu_ticks ${PROC_PIDS[$t]})
    io_after=$([[ $t == augur ]] && cpu_ticks "$IO_THREAD" || echo 0)
    # shellcheck disable=SC2086
    user_after=$(cpu_ticks --user $serving)
    mock_after=$(cpu_ticks "$MOCK_PID")
    # shellcheck disable=SC2086
    pre_after=$(preemptions $serving)
    RPS[$t]+="$(wrk_rps "$TMP/rps-$t-$rep.txt") "
    CPU[$t]+="$(per_request "$before" "$after" "$TMP/rps-$t-$rep.txt") "
    IOCPU[$t]+="$(per_request "$io_before" "$io_after" "$TMP/rps-$t-$rep.txt") "
    MOCKCPU[$t]+="$(per_request "$mock_before" "$mock_after" "$TMP/rps-$t-$rep.txt") "
    IOUSER[$t]+="$(per_request "$user_before" "$user_after" "$TMP/rps-$t-$rep.txt") "
    PREEMPT[$t]+="$(awk -v d=$((pre_after - pre_before)) -v n="$(wrk_requests "$TMP/rps-$t-$rep.txt")" \
      'BEGIN { printf "%.2f", (n > 0 ? d / n : 0) }') "
    ERR[$t]=$((${ERR[$t]:-0} + $(wrk_errors "$TMP/lat-$t-$rep.txt") + $(wrk_errors "$TMP/rps-$t-$rep.txt")))
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Report.
declare -A M50 M99 MRPS MCPU MIO MUSER MMOCK MPRE
for t in "${TARGETS[@]}"; do
  # shellcheck disable=SC2086
  M50[$t]=$(median ${P50[$t]})
  # shellcheck disable=SC2086
  M99[$t]=$(median ${P99[$t]})
  # shellcheck disable=SC2086
  MRPS[$t]=$(median ${RPS[$t]})
  # shellcheck disable=SC2086
  MCPU[$t]=$(median ${CPU[$t]})
  # shellcheck disable=SC2086
  MIO[$t]=$(median ${IOCPU[$t]})
  # shellcheck disable=SC2086
  MUSER[$t]=$(median ${IOUSER[$t]})
  # shellcheck disable=SC2086
  MMOCK[$t]=$(median ${MOCKCPU[$t]})
  # shellcheck disable=SC2086
  MPRE[$t]=$(median ${PREEMPT[$t]})
done
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

report() {
  echo "## Proxy overhead: direct vs nginx vs augur"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))," \
    "git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'); load average $LOAD_BEFORE before, $LOAD_AFTER after."
  echo "Servers pinned to CPU $SERVER_CPU, wrk ($(wrk --version 2>&1 | head -1 | awk '{ print $2 }')) to CPU $CLIENT_CPU;" \
    "median of $REPS repetitions of ${DURATION}s; POST /v1/chat/completions, $REQUEST_DESCRIPTION;" \
    "mock: 1 thread, $MOCK_TOKENS tokens, non-streaming, echo $([[ $MOCK_ECHO == 1 ]] && echo on || echo off);" \
    "augur: 1 io thread, learning and SONA $([[ $AUGUR_LEARNING == true ]] && echo on || echo off)$(
      [[ $AUGUR_LEARNING == true ]] && echo ", learning thread on CPU $([[ $LEARNING_CPU == client ]] && echo "$CLIENT_CPU" || echo "$SERVER_CPU")")$(
      [[ $AUGUR_INFER == false ]] && echo ", run inference off")."
  echo
  echo "| target | p50 µs (c=1) | p99 µs (c=1) | added p50 µs | added p99 µs | RPS (c=$CONNS) | RPS vs direct | proxy CPU µs/req | of which io thread | io thread user | mock CPU µs/req | preempted /req | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for t in "${TARGETS[@]}"; do
    if [[ $t == direct ]]; then
      add50=— add99=— cpu=— io=— user=— pre=—
    else
      add50=$(calc '%+.0f' "${M50[$t]} - ${M50[direct]}")
      add99=$(calc '%+.0f' "${M99[$t]} - ${M99[direct]}")
      cpu=${MCPU[$t]}
      io=$([[ $t == augur ]] && echo "${MIO[$t]}" || echo "${MCPU[$t]}")
      user=${MUSER[$t]}
      pre=${MPRE[$t]}
    fi
    echo "| $t | ${M50[$t]} | ${M99[$t]} | $add50 | $add99 | ${MRPS[$t]} | $(calc '%.2f' "${MRPS[$t]} / ${MRPS[direct]}") | $cpu | $io | $user | ${MMOCK[$t]} | $pre | ${ERR[$t]} |"
  done
  echo
  if [[ -n ${M50[augur]:-} && -n ${M50[nginx]:-} ]]; then
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "n/a" }'; }
    echo "augur / nginx: added p50 $(ratio "$(calc '%.0f' "${M50[augur]} - ${M50[direct]}")" "$(calc '%.0f' "${M50[nginx]} - ${M50[direct]}")")," \
      "added p99 $(ratio "$(calc '%.0f' "${M99[augur]} - ${M99[direct]}")" "$(calc '%.0f' "${M99[nginx]} - ${M99[direct]}")")," \
      "RPS $(ratio "${MRPS[augur]}" "${MRPS[nginx]}"), CPU/req $(ratio "${MCPU[augur]}" "${MCPU[nginx]}")," \
      "io thread CPU/req $(ratio "${MIO[augur]}" "${MCPU[nginx]}")" \
      "(user $(ratio "${MUSER[augur]}" "${MUSER[nginx]}"), system $(ratio "$(calc '%.2f' "${MIO[augur]} - ${MUSER[augur]}")" "$(calc '%.2f' "${MCPU[nginx]} - ${MUSER[nginx]}")"))"
    echo
    # The same ratios within each repetition (the two ran minutes apart at most), then their
    # median: on a VM whose neighbours come and go, steadier than a ratio of medians.
    local -a p50a p50n p50d rpsa rpsn cpua cpun r50=() rrps=() rcpu=()
    read -ra p50a <<<"${P50[augur]}"
    read -ra p50n <<<"${P50[nginx]}"
    read -ra p50d <<<"${P50[direct]}"
    read -ra rpsa <<<"${RPS[augur]}"
    read -ra rpsn <<<"${RPS[nginx]}"
    read -ra cpua <<<"${CPU[augur]}"
    read -ra cpun <<<"${CPU[nginx]}"
    for i in "${!p50a[@]}"; do
      r50+=("$(awk -v a="${p50a[i]}" -v n="${p50n[i]}" -v d="${p50d[i]}" \
        'BEGIN { printf "%.2f", (n - d > 0) ? (a - d) / (n - d) : 99 }')")
      rrps+=("$(calc '%.2f' "${rpsa[i]} / ${rpsn[i]}")")
      rcpu+=("$(calc '%.2f' "${cpua[i]} / ${cpun[i]}")")
    done
    echo "Paired by repetition, augur / nginx (median; each repetition's ratio):" \
      "added p50 $(calc %.2f "$(median "${r50[@]}")")× (${r50[*]}), RPS $(calc %.2f "$(median "${rrps[@]}")")× (${rrps[*]})," \
      "CPU/req $(calc %.2f "$(median "${rcpu[@]}")")× (${rcpu[*]})"
    echo
  fi
  echo "Raw per repetition:"
  echo
  for t in "${TARGETS[@]}"; do
    echo "- $t: p50 ${P50[$t]}/ p99 ${P99[$t]}/ RPS ${RPS[$t]}/ proxy CPU ${CPU[$t]}/ $([[ $t == augur ]] && echo "io thread CPU ${IOCPU[$t]}/ ")$([[ $t != direct ]] && echo "io thread user ${IOUSER[$t]}/ ")mock CPU ${MOCKCPU[$t]}$([[ $t != direct ]] && echo "/ preempted ${PREEMPT[$t]}" || true)"
  done
  for n in "${NOTES[@]}"; do echo "- note: $n"; done
  echo
  echo "Added latency is target minus direct, so noise can make it negative. RPS at c=$CONNS has the" \
    "proxy and the mock sharing CPU $SERVER_CPU: it is a relative figure, not a ceiling. CPU µs/req is the" \
    "proxy's user+system time over the throughput run divided by the requests it served (for augur: all" \
    "its threads, learning included; the next column is its io thread alone, nginx's worker for nginx," \
    "and the one after that its user time: the rest is the kernel's, system calls and the loopback" \
    "TCP stack that runs inside them). Preempted /req: the" \
    "proxy's involuntary context switches (augur: its io thread) per request at c=$CONNS, each the mock" \
    "waking on the shared CPU and running first."
}

if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
