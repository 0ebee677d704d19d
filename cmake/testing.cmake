# Sanitizer builds (AUGUR_SANITIZE, cmake/sanitizers.cmake) run every test under
# tests/sanitizer_guard.sh, which sets the sanitizers' options and fails the test when any process
# it started wrote a report. A TSan build ("thread") builds and registers only the tests marked
# THREADED (the ones whose code runs on several threads), to keep the CI stage short.
set(AUGUR_TEST_GUARD "")
set(AUGUR_TSAN OFF)
if(AUGUR_SANITIZE)
  set(AUGUR_TEST_GUARD ${PROJECT_SOURCE_DIR}/tests/sanitizer_guard.sh)
  if(AUGUR_SANITIZE MATCHES "thread")
    set(AUGUR_TSAN ON)
  endif()
endif()

# augur_unit_test(NAME [THREADED] SOURCES a.cpp b.cpp LIBS lib1 lib2 [TSAN_ARGS ...]): a doctest
# binary registered with CTest under the label "unit". The doctest main is compiled once
# (augur_doctest_main). TSAN_ARGS (doctest filters) narrow a THREADED test to its multi-threaded
# cases in the TSan build, where single-threaded number crunching only costs time.
function(augur_unit_test name)
  cmake_parse_arguments(T "THREADED" "" "SOURCES;LIBS;TSAN_ARGS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE augur_doctest_main ${T_LIBS})
  if(AUGUR_TSAN AND NOT T_THREADED)
    set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL ON)
    return()
  endif()
  set(args "")
  if(AUGUR_TSAN)
    set(args ${T_TSAN_ARGS})
  endif()
  add_test(NAME ${name} COMMAND ${AUGUR_TEST_GUARD} $<TARGET_FILE:${name}> ${args})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()

# Adds every immediate sub-folder of the current source dir that has a CMakeLists.txt, so each
# component owns its own test/bench folder without editing a shared list.
function(augur_add_child_dirs)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child ${children})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
