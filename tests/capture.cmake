# moescope capture end to end (GitHub issue 6): a generated fixture model over a Pile-format
# .jsonl.zst (written with the zstd CLI) with several domains; the store is read with h5py and
# compared with `moescope route`; kill -9 + --resume equals an uninterrupted capture; bad
# input, unwritable output and a full disk. Owner: store.
set(MS_CAPTURE_TMP ${CMAKE_CURRENT_BINARY_DIR}/capture_tmp)
foreach(mode route resume errors)
  add_test(NAME capture_${mode}
    COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/capture/e2e.py ${MOESCOPE_BIN}
      ${MS_CAPTURE_TMP}/${mode} ${mode})
endforeach()
set_tests_properties(capture_route PROPERTIES LABELS "oracle")
set_tests_properties(capture_errors PROPERTIES LABELS "unit")
set_tests_properties(capture_resume PROPERTIES LABELS "slow")
add_test(NAME capture_profile
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/capture/profile.sh ${MOESCOPE_BIN} ${MS_PYTHON}
    ${PROJECT_SOURCE_DIR}/corpora/samples)
set_tests_properties(capture_profile PROPERTIES LABELS "unit")
