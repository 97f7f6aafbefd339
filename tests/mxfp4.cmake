# MXFP4 weights (ggml type 39; engine/quant.c) in a model: fixtures with MXFP4 experts
# (`make-model --type MXFP4`) against llama.cpp (node-llama-cpp) — routes and next-token
# distributions exact against llama.cpp on the dequantized weights, and llama.cpp's own run
# on the MXFP4 file reported with a stated tolerance. Bit-exactness of the format itself is
# quant_oracle's (tests/quant.cmake).
add_test(NAME mxfp4_llama_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mxfp4_oracle.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/mxfp4-work/oracle)
set_tests_properties(mxfp4_llama_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 900
  ENVIRONMENT "MS_NODE=${MS_NODE}")

# MXFP4 files through the loader without llama.cpp: which tensors make-model stores as MXFP4
# (stacked and per-expert layouts, equal routes), and bad MXFP4 tensors (rows not whole
# blocks, data past the end, wrong expert count) refused with one line, exit 2.
add_test(NAME mxfp4_files
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mxfp4_files.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/mxfp4-work/files)
set_tests_properties(mxfp4_files PROPERTIES LABELS unit TIMEOUT 300)
