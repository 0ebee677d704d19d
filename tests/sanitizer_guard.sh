#!/usr/bin/env bash
# Runs one test command in a sanitizer build and fails it when any instrumented process it started
# (the test binary, or augur and the mock that a Python/node test spawns) wrote a sanitizer report.
# Reports go to files (log_path) because the integration harness swallows its children's stderr;
# the files are printed here so `ctest --output-on-failure` shows them.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
reports=$(mktemp -d "${TMPDIR:-/tmp}/augur-san.XXXXXX")
trap 'rm -rf "$reports"' EXIT

# Defaults first, then whatever the caller set (later options win), then log_path, which this
# script needs. halt_on_error: the first report ends the process (UBSan is also built with
# -fno-sanitize-recover). detect_leaks: LeakSanitizer works in this container (ptrace allowed), so
# a leak at exit, including after SIGTERM, fails the test.
common="halt_on_error=1:print_stacktrace=1:log_path=$reports/report"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}:$common"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}$common"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}$common"
export TSAN_OPTIONS="second_deadlock_stack=1:suppressions=$here/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}:$common"

"$@"
rc=$?

shopt -s nullglob
found=("$reports"/report.*)
if ((${#found[@]})); then
  for f in "${found[@]}"; do
    echo "---- sanitizer report from pid ${f##*.} ----" >&2
    cat "$f" >&2
  done
  echo "sanitizer_guard.sh: ${#found[@]} process(es) wrote sanitizer reports" >&2
  ((rc == 0)) && rc=1
fi
exit "$rc"
