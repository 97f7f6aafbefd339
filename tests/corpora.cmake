# Corpora (corpora/): text folders, JSONL, zstd JSONL, The Pile selection, manifests, sampling,
# UTF-8 validation and the bad-input table. Fixtures are written by the test. Owner: store.
add_executable(test_corpora ${CMAKE_CURRENT_SOURCE_DIR}/corpora/test_corpora.c)
target_link_libraries(test_corpora PRIVATE ms_corpora PkgConfig::ZSTD)
add_test(NAME corpora_readers COMMAND test_corpora ${CMAKE_CURRENT_BINARY_DIR}/corpora_tmp)
set_tests_properties(corpora_readers PROPERTIES LABELS "unit")

# libFuzzer target over the corpus readers (JSONL, zstd, manifest, text), built with clang
# like tests/gguf.cmake's; without clang the test exists and fails.
find_program(MS_CLANG NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
set(MS_FUZZ_CORPORA_SRCS ${PROJECT_SOURCE_DIR}/corpora/corpus.c ${PROJECT_SOURCE_DIR}/corpora/lines.c
    ${MS_UTIL_SRCS} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_corpora.c)
set(MS_CORPORA_WORK ${CMAKE_CURRENT_BINARY_DIR}/corpora_fuzz)
if(MS_CLANG)
  set(MS_FUZZ_CORPORA ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpora)
  add_custom_command(OUTPUT ${MS_FUZZ_CORPORA}
    COMMAND ${MS_CLANG} -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${PROJECT_SOURCE_DIR}/corpora ${MS_UTIL_INC} ${MS_FUZZ_CORPORA_SRCS} -lcjson -lzstd -lm
            -o ${MS_FUZZ_CORPORA}
    DEPENDS ${MS_FUZZ_CORPORA_SRCS} ${PROJECT_SOURCE_DIR}/corpora/corpora.h
            ${PROJECT_SOURCE_DIR}/corpora/corpora_int.h
    COMMENT "Building libFuzzer target fuzz_corpora with ${MS_CLANG}")
  add_custom_target(fuzz_corpora ALL DEPENDS ${MS_FUZZ_CORPORA})
  file(MAKE_DIRECTORY ${MS_CORPORA_WORK}/fuzz-corpus)
  add_test(NAME corpora_fuzz
    COMMAND ${MS_FUZZ_CORPORA} -max_total_time=20 -timeout=10 -rss_limit_mb=2048
            -artifact_prefix=${MS_CORPORA_WORK}/
            ${MS_CORPORA_WORK}/fuzz-corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_corpora)
else()
  add_test(NAME corpora_fuzz COMMAND sh -c
    "echo 'FAIL: clang not found: the corpora fuzz target needs clang (.ci/install-deps --test)' >&2; exit 1")
endif()
set_tests_properties(corpora_fuzz PROPERTIES LABELS "fuzz;nosan" TIMEOUT 120)
