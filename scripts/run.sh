#!/usr/bin/env bash
# Builds augur and the mock upstream (Release) and runs augur. With no arguments: the demo, i.e.
# 127.0.0.1:8080, admin on 127.0.0.1:9464, in-memory learning, and the bundled mock upstream.
# Any arguments go to `augur serve` (e.g. --config FILE). The mock is built for configs that need
# an upstream to try against: build-release/loadtest/mock/augur-mock-upstream --listen HOST:PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${AUGUR_BUILD_DIR:-build-release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUGUR_BUILD_TESTS=OFF \
  -DAUGUR_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target augur augur-mock-upstream -j"$(nproc)"
exec "$build/app/augur" serve "$@"
