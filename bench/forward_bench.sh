#!/bin/sh
# forward_bench.sh — prompt processing: moescope's forward pass vs llama.cpp (node-llama-cpp
# CPU build) on the same tokens of a generated Mixtral-architecture model.
#
# usage: bench/forward_bench.sh MOESCOPE [TYPE] [THREADS] [WORK_DIR]
#   TYPE: GGUF weight type of the model (default Q4_K); THREADS default 2.
# The model (d_model 1024, 8 layers, 8 experts k=2, d_ff 3584, 16 heads, 4 kv heads) is made
# once per type under WORK_DIR (default /tmp/moescope-bench). Prints the best of 3 runs of
# each engine in seconds and tokens/s, and moescope's per-stage profile. Timings depend on
# the machine's load: run it on an idle machine.
set -eu
BIN=$1
TYPE=${2:-Q4_K}
THREADS=${3:-2}
WORK=${4:-/tmp/moescope-bench}
HERE=$(cd "$(dirname "$0")/.." && pwd)
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
best=""
for i in 1 2 3; do
    t0=$(date +%s.%N)
    "$BIN" eval --model "$MODEL" --file "$TEXT" --threads "$THREADS" --top 1 -v -v >/dev/null 2>"$WORK/profile.txt"
    t1=$(date +%s.%N)
    best=$(/usr/bin/python3 -c "import sys; a=float(sys.argv[1])-float(sys.argv[2]); b=sys.argv[3]; print(min(a, float(b)) if b else a)" "$t1" "$t0" "$best")
done
echo "moescope  $TYPE tokens $N threads $THREADS: best ${best}s (incl. model open), $(/usr/bin/python3 -c "print('%.1f' % ($N/$best))") tokens/s"
sed 's/^moescope: /  /' "$WORK/profile.txt"
node "$HERE/tests/oracle/forward_bench.mjs" "$MODEL" "$WORK/ids.json" "$THREADS" 3
