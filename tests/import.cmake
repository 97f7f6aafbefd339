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

# libFuzzer target over the .npy parser and the .npz reader: ms_fuzz_test.
ms_fuzz_test(import_fuzz fuzz_npy ${CMAKE_CURRENT_BINARY_DIR}/npy_fuzz npy
  SRCS ${PROJECT_SOURCE_DIR}/probes/npy.c ${MS_UTIL_SRCS} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_npy.c
  FLAGS -I${PROJECT_SOURCE_DIR}/probes ${LIBZIP_CFLAGS} LIBS ${LIBZIP_LDFLAGS}
  DEPENDS ${PROJECT_SOURCE_DIR}/probes/npy.h
  ARGS -max_total_time=18 -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/npy.dict
  SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_npy)

# Ids not in rank order: store attribute, analyze JSON/CSV/summary, report and merge honour it.
add_test(NAME import_rank_order
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/import/rank_order.py ${MOESCOPE_BIN}
          ${MS_IMPORT_TMP}/rank_order)
set_tests_properties(import_rank_order PROPERTIES LABELS "unit;oracle" TIMEOUT 300)
