#!/usr/bin/python3
"""Arrays written by numpy in each layout `moescope import` reads round-trip into a store
that h5py reads back equal.

usage: layouts.py MOESCOPE WORKDIR

Layouts: numpy.savez and savez_compressed (.npz, stored and deflated members), separate .npy
files (NAME=FILE.npy), .npy format 2.0 headers, big-endian and narrow/wide integer dtypes,
float16/float64 weights, byte-string ('S') and unicode ('U') domain names, documents as
lengths or as a doc index per token, and the transformers layout (router logits only: the
top-k, its order and the softmax weights are computed by import and checked against numpy).
"""
import os
import subprocess
import sys

import h5py
import numpy as np

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def run(moescope, args):
    r = subprocess.run([moescope, "-q", "import"] + args, capture_output=True, text=True)
    check(r.returncode == 0, f"import {args}: exit {r.returncode}: {r.stderr.strip()}")
    return r.returncode == 0


def read(path):
    with h5py.File(path, "r") as f:
        D = int(f.attrs["n_documents"])
        T = int(f.attrs["n_tokens"])
        return {
            "tokens": f["tokens/id"][:T], "doc": f["tokens/doc"][:T], "pos": f["tokens/pos"][:T],
            "experts": f["routing/expert"][:T].astype(np.int64),
            "weights": f["routing/weight"][:T],
            "logits": f["routing/logits"][:T] if "logits" in f["routing"] else None,
            "layers": f["routing/layers"][()], "doc_domain": f["documents/domain"][:D],
            "doc_lengths": f["documents/n_tokens"][:D],
            "first": f["documents/first_token"][:D],
            "domains": list(f["domains"].asstr()[()]),
            "sources": list(f["documents/source"].asstr()[:D]),
            "rank_order": f["routing/expert"].attrs.get("rank_order"),
            "E": int(f["routing"].attrs["n_expert"]), "k": int(f["routing"].attrs["k"]),
        }


def data(rng, T=300, L=3, k=2, E=8, D=5):
    ex = np.stack([rng.permutation(E)[:k] for _ in range(T * L)]).reshape(T, L, k)
    w = rng.random((T, L, k)).astype(np.float32)
    cuts = np.sort(rng.choice(np.arange(1, T), D - 1, replace=False))
    lengths = np.diff(np.concatenate([[0], cuts, [T]]))
    return {
        "tokens": rng.integers(0, 32000, T), "experts": ex, "weights": w,
        "doc_lengths": lengths, "doc_domain": rng.integers(0, 3, D),
        "domains": np.array(["ArXiv", "GitHub", "Pile-CC é"]),
        "sources": np.array([f"doc{i}.txt:{i}" for i in range(D)]),
        "layers": np.array([1, 5, 9]), "E": E,
    }


def expect_equal(st, d, label, weights=None):
    check(np.array_equal(st["tokens"], d["tokens"]), f"{label}: tokens")
    check(np.array_equal(st["experts"], d["experts"].astype(np.int64)), f"{label}: experts")
    w = d["weights"].astype(np.float32) if weights is None else weights
    check(np.array_equal(st["weights"], w), f"{label}: weights")
    check(np.array_equal(st["doc_lengths"], d["doc_lengths"]), f"{label}: doc_lengths")
    check(np.array_equal(st["doc_domain"], d["doc_domain"]), f"{label}: doc_domain")
    check(st["domains"] == [str(x) for x in d["domains"]], f"{label}: domains {st['domains']}")
    check(st["sources"] == [str(x) for x in d["sources"]], f"{label}: sources")
    check(np.array_equal(st["layers"], d["layers"]), f"{label}: layers")
    doc = np.repeat(np.arange(len(d["doc_lengths"])), d["doc_lengths"])
    check(np.array_equal(st["doc"], doc), f"{label}: doc")
    pos = np.concatenate([np.arange(n) for n in d["doc_lengths"]])
    check(np.array_equal(st["pos"], pos), f"{label}: pos")


