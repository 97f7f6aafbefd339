# The moescope command's shared conventions (help, version, usage errors).
add_test(NAME cli_conventions COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh ${MOESCOPE_BIN})
set_tests_properties(cli_conventions PROPERTIES LABELS unit)
