#!/usr/bin/env bash
# Installs everything augur needs to build, test and benchmark, from Debian's packages only.
# Idempotent: packages already present are left alone; safe to run on every CI start.
# `--build` installs only what compiling augur needs (the Dockerfile's build stage).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libssl-dev
  libsimdjson-dev libhiredis-dev libyaml-cpp-dev libxxhash-dev
  prometheus-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  libjemalloc-dev  # augur's allocator (CMakeLists.txt AUGUR_JEMALLOC)
)
if [ "${1:-}" != "--build" ]; then
  packages+=(
    curl openssl doctest-dev libbenchmark-dev
    redis-server nginx-light wrk python3
    python3-yaml  # tests/integration/test_deploy_k8s.py reads the Kubernetes manifests
    valgrind linux-perf  # loadtest/callgrind_proxy.sh, syscalls_proxy.sh and perf_proxy.sh
    prometheus  # the metrics test scrapes augur with a real Prometheus and runs promtool
    clang-format clang-tidy  # scripts/lint.sh
  )
  # Node and npm (tests driving augur with the `openai` npm package and validating the compose
  # file): the machine's own install wins; Debian's only when none is there.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
