# Outputs of every command (docs/CLI.md, "Outputs"): an output that is an input (same path,
# ./path, hard link, symlink, a file inside an output directory) is refused with exit 2 and
# the input untouched; an existing output survives a write failing midway (RLIMIT_FSIZE);
# results sent to a full stdout (/dev/full) exit 1 with one error line.
add_test(NAME outputs_cli
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_outputs.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/outputs_tmp ${PROJECT_SOURCE_DIR})
set_tests_properties(outputs_cli PROPERTIES LABELS unit TIMEOUT 300)

add_executable(test_outputs_protect ${CMAKE_CURRENT_SOURCE_DIR}/util/test_outputs_protect.c)
target_link_libraries(test_outputs_protect PRIVATE ms_util)
add_test(NAME outputs_protect
  COMMAND test_outputs_protect ${CMAKE_CURRENT_BINARY_DIR}/outputs_protect_tmp)
set_tests_properties(outputs_protect PROPERTIES LABELS unit TIMEOUT 30)
