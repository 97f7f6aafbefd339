# Route store (probes/): writer, reader and collector on synthetic routing data, checked by
# ms_routes_* and independently by h5py. Owner: store.
add_executable(test_store ${CMAKE_CURRENT_SOURCE_DIR}/store/test_store.c)
target_link_libraries(test_store PRIVATE ms_probes)
set(MS_STORE_TMP ${CMAKE_CURRENT_BINARY_DIR}/store_tmp)
file(MAKE_DIRECTORY ${MS_STORE_TMP})

add_test(NAME store_write_read
  COMMAND
  sh -c "$<TARGET_FILE:test_store> write ${MS_STORE_TMP}/w.h5 ${MS_STORE_TMP}/w && ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/store/check_store.py ${MS_STORE_TMP}/w.h5 ${MS_STORE_TMP}/w")
set_tests_properties(store_write_read PROPERTIES LABELS "unit;oracle")

add_test(NAME store_crash_resume COMMAND test_store crash ${MS_STORE_TMP})
set_tests_properties(store_crash_resume PROPERTIES LABELS "unit")

add_test(NAME store_errors COMMAND test_store errors ${MS_STORE_TMP})
set_tests_properties(store_errors PROPERTIES LABELS "unit")

add_test(NAME store_collector COMMAND test_store collector)
set_tests_properties(store_collector PROPERTIES LABELS "unit")

add_test(NAME store_handmade
  COMMAND sh -c "${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/store/handmade.py ${MS_STORE_TMP} && $<TARGET_FILE:test_store> handmade ${MS_STORE_TMP}")
set_tests_properties(store_handmade PROPERTIES LABELS "unit;oracle")
add_test(NAME store_merge_window
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/store/merge_window.sh ${MOESCOPE_BIN} ${MS_PYTHON}
    ${PROJECT_SOURCE_DIR}/corpora/samples)
set_tests_properties(store_merge_window PROPERTIES LABELS "unit")
