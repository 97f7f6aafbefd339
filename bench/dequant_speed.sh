#!/bin/sh
# Dequantization throughput per weight type (engine/quant.c), single thread.
# Usage: bench/dequant_speed.sh   (builds with cc -O2 -march=native into a temp dir)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -march=native -I"$root/engine" \
  "$root/bench/dequant_speed.c" "$root/engine/quant.c" -lm -lpthread -o "$tmp/dequant_speed"
"$tmp/dequant_speed"