def main():
    moescope, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    d = data(rng)
    arrays = {k: v for k, v in d.items() if k != "E"}
    base = ["--n-expert", "8", "--n-layers", "12"]

    # 1. savez (stored members), default dtypes (int64 ids, float32 weights, '<U' strings)
    p = os.path.join(work, "a.npz")
    np.savez(p, **arrays)
    if run(moescope, base + ["--out", os.path.join(work, "a.h5"), p]):
        st = read(os.path.join(work, "a.h5"))
        expect_equal(st, d, "savez")
        check(st["rank_order"] == "unknown", f"savez: rank_order {st['rank_order']}")

    # 2. savez_compressed (deflated), narrow and big-endian dtypes, float16 weights,
    #    byte-string names, doc index per token, rank order stated
    alt = dict(arrays)
    alt["tokens"] = d["tokens"].astype(">i4")
    alt["experts"] = d["experts"].astype(np.uint8)
    alt["weights"] = d["weights"].astype(np.float16)
    alt["domains"] = np.array([s.encode() for s in d["domains"]])  # 'S' dtype, UTF-8 bytes
    del alt["doc_lengths"]
    alt["doc"] = np.repeat(np.arange(len(d["doc_lengths"]), dtype=np.uint16), d["doc_lengths"])
    alt["rank_order"] = np.array("rank")
    p = os.path.join(work, "b.npz")
    np.savez_compressed(p, **alt)
    if run(moescope, base + ["--out", os.path.join(work, "b.h5"), p]):
        st = read(os.path.join(work, "b.h5"))
        expect_equal(st, d, "savez_compressed",
                     weights=d["weights"].astype(np.float16).astype(np.float32))
        check(st["rank_order"] == "rank", f"savez_compressed: rank_order {st['rank_order']}")

    # 3. separate .npy files, format 2.0 headers, '>i2' experts, float64 weights, --layers
    npy = os.path.join(work, "npy")
    os.makedirs(npy, exist_ok=True)
    files = []
    for k, v in arrays.items():
        if k == "layers":
            continue
        if k == "experts":
            v = v.astype(">i2")
        if k == "weights":
            v = v.astype(np.float64)
        path = os.path.join(npy, f"x_{k}.npy")
        with open(path, "wb") as f:
            np.lib.format.write_array(f, np.asarray(v), version=(2, 0))
        files.append(f"{k}={path}")
    if run(moescope, base + ["--layers", "1,5,9", "--out", os.path.join(work, "c.h5")] + files):
        expect_equal(read(os.path.join(work, "c.h5")), d, "npy v2")

    # 4. transformers: router logits only, (T, L, E); import picks the top-k in rank order
    T, L, E, k = 200, 2, 8, 2
    lg = rng.normal(size=(T, L, E)).astype(np.float32)
    p = os.path.join(work, "hf.npz")
    np.savez(p, tokens=np.arange(T), logits=lg, doc_lengths=np.array([120, 80]))
    for norm in ("yes", "no"):
        out = os.path.join(work, f"hf_{norm}.h5")
        if not run(moescope, ["--k", "2", "--norm-topk", norm, "--out", out, p]):
            continue
        st = read(out)
        want = np.argsort(-lg, axis=-1, kind="stable")[..., :k]
        check(np.array_equal(st["experts"], want), f"hf {norm}: top-k ids")
        z = np.exp(lg.astype(np.float64) - lg.max(-1, keepdims=True))
        prob = z / z.sum(-1, keepdims=True)
        w = np.take_along_axis(prob, want, -1)
        if norm == "yes":
            w = w / w.sum(-1, keepdims=True)
        check(np.allclose(st["weights"], w, rtol=1e-6, atol=1e-7), f"hf {norm}: weights")
        check(np.array_equal(st["logits"], lg), f"hf {norm}: logits")
        check(st["rank_order"] == "rank", f"hf {norm}: rank_order")
        check(st["E"] == E and st["k"] == k, f"hf {norm}: E, k")
    # 5. --model config.json: E, k, layers and the renormalisation come from the config, and
    #    the store's model attribute describes it
    import json
    for name, cfg, renorm in (
            ("mixtral", {"model_type": "mixtral", "num_local_experts": 8,
                         "num_experts_per_tok": 2, "num_hidden_layers": 4,
                         "vocab_size": 32000}, True),
            ("olmoe", {"model_type": "olmoe", "num_experts": 8, "num_experts_per_tok": 2,
                       "num_hidden_layers": 4, "norm_topk_prob": False}, False)):
        d2 = os.path.join(work, name)
        os.makedirs(d2, exist_ok=True)
        with open(os.path.join(d2, "config.json"), "w") as f:
            json.dump(cfg, f)
        out = os.path.join(work, f"cfg_{name}.h5")
        if not run(moescope, ["--model", os.path.join(d2, "config.json"), "--layers", "1,3",
                              "--out", out, p]):
            continue
        st = read(out)
        want = np.argsort(-lg, axis=-1, kind="stable")[..., :k]
        z = np.exp(lg.astype(np.float64) - lg.max(-1, keepdims=True))
        w = np.take_along_axis(z / z.sum(-1, keepdims=True), want, -1)
        if renorm:
            w = w / w.sum(-1, keepdims=True)
        check(np.allclose(st["weights"], w, rtol=1e-6, atol=1e-7), f"config {name}: weights")
        check(np.array_equal(st["layers"], [1, 3]), f"config {name}: layers")
        with h5py.File(out, "r") as f:
            mj = json.loads(f.attrs["model"])
        check(mj["arch"] == name and mj["hparams"]["n_expert"] == 8 and
              mj["hparams"]["n_layer"] == 4, f"config {name}: model attribute {mj}")
    if FAILS:
        sys.exit(1)
    print("ok: every layout round-trips")


if __name__ == "__main__":
    main()
