#!/bin/sh
# Every DM Mathematics answer re-derived in Python (tests/samples_dm_check.py: Fraction,
# Decimal, brute-force enumeration, its own polynomial class): the committed sample, plus three
# fresh seeds with at least 20 pairs of each question kind; then every answer made wrong must be
# rejected, so the checker itself can fail.
# usage: test_samples_dm.sh MOESCOPE PYTHON SAMPLES_DIR WORK_DIR
set -eu
BIN=$1 PY=$2 SAMPLES=$3 W=$4
HERE=$(dirname "$0")
rm -rf "$W"
mkdir -p "$W"
for s in 11 12 13; do
  "$BIN" make-corpus dm-math --seed $s --docs 64 --out "$W/s$s.jsonl"
done
"$PY" "$HERE/samples_dm_check.py" --min-per-kind 20 "$SAMPLES/pile_sample.jsonl" \
  "$W/s11.jsonl" "$W/s12.jsonl" "$W/s13.jsonl"
"$PY" "$HERE/samples_dm_check.py" --mutate "$W/s11.jsonl"
