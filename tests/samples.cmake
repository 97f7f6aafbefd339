# The demo's sample corpora (corpora/samples/, docs/SAMPLES.md) and `moescope make-corpus`.
set(MS_SAMPLES_DIR ${PROJECT_SOURCE_DIR}/corpora/samples)
set(MS_SAMPLES_WORK ${CMAKE_CURRENT_BINARY_DIR}/samples_work)

# JSONL validity, set names, >= 20 documents per domain, no duplicates, domain style, manifest,
# size budget: pure Python, independent of moescope.
add_test(NAME samples_corpus_valid
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/samples_check.py ${MS_SAMPLES_DIR})
set_tests_properties(samples_corpus_valid PROPERTIES LABELS unit)

# The committed JSONL equals a fresh assembly; DM generator determinism; bad input refused.
add_test(NAME samples_reproducible
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_samples.sh ${MOESCOPE_BIN} ${MS_SAMPLES_DIR}
          ${MS_SAMPLES_WORK}/repro)
set_tests_properties(samples_reproducible PROPERTIES LABELS golden)

# Every DM Mathematics answer re-derived in Python, on the sample and on fresh seeds; every
# answer made wrong must be rejected (the checker can fail).
add_test(NAME samples_dm_math_oracle
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_samples_dm.sh ${MOESCOPE_BIN} ${MS_PYTHON}
          ${MS_SAMPLES_DIR} ${MS_SAMPLES_WORK}/dm)
set_tests_properties(samples_dm_math_oracle PROPERTIES LABELS oracle)

# The manifest read through the corpora library as the capture reads it (needs the manifest
# reader, corpora/corpus.c).
if(EXISTS ${PROJECT_SOURCE_DIR}/corpora/corpus.c)
  add_executable(test_samples_manifest test_samples_manifest.c)
  target_link_libraries(test_samples_manifest PRIVATE ms_corpora)
  add_test(NAME samples_manifest_reader
    COMMAND test_samples_manifest ${MS_SAMPLES_DIR}/manifest.json)
  set_tests_properties(samples_manifest_reader PROPERTIES LABELS unit)
endif()
