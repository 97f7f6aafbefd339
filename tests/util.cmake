# util/: regular-file inputs (FIFOs and devices refused without blocking), same-file checks,
# outputs renamed into place, terminal- and JSON-safe text.
add_executable(test_util ${CMAKE_CURRENT_SOURCE_DIR}/util/test_util.c)
target_link_libraries(test_util PRIVATE ms_util)
add_test(NAME util_files_text COMMAND test_util ${CMAKE_CURRENT_BINARY_DIR}/util_tmp)
set_tests_properties(util_files_text PROPERTIES LABELS "unit" TIMEOUT 30)
