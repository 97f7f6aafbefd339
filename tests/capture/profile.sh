#!/bin/sh
# `moescope capture --profile` accounts for every stage: forward-pass stages, corpus reading,
# tokenization and HDF5 writing, and the token count matches the store's.
set -u
BIN=$1 PY=$2 SAMPLES=$3
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$BIN" -q make-model --out "$d/m.gguf" --seed 3 || exit 1
"$BIN" capture --model "$d/m.gguf" --corpus "$SAMPLES/manifest.json" --out "$d/r.h5" \
  --max-docs 12 --profile 2>"$d/err" || { cat "$d/err"; exit 1; }
line=$(grep '^profile: ' "$d/err") || { echo "FAIL: no profile line"; cat "$d/err"; exit 1; }
for stage in attention router experts dequant "corpus reading" tokenization "route store (HDF5)"; do
  echo "$line" | grep -Fq "$stage " || { echo "FAIL: profile lacks '$stage': $line"; exit 1; }
done
n=$(echo "$line" | sed -E 's/.* ([0-9]+) tokens;.*/\1/')
"$PY" -c "import h5py,sys; t=h5py.File(sys.argv[1],'r')['tokens/id'].shape[0]; sys.exit(0 if t==int(sys.argv[2]) else print('FAIL: profile tokens', sys.argv[2], 'store', t) or 1)" "$d/r.h5" "$n" || exit 1
echo "profile: $line"
