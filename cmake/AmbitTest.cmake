# ambit_test(<name> SOURCES ... LIBS ... [LABELS ...])
#
# A doctest binary whose every TEST_CASE is registered with CTest (doctest_discover_tests), so
# `ctest` reports each case by name. Root-only suites carry the label `root`.
function(ambit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ambit_test_main ${T_LIBS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set(props TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    list(APPEND props LABELS "${T_LABELS}")
  endif()
  doctest_discover_tests(${name}
    TEST_PREFIX "${name}: "
    PROPERTIES ${props}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
