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
find_program(MS_CLANG NAMES clang clang-19 clang-18 clang-17 clang-16 clang-15 clang-14)
set(MS_FUZZ_ROUTES_SRCS ${PROJECT_SOURCE_DIR}/probes/routes.c ${PROJECT_SOURCE_DIR}/probes/h5util.c
    ${PROJECT_SOURCE_DIR}/probes/h5fd_ordered.c
                        ${MS_UTIL_SRCS} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_routes.c)
if(MS_CLANG)
  set(MS_FUZZ_ROUTES ${CMAKE_CURRENT_BINARY_DIR}/fuzz_routes)
  set(MS_FUZZ_ROUTES_INC)
  foreach(dir ${HDF5_INCLUDE_DIRS})
    list(APPEND MS_FUZZ_ROUTES_INC -I${dir})
  endforeach()
  set(MS_FUZZ_ROUTES_DEFS)
  foreach(def ${HDF5_DEFINITIONS})
    list(APPEND MS_FUZZ_ROUTES_DEFS ${def})
  endforeach()
  add_custom_command(OUTPUT ${MS_FUZZ_ROUTES}
    COMMAND ${MS_CLANG} -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            ${MS_FUZZ_ROUTES_DEFS} -I${PROJECT_SOURCE_DIR}/probes -I${PROJECT_SOURCE_DIR}/engine
            ${MS_UTIL_INC} ${MS_FUZZ_ROUTES_INC} ${MS_FUZZ_ROUTES_SRCS} ${HDF5_C_LIBRARIES}
            -lcjson -lm -o ${MS_FUZZ_ROUTES}
    DEPENDS ${MS_FUZZ_ROUTES_SRCS} ${PROJECT_SOURCE_DIR}/probes/h5_int.h
            ${PROJECT_SOURCE_DIR}/probes/probes.h
    COMMENT "Building libFuzzer target fuzz_routes with ${MS_CLANG}")
  add_custom_target(fuzz_routes ALL DEPENDS ${MS_FUZZ_ROUTES})
  file(MAKE_DIRECTORY ${MS_STORER_WORK}/fuzz-corpus)
  # New inputs go to the build tree's corpus; the committed seeds are read only. A fixed
  # -seed and a bounded time keep the run reproducible enough to pass reliably.
  add_test(NAME store_fuzz
    COMMAND ${MS_FUZZ_ROUTES} -max_total_time=20 -seed=1 -timeout=10
            -artifact_prefix=${MS_STORER_WORK}/ -rss_limit_mb=2048
            ${MS_STORER_WORK}/fuzz-corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds_routes)
else()
  add_test(NAME store_fuzz COMMAND sh -c
    "echo 'FAIL: clang not found: the route store fuzz target needs clang (.ci/install-deps --test)' >&2; exit 1")
endif()
set_tests_properties(store_fuzz PROPERTIES LABELS "fuzz;nosan" TIMEOUT 120)
