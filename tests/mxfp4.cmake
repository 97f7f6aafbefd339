# MXFP4 weights (ggml type 39; engine/quant.c) in a model: fixtures with MXFP4 experts
# (`make-model --type MXFP4`) against llama.cpp (node-llama-cpp) — routes and next-token
# distributions exact against llama.cpp on the dequantized weights, and llama.cpp's own run
# on the MXFP4 file reported with a stated tolerance. Bit-exactness of the format itself is
# quant_oracle's (tests/quant.cmake).
ms_py_test(mxfp4_llama_oracle test_mxfp4_oracle.py "oracle;nosan" 900 NODE
  ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/mxfp4-work/oracle)

# MXFP4 files through the loader without llama.cpp: which tensors make-model stores as MXFP4
# (stacked and per-expert layouts, equal routes), and bad MXFP4 tensors (rows not whole
# blocks, data past the end, wrong expert count) refused with one line, exit 2.
ms_py_test(mxfp4_files test_mxfp4_files.py unit 300 ${CMAKE_CURRENT_BINARY_DIR}/mxfp4-work/files)
