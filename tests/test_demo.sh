#!/bin/sh
# The built-in default end to end: `moescope demo` takes the shipped trained model
# (models/demo-moe.gguf), captures the sample corpora, analyzes and writes a report that holds
# every figure; a second run gives the same routes. `demo --random` builds the random-weight
# 32-layer model instead, into DIR/model/, with the same report.
set -u
BIN=$1 PY=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
# check DIR N_LAYER: the report and the store of one demo run
check() {
  grep -q "report written to $1/report/index.html" "$1/stdout" || { echo "FAIL: demo does not say where the report is"; fail=1; }
  for f in fig7_expert_share fig9_choice_breakdown fig10_repetition heatmap_share heatmap_coactivation; do
    for ext in png svg; do
      [ -s "$1/report/$f.$ext" ] || { echo "FAIL: missing figure $f.$ext"; fail=1; }
      grep -q "$f.$ext" "$1/report/index.html" || { echo "FAIL: index.html does not show $f.$ext"; fail=1; }
    done
  done
  "$PY" - "$1" "$2" <<'PYEOF' || fail=1
import sys, os, re, json, h5py
out, n_layer = sys.argv[1], int(sys.argv[2])
html = open(os.path.join(out, "report", "index.html"), encoding="utf-8").read()
refs = set(re.findall(r'(?:src|href)="([^"#:]+)"', html))
missing = [r for r in refs if not os.path.exists(os.path.join(out, "report", r))]
assert not missing, f"index.html references missing files: {missing}"
with h5py.File(os.path.join(out, "routes.h5"), "r") as f:
    doms = [d.decode() if isinstance(d, bytes) else d for d in f["domains"][()]]
    assert len(doms) == 8, doms
    nd = f["documents/domain"].shape[0]
    assert nd == 160, nd
    counts = [int((f["documents/domain"][()] == i).sum()) for i in range(8)]
    assert all(c == 20 for c in counts), counts
    assert list(f["routing/layers"][()]) == list(range(n_layer))
    T = f["tokens/id"].shape[0]
    assert f["routing/expert"].shape == (T, n_layer, 2)
    name = json.loads(f.attrs["model"]).get("name")
    assert (name == "moescope demo (trained MoE)") == (n_layer == 4), name
a = json.load(open(os.path.join(out, "report", "analysis.json")))
assert a["schema"] == "moescope-analysis"
print(f"demo ({name}): {T} tokens, 160 documents, {len(refs)} files referenced by the report")
PYEOF
}

# DIR need not exist (a fresh checkout has no out/)
rmdir "$out"
"$BIN" demo --out "$out" >"$out.stdout" 2>"$out.stderr" || { echo "FAIL: demo exit $?"; cat "$out.stderr"; exit 1; }
mv "$out.stdout" "$out/stdout"; rm -f "$out.stderr"
check "$out" 4
[ -e "$out/model" ] && { echo "FAIL: the default demo built a model"; fail=1; }
# A second run gives the same routes.
cp "$out/routes.h5" "$out/first.h5"
"$BIN" demo --out "$out" >/dev/null 2>"$out/stderr2" || { echo "FAIL: second demo run"; fail=1; }
"$BIN" -q diff "$out/first.h5" "$out/routes.h5" >"$out/diff.txt" 2>&1 || { echo "FAIL: diff"; cat "$out/diff.txt"; fail=1; }

r="$out/random"
"$BIN" demo --random --out "$r" >"$out/r.stdout" 2>"$out/r.stderr" || { echo "FAIL: demo --random exit $?"; cat "$out/r.stderr"; exit 1; }
mv "$out/r.stdout" "$r/stdout"
grep -q "building the demo model" "$out/r.stderr" || { echo "FAIL: demo --random did not build its model"; fail=1; }
[ -s "$r/model/demo-mixtral-32x8.gguf" ] || { echo "FAIL: demo --random: no model in DIR/model"; fail=1; }
check "$r" 32
"$BIN" demo --random --bogus >/dev/null 2>&1; [ $? -eq 2 ] || { echo "FAIL: bad option not exit 2"; fail=1; }
exit $fail
