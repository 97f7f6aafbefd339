# Corpora (corpora/): text folders, JSONL, zstd JSONL, The Pile selection, manifests, sampling,
# UTF-8 validation and the bad-input table. Fixtures are written by the test. Owner: store.
add_executable(test_corpora ${CMAKE_CURRENT_SOURCE_DIR}/corpora/test_corpora.c)
target_link_libraries(test_corpora PRIVATE ms_corpora PkgConfig::ZSTD)
add_test(NAME corpora_readers COMMAND test_corpora ${CMAKE_CURRENT_BINARY_DIR}/corpora_tmp)
set_tests_properties(corpora_readers PROPERTIES LABELS "unit")

# libFuzzer target over the corpus readers (JSONL, zstd, manifest, text): ms_fuzz_test.
ms_fuzz_test(corpora_fuzz fuzz_corpora ${CMAKE_CURRENT_BINARY_DIR}/corpora_fuzz corpora
  SRCS ${PROJECT_SOURCE_DIR}/corpora/corpus.c ${PROJECT_SOURCE_DIR}/corpora/lines.c
       ${MS_UTIL_SRCS} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_corpora.c
  FLAGS -I${PROJECT_SOURCE_DIR}/corpora LIBS -lcjson -lzstd
  DEPENDS ${PROJECT_SOURCE_DIR}/corpora/corpora.h ${PROJECT_SOURCE_DIR}/corpora/corpora_int.h
  ARGS -max_total_time=20 SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_corpora)
