# Every third-party dependency, all from Debian packages (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG)
find_package(OpenSSL REQUIRED)
find_package(simdjson REQUIRED CONFIG)
find_package(yaml-cpp REQUIRED CONFIG)
find_package(spdlog REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)
find_package(prometheus-cpp REQUIRED CONFIG COMPONENTS core)
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
# jemalloc under the augur binary: a proxied request allocates a few coroutine frames and strings,
# and glibc's malloc spent ~3.5k instructions per request on them (jemalloc ~1.5k; callgrind,
# loadtest/README.md). Sanitizer builds keep their own allocator.
if(AUGUR_JEMALLOC AND NOT AUGUR_SANITIZE)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
endif()
if(AUGUR_BUILD_TESTS)
  find_package(doctest REQUIRED CONFIG)
endif()
if(AUGUR_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED CONFIG)
endif()
