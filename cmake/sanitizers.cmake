# AUGUR_SANITIZE="address;undefined" or "thread": instruments every target, tests included.
if(AUGUR_SANITIZE)
  string(REPLACE ";" "," _augur_san "${AUGUR_SANITIZE}")
  add_compile_options(-fsanitize=${_augur_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_augur_san})
endif()

# AUGUR_BUILD_FUZZERS=ON (clang only): every target gets libFuzzer's coverage instrumentation, so
# the fuzzers in fuzz/ are guided through the library code they call, not just their own file.
# fuzz/run.sh pairs it with AUGUR_SANITIZE="address;undefined".
set(AUGUR_FUZZING OFF)
if(AUGUR_BUILD_FUZZERS)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    set(AUGUR_FUZZING ON)
    add_compile_options(-fsanitize=fuzzer-no-link)
  else()
    message(WARNING "AUGUR_BUILD_FUZZERS needs clang (libFuzzer); fuzz/ is not built with "
                    "${CMAKE_CXX_COMPILER_ID}")
  endif()
endif()
