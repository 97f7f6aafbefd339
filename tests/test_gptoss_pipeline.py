"""test_gptoss_pipeline.py — capture -> analyze -> report end to end on a `gpt-oss` fixture with
MXFP4 experts (32 experts, k 4, 4 layers, sliding window 32 so the corpus documents cross it):
the store's model description names the family, the router kind (topk_softmax), the clamped
SwiGLU and which layers slide (0 and 2, llama.cpp's pattern), its weights are a softmax over
the k (positive, summing to 1, in rank order) for all 4 layers, `analyze --json` covers the 4
layers, `route --json` is identical with 1, 2 and 3 threads, and `report` writes its
index.html.

usage: test_gptoss_pipeline.py MOESCOPE MANIFEST WORKDIR
"""
import json
import os
import sys

import h5py
import numpy as np

import mstest

MS, MANIFEST, WORK = sys.argv[1:4]
mstest.fresh_dir(WORK)
fails = []
run = mstest.runner(MS, fails)


model = os.path.join(WORK, "go.gguf")
store = os.path.join(WORK, "go.h5")
run("make-model", "--arch", "gpt-oss", "--out", model, "--experts", "32", "--k", "4",
    "--layers", "4", "--d-model", "128", "--ff", "64", "--heads", "8", "--kv-heads", "2",
    "--head-dim", "32", "--sliding-window", "32", "--type", "MXFP4", "-q")
run("capture", "--model", model, "--corpus", MANIFEST, "--out", store, "--layers", "all",
    "--max-docs", "3", "--threads", "2", "-q")
if not fails:
    with h5py.File(store, "r") as f:
        m = f.attrs["model"]
        m = json.loads(m if isinstance(m, str) else m.decode())
        w = f["/routing/weight"][()]
        ids = f["/routing/expert"][()]
        layers = [int(x) for x in f["/routing/layers"][()]]
        n_tok = [int(x) for x in f["/documents/n_tokens"][()]]
    hp = m["hparams"]
    if m["arch"] != "gpt-oss" or m["file_arch"] != "gpt-oss" or hp.get("router") != \
            "topk_softmax" or hp.get("swiglu_limit") != 7 or \
            abs(hp.get("swiglu_alpha", 0) - 1.702) > 1e-6 or hp.get("sliding_window") != 32:
        fails.append("model description: %s" % json.dumps(hp))
    blocks = m.get("blocks", [])
    slides = [b.get("sliding_window") for b in blocks]
    if slides != [True, False, True, False] or \
            not all(b["attn_sinks"] and b["router_bias"] and b["expert_bias"] and b["o_bias"]
                    and b["qkv_bias"] for b in blocks):
        fails.append("blocks: %s" % json.dumps(blocks))
    if "MXFP4" not in m.get("weight_types", {}):
        fails.append("weight types: %s" % json.dumps(m.get("weight_types")))
    if w.shape[1:] != (4, 4) or ids.shape != w.shape:
        fails.append("weight shape %s, want (T, 4, 4)" % (w.shape,))
    s = w.sum(axis=2)
    if not (np.all(w > 0) and np.abs(s - 1).max() < 1e-5 and np.all(np.diff(w, axis=2) <= 0)):
        fails.append("weights are not a softmax over the k in rank order: sums in [%g, %g]" %
                     (s.min(), s.max()))
    if ids.min() < 0 or ids.max() > 31 or layers != [0, 1, 2, 3] or max(n_tok) <= 32:
        fails.append("expert ids outside [0, 32), layers %s, or no document longer than the "
                     "window (%s tokens)" % (layers, n_tok))
    out = os.path.join(WORK, "a.json")
    run("analyze", store, "--json", out)
    if os.path.exists(out):
        d = json.load(open(out))
        if d.get("layers") != [0, 1, 2, 3] or d.get("n_expert") != 32 or d.get("k") != 4:
            fails.append("analysis JSON: layers %s, E %s, k %s" %
                         (d.get("layers"), d.get("n_expert"), d.get("k")))
    # results bit-identical at any thread count
    txt = os.path.join(WORK, "p.txt")
    with open(txt, "w") as f:
        f.write("Sliding windows and sinks: " * 12)
    one = run("route", "--model", model, "--file", txt, "--json", "--threads", "1").stdout
    two = run("route", "--model", model, "--file", txt, "--json", "--threads", "2").stdout
    three = run("route", "--model", model, "--file", txt, "--json", "--threads", "3").stdout
    if not one or one != two or one != three:
        fails.append("route --json differs between 1, 2 and 3 threads")
    run("report", store, "--out", os.path.join(WORK, "rep"))
    if not os.path.exists(os.path.join(WORK, "rep", "index.html")):
        fails.append("report wrote no index.html")
print("\n".join(fails) if fails else "gpt-oss pipeline: all checks passed")
sys.exit(1 if fails else 0)
