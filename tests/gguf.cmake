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

# libFuzzer needs clang. The target is built by its own command with clang whatever the
# project's compiler is; without clang the test exists and fails (it must never pass
# silently): .ci/install-deps --test installs clang.
find_program(MS_CLANG NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
set(MS_FUZZ_SRCS ${PROJECT_SOURCE_DIR}/engine/gguf.c ${PROJECT_SOURCE_DIR}/engine/quant.c ${MS_UTIL_SRCS}
                 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_gguf.c)
if(MS_CLANG)
  set(MS_FUZZ_GGUF ${CMAKE_CURRENT_BINARY_DIR}/fuzz_gguf)
  add_custom_command(OUTPUT ${MS_FUZZ_GGUF}
    COMMAND ${MS_CLANG} -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${PROJECT_SOURCE_DIR}/engine ${MS_UTIL_INC} ${MS_FUZZ_SRCS} -lm -o ${MS_FUZZ_GGUF}
    DEPENDS ${MS_FUZZ_SRCS} ${PROJECT_SOURCE_DIR}/engine/gguf.h
            ${PROJECT_SOURCE_DIR}/engine/engine.h
    COMMENT "Building libFuzzer target fuzz_gguf with ${MS_CLANG}")
  add_custom_target(fuzz_gguf ALL DEPENDS ${MS_FUZZ_GGUF})
  file(MAKE_DIRECTORY ${MS_GGUF_WORK}/fuzz-corpus)
  # New inputs go to the build tree's corpus; the committed seeds are read only.
  add_test(NAME gguf_fuzz
    COMMAND ${MS_FUZZ_GGUF} -max_total_time=20 -timeout=10
            -artifact_prefix=${MS_GGUF_WORK}/ -rss_limit_mb=2048
            -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gguf.dict
            ${MS_GGUF_WORK}/fuzz-corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds)
else()
  add_test(NAME gguf_fuzz COMMAND sh -c
    "echo 'FAIL: clang not found: the GGUF fuzz target needs clang (.ci/install-deps --test)' >&2; exit 1")
endif()
set_tests_properties(gguf_fuzz PROPERTIES LABELS "fuzz;nosan" TIMEOUT 120)
