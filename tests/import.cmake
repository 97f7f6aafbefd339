# moescope import (probes/import.c, probes/npy.c): NumPy and engine-JSONL routing into a route
# store. Owner: import.
#   import_layouts    numpy-written arrays in every layout read back equal by h5py
#   import_roundtrip  a captured store exported to arrays/JSONL and imported equals the capture
#                     dataset by dataset and gives the same analyze --json
#   import_malformed  every malformed input: exit 2, one line naming file and array, no output
#   import_rank_order ids not in rank order: first/second-choice figures say unavailable
#   import_fuzz       libFuzzer over the .npy parser and .npz reader (clang)
set(MS_IMPORT_TMP ${CMAKE_CURRENT_BINARY_DIR}/import_tmp)
file(MAKE_DIRECTORY ${MS_IMPORT_TMP})
add_test(NAME import_layouts
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/import/layouts.py ${MOESCOPE_BIN}
          ${MS_IMPORT_TMP}/layouts)
set_tests_properties(import_layouts PROPERTIES LABELS "unit;oracle" TIMEOUT 120)
add_test(NAME import_roundtrip
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/import/roundtrip.sh ${MOESCOPE_BIN} ${MS_PYTHON}
          ${PROJECT_SOURCE_DIR}/corpora/samples/manifest.json ${MS_IMPORT_TMP}/roundtrip)
set_tests_properties(import_roundtrip PROPERTIES LABELS "unit;oracle" TIMEOUT 300)
add_test(NAME import_malformed
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/import/malformed.py ${MOESCOPE_BIN}
          ${MS_IMPORT_TMP}/malformed)
set_tests_properties(import_malformed PROPERTIES LABELS "unit" TIMEOUT 300)

# libFuzzer target over the .npy parser and the .npz reader, built with clang like
# tests/corpora.cmake's; without clang the test exists and fails.
find_program(MS_CLANG NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
set(MS_FUZZ_NPY_SRCS ${PROJECT_SOURCE_DIR}/probes/npy.c ${MS_UTIL_SRCS}
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_npy.c)
set(MS_NPY_WORK ${CMAKE_CURRENT_BINARY_DIR}/npy_fuzz)
if(MS_CLANG)
  set(MS_FUZZ_NPY ${CMAKE_CURRENT_BINARY_DIR}/fuzz_npy)
  add_custom_command(OUTPUT ${MS_FUZZ_NPY}
    COMMAND ${MS_CLANG} -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${PROJECT_SOURCE_DIR}/probes ${MS_UTIL_INC} ${LIBZIP_CFLAGS} ${MS_FUZZ_NPY_SRCS}
            ${LIBZIP_LDFLAGS} -lm -o ${MS_FUZZ_NPY}
    DEPENDS ${MS_FUZZ_NPY_SRCS} ${PROJECT_SOURCE_DIR}/probes/npy.h
    COMMENT "Building libFuzzer target fuzz_npy with ${MS_CLANG}")
  add_custom_target(fuzz_npy ALL DEPENDS ${MS_FUZZ_NPY})
  file(MAKE_DIRECTORY ${MS_NPY_WORK}/fuzz-corpus)
  add_test(NAME import_fuzz
    COMMAND ${MS_FUZZ_NPY} -max_total_time=18 -timeout=10 -rss_limit_mb=2048
            -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/npy.dict -artifact_prefix=${MS_NPY_WORK}/
            ${MS_NPY_WORK}/fuzz-corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_npy)
else()
  add_test(NAME import_fuzz COMMAND sh -c
    "echo 'FAIL: clang not found: the npy fuzz target needs clang (.ci/install-deps --test)' >&2; exit 1")
endif()
set_tests_properties(import_fuzz PROPERTIES LABELS "fuzz;nosan" TIMEOUT 120)

# Ids not in rank order: store attribute, analyze JSON/CSV/summary, report and merge honour it.
add_test(NAME import_rank_order
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/import/rank_order.py ${MOESCOPE_BIN}
          ${MS_IMPORT_TMP}/rank_order)
set_tests_properties(import_rank_order PROPERTIES LABELS "unit;oracle" TIMEOUT 300)
