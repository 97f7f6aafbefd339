# MoE families (engine/arch.c registry): OLMoE, Qwen2-MoE, Qwen3-MoE, Granite-MoE and Mixtral
# against llama.cpp (node-llama-cpp): router top-k and weights at every layer and token
# (through router-probe copies, see the script), and next-token distributions, on F32 and
# Q8_0 fixtures of each family written by `moescope make-model --arch`.
add_test(NAME families_llama_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_families_oracle.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/families-work/oracle)
set_tests_properties(families_llama_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 1800
  ENVIRONMENT "MS_NODE=${MS_NODE}")

# A table of corrupt / inconsistent files of each family (GGUF and HF): one error line, exit 2.
add_test(NAME families_corrupt
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_families_corrupt.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/families-work/corrupt)
set_tests_properties(families_corrupt PROPERTIES LABELS unit TIMEOUT 300)

# Stores, analysis, show and plots for E = 40/64/128 (heatmaps instead of bar walls, Table 5
# baselines for k = 8, router kind recorded) and Mixtral as the control.
add_test(NAME families_store
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_families_store.py ${MOESCOPE_BIN}
          ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json
          ${CMAKE_CURRENT_BINARY_DIR}/families-work/store)
set_tests_properties(families_store PROPERTIES LABELS unit TIMEOUT 300)

# Dense MLP layers (mlp_only_layers, decoder_sparse_step) equal an MoE layer of identical
# experts; --layers all skips them, naming one is refused; capture stores routing layers only.
add_test(NAME families_dense
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_families_dense.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/families-work/dense
          ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json)
set_tests_properties(families_dense PROPERTIES LABELS unit TIMEOUT 300)

# The registry itself (engine/arch.c): lookups, names per block, formatting, no duplicates.
add_executable(test_arch ${CMAKE_CURRENT_SOURCE_DIR}/test_arch.c)
target_include_directories(test_arch PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(test_arch PRIVATE ms_engine)
add_test(NAME families_registry COMMAND test_arch)
set_tests_properties(families_registry PROPERTIES LABELS unit)
