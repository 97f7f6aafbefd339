#!/bin/sh
# The reader exposes the capture's window; `moescope merge` keeps it without --window, and the
# merged store's datasets equal the inputs' concatenation (checked with h5py).
set -u
BIN=$1 PY=$2 SAMPLES=$3
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$BIN" -q make-model --out "$d/m.gguf" --seed 5 || exit 1
"$BIN" -q capture --model "$d/m.gguf" --corpus "$SAMPLES/manifest.json" --out "$d/a.h5" \
  --max-docs 3 --window 96 || exit 1
"$BIN" -q capture --model "$d/m.gguf" --corpus "$SAMPLES/manifest.json" --out "$d/b.h5" \
  --max-docs 5 --window 96 || exit 1
"$BIN" -q merge --out "$d/m.h5" "$d/a.h5" "$d/b.h5" || exit 1
"$PY" - "$d" <<'PYEOF'
import sys, h5py, numpy as np
d = sys.argv[1]
a, b, m = (h5py.File(f"{d}/{n}.h5", "r") for n in "abm")
assert int(m.attrs["window"]) == 96, m.attrs.get("window")
for ds in ["tokens/id", "tokens/pos", "routing/expert", "routing/weight", "documents/domain", "documents/n_tokens"]:
    want = np.concatenate([a[ds][()], b[ds][()]])
    assert np.array_equal(m[ds][()], want), ds
assert m["documents/domain"].shape[0] == 8
print("merge keeps window 96 and concatenates", m["tokens/id"].shape[0], "tokens")
PYEOF
