# GPT-OSS (GGUF `gpt-oss`; engine/arch.c): attention sinks, sliding-window layers alternating
# with full ones, q/k/v/o, router and expert biases, clamped SwiGLU; F32 and MXFP4-expert
# fixtures written by `moescope make-model --arch gpt-oss` against llama.cpp (node-llama-cpp):
# router top-k and weights at every layer and token, next-token distributions.
ms_py_test(gptoss_llama_oracle test_gptoss_oracle.py "oracle;nosan" 1800 NODE
  ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/gptoss-work/oracle)

# Bad gpt-oss GGUF files (sinks, biases, norms, window keys, MXFP4 tensors): one line, exit 2.
ms_py_test(gptoss_corrupt test_gptoss_corrupt.py unit 300
  ${CMAKE_CURRENT_BINARY_DIR}/gptoss-work/corrupt)

# capture -> analyze -> report on an MXFP4-expert gpt-oss fixture (32 experts, k 4).
ms_py_test(gptoss_pipeline test_gptoss_pipeline.py unit 300
  ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json
  ${CMAKE_CURRENT_BINARY_DIR}/gptoss-work/pipeline)

# HF folders (GptOssForCausalLM: interleaved, transposed gate_up_proj; MXFP4 *_blocks/*_scales)
# against GGUF files of the same weights: the layout in numpy (transformers' MXFP4 dequantizer
# vs gguf-py's), identical routes and next-token distributions, layer_types, bad folders; F16 and
# BF16 experts (copied 16-bit) against the same folder with the experts widened to F32 in numpy.
ms_py_test(gptoss_hf test_gptoss_hf.py unit 300 ${CMAKE_CURRENT_SOURCE_DIR}
  ${CMAKE_CURRENT_BINARY_DIR}/gptoss-work/hf)

# With GPT-OSS's own o200k_harmony vocabulary (201088 tokens, built by tokenizer_o200k_build):
# a harmony chat transcript tokenized with --special and a plain text, MXFP4 experts, routes
# and next-token distribution against llama.cpp. Skipped (77) without the vocabulary.
add_test(NAME gptoss_o200k
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_gptoss_o200k.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/gptoss-work/o200k
          ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-o200k/o200k.gguf)
set_tests_properties(gptoss_o200k PROPERTIES LABELS "oracle;nosan" TIMEOUT 900
  SKIP_RETURN_CODE 77 FIXTURES_REQUIRED tok_o200k ENVIRONMENT "MS_NODE=${MS_NODE}")

# An HF folder with MXFP4 experts (~214 MB of *_blocks/*_scales, made at test time and deleted)
# is opened without copying them: the peak RSS of `inspect` and of `route` on two tokens grows
# by well under the experts' size against a tiny folder (the repacking loader needed 2x more);
# a BF16 folder's transposed experts are copied as 16-bit (inspect grows by <= 1.75x their bytes,
# the F32 copy grew by 3x).
ms_py_test(gptoss_hf_memory test_gptoss_hf_memory.py unit 180
  ${CMAKE_CURRENT_BINARY_DIR}/gptoss-work/hf-memory)
