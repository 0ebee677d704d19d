#!/usr/bin/env bash
# Installs the openai npm client into a scratch folder in the build tree, starts augur on its
# embedded default (bundled mock upstream) on ephemeral ports, and runs node's test runner.
set -euo pipefail
augur_bin=$(realpath "$1")  # the script changes directory below
src_dir=$(cd "$(dirname "$0")" && pwd)
work_dir=$2
mkdir -p "$work_dir"
cp "$src_dir/package.json" "$src_dir/openai.test.mjs" "$work_dir/"
cd "$work_dir"
if [ ! -d node_modules/openai ]; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi

out=$(mktemp)
"$augur_bin" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 300); do
  grep -q "augur listening" "$out" && break
  kill -0 $pid 2>/dev/null || { echo "augur exited early"; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/^augur listening on [0-9.]*:\([0-9]*\) .*/\1/p' "$out")
[ -n "$port" ] || { echo "augur did not report its port"; exit 1; }
AUGUR_URL="http://127.0.0.1:$port" node --test openai.test.mjs
