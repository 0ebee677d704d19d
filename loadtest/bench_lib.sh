# bench_lib.sh: what the proxy benchmarks (bench_proxy.sh: time and CPU, callgrind_proxy.sh:
# instructions, syscalls_proxy.sh: system calls, ab_augur.sh: two augur builds, perf_proxy.sh:
# sampled time) share, so all measure the same setup: the mock upstream, nginx's and augur's
# configs, the request (bench_request.lua), the port helpers and the CPU-time readers.
# Source it after setting REPO, MOCK_BIN, MOCK_TOKENS and MOCK_ECHO, then call bench_begin; it uses
# the caller's die().

# The request wrk sends; BENCH_REQUEST_LUA in the environment picks another (e.g.
# loadtest/bench_request_headerless.lua, what bench_proxy.sh --headerless sends).
BENCH_REQUEST_LUA=${BENCH_REQUEST_LUA:-$REPO/loadtest/bench_request.lua}

# bench_begin NAME: the script's scratch directory TMP (NAME.XXXXXX under TMPDIR), PIDS (every
# process started here is appended to it) and its traps: an interrupt exits, and the exit runs
# bench_cleanup.
bench_begin() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  PIDS=()
  trap 'exit 130' INT TERM
  trap bench_cleanup EXIT
}

# The scripts' EXIT trap: stops every process in PIDS, then removes TMP unless KEEP_TMP=1.
bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "${0##*/}: kept $TMP" >&2; else rm -rf "$TMP"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts on 127.0.0.1:$1, or $2 seconds pass, or process $3 dies.
wait_port() {
  local port=$1 deadline=$((SECONDS + $2)) pid=$3
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# start_mock [LAUNCHER...]: augur-mock-upstream with one thread, MOCK_TOKENS-token answers and its
# request echo off unless MOCK_ECHO=1, started through LAUNCHER (taskset, say). Sets MOCK_PID and
# MOCK_PORT.
start_mock() {
  local args=(--listen 127.0.0.1:0 --threads 1 --tokens "$MOCK_TOKENS")
  [[ $MOCK_ECHO == 1 ]] || args+=(--no-echo)
  "$@" "$MOCK_BIN" "${args[@]}" >"$TMP/mock.out" 2>"$TMP/mock.err" &
  MOCK_PID=$!
  PIDS+=("$MOCK_PID")
  for _ in $(seq 600); do  # up to 30 s: callgrind_proxy.sh starts it under valgrind
    grep -q '^listening on ' "$TMP/mock.out" 2>/dev/null && break
    sleep 0.05
  done
  MOCK_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/mock.out")
  [[ -n $MOCK_PORT ]] || die "mock did not start: $(cat "$TMP/mock.err")"
}

# write_nginx_conf DIR LISTEN_PORT [EXTRA_MAIN_DIRECTIVE...]: nginx's config for proxying to the
# mock (loadtest/nginx/proxy.conf.in) in DIR/nginx.conf, with its scratch directories.
write_nginx_conf() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir/tmp"
  {
    printf '%s\n' "$@"
    sed -e "s|@PREFIX@|$dir|g" -e "s|@LISTEN_PORT@|$port|g" -e "s|@UPSTREAM_PORT@|$MOCK_PORT|g" \
      "$REPO/loadtest/nginx/proxy.conf.in"
  } >"$dir/nginx.conf"
  chmod -R a+rwX "$dir"  # the worker may run as an unprivileged user
}

# write_augur_conf FILE LISTEN_PORT ADMIN_PORT LEARNING [INFER]: augur with one io thread doing
# its real per-request work: context tracking (run table), a trie lookup (NAT's fixture; the
# benchmark's function path is in it), injection of x-nat-* headers plus nvext body hints, and
# timing every response into the learning queue. LEARNING (true/false) turns learning and SONA on
# or off; INFER (true/false, default true) is context.infer: run inference for calls that name
# no run.
write_augur_conf() {
  cat >"$1" <<CONF
listen: 127.0.0.1:$2
admin:
  listen: 127.0.0.1:$3
threads: 1
upstreams:
  - name: mock
    url: http://127.0.0.1:$MOCK_PORT
    hints: [nvext, dynamo_headers]
prediction:
  trie_file: $REPO/tests/unit/trie/data/nat_generated_prediction_trie.json
learning:
  enabled: $4
sona:
  enabled: $4
context:
  infer: ${5:-true}
access_log:
  target: "off"
CONF
}

# start_augur BIN CONFIG PORT LOG: augur serving CONFIG, pinned to SERVER_CPU, with its learning
# thread moved to CLIENT_CPU (background work, as on a spare core in a deployment); returns once
# PORT accepts. Sets AUGUR_PID. For the scripts that pin (ab_augur.sh, perf_proxy.sh).
start_augur() {
  local task
  taskset -c "$SERVER_CPU" "$1" serve --config "$2" >"$4" 2>&1 &
  AUGUR_PID=$!
  PIDS+=("$AUGUR_PID")
  wait_port "$3" 15 "$AUGUR_PID" || die "$1 did not start: $(tail -3 "$4")"
  for task in /proc/"$AUGUR_PID"/task/*; do
    if [[ $(cat "$task/comm" 2>/dev/null) == augur-learn ]]; then
      taskset -p -c "$CLIENT_CPU" "${task##*/}" >/dev/null
    fi
  done
}

# Sum of user+system CPU ticks of the given processes (threads included), or of single threads
# given as PID/task/TID. With --user first, user time only: the rest is the kernel's (the system
# calls, and the loopback TCP stack that runs inside them).
cpu_ticks() {
  local pid user=0
  if [[ ${1:-} == --user ]]; then
    user=1
    shift
  fi
  for pid in "$@"; do cat "/proc/$pid/stat" 2>/dev/null || true; done |
    # Fields 14/15 (utime/stime) of each line; drop "pid (comm) " first, comm may hold spaces.
    awk -v user="$user" '{ sub(/^.*\) /, ""); t += $12 + (user ? 0 : $13) } END { print t + 0 }'
}

# The median of its arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Readers of a file of wrk's output. wrk_pct FILE P: the latency percentile P (wrk --latency),
# in µs.
wrk_pct() {
  awk -v p="$2%" '$1 == p {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
      f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : -1
      printf "%.0f\n", v * f; exit }' "$1"
}
wrk_rps() { awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }' "$1"; }
wrk_requests() { awk '/ requests in / { print $1; exit }' "$1"; }
# Non-2xx responses plus socket errors.
wrk_errors() {
  awk '/Non-2xx or 3xx responses:/ { e += $NF }
       /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) e += $i }
       END { print e + 0 }' "$1"
}

# per_request BEFORE AFTER WRK_FILE: CPU µs a request between two cpu_ticks readings, over the
# requests wrk's output in WRK_FILE counts.
per_request() {
  awk -v d=$(($2 - $1)) -v hz="$(getconf CLK_TCK)" -v n="$(wrk_requests "$3")" \
    'BEGIN { printf "%.2f", (n > 0 ? d * 1e6 / hz / n : 0) }'
}
