#!/usr/bin/python3
"""Hand-built route stores for the analysis tests, written with h5py straight from the layout
of docs/ROUTE_STORE.md / probes/probes.h (independent of moescope's writer).

usage: test_analysis_stores.py OUTDIR
Writes:
  hand.h5       E=4 k=2, layers [0, 3], domains A/B, 3 documents; every measure of it is
                worked out by hand in test_analysis.c
  same.h5       one domain of 3 identical documents (bootstrap interval must be degenerate)
  random.h5     E=8 k=2, 4 layers, 3 domains, 60 documents of random routing with windows
                (checked against numpy in test_analysis_oracle.py)
  random_b.h5   random.h5 with ~30% of the rows' routing changed (for diff)
  other_tok.h5  random.h5 with one token id changed (diff must refuse)
  bad_expert.h5 hand.h5 with an expert id >= E (analyze must refuse)
"""
import json
import os
import sys

import h5py
import numpy as np


def write_store(path, E, k, layers, domains, docs, experts, tokens, pos):
    """docs: list of (domain index, n_tokens); experts: (T, L, k) ints; tokens, pos: (T,)."""
    T = len(tokens)
    assert experts.shape == (T, len(layers), k)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "moescope-routes"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["model"] = json.dumps({"arch": "mixtral", "n_expert": E, "k": k, "hand": True})
        f.attrs["tokenizer"] = json.dumps({"kind": "none"})
        f.attrs["manifest"] = json.dumps({"domains": domains})
        f.attrs["command_line"] = "test_analysis_stores.py"
        f.attrs["tool_version"] = "test"
        f.attrs["created"] = "2024-01-01T00:00:00Z"
        f.attrs["n_documents"] = np.int64(len(docs))
        f.attrs["n_tokens"] = np.int64(T)
        doc_of = np.concatenate([np.full(n, i, np.int32) for i, (_, n) in enumerate(docs)])
        f.create_dataset("tokens/id", data=np.asarray(tokens, np.int32))
        f.create_dataset("tokens/doc", data=doc_of)
        f.create_dataset("tokens/pos", data=np.asarray(pos, np.int32))
        g = f.create_group("routing")
        g.attrs["n_expert"] = np.int64(E)
        g.attrs["k"] = np.int64(k)
        g.create_dataset("layers", data=np.asarray(layers, np.int32))
        g.create_dataset("expert", data=np.asarray(experts, np.uint8 if E <= 256 else np.uint16),
                         chunks=True, compression="gzip", shuffle=True, maxshape=(None,) + experts.shape[1:])
        g.create_dataset("weight", data=np.full(experts.shape, 1.0 / k, np.float32))
        first = np.cumsum([0] + [n for _, n in docs])[:-1]
        f.create_dataset("documents/domain", data=np.asarray([d for d, _ in docs], np.int32))
        f.create_dataset("documents/first_token", data=np.asarray(first, np.int64))
        f.create_dataset("documents/n_tokens", data=np.asarray([n for _, n in docs], np.int64))
        f.create_dataset("documents/source", data=[f"doc{i}" for i in range(len(docs))],
                         dtype=h5py.string_dtype())
        f.create_dataset("domains", data=domains, dtype=h5py.string_dtype())


def hand(out):
    # rows t0..t9; doc0 (A) t0-t3 pos 0..3; doc1 (A) t4-t6 pos 0,1,0 (two windows);
    # doc2 (B) t7-t9 pos 0..2
    docs = [(0, 4), (0, 3), (1, 3)]
    tokens = [5, 6, 5, 7, 5, 8, 6, 9, 9, 5]
    pos = [0, 1, 2, 3, 0, 1, 0, 0, 1, 2]
    l0 = [(0, 1), (0, 2), (1, 0), (3, 2), (0, 1), (2, 3), (2, 0), (3, 2), (3, 1), (1, 3)]
    l3 = [(1, 2), (1, 2), (2, 1), (0, 3), (3, 0), (3, 0), (1, 2), (0, 1), (1, 0), (2, 3)]
    ex = np.stack([np.array(l0), np.array(l3)], axis=1)  # (T, 2, 2)
    write_store(os.path.join(out, "hand.h5"), 4, 2, [0, 3], ["A", "B"], docs, ex, tokens, pos)
    bad = ex.copy()
    bad[6, 1, 1] = 4
    write_store(os.path.join(out, "bad_expert.h5"), 4, 2, [0, 3], ["A", "B"], docs, bad, tokens,
                pos)


def same(out):
    docs = [(0, 2)] * 3
    ex = np.array([[[0, 1]], [[2, 0]]] * 3)  # (6, 1, 2)
    write_store(os.path.join(out, "same.h5"), 4, 2, [7], ["only"], docs, ex, [1, 2] * 3,
                [0, 1] * 3)


def random_stores(out):
    rng = np.random.default_rng(1234)
    E, k, layers, domains = 8, 2, [0, 1, 5, 7], ["arxiv", "github", "wiki, en"]
    docs, pos = [], []
    for i in range(60):
        n = int(rng.integers(1, 120))
        docs.append((int(rng.integers(0, 3)), n))
        w = int(rng.integers(8, 64))  # window length: pos restarts every w tokens
        pos.extend([j % w for j in range(n)])
    T = sum(n for _, n in docs)
    dom_of_tok = np.concatenate([np.full(n, d) for d, n in docs])
    # domain-dependent preferences plus sticky routing so repetition is above chance
    ex = np.zeros((T, len(layers), k), np.int64)
    for li in range(len(layers)):
        prefs = rng.dirichlet(np.ones(E) * 0.7, size=3)
        prev = None
        for t in range(T):
            if prev is not None and pos[t] != 0 and rng.random() < 0.3:
                ex[t, li] = prev
            else:
                ex[t, li] = rng.choice(E, size=k, replace=False, p=prefs[dom_of_tok[t]])
            prev = ex[t, li].copy()
    tokens = rng.integers(0, 300, size=T)
    write_store(os.path.join(out, "random.h5"), E, k, layers, domains, docs, ex, tokens, pos)
    exb = ex.copy()
    change = rng.random((T, len(layers))) < 0.3
    for t, li in zip(*np.nonzero(change)):
        exb[t, li] = rng.choice(E, size=k, replace=False)
    write_store(os.path.join(out, "random_b.h5"), E, k, layers, domains, docs, exb, tokens, pos)
    tok2 = tokens.copy()
    tok2[T // 2] += 1
    write_store(os.path.join(out, "other_tok.h5"), E, k, layers, domains, docs, ex, tok2, pos)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    hand(out)
    same(out)
    random_stores(out)
