"""Route stores, analysis and plots of the many-expert families (tests/families.cmake).

For an OLMoE fixture (E = 64, k = 8, no renormalisation) and a Qwen3-MoE fixture (E = 128,
k = 8, renormalised; head_dim != d_model/heads), captured over the sample corpus:
  - the store's model JSON records the family (arch, file_arch) and the router kind, and the
    stored weights are the ones that router applies (rows sum to 1 with renormalisation, to
    less than 1 without) and equal `moescope route` on the same text;
  - `analyze --json` gives Table 5's random baselines for this E and k (1/E; 1 - C(E-k, k) /
    C(E, k), computed here independently);
  - `show` works and lists every expert;
  - `plot` draws Figs. 7 and 9 as domain x expert heatmaps (E > 32) and keeps bars for a
    Mixtral store (E = 8).

usage: test_families_store.py MOESCOPE SAMPLES_MANIFEST WORK_DIR
"""
import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

import mstest

MS, MANIFEST, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def run(*args):
    return mstest.must([MS, *args])


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def family_case(family, E, k, extra, renorm, router):
    model = os.path.join(WORK, family + ".gguf")
    run("make-model", "--arch", family, "--out", model, "--experts", str(E), "--k", str(k),
        "--d-model", "64", "--ff", "32", "--layers", "2", "--heads", "2", "--kv-heads",
        "2", "--seed", "3", "-q", *extra)
    store = os.path.join(WORK, family + ".h5")
    run("capture", "--model", model, "--corpus", MANIFEST, "--out", store, "--max-docs", "24",
        "--threads", "2", "-q")
    with h5py.File(store, "r") as f:
        mj = json.loads(f.attrs["model"])
        w = f["routing/weight"][()]
        ex = f["routing/expert"][()]
        ids = f["tokens/id"][()]
        pos = f["tokens/pos"][()]
        n_first = int(f["documents/n_tokens"][0])
    file_arch = "llama" if family == "mixtral" else family
    check(mj["arch"] == family and mj["file_arch"] == file_arch,
          "%s: store model JSON arch %s / %s" % (family, mj["arch"], mj["file_arch"]))
    check(mj["hparams"]["router"] == router,
          "%s: store records router %s" % (family, mj["hparams"]["router"]))
    check(ex.shape[1:] == (2, k) and int(ex.max()) < E and int(ex.max()) >= E // 2,
          "%s: experts stored (T, 2, %d), ids in [0, %d)" % (family, k, E))
    sums = w.sum(axis=2)
    if renorm:
        check(np.abs(sums - 1).max() < 1e-5, "%s: renormalised weights sum to 1" % family)
    else:
        check(sums.max() < 1 - 1e-3, "%s: weights without renormalisation sum below 1 (max %.4f)"
              % (family, sums.max()))
    check(pos[0] == 0 and n_first > 0 and len(ids) == len(w), "%s: tokens and rows" % family)
    a = json.loads(run("analyze", store, "--json", "-"))
    bl = a["baselines"]
    topk = 1.0 - math.comb(E - k, k) / math.comb(E, k)
    check(abs(bl["share"] - 1.0 / E) < 1e-12 and abs(bl["repeat_first"] - 1.0 / E) < 1e-12,
          "%s: Table 5 first-choice baseline 1/E = %.5f" % (family, 1.0 / E))
    check(abs(bl["repeat_topk"] - topk) < 1e-12,
          "%s: Table 5 top-k baseline %.6f (expected %.6f)" % (family, bl["repeat_topk"], topk))
    shown = run("show", store, "--layer", "1")
    check("[%d]" % (E - 1) in shown and "layer 1" in shown, "%s: show lists %d experts" % (family, E))
    if family == "mixtral":
        # a store written before the model JSON had file_arch resumes with the same model
        with h5py.File(store, "r+") as f:
            old = json.loads(f.attrs["model"])
            del old["file_arch"]
            f.attrs["model"] = json.dumps(old)
        r = subprocess.run([MS, "capture", "--model", model, "--corpus", MANIFEST, "--out",
                            store, "--max-docs", "26", "--resume", "-q"], capture_output=True,
                           text=True)
        check(r.returncode == 0, "mixtral: a store without file_arch resumes: %s" % r.stderr)
    out = os.path.join(WORK, family + "_plots")
    shutil.rmtree(out, ignore_errors=True)
    run("plot", store, "--out", out, "-q")
    for fig in ("fig7_expert_share", "fig9_choice_breakdown"):
        gp = open(os.path.join(out, fig + ".gp")).read()
        heat = "boxxyerror" in gp and "histogram" not in gp
        check(heat == (E > 32), "%s: %s drawn as %s" % (family, fig, "heatmap" if heat else "bars"))
        check(os.path.getsize(os.path.join(out, fig + ".png")) > 1000, "%s: %s.png" % (family, fig))
    return ids


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    family_case("olmoe", 64, 8, [], False, "softmax_topk")
    family_case("qwen3moe", 128, 8, ["--head-dim", "48"], True, "softmax_topk_renorm")
    family_case("granitemoe", 40, 8, [], True, "topk_softmax")
    family_case("mixtral", 8, 2, [], True, "softmax_topk_renorm")
    return mstest.summary(len(failures), "all store/analysis/plot checks passed")


if __name__ == "__main__":
    sys.exit(main())
