#!/bin/sh
# gptoss.sh — issue 20's benchmark at gpt-oss-20b's layer shape with MXFP4 experts
# (bench/gptoss.py, docs/PERFORMANCE.md "GPT-OSS shape"): moescope routing-only and full
# forward vs llama.cpp on the same file. usage: bench/gptoss.sh BUILD_DIR [gptoss.py options]
set -eu
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
cmake --build "$BUILD" -j2 --target moescope ms_engine >/dev/null
exec /usr/bin/python3 "$HERE/gptoss.py" --build "$BUILD" "$@"
