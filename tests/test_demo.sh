#!/bin/sh
# The built-in default end to end: `moescope demo` builds its model, captures the sample
# corpora, analyzes and writes a report that holds every figure; a second run reuses the model.
set -u
BIN=$1 PY=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
"$BIN" demo --out "$out" >"$out/stdout" 2>"$out/stderr" || { echo "FAIL: demo exit $?"; cat "$out/stderr"; exit 1; }
grep -q "report written to $out/report/index.html" "$out/stdout" || { echo "FAIL: demo does not say where the report is"; fail=1; }
for f in fig7_expert_share fig9_choice_breakdown fig10_repetition heatmap_share heatmap_coactivation; do
  for ext in png svg; do
    [ -s "$out/report/$f.$ext" ] || { echo "FAIL: missing figure $f.$ext"; fail=1; }
    grep -q "$f.$ext" "$out/report/index.html" || { echo "FAIL: index.html does not show $f.$ext"; fail=1; }
  done
done
"$PY" - "$out" <<'PYEOF' || fail=1
import sys, os, re, json, h5py
out = sys.argv[1]
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
    assert list(f["routing/layers"][()]) == list(range(32))
    T = f["tokens/id"].shape[0]
    assert f["routing/expert"].shape == (T, 32, 2)
a = json.load(open(os.path.join(out, "report", "analysis.json")))
assert a["schema"] == "moescope-analysis"
print(f"demo: {T} tokens, 160 documents, {len(refs)} files referenced by the report")
PYEOF
# A second run reuses the model it built (no rebuild) and gives the same routes.
cp "$out/routes.h5" "$out/first.h5"
"$BIN" demo --out "$out" >/dev/null 2>"$out/stderr2" || { echo "FAIL: second demo run"; fail=1; }
grep -q "building the demo model" "$out/stderr2" && { echo "FAIL: second run rebuilt the model"; fail=1; }
"$BIN" -q diff "$out/first.h5" "$out/routes.h5" >"$out/diff.txt" 2>&1 || { echo "FAIL: diff"; cat "$out/diff.txt"; fail=1; }
exit $fail
