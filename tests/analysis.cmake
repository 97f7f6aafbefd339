# Analysis (analysis/, `moescope analyze`, `moescope diff`). Owner: analysis.
#   analysis_math    numerics vs closed forms / tables (incomplete gamma, chi-square, JSD, ...)
#   analysis_stores  writes hand-built route stores with h5py (fixture for the tests below)
#   analysis_hand    every measure on hand-built stores vs values worked out by hand
#   analysis_oracle  `moescope analyze` / `diff` JSON+CSV vs an independent numpy computation
#   analysis_captured  same oracle on a store captured from a make-model fixture
add_executable(test_analysis_math ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_math.c)
target_link_libraries(test_analysis_math PRIVATE ms_analysis ms_flags m)
add_test(NAME analysis_math COMMAND test_analysis_math)
set_tests_properties(analysis_math PROPERTIES LABELS unit)

set(MS_ANALYSIS_TMP ${CMAKE_CURRENT_BINARY_DIR}/analysis_tmp)
add_test(NAME analysis_stores
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_stores.py ${MS_ANALYSIS_TMP})
set_tests_properties(analysis_stores PROPERTIES LABELS unit FIXTURES_SETUP analysis_stores)

add_executable(test_analysis ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis.c)
target_link_libraries(test_analysis PRIVATE ms_analysis ms_flags m)
add_test(NAME analysis_hand COMMAND test_analysis ${MS_ANALYSIS_TMP})
set_tests_properties(analysis_hand PROPERTIES LABELS unit FIXTURES_REQUIRED analysis_stores)

add_test(NAME analysis_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_oracle.py ${MOESCOPE_BIN}
          ${MS_ANALYSIS_TMP}/random.h5 ${MS_ANALYSIS_TMP}/oracle --diff ${MS_ANALYSIS_TMP}/random_b.h5)
set_tests_properties(analysis_oracle PROPERTIES LABELS oracle FIXTURES_REQUIRED analysis_stores)

add_test(NAME analysis_cli
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_cli.sh ${MOESCOPE_BIN} ${MS_ANALYSIS_TMP})
set_tests_properties(analysis_cli PROPERTIES LABELS unit FIXTURES_REQUIRED analysis_stores)

# A store captured by the real pipeline (make-model → make-corpus/text → capture), checked
# by the same numpy oracle. Added once `moescope capture` exists.
if(EXISTS ${PROJECT_SOURCE_DIR}/cli/cmd_capture.c)
  add_test(NAME analysis_captured
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_captured.sh ${MOESCOPE_BIN} ${MS_PYTHON}
            ${CMAKE_CURRENT_SOURCE_DIR} ${MS_ANALYSIS_TMP}/captured)
  set_tests_properties(analysis_captured PROPERTIES LABELS oracle TIMEOUT 300)
endif()
