# `moescope demo` end to end (issue: the built-in default).
add_test(NAME demo_end_to_end COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_demo.sh ${MOESCOPE_BIN} ${MS_PYTHON})
set_tests_properties(demo_end_to_end PROPERTIES LABELS "slow;nosan" TIMEOUT 900)
