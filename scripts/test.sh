#!/usr/bin/env bash
# Builds augur and runs the whole test suite: unit tests (doctest), integration tests (the real
# binary against real loopback upstreams) and the openai npm client test, all through CTest.
# Installs its own dependencies first. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${AUGUR_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure --timeout 900 -j2
