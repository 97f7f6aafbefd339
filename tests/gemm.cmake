# The engine's f32 matrix kernel (engine/gemm.c): bit-exact against the scalar fmaf chain and
# independent of how rows are batched (the basis of packed windows).
ms_c_test(gemm_unit test_gemm test_gemm.c INTERNAL LIBS ms_engine m)

# Documents packed into one window (ms_forward_packed) == one document per pass, bit for bit.
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/forward-work/packed)
ms_c_test(forward_packed test_forward_packed test_forward_packed.c LIBS ms_engine m
  ARGS ${MS_TEST_DATA}/vocab/ggml-vocab-llama-spm.gguf
       ${CMAKE_CURRENT_BINARY_DIR}/forward-work/packed)

# capture packs short documents into shared passes: the store equals --no-pack's (h5py).
add_test(NAME capture_packed
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/capture/packed.py ${MOESCOPE_BIN}
          ${CMAKE_CURRENT_BINARY_DIR}/capture_tmp/packed ${PROJECT_SOURCE_DIR}/corpora/samples)
set_tests_properties(capture_packed PROPERTIES LABELS unit TIMEOUT 600)

# The same checks on the kernel's AVX2 and portable (fmaf) paths: all three give the same bits.
foreach(path avx2 scalar)
  add_executable(test_gemm_${path} ${CMAKE_CURRENT_SOURCE_DIR}/test_gemm.c
                                   ${PROJECT_SOURCE_DIR}/engine/gemm.c)
  target_include_directories(test_gemm_${path} PRIVATE ${PROJECT_SOURCE_DIR}/engine)
  target_link_libraries(test_gemm_${path} PRIVATE ms_flags m)
  add_test(NAME gemm_unit_${path} COMMAND test_gemm_${path})
  set_tests_properties(gemm_unit_${path} PROPERTIES LABELS unit)
endforeach()
target_compile_options(test_gemm_avx2 PRIVATE -mno-avx512f)
target_compile_options(test_gemm_scalar PRIVATE -mno-avx512f -mno-avx2 -mno-fma)
