#!/bin/sh
# run.sh — issue 10's benchmark in one command: moescope capture vs llama.cpp prompt processing
# (node-llama-cpp in tests/oracle/node_modules) on the 0.8B Mixtral-architecture model as F16,
# Q8_0 and Q4_K_M, same tokens, same thread count; peak RSS, probe overhead, per-stage profile,
# sgemm roofline and the scaling of time with the window length. See docs/PERFORMANCE.md.
#
# usage: bench/run.sh BUILD_DIR [perf.py options: --threads N --types F16,Q8_0,Q4_K_M
#        --window 512 --max-docs 12 --scaling 128,...,4096 --blas-auto --work DIR ...]
# Models are generated once into BUILD_DIR/bench-work (or --work); the table is printed and
# written to that folder's results.md (results.json holds every number).
set -eu
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
cmake --build "$BUILD" -j2 --target moescope >/dev/null
exec /usr/bin/python3 "$HERE/perf.py" --build "$BUILD" "$@"
