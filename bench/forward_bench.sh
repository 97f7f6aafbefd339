#!/bin/sh
# forward_bench.sh — prompt processing: moescope's forward pass vs llama.cpp (node-llama-cpp
# CPU build) on the same tokens of a generated Mixtral-architecture model.
#
# usage: bench/forward_bench.sh BUILD_DIR/moescope [TYPE] [THREADS] [WORK_DIR]
#   TYPE: GGUF weight type of the model (default Q4_K); THREADS default 2.
# The model (d_model 1024, 8 layers, 8 experts k=2, d_ff 3584, 16 heads, 4 kv heads) is made
# once per type under WORK_DIR (default /tmp/moescope-bench). Prints, for each engine, the
# best of 3 passes in one process: wall seconds, CPU seconds and tokens/s, one JSON line each
# (moescope also routing-only, and its per-stage profile). Wall times depend on the machine's load: compare CPU seconds with
# THREADS=1 on a busy machine, wall seconds on an idle one.
set -eu
BIN=$1
TYPE=${2:-Q4_K}
THREADS=${3:-2}
WORK=${4:-/tmp/moescope-bench}
HERE=$(cd "$(dirname "$0")/.." && pwd)
# OpenBLAS picks its kernels from OPENBLAS_CORETYPE when set (this machine's environment sets
# Haswell: AVX2 kernels) or by detecting the CPU (here Cooperlake: AVX-512 kernels, ~1.5x
# faster sgemm: 3.7 -> 2.4 CPU s for the 1-thread Q4_K run). Printed so runs are comparable.
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto-detect)}"
mkdir -p "$WORK"
MODEL=$WORK/bench_$TYPE.gguf
[ -f "$MODEL" ] || "$BIN" make-model --out "$MODEL" --type "$TYPE" --d-model 1024 --layers 8 \
    --experts 8 --k 2 --ff 3584 --heads 16 --kv-heads 4 -q
TEXT=$WORK/text.txt
/usr/bin/python3 - "$TEXT" <<'PY'
import sys
p = ("The history of the river valley is a story of floods and harvests. Farmers built "
     "terraces on the slopes, and merchants carried grain, wool and salt down to the harbour "
     "towns, where ships waited for the spring winds. ")
open(sys.argv[1], "w").write(p * 10)
PY
"$BIN" eval --model "$MODEL" --file "$TEXT" --json --top 1 |
    /usr/bin/python3 -c "import json,sys; json.dump(json.load(sys.stdin)['ids'], open(sys.argv[1],'w'))" "$WORK/ids.json"
N=$(/usr/bin/python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$WORK/ids.json")
# moescope inside one process (bench/forward_bench.c, built against the build tree's engine
# library), like llama.cpp below: model opened once, best of 3 passes.
BUILD=$(dirname "$BIN")
cc -O2 -march=native -o "$WORK/forward_bench" "$HERE/bench/forward_bench.c" -I"$HERE/engine" \
    "$BUILD/engine/libms_engine.a" "$BUILD/util/libms_util.a" \
    $(pkg-config --cflags --libs openblas libcjson oniguruma libutf8proc) -lm -lpthread
"$WORK/forward_bench" "$MODEL" "$WORK/ids.json" "$THREADS" 3
"$WORK/forward_bench" "$MODEL" "$WORK/ids.json" "$THREADS" 3 routing
node "$HERE/tests/oracle/forward_bench.mjs" "$MODEL" "$WORK/ids.json" "$THREADS" 3
