# Route store reader hardening (probes/routes.c, probes/h5util.c): a table of corrupted
# stores through every command that reads one, and a libFuzzer target over the reader.
set(MS_STORER_WORK ${CMAKE_CURRENT_BINARY_DIR}/storer-work)

# Registered without nosan: it must pass under ASan+UBSan too (every command of the table is
# the instrumented moescope).
add_test(NAME store_corrupt_table
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/store/corrupt_stores.py ${MOESCOPE_BIN}
          ${MS_STORER_WORK}/corrupt)
set_tests_properties(store_corrupt_table PROPERTIES LABELS "unit" TIMEOUT 900)
