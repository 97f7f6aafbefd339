# Forward pass (engine/forward*.c): unit tests against a naive reference on in-memory models,
# and the model-file tests (GGUF vs safetensors, llama.cpp oracle) once fixtures exist.
ms_c_test(forward_unit test_forward test_forward.c INTERNAL LIBS ms_engine m)

# The same weights as F32 GGUF and F32 HF folder agree; thread counts and probes change nothing.
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/forward-work/formats)
ms_c_test(forward_formats test_forward_formats test_forward_formats.c LIBS ms_engine m
  ARGS ${MS_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf
       ${CMAKE_CURRENT_BINARY_DIR}/forward-work/formats)

# Against llama.cpp (node-llama-cpp): next-token distributions on F32 / Q8_0 / Q4_K fixtures.
add_test(NAME forward_llama_oracle
  COMMAND ${MS_CLEAN_ON_PASS} ${CMAKE_CURRENT_BINARY_DIR}/forward-work/oracle
          ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_oracle.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/forward-work/oracle ${MS_NODE})
set_tests_properties(forward_llama_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 900)

# `moescope eval` / `moescope route`: output formats, JSON vs text, windows, threads, errors.
add_test(NAME forward_cli
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_cli.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/forward-work/cli)
set_tests_properties(forward_cli PROPERTIES LABELS unit)
