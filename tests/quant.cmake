# Weight types (engine/quant.c): self-checks and bit-exact comparison with gguf-py's numpy
# quants and ggml's reference C code from llama.cpp's source bundle (quant_oracle.py).
add_executable(test_quant ${CMAKE_CURRENT_SOURCE_DIR}/test_quant.c)
target_link_libraries(test_quant PRIVATE ms_engine ms_flags)

add_test(NAME quant_self COMMAND test_quant self)
set_tests_properties(quant_self PROPERTIES LABELS "unit")

add_test(NAME quant_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/quant_oracle.py $<TARGET_FILE:test_quant>
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/gguf-work/quant)
set_tests_properties(quant_oracle PROPERTIES LABELS "oracle" TIMEOUT 300)
