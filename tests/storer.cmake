# Route store reader hardening (probes/routes.c, probes/h5util.c): a table of corrupted
# stores through every command that reads one, and a libFuzzer target over the reader.
set(MS_STORER_WORK ${CMAKE_CURRENT_BINARY_DIR}/storer-work)

# Registered without nosan: it must pass under ASan+UBSan too (every command of the table is
# the instrumented moescope).
add_test(NAME store_corrupt_table
  COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/store/corrupt_stores.py ${MOESCOPE_BIN}
          ${MS_STORER_WORK}/corrupt)
set_tests_properties(store_corrupt_table PROPERTIES LABELS "unit" TIMEOUT 900)

# libFuzzer target over the reader, built with clang like the others (tests/gguf.cmake): it
# writes each input as a store through the HDF5 API into memory and opens the image with
# ms_routes_open_image (no disk files). Structure-aware, since libhdf5 1.10 crashes on
# some corrupt object headers by itself (docs/ROUTE_STORE.md, "What a reader checks").
# A fixed -seed and a bounded time keep the run reproducible enough to pass reliably.
set(MS_FUZZ_ROUTES_INC)
foreach(dir ${HDF5_INCLUDE_DIRS})
  list(APPEND MS_FUZZ_ROUTES_INC -I${dir})
endforeach()
ms_fuzz_test(store_fuzz fuzz_routes ${MS_STORER_WORK} "route store"
  SRCS ${PROJECT_SOURCE_DIR}/probes/routes.c ${PROJECT_SOURCE_DIR}/probes/h5util.c
       ${PROJECT_SOURCE_DIR}/probes/h5fd_ordered.c ${MS_UTIL_SRCS}
       ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_routes.c
  FLAGS ${HDF5_DEFINITIONS} -I${PROJECT_SOURCE_DIR}/probes -I${PROJECT_SOURCE_DIR}/engine
        ${MS_FUZZ_ROUTES_INC}
  LIBS ${HDF5_C_LIBRARIES} -lcjson
  DEPENDS ${PROJECT_SOURCE_DIR}/probes/h5_int.h ${PROJECT_SOURCE_DIR}/probes/probes.h
  ARGS -max_total_time=20 -seed=1 SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_routes)
