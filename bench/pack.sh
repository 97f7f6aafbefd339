#!/bin/sh
# pack.sh — capture throughput with short documents packed into shared passes vs --no-pack
# (bench/pack.py, docs/PERFORMANCE.md). usage: bench/pack.sh BUILD_DIR [pack.py options]
set -eu
BUILD=$1
shift
HERE=$(cd "$(dirname "$0")" && pwd)
cmake --build "$BUILD" -j2 --target moescope >/dev/null
exec /usr/bin/python3 "$HERE/pack.py" --build "$BUILD" "$@"
