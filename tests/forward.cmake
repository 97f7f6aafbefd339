# Forward pass (engine/forward*.c): unit tests against a naive reference on in-memory models,
# and the model-file tests (GGUF vs safetensors, llama.cpp oracle) once fixtures exist.
add_executable(test_forward ${CMAKE_CURRENT_SOURCE_DIR}/test_forward.c)
target_include_directories(test_forward PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(test_forward PRIVATE ms_engine m)
add_test(NAME forward_unit COMMAND test_forward)
set_tests_properties(forward_unit PROPERTIES LABELS unit)
