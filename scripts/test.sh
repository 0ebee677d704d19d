#!/usr/bin/env bash
# Builds augur and runs the whole test suite: unit tests (doctest), integration tests (the real
# binary against real loopback upstreams) and the openai npm client test, all through CTest; the
# lint step (clang-format, clang-tidy: scripts/lint.sh); then the same suite under ASan+UBSan and
# the multi-threaded tests under TSan (AUGUR_SANITIZERS=0 skips those two stages). Installs its
# own dependencies first. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
timings=()

# stage NAME BUILD_DIR CMAKE_ARGS...: configure, build (every target the build dir's tests need),
# run its CTest suite, and note how long that took.
stage() {
  local name=$1 dir=$2 start=$SECONDS
  shift 2
  echo "== $name: $dir"
  cmake -S . -B "$dir" -G Ninja "$@"
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure --timeout 900 -j2
  timings+=("$(printf '%-10s %4d s' "$name" $((SECONDS - start)))")
}

stage tests "${AUGUR_BUILD_DIR:-build}" -DCMAKE_BUILD_TYPE=RelWithDebInfo

# Formatting and clang-tidy over what the first stage configured (its compile_commands.json).
start=$SECONDS
echo "== lint"
scripts/lint.sh "${AUGUR_BUILD_DIR:-build}"
timings+=("$(printf '%-10s %4d s' lint $((SECONDS - start)))")

if [ "${AUGUR_SANITIZERS:-1}" != 0 ]; then
  # -O1: a fraction of -O0's run time with line-accurate reports; Debug keeps the asserts.
  # tests/sanitizer_guard.sh sets the sanitizers' options and fails a test on any report.
  sanitized=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DAUGUR_BUILD_BENCHMARKS=OFF)
  stage asan+ubsan build-asan "${sanitized[@]}" "-DAUGUR_SANITIZE=address;undefined"
  # Only the tests marked THREADED are built and registered here (cmake/testing.cmake).
  stage tsan build-tsan "${sanitized[@]}" -DAUGUR_SANITIZE=thread
fi

printf '%s\n' "== stage times" "${timings[@]}"
