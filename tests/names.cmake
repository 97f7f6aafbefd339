# names: names from files are data (issue 14 item 1, item 7's error lines): gnuplot never
# evaluates a domain name, terminals get no control characters, JSON stays valid UTF-8,
# error lines are one printable UTF-8 line (tests/names/test_names.py, one case per test).
set(MS_NAMES_TEST ${CMAKE_CURRENT_SOURCE_DIR}/names/test_names.py)
set(MS_NAMES_WORK ${CMAKE_CURRENT_BINARY_DIR}/names)
foreach(case gnuplot inspect error_line)
  add_test(NAME names_${case}
           COMMAND ${MS_PYTHON} ${MS_NAMES_TEST} ${case} ${MOESCOPE_BIN} ${MS_TEST_DATA}
                   ${MS_NAMES_WORK})
  set_tests_properties(names_${case} PROPERTIES LABELS unit TIMEOUT 300)
endforeach()
# pl_gpstr against gnuplot itself: hand-picked and random names print back as shown, no
# command runs; and ms_utf8_fix_take. Exit 77 (skipped) without gnuplot.
add_executable(test_gpstr ${CMAKE_CURRENT_SOURCE_DIR}/names/test_gpstr.c)
target_link_libraries(test_gpstr PRIVATE ms_plots ms_util)
add_test(NAME names_gpstr COMMAND test_gpstr ${CMAKE_CURRENT_BINARY_DIR}/names_gpstr)
set_tests_properties(names_gpstr PROPERTIES LABELS unit TIMEOUT 60 SKIP_RETURN_CODE 77)
