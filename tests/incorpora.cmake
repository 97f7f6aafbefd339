# Corpora hardening (issue 14, items 6-7): FIFO/device sources refused at once, JSONL lines
# with two values / lone-CR separators / \u0000 / NUL bytes are errors naming file:line, zstd
# skippable frames (real pzstd output) read in full. Needs pzstd (Debian's zstd package).
add_executable(test_corpora_hardening ${CMAKE_CURRENT_SOURCE_DIR}/corpora/test_corpora_hardening.c)
target_link_libraries(test_corpora_hardening PRIVATE ms_corpora PkgConfig::ZSTD)
add_test(NAME corpora_hardening
  COMMAND test_corpora_hardening ${CMAKE_CURRENT_BINARY_DIR}/corpora_hardening_tmp)
set_tests_properties(corpora_hardening PROPERTIES LABELS "unit" TIMEOUT 60)

# The same through the command line: exit statuses and one error line, promptly.
add_test(NAME corpora_hardening_cli
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/corpora/test_corpora_cli.sh ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/corpora_hardening_cli_tmp)
set_tests_properties(corpora_hardening_cli PROPERTIES LABELS "unit" TIMEOUT 60)
