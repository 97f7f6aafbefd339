# Model files (engine/model.c, safetensors.c, hfconfig.c, fixture.c; cli inspect / make-model):
# GGUF and safetensors fixtures describe identical weights, an independent numpy/gguf-py check
# of what we write, the table of corrupt files, llama.cpp accepting our GGUF files, and
# libFuzzer runs of the safetensors header and config.json parsers.
set(MS_MODEL_WORK ${CMAKE_CURRENT_BINARY_DIR}/model-work)
set(MS_VOCAB_SPM ${MS_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf)

add_executable(test_model ${CMAKE_CURRENT_SOURCE_DIR}/test_model.c)
target_link_libraries(test_model PRIVATE ms_engine ms_flags m)
add_test(NAME model_formats COMMAND test_model ${MS_VOCAB_SPM} ${MS_MODEL_WORK}/formats)
set_tests_properties(model_formats PROPERTIES LABELS unit)

# Hand-made corrupt files: exit 2 and one error line naming the file (ASan/UBSan in the
# sanitizer build).
add_test(NAME model_corrupt
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_model_corrupt.py ${MOESCOPE_BIN}
          ${MS_MODEL_WORK}/corrupt)
set_tests_properties(model_corrupt PROPERTIES LABELS unit TIMEOUT 300)
