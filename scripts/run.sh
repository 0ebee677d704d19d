#!/usr/bin/env bash
# Builds augur (Release) and runs it. With no arguments: the embedded default config, i.e.
# 127.0.0.1:8080, admin on 127.0.0.1:9464, in-memory learning, and the bundled mock upstream
# (no real upstream configured). Any arguments go to `augur serve` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${AUGUR_BUILD_DIR:-build-release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUGUR_BUILD_TESTS=OFF \
  -DAUGUR_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target augur -j"$(nproc)"
exec "$build/proxy/augur" serve "$@"
