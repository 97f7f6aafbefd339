# The engine's f32 matrix kernel (engine/gemm.c): bit-exact against the scalar fmaf chain and
# independent of how rows are batched (the basis of packed windows).
add_executable(test_gemm ${CMAKE_CURRENT_SOURCE_DIR}/test_gemm.c)
target_include_directories(test_gemm PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(test_gemm PRIVATE ms_engine m)
add_test(NAME gemm_unit COMMAND test_gemm)
set_tests_properties(gemm_unit PROPERTIES LABELS unit)
