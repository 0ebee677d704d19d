#!/usr/bin/env bash
# Evaluates augur's hints on a replayed agent workload: starts the mock upstream and augur (hints
# as nat_headers, plus prefix_headers with --headers none; learning rebuilt every 2 s) on free loopback ports, runs replay.py with the
# arguments given, prints its report, stops both. Builds nothing: point it at built binaries.
#   AUGUR_BIN (default build-release/app/augur), MOCK_BIN (build-release/loadtest/mock/...)
#   AUGUR_REBUILD_INTERVAL: learning.rebuild_interval (default 2s)
#   AUGUR_HALF_LIFE: learning.half_life (default: augur's, 10m; 0 = cumulative)
#   AUGUR_CONFIG_EXTRA: YAML appended to augur's config, e.g. "sona: { enabled: false }"
#   AUGUR_TRIE: optional NAT trie file for prediction.trie_file (e.g. one `augur trie build` made
#   from an earlier replay's --runs-out: what a fully learned trie would inject)
#   loadtest/workload/run_eval.sh --scenario drift --duration 120 --json /tmp/drift.json
# Exit status: replay.py's (1 failed requests, 3 --assert-improvement not met), 2 start-up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
AUGUR_BIN=${AUGUR_BIN:-$repo/build-release/app/augur}
MOCK_BIN=${MOCK_BIN:-$repo/build-release/loadtest/mock/augur-mock-upstream}
for bin in "$AUGUR_BIN" "$MOCK_BIN"; do
  [[ -x $bin ]] || { echo "run_eval.sh: $bin is not an executable (set AUGUR_BIN/MOCK_BIN)" >&2; exit 2; }
done

work=$(mktemp -d -t augur-eval.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Headerless replays (--headers none) score augur's inferred runs by the x-prefix-id it sends
# upstream, so the upstream's hints add prefix_headers then; nat replays keep nat_headers alone.
hints="nat_headers"
prev=""
for arg in "$@"; do
  if [[ $arg == --headers=none || ($prev == --headers && $arg == none) ]]; then
    hints="nat_headers, prefix_headers"
  fi
  prev=$arg
done

# Starts "$@" with stdout to $work/$name.out and waits for the line announcing its port(s).
start() {
  local name=$1 pattern=$2
  shift 2
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 300); do
    if grep -qE "$pattern" "$work/$name.out"; then return 0; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "run_eval.sh: $name did not start:" >&2
  cat "$work/$name.err" >&2
  exit 2
}

start mock 'listening on' "$MOCK_BIN" --listen 127.0.0.1:0 --threads 1
mock_port=$(sed -nE 's/.*listening on [0-9.]+:([0-9]+).*/\1/p' "$work/mock.out" | head -1)

cat >"$work/augur.yaml" <<YAML
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
threads: 1
upstreams:
  - { name: mock, url: "http://127.0.0.1:$mock_port", hints: [$hints] }
learning: { rebuild_interval: ${AUGUR_REBUILD_INTERVAL:-2s}${AUGUR_HALF_LIFE:+, half_life: $AUGUR_HALF_LIFE} }
YAML
# AUGUR_CONFIG_EXTRA: more YAML appended to augur's config (e.g. "sona: { enabled: false }").
if [[ -n ${AUGUR_CONFIG_EXTRA:-} ]]; then
  printf '%s\n' "$AUGUR_CONFIG_EXTRA" >>"$work/augur.yaml"
fi
if [[ -n ${AUGUR_TRIE:-} ]]; then
  echo "prediction: { trie_file: \"$(realpath "$AUGUR_TRIE")\" }" >>"$work/augur.yaml"
fi
start augur 'augur listening on' "$AUGUR_BIN" serve --config "$work/augur.yaml"
augur_port=$(sed -nE 's/.*augur listening on [0-9.]+:([0-9]+) .*/\1/p' "$work/augur.out" | head -1)

status=0
python3 "$here/replay.py" --url "http://127.0.0.1:$augur_port" "$@" || status=$?
exit $status
