#!/usr/bin/python3
"""Round trip: a store captured by moescope, exported to arrays (export_store.py) in every
layout, imported again with `moescope import`, must equal the capture dataset by dataset
(values, dtypes, shapes, descriptions) and give the same `analyze --json` (provenance aside).

usage: roundtrip.py MOESCOPE MODEL.gguf CAPTURED.h5 WORKDIR
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset)
                 else None)
    return out


def compare_stores(a_path, b_path, label):
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        da, db = datasets(a), datasets(b)
        check(sorted(da) == sorted(db), f"{label}: datasets {sorted(da)} vs {sorted(db)}")
        for name in sorted(set(da) & set(db)):
            x, y = da[name], db[name]
            check(x.dtype == y.dtype, f"{label}: {name} dtype {x.dtype} vs {y.dtype}")
            check(x.shape == y.shape, f"{label}: {name} shape {x.shape} vs {y.shape}")
            if x.shape == y.shape:
                vx, vy = x[()], y[()]
                check(np.array_equal(vx, vy), f"{label}: {name} values differ")
            check(x.attrs.get("description") == y.attrs.get("description"),
                  f"{label}: {name} description differs")
        for k in ("format", "format_version", "n_documents", "n_tokens", "window", "model",
                  "tokenizer"):
            check(a.attrs.get(k) == b.attrs.get(k), f"{label}: root attribute {k} differs")
        for k in ("n_expert", "k"):
            check(a["routing"].attrs[k] == b["routing"].attrs[k], f"{label}: /routing {k}")
        check(b["routing/expert"].attrs.get("rank_order") == "rank",
              f"{label}: rank_order {b['routing/expert'].attrs.get('rank_order')}")
        man = json.loads(b.attrs["manifest"])
        check(man.get("kind") == "import", f"{label}: provenance manifest {man}")


def analyze(moescope, store):
    r = subprocess.run([moescope, "-q", "analyze", store, "--json", "-", "--bootstrap", "30"],
                       capture_output=True, check=True)
    d = json.loads(r.stdout)
    d.pop("command_line")
    for k in ("path", "manifest", "command_line", "created"):
        d["store"].pop(k)
    return d


def main():
    moescope, model, cap, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    ex = os.path.join(work, "export")
    subprocess.run([sys.executable, os.path.join(HERE, "export_store.py"), cap, ex], check=True)
    meta = json.load(open(os.path.join(ex, "meta.json")))
    layers = ",".join(str(x) for x in meta["layers"])
    common = [moescope, "-q", "import", "--model", model]
    if meta["window"]:
        common += ["--window", str(meta["window"])]
    npy = os.path.join(ex, "npy")
    runs = {
        "npz": [os.path.join(ex, "full.npz")],
        "npz_docidx": [os.path.join(ex, "docidx.npz"), "--layers", layers],
        "npy_named": [f"{n[:-4]}={os.path.join(npy, n)}" for n in sorted(os.listdir(npy))],
        "npy_stem": [os.path.join(npy, n) for n in sorted(os.listdir(npy))],
        "vllm": [os.path.join(ex, "vllm.jsonl"), "--layers", layers, "--rank-order", "rank",
                 "--domains", ",".join(meta["domains"])],
        "sglang": [os.path.join(ex, "sglang.jsonl"), "--layers", layers, "--rank-order", "rank",
                   "--domains", ",".join(meta["domains"])],
    }
    with h5py.File(cap, "r") as f:
        has_logits = "logits" in f["routing"]
    ref = analyze(moescope, cap)
    for label, args in runs.items():
        out = os.path.join(work, label + ".h5")
        r = subprocess.run(common + ["--out", out] + args, capture_output=True, text=True)
        check(r.returncode == 0, f"{label}: import exit {r.returncode}: {r.stderr.strip()}")
        if r.returncode:
            continue
        if label in ("vllm", "sglang") and has_logits:
            # JSONL carries ids only: compare what it has
            with h5py.File(cap, "r") as a, h5py.File(out, "r") as b:
                for name in ("tokens/id", "tokens/doc", "tokens/pos", "routing/expert",
                             "documents/domain", "documents/n_tokens", "documents/first_token",
                             "documents/source", "domains", "routing/layers"):
                    check(np.array_equal(a[name][()], b[name][()]), f"{label}: {name} differs")
            print(f"ok {label} (ids, tokens and documents)")
            continue
        if label in ("vllm", "sglang"):
            # weights are absent from engine responses (zeros), all else equal
            with h5py.File(out, "r") as b:
                check(not b["routing/weight"][()].any(), f"{label}: weights not zero")
            with h5py.File(cap, "r") as a, h5py.File(out, "r") as b:
                for name in datasets(a):
                    if name != "routing/weight":
                        check(np.array_equal(a[name][()], b[name][()]),
                              f"{label}: {name} differs")
        else:
            compare_stores(cap, out, label)
        got = analyze(moescope, out)
        check(got == ref, f"{label}: analyze --json differs from the capture's")
        print(f"ok {label}")
    if FAILS:
        sys.exit(1)


if __name__ == "__main__":
    main()
