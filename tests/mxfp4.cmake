# MXFP4 weights (ggml type 39; engine/quant.c) in a model: fixtures with MXFP4 experts
# (`make-model --type MXFP4`) against llama.cpp (node-llama-cpp) — routes and next-token
# distributions exact against llama.cpp on the dequantized weights, and llama.cpp's own run
# on the MXFP4 file reported with a stated tolerance. Bit-exactness of the format itself is
# quant_oracle's (tests/quant.cmake).
add_test(NAME mxfp4_llama_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mxfp4_oracle.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/mxfp4-work/oracle)
set_tests_properties(mxfp4_llama_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 900)
