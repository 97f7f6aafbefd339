#!/bin/sh
# deepseek2.sh — prompt processing on a DeepSeek-V2-Lite-shaped fixture: moescope's forward
# pass (full, and routing-only as `capture` runs it) vs llama.cpp (node-llama-cpp CPU build) on
# the same tokens.
#
# usage: bench/deepseek2.sh BUILD_DIR/moescope [TYPE] [THREADS] [WORK_DIR]
#   TYPE: GGUF weight type (default Q8_0); THREADS default 2.
# The model has DeepSeek-V2-Lite's layer shapes at full width and 3 of its 27 layers: d_model
# 2048, 16 heads, multi-head latent attention with kv_lora_rank 512 and no q low-rank path,
# head parts nope 128 + rope 64, value 128, one leading dense layer (width k x ff = 8448) and
# two MoE layers of 64 experts of width 1408, k 6, plus 2 shared experts; the 32000-token
# vocabulary of the test fixtures. Made once per type under WORK_DIR (default
# /tmp/moescope-bench-ds2; ~1.4 GB in Q8_0). Prints, for each engine, the best of 3 passes in
# one process (wall seconds, CPU seconds, tokens/s), one JSON line each, and moescope's
# per-stage profile.
set -eu
BIN=$1
TYPE=${2:-Q8_0}
THREADS=${3:-2}
WORK=${4:-/tmp/moescope-bench-ds2}
HERE=$(cd "$(dirname "$0")/.." && pwd)
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto-detect)}"
mkdir -p "$WORK"
MODEL=$WORK/v2lite_shape_$TYPE.gguf
[ -f "$MODEL" ] || "$BIN" make-model --arch deepseek2 --out "$MODEL" --type "$TYPE" \
    --d-model 2048 --heads 16 --head-dim 128 --rope-dim 64 --v-head-dim 128 --kv-lora 512 \
    --experts 64 --ff 1408 --k 6 --shared-experts 2 --layers 3 --dense-lead 1 -q
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
BUILD=$(dirname "$BIN")
cc -O2 -march=native -o "$WORK/forward_bench" "$HERE/bench/forward_bench.c" -I"$HERE/engine" \
    "$BUILD/engine/libms_engine.a" "$BUILD/util/libms_util.a" \
    $(pkg-config --cflags --libs openblas libcjson oniguruma libutf8proc) -lm -lpthread
"$WORK/forward_bench" "$MODEL" "$WORK/ids.json" "$THREADS" 3
"$WORK/forward_bench" "$MODEL" "$WORK/ids.json" "$THREADS" 3 routing
node "$HERE/tests/oracle/forward_bench.mjs" "$MODEL" "$WORK/ids.json" "$THREADS" 3
