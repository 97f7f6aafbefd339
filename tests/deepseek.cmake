# DeepSeek family (GGUF `deepseek`, DeepSeek-MoE-16B layout: leading dense layers, softmax
# router without renormalisation times expert_weights_scale, ungated shared experts).

# Against llama.cpp (node-llama-cpp): router top-k and weights at every MoE layer and token
# through router-probe copies, and next-token distributions, on F32 and Q8_0 fixtures with
# 64 experts k 6 + 2 shared experts + 1 dense layer, and 16 experts k 4 + 1 shared expert.
ms_py_test(deepseek_llama_oracle test_deepseek_oracle.py "oracle;nosan" 900 NODE
  ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/oracle)

# Bad deepseek GGUF files (keys, tensors, widths) and refused requests: one error line, exit 2.
ms_py_test(deepseek_corrupt test_deepseek_corrupt.py unit 300
  ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/corrupt)

# capture -> analyze -> report on deepseek and deepseek2 fixtures with 64 experts, k 6, 2 shared
# experts, 1 dense layer (a dense layer named in analyze is refused as dense): stored
# layers, the model description (shared experts, weights scale), applied weights, refusals.
ms_py_test(deepseek_pipeline test_deepseek_pipeline.py unit 300
  ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json
  ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/pipeline)

# The DeepSeek V2/V3 router (engine/router_v3.c) against hand-computed references.
ms_c_test(deepseek_router_v3 test_router_v3 test_router_v3.c INTERNAL LIBS ms_engine)

# GGUF deepseek2 (DeepSeek-V2/V3: latent attention, V2 softmax and V3 sigmoid + bias + groups
# routers) against llama.cpp: router top-k and weights at every MoE layer and token (the rule
# applied in numpy to llama.cpp's router logits from probe copies), next-token distributions;
# F32 and Q8_0 fixtures with and without q low-rank, split and fused attn_kv_b, dense leads.
ms_py_test(deepseek2_llama_oracle test_deepseek2_oracle.py "oracle;nosan" 900 NODE
  ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/oracle2)

# HF DeepseekV2ForCausalLM / DeepseekV3ForCausalLM folders against GGUF deepseek2 files of the
# same weights: identical routes and next-token distributions, the same hyper-parameters, and a
# DeepSeek-V2-Lite config.json read as the model card says.
ms_py_test(deepseek2_hf_gguf test_deepseek2_hf.py unit 300
  ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/hf2)

# Bad deepseek2 GGUF files (latent attention keys and tensors, router configuration, YaRN),
# bad DeepseekV2/V3 config.json files and refused make-model requests: one error line, exit 2.
ms_py_test(deepseek2_corrupt test_deepseek2_corrupt.py unit 300
  ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/corrupt2)

# FP8 Hugging Face weights (F8_E4M3 with 128x128 block scales, DeepSeek-V3's layout): an FP8
# folder holding every finite FP8 code routes and predicts bit-identically to the F32 folder a
# numpy bit-level decoder makes of it; bad block scales: one error line, exit 2.
ms_py_test(deepseek2_fp8 test_fp8.py unit 300 ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/fp8)

# What a probe sees for the DeepSeek router kinds (ms_route_event.scores) on a V3 fixture
# (sigmoid, selection bias, 4 groups / 2 used, expert_weights_norm) and a V2 one (softmax):
# scores recomputed from the event's logits and the file's bias, masked groups, ids = top-k of
# the scores, weights = unbiased scores renormalised x scale.
add_executable(test_deepseek2_probe ${CMAKE_CURRENT_SOURCE_DIR}/test_deepseek2_probe.c)
target_include_directories(test_deepseek2_probe PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(test_deepseek2_probe PRIVATE ms_engine)
add_test(NAME deepseek2_probe_scores
  COMMAND sh -c "set -e; W=$1; mkdir -p $W; \
    $0 make-model --arch deepseek2 --out $W/v3.gguf --experts 32 --k 4 --layers 3 --dense-lead 1 \
      --sigmoid-router --groups 4 --groups-used 2 --expert-norm --q-lora 24 -q; \
    $0 make-model --arch deepseek2 --out $W/v2.gguf --experts 16 --k 3 --layers 2 -q; \
    $2 $W/v3.gguf; $2 $W/v2.gguf"
    ${MOESCOPE_BIN} ${CMAKE_CURRENT_BINARY_DIR}/deepseek-work/probe2 $<TARGET_FILE:test_deepseek2_probe>)
set_tests_properties(deepseek2_probe_scores PROPERTIES LABELS unit TIMEOUT 120)
