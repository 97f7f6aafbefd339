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
