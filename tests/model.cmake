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

# libFuzzer targets for the safetensors header parser and the config.json parser, built with
# clang whatever the project's compiler (as tests/gguf.cmake does); 10 s each.
foreach(target safetensors hfconfig)
  ms_fuzz_test(model_fuzz_${target} fuzz_${target} ${MS_MODEL_WORK} ${target}
    SRCS ${PROJECT_SOURCE_DIR}/engine/safetensors.c ${PROJECT_SOURCE_DIR}/engine/hfconfig.c
         ${PROJECT_SOURCE_DIR}/engine/arch.c ${MS_UTIL_SRCS}
         ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${target}.c
    FLAGS -I${PROJECT_SOURCE_DIR}/engine ${CJSON_CFLAGS} LIBS ${CJSON_LDFLAGS}
    DEPENDS ${PROJECT_SOURCE_DIR}/engine/safetensors.h ${PROJECT_SOURCE_DIR}/engine/arch.h
            ${PROJECT_SOURCE_DIR}/engine/engine.h
    ARGS -max_total_time=10 -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${target}.dict
    CORPUS ${MS_MODEL_WORK}/fuzz-${target} PREFIX ${MS_MODEL_WORK}/fuzz-${target}-
    SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_${target})
endforeach()

# numpy + llama.cpp's gguf-py read what make-model writes (safetensors by hand, GGUF through
# gguf-py; the converter's q/k permutation applied in numpy).
add_test(NAME model_numpy
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_model_numpy.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${MS_MODEL_WORK}/numpy)
set_tests_properties(model_numpy PROPERTIES LABELS oracle TIMEOUT 300)

# llama.cpp (node-llama-cpp's prebuilt CPU binaries) loads and runs our GGUF fixtures and
# agrees on hparams, vocabulary, parameter count and weight bytes.
if(MS_NODE)
  add_test(NAME model_llama_oracle
    COMMAND ${MS_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/test_model_oracle.mjs ${MOESCOPE_BIN}
            ${MS_MODEL_WORK}/oracle)
else()
  add_test(NAME model_llama_oracle COMMAND sh -c "echo 'FAIL: node not found' >&2; exit 1")
endif()
set_tests_properties(model_llama_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 600)
