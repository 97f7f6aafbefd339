# `moescope demo` end to end (issue: the built-in default).
add_test(NAME demo_end_to_end COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_demo.sh ${MOESCOPE_BIN} ${MS_PYTHON})
set_tests_properties(demo_end_to_end PROPERTIES LABELS "slow;nosan" TIMEOUT 900)

# The shipped demo model's routing is learned (issue 22): on the held-out samples, domain
# Jensen-Shannon divergence per layer, repetition and next-token loss against a random model of
# the same shape (make-model), all computed in Python from h5py and eval --nll; and llama.cpp
# (node-llama-cpp) loads models/demo-moe.gguf and agrees on routes and next tokens.
add_test(NAME demo_trained_routing
  COMMAND ${MS_CLEAN_ON_PASS} ${CMAKE_CURRENT_BINARY_DIR}/demo-work/trained
          ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_demo_trained.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/demo-work/trained
          ${PROJECT_SOURCE_DIR})
set_tests_properties(demo_trained_routing PROPERTIES LABELS "oracle;nosan" TIMEOUT 1200
  ENVIRONMENT "MS_NODE=${MS_NODE}")
