#!/bin/sh
# shapes.sh — issue 18's benchmark at Mixtral-layer shapes (bench/shapes.py, docs/PERFORMANCE.md):
# moescope routing-only / packed / full forward vs llama.cpp on the same file, and the kernel
# roofline. usage: bench/shapes.sh BUILD_DIR [shapes.py options]
set -eu
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
cmake --build "$BUILD" -j2 --target moescope ms_engine >/dev/null
exec /usr/bin/python3 "$HERE/shapes.py" --build "$BUILD" "$@"
