# Route store writer hardening (issue 14, items 2-4 and 7 for capture): output onto an input,
# two concurrent captures, write failures injected by an LD_PRELOAD shim at many points, a
# file-size limit, the pre-batch space check, --resume with the model spelled differently.
# Owner: store.
add_library(ms_faultwrite SHARED ${CMAKE_CURRENT_SOURCE_DIR}/store/faultwrite.c)
target_link_libraries(ms_faultwrite PRIVATE ${CMAKE_DL_LIBS})
# The shim must not be instrumented itself (it runs before the sanitizer runtime is ready).
target_compile_options(ms_faultwrite PRIVATE -fno-sanitize=all)
target_link_options(ms_faultwrite PRIVATE -fno-sanitize=all)
set(MS_STOREW_TMP ${CMAKE_CURRENT_BINARY_DIR}/storew_tmp)
foreach(mode outinput lock faults fsize respell)
  add_test(NAME storew_${mode}
    COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/store/writer_hardening.py ${MOESCOPE_BIN}
      ${MS_STOREW_TMP}/${mode} ${mode} $<TARGET_FILE:ms_faultwrite>)
  set_tests_properties(storew_${mode} PROPERTIES LABELS "unit")
endforeach()
set_tests_properties(storew_faults PROPERTIES LABELS "unit;slow")
