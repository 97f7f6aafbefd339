"""llama.cpp as the reference for split GGUF models.

1. llama.cpp (node-llama-cpp, tests/oracle/forward_oracle.mjs) loads the split fixtures that
   tests/gguf_split_tool.py writes in gguf-split's layout (plain, and with an empty first
   part as --no-tensor-first-split) and gives exactly the next-token distributions it gives
   for the unsplit file: the layout is one llama.cpp accepts, tensors resolved across parts.
2. llama.cpp's own split writer (gguf-py's GGUFWriter with split_max_tensors, what
   convert_hf_to_gguf.py --split-max-tensors uses), fed the unsplit fixture, writes parts that
   moescope opens from any part with routes identical to the unsplit file, and that
   llama.cpp loads with the same distribution too.

usage: test_model_split_oracle.py MOESCOPE TESTS_DIR WORKDIR NODE
Anything missing (node modules, the llama.cpp bundle) is a failure, never a skip."""
import json
import os
import subprocess
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)
import gguf_llama_src  # noqa: E402
import gguf_split_tool as gs  # noqa: E402
import mstest  # noqa: E402

MS, TESTS_DIR, WORK, NODE = sys.argv[1:5]
failures = []
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Experts, routers and 42 tokens"]
check = mstest.checker(failures, sys.stderr)


def ok(*args):
    return mstest.ok(MS, *args)


def w(*p):
    return os.path.join(WORK, *p)


mstest.fresh_dir(WORK)
np, gguf, _ = gguf_llama_src.import_gguf(TESTS_DIR, os.path.join(os.path.dirname(WORK), "..",
                                                                  "gguf-work"))

ok("make-model", "--out", w("m.gguf"), "--type", "Q8_0", "--layers", "3", "--experts", "4",
   "-q")

# ---- gguf-py's split writer -------------------------------------------------------------
reader = gguf.GGUFReader(w("m.gguf"))
writer = gguf.GGUFWriter(w("py.gguf"), "llama", split_max_tensors=12)
mstest.gguf_copy_kv(gguf, writer, reader)
for t in reader.tensors:
    writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_ti_data_to_file()
for t in reader.tensors:
    writer.write_tensor_data(t.data)
writer.close()
py_parts = [w(gs.part_name("py", i, 3)) for i in range(3)]
check(all(os.path.isfile(p) for p in py_parts), "gguf-py did not write 3 parts: %s" % os.listdir(WORK))

sets = {
    "tool": gs.split(w("m.gguf"), w("tool"), 12),
    "tool_empty_first": gs.split(w("m.gguf"), w("ef"), 16, no_tensor_first=True),
    "gguf-py": py_parts,
}

# ---- moescope: identical routes from any part --------------------------------------------
ref = [ok("route", "--model", w("m.gguf"), "--json", t) for t in TEXTS]
for name, parts in sets.items():
    j = json.loads(ok("inspect", "--json", "--no-tensors", parts[-1]))
    check([f["path"] for f in j["files"]] == parts, "%s: files %s" % (name, j["files"]))
    for k, p in enumerate(parts):
        for t, r in zip(TEXTS, ref):
            check(ok("route", "--model", p, "--json", t) == r,
                  "%s part %d: routes differ from the unsplit file" % (name, k + 1))

# ---- llama.cpp: the same distribution from the unsplit and the split files ---------------
prompts = [[int(x) for x in ok("tokenize", "--model", w("m.gguf"), t).split()] for t in TEXTS]
jobs = [{"model": w("m.gguf"), "prompts": prompts}]
jobs += [{"model": parts[0], "prompts": prompts} for parts in sets.values()]
with open(w("jobs.json"), "w") as f:
    json.dump(jobs, f)
oracle = os.path.join(TESTS_DIR, "oracle", "forward_oracle.mjs")
r = subprocess.run([NODE, oracle, w("jobs.json"), w("out.json")], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, timeout=500)
if r.returncode != 0:
    sys.exit("FAIL: llama.cpp oracle: %s" % r.stderr.decode(errors="replace")[-2000:])
with open(w("out.json")) as f:
    out = json.load(f)
base = out[0]["results"]
for i, s in enumerate(base):
    total = sum(s["probs"])
    check(abs(total - 1) < 1e-3 and len(s["probs"]) > 1000,
          "unsplit: llama.cpp distribution %d is not a distribution (sum %g)" % (i, total))
for name, res in zip(sets, out[1:]):
    for i, (a, b) in enumerate(zip(base, res["results"])):
        check(a["probs"] == b["probs"],
              "%s: llama.cpp's distribution %d differs from the unsplit file's" % (name, i))
    check(len(res["results"]) == len(base), "%s: %d results" % (name, len(res["results"])))

if failures:
    print("%d failure(s)" % len(failures), file=sys.stderr)
    sys.exit(1)
print("ok: llama.cpp loads the split fixtures with identical results; gguf-py's split parts "
      "give moescope identical routes (%d sets)" % len(sets))
