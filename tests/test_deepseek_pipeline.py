"""test_deepseek_pipeline.py — capture -> analyze -> report end to end on a `deepseek` and a
`deepseek2` (latent attention, V2 router) fixture with 64 experts, k 6, 2 shared experts and 1 leading dense layer (4 layers):
the store holds the MoE layers 1..3 only (`--layers all`), its model description names the
shared experts (every token, no gate) and the weights scale, its weights are the applied
ones (1.5 x softmax, so they sum to more than 1 only through the scale, and are <= 1.5),
`analyze --json` covers layers 1..3, naming the dense layer is refused with one error line
saying it is a dense layer (exit 2), and
`report` writes its index.html.

usage: test_deepseek_pipeline.py MOESCOPE MANIFEST WORKDIR
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


ROUTER = {"deepseek": "softmax_topk", "deepseek2": "ds_softmax"}


def check_arch(arch):
    n0 = len(fails)
    model = os.path.join(WORK, arch + ".gguf")
    store = os.path.join(WORK, arch + ".h5")
    run("make-model", "--arch", arch, "--out", model, "--experts", "64", "--k", "6",
        "--layers", "4", "--dense-lead", "1", "--shared-experts", "2", "-q")
    run("capture", "--model", model, "--corpus", MANIFEST, "--out", store, "--layers", "all",
        "--max-docs", "4", "--threads", "2", "-q")
    if len(fails) == n0:
        with h5py.File(store, "r") as f:
            m = f.attrs["model"]
            m = json.loads(m if isinstance(m, str) else m.decode())
            layers = [int(x) for x in f["/routing/layers"][()]] if "/routing/layers" in f else None
            w = f["/routing/weight"][()]
            ids = f["/routing/expert"][()] if "/routing/expert" in f else None
        hp = m["hparams"]
        if m["arch"] != arch or hp.get("n_shared_experts") != 2 or \
                abs(hp.get("expert_weights_scale", 0) - 1.5) > 1e-6 or hp.get("router") != ROUTER[arch]:
            fails.append("model description: %s" % json.dumps(hp))
        blocks = m.get("blocks", [])
        if len(blocks) != 4 or blocks[0]["ffn"] != "dense" or \
                any(b["ffn"] != "moe" or not b["shared_expert"] or b.get("shared_gate", True)
                    for b in blocks[1:]):
            fails.append("blocks: %s" % json.dumps(blocks))
        if layers is not None and layers != [1, 2, 3]:
            fails.append("stored layers %s, want [1, 2, 3]" % layers)
        if w.shape[1:] != (3, 6):
            fails.append("weight shape %s, want (T, 3, 6)" % (w.shape,))
        s = w.sum(axis=2)
        if not (np.all(w > 0) and np.all(w <= 1.5) and np.all(s <= 1.5 + 1e-5) and s.max() > 0.2):
            fails.append("weights not 1.5 x softmax over 64: sums in [%g, %g]" % (s.min(), s.max()))
        if ids is not None and (ids.min() < 0 or ids.max() > 63):
            fails.append("expert ids outside [0, 64)")
        out = os.path.join(WORK, arch + ".a.json")
        run("analyze", store, "--json", out)
        if os.path.exists(out):
            d = json.load(open(out))
            if d.get("layers") != [1, 2, 3] or [r["layer"] for r in d["results"]] != [1, 2, 3] \
                    or d.get("n_expert") != 64 or d.get("k") != 6:
                fails.append("analysis JSON: layers %s, E %s, k %s" %
                             (d.get("layers"), d.get("n_expert"), d.get("k")))
        r = run("analyze", store, "--layers", "0", rc=2)
        err = [x for x in r.stderr.strip().splitlines() if "error" in x]
        if len(err) != 1 or not err[-1].startswith("moescope: error: ") or \
                "layer 0 is a dense layer" not in err[-1]:
            fails.append("analyze --layers 0: want one error line saying layer 0 is dense, got %r" %
                         r.stderr)
        r = run("route", "--model", model, "--layers", "0", "hello", rc=2)
        if "dense" not in r.stderr:
            fails.append("route --layers 0 does not say the layer is dense: %r" % r.stderr)
        run("report", store, "--out", os.path.join(WORK, arch + ".rep"))
        if not os.path.exists(os.path.join(WORK, arch + ".rep", "index.html")):
            fails.append("report wrote no index.html")


for arch_ in ("deepseek", "deepseek2"):
    n0 = len(fails)
    check_arch(arch_)
    print("%s: %s" % (arch_, "FAIL" if len(fails) > n0 else "ok"))
print("\n".join(fails) if fails else "deepseek pipeline: all checks passed")
sys.exit(1 if fails else 0)
