# Forward pass (engine/forward*.c): unit tests against a naive reference on in-memory models,
# and the model-file tests (GGUF vs safetensors, llama.cpp oracle) once fixtures exist.
add_executable(test_forward ${CMAKE_CURRENT_SOURCE_DIR}/test_forward.c)
target_include_directories(test_forward PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(test_forward PRIVATE ms_engine m)
add_test(NAME forward_unit COMMAND test_forward)
set_tests_properties(forward_unit PROPERTIES LABELS unit)

# The same weights as F32 GGUF and F32 HF folder agree; thread counts and probes change nothing.
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/forward-work/formats)
add_executable(test_forward_formats ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_formats.c)
target_link_libraries(test_forward_formats PRIVATE ms_engine m)
add_test(NAME forward_formats
  COMMAND test_forward_formats ${MS_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf
          ${CMAKE_CURRENT_BINARY_DIR}/forward-work/formats)
set_tests_properties(forward_formats PROPERTIES LABELS unit)

# Against llama.cpp (node-llama-cpp): next-token distributions on F32 / Q8_0 / Q4_K fixtures.
add_test(NAME forward_llama_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_oracle.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/forward-work/oracle ${MS_NODE})
set_tests_properties(forward_llama_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 900)

# `moescope eval` / `moescope route`: output formats, JSON vs text, windows, threads, errors.
add_test(NAME forward_cli
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_cli.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/forward-work/cli)
set_tests_properties(forward_cli PROPERTIES LABELS unit)
