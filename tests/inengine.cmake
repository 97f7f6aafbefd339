# Engine inputs that block, mislead or are broken (issue 14): FIFOs, devices and directories as
# model / config / tokenizer / shard index refused at once; NaN/Inf routers rejected naming the
# layer; a 50k-name shard index answered in well under a second; tokenizer_config.json BOS/EOS
# and add_*_token checked; the last value of a repeated JSON key; exit statuses. Every run has a
# timeout, so a blocking open fails the test instead of hanging it.
add_test(NAME inputs_engine
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_inputs_engine.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/inputs-engine-work)
set_tests_properties(inputs_engine PROPERTIES LABELS unit TIMEOUT 600)
if(MOESCOPE_SANITIZE)
  set_tests_properties(inputs_engine PROPERTIES ENVIRONMENT MS_SANITIZED=1)
endif()

# An LD_PRELOAD shim failing read() with EIO / mmap() with ENOMEM on one input: such failures
# must exit 1 (I/O), not 2 (bad file). Built without the sanitizer flags; under ASan the test
# sets verify_asan_link_order=0 so the shim may come first.
add_library(ms_inengine_shim_io MODULE ${CMAKE_CURRENT_SOURCE_DIR}/inengine/shim_io.c)
target_link_libraries(ms_inengine_shim_io PRIVATE ${CMAKE_DL_LIBS})
set_property(TEST inputs_engine APPEND PROPERTY ENVIRONMENT
             MS_SHIM_IO=$<TARGET_FILE:ms_inengine_shim_io>)
