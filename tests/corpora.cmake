# Corpora (corpora/): text folders, JSONL, zstd JSONL, The Pile selection, manifests, sampling,
# UTF-8 validation and the bad-input table. Fixtures are written by the test. Owner: store.
add_executable(test_corpora ${CMAKE_CURRENT_SOURCE_DIR}/corpora/test_corpora.c)
target_link_libraries(test_corpora PRIVATE ms_corpora PkgConfig::ZSTD)
add_test(NAME corpora_readers COMMAND test_corpora ${CMAKE_CURRENT_BINARY_DIR}/corpora_tmp)
set_tests_properties(corpora_readers PROPERTIES LABELS "unit")
