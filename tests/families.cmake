# MoE families (engine/arch.c registry): OLMoE, Qwen2-MoE, Qwen3-MoE, Granite-MoE and Mixtral
# against llama.cpp (node-llama-cpp): router top-k and weights at every layer and token
# (through router-probe copies, see the script), and next-token distributions, on F32 and
# Q8_0 fixtures of each family written by `moescope make-model --arch`.
ms_py_test(families_llama_oracle test_families_oracle.py "oracle;nosan" 1800 NODE
  ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/families-work/oracle)

# A table of corrupt / inconsistent files of each family (GGUF and HF): one error line, exit 2.
ms_py_test(families_corrupt test_families_corrupt.py unit 300
  ${CMAKE_CURRENT_BINARY_DIR}/families-work/corrupt)

# Stores, analysis, show and plots for E = 40/64/128 (heatmaps instead of bar walls, Table 5
# baselines for k = 8, router kind recorded) and Mixtral as the control.
ms_py_test(families_store test_families_store.py unit 300
  ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json
  ${CMAKE_CURRENT_BINARY_DIR}/families-work/store)

# Dense MLP layers (mlp_only_layers, decoder_sparse_step) equal an MoE layer of identical
# experts; --layers all skips them, naming one is refused; capture stores routing layers only.
ms_py_test(families_dense test_families_dense.py unit 300
  ${CMAKE_CURRENT_BINARY_DIR}/families-work/dense
  ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json)

# The registry itself (engine/arch.c): lookups, names per block, formatting, no duplicates.
ms_c_test(families_registry test_arch test_arch.c INTERNAL LIBS ms_engine)
