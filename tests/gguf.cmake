# GGUF reader/writer (engine/gguf.c): corrupt-file table, gguf-py oracle, libFuzzer target.
add_executable(test_gguf ${CMAKE_CURRENT_SOURCE_DIR}/test_gguf.c)
target_link_libraries(test_gguf PRIVATE ms_engine ms_flags)
set(MS_GGUF_WORK ${CMAKE_CURRENT_BINARY_DIR}/gguf-work)

add_test(NAME gguf_corrupt COMMAND test_gguf corrupt ${MS_GGUF_WORK}/corrupt)
set_tests_properties(gguf_corrupt PROPERTIES LABELS "unit")

add_test(NAME gguf_oracle
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gguf_oracle.py $<TARGET_FILE:test_gguf>
          ${CMAKE_CURRENT_SOURCE_DIR} ${MS_GGUF_WORK}/oracle)
set_tests_properties(gguf_oracle PROPERTIES LABELS "oracle" TIMEOUT 300)

# libFuzzer over the GGUF reader (tests/CMakeLists.txt: ms_fuzz_test).
ms_fuzz_test(gguf_fuzz fuzz_gguf ${MS_GGUF_WORK} GGUF
  SRCS ${PROJECT_SOURCE_DIR}/engine/gguf.c ${PROJECT_SOURCE_DIR}/engine/quant.c ${MS_UTIL_SRCS}
       ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_gguf.c
  FLAGS -I${PROJECT_SOURCE_DIR}/engine
  DEPENDS ${PROJECT_SOURCE_DIR}/engine/gguf.h ${PROJECT_SOURCE_DIR}/engine/engine.h
  ARGS -max_total_time=20 -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gguf.dict
  SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds)
