#!/bin/sh
# The analysis on stores captured by the real pipeline: a make-model fixture (F32 and Q8_0,
# same seed) run by `moescope capture` over the demo corpus, then `moescope analyze` and
# `moescope diff` checked against numpy/h5py (test_analysis_oracle.py).
# usage: test_analysis_captured.sh MOESCOPE PYTHON TESTS_SOURCE_DIR WORKDIR
set -e
M=$1 PY=$2 SRC=$3 W=$4
mkdir -p "$W"
"$M" -q make-model --out "$W/m.gguf" --seed 3 --layers 4 --experts 8 --k 2
"$M" -q make-model --out "$W/m_q8.gguf" --seed 3 --layers 4 --experts 8 --k 2 --type Q8_0
# --window 96: documents are cut into windows, so pairs across a window start must not count
"$M" -q capture --model "$W/m.gguf" --corpus "$SRC/../corpora/samples/manifest.json" \
    --out "$W/f32.h5" --window 96
"$M" -q capture --model "$W/m_q8.gguf" --corpus "$SRC/../corpora/samples/manifest.json" \
    --out "$W/q8.h5" --window 96
"$PY" "$SRC/test_analysis_oracle.py" "$M" "$W/f32.h5" "$W/oracle" --diff "$W/q8.h5" \
    --min-tokens 1000
"$M" diff "$W/f32.h5" "$W/q8.h5"
