#!/usr/bin/env bash
# Soak: the agent workload generator against augur with learning (rebuilt every 2 s) and SONA on,
# for several minutes, sampling augur's RSS every INTERVAL seconds. Prints the curve with the
# learning state beside it (trie nodes, open runs, SONA patterns) and fails when RSS after the
# warm-up grows more than a threshold: memory must plateau once the state is learned.
#   loadtest/soak.sh [--duration S] [--interval S] [--warmup S] [--max-growth-kib K] [-- REPLAY ARGS]
# Defaults: 300 s, 10 s, 60 s, 8192 KiB; replay.py runs --scenario steady --concurrency 16 --seed 1.
# Binaries as run_eval.sh (which it drives): AUGUR_BIN, MOCK_BIN, default under build-release/.
# SONA: its trajectory buffer holds up to trajectory_capacity/2 calls (~1 KiB each) between
# background cycles, and a cycle copies them once more, so its memory reaches its bound only after
# the first full cycle: ~10,000 calls with the preset's 10,000, past a 60 s warm-up at this
# workload's ~55 calls/s. The soak therefore runs SONA with trajectory_capacity 2000 (bound reached
# in seconds) unless AUGUR_CONFIG_EXTRA is set (set it to "" for the preset, with --warmup 240).
# Exit: 0 flat, 1 RSS grew past the threshold or the replay failed, 2 start-up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
export AUGUR_BIN=${AUGUR_BIN:-$repo/build-release/app/augur}
export MOCK_BIN=${MOCK_BIN:-$repo/build-release/loadtest/mock/augur-mock-upstream}

duration=300 interval=10 warmup=60 max_growth=8192
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --interval) interval=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --max-growth-kib) max_growth=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

log=$(mktemp -t augur-soak.XXXXXX)
runner=
cleanup() {
  [[ -n $runner ]] && kill -TERM "$runner" 2>/dev/null && wait "$runner" 2>/dev/null
  rm -f "$log"
}
trap cleanup EXIT

export AUGUR_CONFIG_EXTRA=${AUGUR_CONFIG_EXTRA-"sona: { trajectory_capacity: 2000 }"}
# run_eval.sh starts the mock and augur as its children, then replays; AUGUR_CONFIG_EXTRA and
# AUGUR_REBUILD_INTERVAL pass through to it.
"$here/workload/run_eval.sh" --scenario steady --concurrency 16 --seed 1 --duration "$duration" \
  "$@" >"$log" 2>&1 &
runner=$!

augur_exe=$(realpath "$AUGUR_BIN")
pid=
for _ in $(seq 600); do
  for child in $(pgrep -P "$runner" || true); do
    [[ $(readlink "/proc/$child/exe" 2>/dev/null) == "$augur_exe" ]] && pid=$child
  done
  [[ -n $pid ]] && grep -q "admin" "/proc/$pid/fd/1" 2>/dev/null && break
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $pid ]]; then
  echo "soak.sh: augur did not start" >&2
  cat "$log" >&2
  exit 2
fi
# augur's stdout is run_eval.sh's file holding "augur listening on H:P admin H:P".
admin=$(sed -nE 's/.*admin ([0-9.]+:[0-9]+).*/\1/p' "/proc/$pid/fd/1" | head -1)

# One line of state from /v1/augur/stats: what could grow with the workload.
state() {
  python3 - "$admin" <<'PY' 2>/dev/null || echo "-"
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/v1/augur/stats", timeout=5))
l, sona = s.get("learning") or {}, s.get("sona") or {}
print(s["proxy"]["requests"], s["trie"]["nodes"], l.get("open_runs"), l.get("runs_completed"),
      sona.get("patterns_stored"), sona.get("trajectories_seen"))
PY
}

echo "soak: augur pid $pid, admin $admin, ${duration}s, RSS every ${interval}s, warm-up ${warmup}s"
echo "config extra: ${AUGUR_CONFIG_EXTRA:-none}"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%6s %10s %10s %10s %9s %9s %9s %12s\n' t_s rss_kib requests trie_nodes open_runs \
  runs_done patterns trajectories
times=() rss=()
start=$(date +%s)
next=0
while kill -0 "$runner" 2>/dev/null; do
  now=$(($(date +%s) - start))
  if ((now >= next)); then
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
    [[ -n $r ]] || break
    times+=("$now") rss+=("$r")
    read -r reqs nodes open done_ patterns traj <<<"$(state)"
    printf '%6d %10d %10s %10s %9s %9s %9s %12s\n' "$now" "$r" "${reqs:--}" "${nodes:--}" \
      "${open:--}" "${done_:--}" "${patterns:--}" "${traj:--}"
    next=$((next + interval))
  fi
  sleep 0.5
done
status=0
wait "$runner" || status=$?
runner=
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E "failed|requests|calls" "$log" | head -5 || true

if ((status != 0)); then
  echo "soak.sh: the replay failed (exit $status):" >&2
  tail -20 "$log" >&2
  exit 1
fi

# Baseline: the first sample at or after the warm-up; growth: the largest sample after it.
python3 - "$warmup" "$max_growth" "${times[*]}" "${rss[*]}" <<'PY'
import sys
warmup, limit = float(sys.argv[1]), float(sys.argv[2])
times = [int(x) for x in sys.argv[3].split()]
rss = [int(x) for x in sys.argv[4].split()]
after = [(t, r) for t, r in zip(times, rss) if t >= warmup]
if len(after) < 2:
    print("soak.sh: too few samples after the warm-up to judge", file=sys.stderr)
    sys.exit(1)
base, peak = after[0][1], max(r for _, r in after)
n = len(after)
mt, mr = sum(t for t, _ in after) / n, sum(r for _, r in after) / n
slope = (sum((t - mt) * (r - mr) for t, r in after) / sum((t - mt) ** 2 for t, _ in after)) * 60
print(f"after warm-up: RSS {base} KiB at {after[0][0]} s, peak {peak} KiB (+{peak - base} KiB), "
      f"final {after[-1][1]} KiB, slope {slope:+.0f} KiB/min, limit +{limit:.0f} KiB")
sys.exit(1 if peak - base > limit else 0)
PY
