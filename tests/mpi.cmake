# Distributed capture and analysis (GitHub issue 11), only in MOESCOPE_MPI builds: the store and
# the analysis of `mpirun -n 2` and `-n 3` equal the serial ones (h5py, JSON); kill -9 of one
# rank + --resume; moescope merge. Run with `ctest -L mpi` (Makefile: build-mpi). Owner: mpi.
# The document partition (cli/dist.c) is a unit test of every build (without mpirun: one rank).
add_executable(test_dist ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_dist.c)
target_link_libraries(test_dist PRIVATE ms_cli)
add_test(NAME dist_partition COMMAND test_dist)
set_tests_properties(dist_partition PROPERTIES LABELS unit)
if(MOESCOPE_MPI)
  set(MS_MPI_TMP ${CMAKE_CURRENT_BINARY_DIR}/mpi_tmp)
  foreach(mode capture analyze resume)
    add_test(NAME mpi_${mode}
      COMMAND ${MS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_e2e.py ${MOESCOPE_BIN}
        ${CMAKE_SOURCE_DIR}/corpora/samples ${MS_MPI_TMP}/${mode} ${mode})
  endforeach()
  # Each test starts up to 3 ranks: never two at once on a small machine.
  set_tests_properties(mpi_capture mpi_analyze mpi_resume PROPERTIES RUN_SERIAL TRUE TIMEOUT 300)
  set_tests_properties(mpi_capture mpi_analyze PROPERTIES LABELS "mpi;oracle")
  set_tests_properties(mpi_resume PROPERTIES LABELS "mpi;slow")
endif()
