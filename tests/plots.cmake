# plots: `moescope plot`, `show`, `report` (tests/plots/test_plots.py, one case per test).
# Fixtures: tests/data/analysis_example.json (hand-made analysis JSON, schema of
# docs/ANALYSIS.md) and a route store written by tests/plots/make_store.py with h5py from
# llama.cpp's tokenizer test cases. Checks decode the PNGs, parse SVG/HTML and recompute the
# numbers with numpy, independently of moescope.
set(MS_PLOTS_TEST ${CMAKE_CURRENT_SOURCE_DIR}/plots/test_plots.py)
set(MS_PLOTS_WORK ${CMAKE_CURRENT_BINARY_DIR}/plots)
foreach(case figures report no_gnuplot bad_input store_views store_report capture_report
             chromium)
  add_test(NAME plots_${case}
           COMMAND ${MS_PYTHON} ${MS_PLOTS_TEST} ${case} ${MOESCOPE_BIN} ${MS_TEST_DATA}
                   ${MS_PLOTS_WORK})
  set_tests_properties(plots_${case} PROPERTIES LABELS unit TIMEOUT 300)
endforeach()
# Headless Chromium screenshot of the report: not under the sanitizer build.
set_tests_properties(plots_chromium PROPERTIES LABELS "unit;nosan")
