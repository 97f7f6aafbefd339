# Split GGUF models (engine/gguf_split.c): llama.cpp's gguf-split layout written by
# tests/gguf_split_tool.py opens from any part with routes, tokens and route stores identical
# to the unsplit file, inspect and the store list every part, and broken sets (missing part,
# parts of different sets, tensor twice / in no part, wrong split.no) exit 2 with one line.
add_executable(test_model_split_files ${CMAKE_CURRENT_SOURCE_DIR}/test_model_split_files.c)
target_link_libraries(test_model_split_files PRIVATE ms_engine ms_flags)
add_test(NAME model_split
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_model_split.py ${MOESCOPE_BIN}
          $<TARGET_FILE:test_model_split_files> ${CMAKE_CURRENT_BINARY_DIR}/model-work/split)
set_tests_properties(model_split PROPERTIES LABELS unit TIMEOUT 300)

# llama.cpp (node-llama-cpp) loads the split fixtures and gives the same next-token
# distribution as for the unsplit file; llama.cpp's own gguf-py split writer
# (GGUFWriter split_max_tensors, as convert_hf_to_gguf --split-max-tensors) gives parts that
# moescope opens with identical routes.
if(MS_NODE)
  add_test(NAME model_split_oracle
    COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_model_split_oracle.py ${MOESCOPE_BIN}
            ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/model-work/split-oracle
            ${MS_NODE})
else()
  add_test(NAME model_split_oracle COMMAND sh -c "echo 'FAIL: node not found' >&2; exit 1")
endif()
set_tests_properties(model_split_oracle PROPERTIES LABELS "oracle;nosan" TIMEOUT 600)
