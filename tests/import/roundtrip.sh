#!/bin/sh
# A store captured by moescope (make-model fixture over the sample corpus, windows of 96
# tokens, 3 of 4 layers; and one with --logits), exported to arrays and JSONL, imported again:
# equal dataset by dataset, same analyze --json (roundtrip.py).
# usage: roundtrip.sh MOESCOPE PYTHON MANIFEST WORKDIR
set -e
M=$1 PY=$2 MAN=$3 W=$4
HERE=$(dirname "$0")
rm -rf "$W"
mkdir -p "$W"
"$M" -q make-model --out "$W/m.gguf" --seed 3 --layers 4 --experts 8 --k 2
"$M" -q capture --model "$W/m.gguf" --corpus "$MAN" --out "$W/c.h5" --window 96 \
    --layers 0,2,3 --max-docs 40
"$M" -q capture --model "$W/m.gguf" --corpus "$MAN" --out "$W/cl.h5" --window 96 \
    --max-docs 8 --logits
"$PY" "$HERE/roundtrip.py" "$M" "$W/m.gguf" "$W/c.h5" "$W/rt"
"$PY" "$HERE/roundtrip.py" "$M" "$W/m.gguf" "$W/cl.h5" "$W/rtl"
