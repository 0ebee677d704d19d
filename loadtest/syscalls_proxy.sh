#!/usr/bin/env bash
# syscalls_proxy.sh: system calls per proxied request, augur next to nginx, counted by the kernel's
# syscall tracepoints (perf stat; no hardware counters needed, and unlike strace it does not slow
# the proxy down enough to change what it does). Same setup as bench_proxy.sh
# (loadtest/bench_lib.sh): both proxies and the mock on CPU 0, wrk on CPU 1. Failed recvs
# (EAGAIN) are counted apart: a read issued before its data arrived. --gaps records every system
# call's entry and return instead and reports the user-space time between them per request
# (loadtest/syscall_gaps.py, per-step medians): the proxy's own work on a request's path.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AUGUR_BIN=${AUGUR_BIN:-$REPO/build/app/augur}
MOCK_BIN=${MOCK_BIN:-$REPO/build/loadtest/mock/augur-mock-upstream}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
CONNS=64
SECONDS_RUN=4
AUGUR_LEARNING=false
MOCK_TOKENS=16
MOCK_ECHO=0
GAPS=0

usage() {
  cat <<USAGE
usage: $0 [--conns N] [--seconds S] [--augur-learning] [--gaps]
  --gaps   user-space time between system calls per request (raw_syscalls tracepoints), not counts;
           tracing every call slows both proxies a little: compare them, not the absolute figures
  env AUGUR_BIN, MOCK_BIN, NGINX_BIN as for bench_proxy.sh; needs perf (linux-perf) and root
  (or kernel.perf_event_paranoid <= -1) for the syscall tracepoints
USAGE
}

die() {
  echo "syscalls_proxy: $*" >&2
  exit 1
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --conns) CONNS=$2; shift 2 ;;
    --seconds) SECONDS_RUN=$2; shift 2 ;;
    --augur-learning) AUGUR_LEARNING=true; shift ;;
    --gaps) GAPS=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
for tool in perf wrk taskset; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install-deps.sh installs it)"
done

# shellcheck source=loadtest/bench_lib.sh
source "$REPO/loadtest/bench_lib.sh"
bench_begin syscalls_proxy

start_mock taskset -c 0
NGINX_PORT=$(free_port)
write_nginx_conf "$TMP/nginx" "$NGINX_PORT"
taskset -c 0 "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
  >/dev/null 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
AUGUR_PORT=$(free_port)
write_augur_conf "$TMP/augur.yaml" "$AUGUR_PORT" "$(free_port)" "$AUGUR_LEARNING"
taskset -c 0 "$AUGUR_BIN" serve --config "$TMP/augur.yaml" >"$TMP/augur.log" 2>&1 &
AUGUR_PID=$!
PIDS+=("$AUGUR_PID")
wait_port "$NGINX_PORT" 10 "$NGINX_PID" || die "nginx did not start"
wait_port "$AUGUR_PORT" 15 "$AUGUR_PID" || die "augur did not start: $(tail -3 "$TMP/augur.log")"
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)

EVENTS=recvfrom,sendmsg,writev,readv,epoll_wait,epoll_ctl,getsockopt,setsockopt,timerfd_settime
perf_events=()
for e in ${EVENTS//,/ }; do perf_events+=(-e "syscalls:sys_enter_$e"); done

if [[ $GAPS == 1 ]]; then
  echo "## User-space time between system calls, per proxied request"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?');" \
    "wrk -t1 -c$CONNS for ${SECONDS_RUN}s per proxy; augur: 1 io thread, learning and SONA" \
    "$([[ $AUGUR_LEARNING == true ]] && echo on || echo off); perf record of raw_syscalls on nginx's worker and augur's process."
  echo
  echo "| proxy | µs/req between a read and the write it causes | µs/req after the last write, before epoll_wait | µs/req in system calls (not waits) | steps: prev→next call, times per request, µs per request |"
  echo "|---|---:|---:|---:|---|"
  for t in nginx augur; do
    pid=$([[ $t == nginx ]] && echo "$NGINX_WORKER" || echo "$AUGUR_PID")
    port=$([[ $t == nginx ]] && echo "$NGINX_PORT" || echo "$AUGUR_PORT")
    url=http://127.0.0.1:$port
    taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$BENCH_REQUEST_LUA" "$url" >/dev/null  # warm-up
    perf record -q -o "$TMP/$t.data" -p "$pid" -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit \
      -- sleep $((SECONDS_RUN + 1)) 2>"$TMP/$t.perr" &
    perf_pid=$!
    sleep 0.3
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECONDS_RUN}s" -s "$BENCH_REQUEST_LUA" "$url" >"$TMP/$t.wrk"
    wait "$perf_pid" || die "perf record failed: $(cat "$TMP/$t.perr")"
    perf script --ns -i "$TMP/$t.data" -F tid,time,event,trace 2>/dev/null |
      python3 "$REPO/loadtest/syscall_gaps.py" --requests "$(wrk_requests "$TMP/$t.wrk")" --name "$t"
  done
  exit 0
fi

declare -A COUNT
for t in nginx augur; do
  pid=$([[ $t == nginx ]] && echo "$NGINX_WORKER" || echo "$AUGUR_PID")
  port=$([[ $t == nginx ]] && echo "$NGINX_PORT" || echo "$AUGUR_PORT")
  url=http://127.0.0.1:$port
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$BENCH_REQUEST_LUA" "$url" >/dev/null  # warm-up
  perf stat -x, -o "$TMP/$t.perf" -p "$pid" "${perf_events[@]}" \
    -e syscalls:sys_exit_recvfrom --filter 'ret == -11' -e context-switches \
    -- sleep $((SECONDS_RUN + 1)) &
  perf_pid=$!
  sleep 0.3
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECONDS_RUN}s" -s "$BENCH_REQUEST_LUA" "$url" >"$TMP/$t.wrk"
  wait "$perf_pid" || die "perf stat failed: $(cat "$TMP/$t.perf")"
  requests=$(wrk_requests "$TMP/$t.wrk")
  # perf counts the whole window; wrk's requests all fall inside it.
  while IFS=, read -r value _ event _; do
    [[ $value =~ ^[0-9]+$ ]] || continue
    name=${event#syscalls:sys_enter_}
    [[ $event == syscalls:sys_exit_recvfrom ]] && name="recvfrom failing (EAGAIN)"
    COUNT[$t,$name]=$(awk -v v="$value" -v n="$requests" 'BEGIN { printf "%.3f", v / n }')
  done <"$TMP/$t.perf"
done

echo "## System calls per proxied request"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?');" \
  "wrk -t1 -c$CONNS for ${SECONDS_RUN}s per proxy; augur: 1 io thread, learning and SONA" \
  "$([[ $AUGUR_LEARNING == true ]] && echo on || echo off); perf stat on nginx's worker and augur's process."
echo
echo "| per request | nginx | augur |"
echo "|---|---:|---:|"
for name in ${EVENTS//,/ } "recvfrom failing (EAGAIN)" context-switches; do
  echo "| $name | ${COUNT[nginx,$name]:-0} | ${COUNT[augur,$name]:-0} |"
done
