#!/usr/bin/env bash
# Installs the npm clients of package.json (openai, @anthropic-ai/sdk, the Vercel AI SDK) into a
# scratch folder in the build tree, starts augur on its embedded default (bundled mock upstream) on
# ephemeral ports, and runs node's test runner over every *.test.mjs here.
set -euo pipefail
augur_bin=$(realpath "$1")  # the script changes directory below
src_dir=$(cd "$(dirname "$0")" && pwd)
work_dir=$2
mkdir -p "$work_dir"
cp "$src_dir/package.json" "$src_dir"/*.test.mjs "$work_dir/"
cd "$work_dir"
# Installed again whenever package.json changes (the stamp is the package.json installed from).
if ! cmp -s package.json node_modules/.augur-installed-from 2>/dev/null; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
  cp package.json node_modules/.augur-installed-from
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
admin=$(sed -n 's/^augur listening on .* admin [0-9.]*:\([0-9]*\)$/\1/p' "$out")
[ -n "$port" ] && [ -n "$admin" ] || { echo "augur did not report its ports"; exit 1; }
AUGUR_URL="http://127.0.0.1:$port" AUGUR_ADMIN_URL="http://127.0.0.1:$admin" \
  node --test ./*.test.mjs
