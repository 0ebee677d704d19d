#!/usr/bin/env bash
# The lint step of the test suite: clang-format over every C++ file (STYLE.md: Google base, 100
# columns, .clang-format) and clang-tidy with the curated checks of .clang-tidy over every
# translation unit of a configured build (its compile_commands.json). Fails on any finding.
# Usage: scripts/lint.sh [BUILD_DIR]   (default build, configured by scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

mapfile -t sources < <(git ls-files '*.cpp' '*.hpp')
echo "== clang-format: ${#sources[@]} files"
if ! clang-format --dry-run -Werror "${sources[@]}"; then
  echo "lint: clang-format would change the files above; run: git ls-files '*.cpp' '*.hpp' | xargs clang-format -i" >&2
  exit 1
fi

# Every project translation unit the build compiles (asio_beast.cpp only instantiates Asio and
# Beast: nothing of ours to check, and the slowest file to analyse).
mapfile -t units < <(python3 - "$build/compile_commands.json" "$PWD" <<'PY'
import json, sys
db, root = json.load(open(sys.argv[1])), sys.argv[2] + "/"
files = {e["file"] for e in db if e["file"].startswith(root)}
print("\n".join(sorted(f for f in files if not f.endswith("/asio_beast.cpp"))))
PY
)
echo "== clang-tidy: ${#units[@]} translation units"
rc=0
run-clang-tidy -p "$build" -j "$(nproc)" -quiet "${units[@]}" > "$build/clang-tidy.log" 2>&1 || rc=$?
if grep -E "(warning|error): " "$build/clang-tidy.log"; then
  echo "lint: clang-tidy findings above (full output: $build/clang-tidy.log)" >&2
  exit 1
fi
if ((rc != 0)); then
  tail -20 "$build/clang-tidy.log" >&2
  echo "lint: clang-tidy failed (exit $rc; full output: $build/clang-tidy.log)" >&2
  exit 1
fi
echo "lint: clean"
