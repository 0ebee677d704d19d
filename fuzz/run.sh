#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, coverage-instrumented libraries) in build-fuzz/
# and runs each for SECONDS_PER_TARGET (default 60), one after another, starting from its checked-in
# seed corpus. Exits non-zero on the first crash, leak, sanitizer report, failed check, timeout or
# out-of-memory; the reproducer is left in build-fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      e.g. fuzz/run.sh 300 fuzz_trie_json
#
# Inputs found to grow coverage go to build-fuzz/corpus/<target>/ (not checked in), so later runs
# continue from where earlier ones got. Environment: AUGUR_FUZZ_BUILD_DIR (default build-fuzz),
# AUGUR_FUZZ_RSS_MB (default 2048), AUGUR_FUZZ_TIMEOUT (seconds per input, default 25),
# AUGUR_FUZZ_JOBS (build parallelism, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_request_context fuzz_nvext_splice fuzz_trie_json fuzz_run_record
           fuzz_builder_state fuzz_config fuzz_http1_parser fuzz_response_meter)
fi
build=${AUGUR_FUZZ_BUILD_DIR:-build-fuzz}
rss_mb=${AUGUR_FUZZ_RSS_MB:-2048}
# Seconds one input may take. Every target handles an input in well under 100 ms; the margin is for
# shared machines, where a fuzzer descheduled behind compilers once tripped a 10 s limit.
timeout=${AUGUR_FUZZ_TIMEOUT:-25}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DAUGUR_BUILD_FUZZERS=ON -DAUGUR_SANITIZE="address;undefined" \
  -DAUGUR_BUILD_TESTS=OFF -DAUGUR_BUILD_BENCHMARKS=OFF >/dev/null
nice cmake --build "$build" -j"${AUGUR_FUZZ_JOBS:-2}" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
  echo "== $t: ${seconds}s"
  # Seeds come second: libFuzzer writes new inputs only into the first corpus directory.
  set +e
  nice "$build/fuzz/$t" "$corpus" "fuzz/corpus/$t" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout="$timeout" -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$build/$t.log" 2>&1
  rc=$?
  set -e
  grep -E '(INITED|DONE) |^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|ERROR|SUMMARY|fuzz check failed' \
    "$build/$t.log" || true
  if [ "$rc" -ne 0 ]; then
    echo "$t FAILED (exit $rc): see $build/$t.log and $artifacts/" >&2
    exit 1
  fi
done
echo "all fuzz targets ran clean"
