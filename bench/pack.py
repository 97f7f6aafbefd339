#!/usr/bin/python3
"""pack.py — issue 18 item 3: capture throughput with short documents packed into shared
forward passes (the default) against one document window per pass (--no-pack), on
  samples   the sample corpus (corpora/samples: Pile records, median ~1000 characters)
  pilemix   a Pile-like length mix: pieces of the sample texts whose lengths follow the
            Pile's heavy-tailed mix (log-normal, median 250 tokens, a tail past 4096),
            written once as JSONL (seeded)
with the same model, window and threads; the stores are compared dataset by dataset (they must
be identical). CPU seconds of the whole capture command (wait4), best of --repeats.

usage: bench/pack.sh BUILD [--model GGUF] [--window 2048] [--threads 2] [--docs 60]
       [--repeats 2]   (default model: a 1024-wide 2-layer Q4_K_M fixture, made once)"""
import argparse
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from perf import Proc, best, log  # noqa: E402


def pilemix(path, n, seed=18):
    texts = [json.loads(l)["text"] for l in open(os.path.join(SRC, "corpora", "samples",
                                                              "pile_sample.jsonl"))]
    big = "\n\n".join(texts)
    rng = random.Random(seed)
    with open(path, "w") as g:
        for _ in range(n):
            toks = min(int(rng.lognormvariate(5.52, 1.1)), 8000)  # median e^5.52 = 250
            chars = max(8, toks * 4)
            a = rng.randrange(0, len(big) - chars) if chars < len(big) else 0
            g.write(json.dumps({"text": big[a:a + chars]}) + "\n")


def same_stores(a, b):
    import h5py
    import numpy as np

    def ds(p):
        out = {}
        with h5py.File(p, "r") as f:
            f.visititems(lambda k, o: out.__setitem__(k, o[()]) if isinstance(o, h5py.Dataset)
                         else None)
        return out
    x, y = ds(a), ds(b)
    def eq(u, v):
        u, v = np.asarray(u), np.asarray(v)
        if u.dtype.kind == "O" or v.dtype.kind == "O":  # strings: compare values, not pointers
            return u.shape == v.shape and list(u.ravel()) == list(v.ravel())
        return u.shape == v.shape and u.dtype == v.dtype and u.tobytes() == v.tobytes()
    return sorted(x) == sorted(y) and all(eq(x[k], y[k]) for k in x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work")
    ap.add_argument("--model")
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    moescope = os.path.join(build, "moescope")
    work = os.path.abspath(a.work or os.path.join(build, "bench-work"))
    os.makedirs(work, exist_ok=True)
    model = a.model
    if not model:
        model = os.path.join(work, "pack_Q4_K_M.gguf")
        if not os.path.exists(model):
            Proc([moescope, "make-model", "--format", "gguf", "--out", model + ".tmp", "--type",
                  "Q4_K_M", "--d-model", "1024", "--layers", "2", "--heads", "16", "--kv-heads",
                  "4", "--ff", "3584", "--experts", "8", "--k", "2", "-q"])
            os.rename(model + ".tmp", model)
    mix = os.path.join(work, "pilemix.jsonl")
    pilemix(mix, a.docs)
    corpora = [("samples", ["--corpus", os.path.join(SRC, "corpora", "samples",
                                                     "manifest.json")]),
               ("pilemix", ["--corpus", mix])]
    rows = []
    for name, corpus in corpora:
        res = {}
        for pack in (False, True):
            out = os.path.join(work, "pack_%s_%s.h5" % (name, "on" if pack else "off"))
            log("bench: capture %s %s" % (name, "packed" if pack else "--no-pack"))
            r = best(a.repeats, [moescope, "capture", "--model", model, "--out", out, "--window",
                                 str(a.window), "--threads", str(a.threads), "--max-docs",
                                 str(a.docs), "--profile", "-q"] + corpus +
                     ([] if pack else ["--no-pack"]))
            m = re.search(r"(\d+) tokens;.*; (\d+) windows in (\d+) forward passes", r.err)
            res[pack] = dict(cpu=r.cpu, wall=r.wall, tokens=int(m.group(1)),
                             windows=int(m.group(2)), passes=int(m.group(3)), store=out)
        res["identical"] = same_stores(res[False]["store"], res[True]["store"])
        rows.append((name, res))
    out = ["capture, window %d, %d threads, %d documents, best of %d by CPU; model %s; load "
           "average %.1f" % (a.window, a.threads, a.docs, a.repeats, os.path.basename(model),
                             os.getloadavg()[0]), "",
           "| corpus | tokens | windows | passes (packed) | tok/CPU-s --no-pack | tok/CPU-s "
           "packed | speedup | stores identical |", "|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        off, on = r[False], r[True]
        out.append("| %s | %d | %d | %d | %.1f | %.1f | %.2f | %s |" %
                   (name, on["tokens"], on["windows"], on["passes"], off["tokens"] / off["cpu"],
                    on["tokens"] / on["cpu"], off["cpu"] / on["cpu"],
                    "yes" if r["identical"] else "NO"))
    text = "\n".join(out)
    with open(os.path.join(work, "pack.md"), "w") as g:
        g.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
