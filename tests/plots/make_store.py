#!/usr/bin/python3
"""Writes a small route store with h5py, following docs/ROUTE_STORE.md, without moescope.

Documents are llama.cpp's own tokenizer test cases (tests/data/vocab/*.inp/.out: texts and
the ids llama.cpp produced), so the store's token text is known independently. Routing is
random but sticky (a token repeats its predecessor's first choice with a per-layer
probability), so repetition rates differ by layer and domain. Window boundaries are
exercised: one document is cut into two windows (pos restarts at 0).

usage: make_store.py OUT.h5 VOCAB.gguf [--relative-model]
Writes OUT.h5 and OUT.h5.json (the expected texts, ids and routing, for the checks)."""
import json
import os
import sys

import h5py
import numpy as np

out, vocab = sys.argv[1], sys.argv[2]
inp = open(vocab + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
ids_txt = open(vocab + ".out", encoding="utf-8").read().split("\n")
cases = []
for text, line in zip(inp, ids_txt):
    ids = [int(x) for x in line.split()]
    # ASCII text only (no byte-fallback pieces), no brackets (the plain view uses "[e]").
    if not ids or not text.strip() or any(ord(c) > 126 for c in text) or "[" in text or "]" in text:
        continue
    cases.append((text, ids))
assert len(cases) >= 12, len(cases)

domains = ["prose", "Wikipedia (en)", 'code & <"math">']
rng = np.random.default_rng(1234)
E, K = 8, 2
layers = np.array([0, 2, 3], dtype=np.int32)
stick = [0.05, 0.5, 0.3]  # P(first choice repeats the previous token's), per stored layer

docs = []  # (domain, texts, ids)
for i in range(0, len(cases), 3):
    group = cases[i:i + 3]
    docs.append((len(docs) % 3, [t for t, _ in group], sum((x for _, x in group), [])))

tok, doc, pos, expert, weight = [], [], [], [], []
doc_domain, doc_first, doc_ntok, doc_source = [], [], [], []
for d, (dom, texts, ids) in enumerate(docs):
    doc_domain.append(dom)
    doc_first.append(len(tok))
    doc_ntok.append(len(ids))
    doc_source.append("vocab.inp:%d" % d)
    prev = None
    split = len(ids) // 2 if d == 1 else None  # document 1 has two windows
    for j, t in enumerate(ids):
        p = j - split if split is not None and j >= split else j
        tok.append(t)
        doc.append(d)
        pos.append(p)
        row_e, row_w = [], []
        for s in range(len(layers)):
            if prev is not None and p > 0 and rng.random() < stick[s] + 0.1 * dom:
                first = prev[s][0]
            else:
                first = int(rng.integers(E))
            second = int(rng.integers(E - 1))
            second += second >= first
            w0 = float(rng.uniform(0.5, 0.95))
            row_e.append([first, second])
            row_w.append([w0, 1.0 - w0])
        prev = row_e
        expert.append(row_e)
        weight.append(row_w)

T, D = len(tok), len(docs)
model_path = os.path.abspath(vocab)
if "--relative-model" in sys.argv:
    model_path = os.path.relpath(os.path.abspath(vocab), os.path.dirname(os.path.abspath(out)))
model = {"arch": "llama", "format": "gguf", "name": "plots test store (hand-made with h5py)",
         "hparams": {"n_vocab": 32000, "d_model": 64, "n_layer": 4, "n_expert": E,
                     "n_expert_used": K},
         "files": [{"path": model_path, "size": os.path.getsize(vocab)}]}
st = h5py.string_dtype()
with h5py.File(out, "w") as f:
    f.attrs["format"] = "moescope-routes"
    f.attrs["format_version"] = np.int32(1)
    f.attrs["model"] = json.dumps(model)
    f.attrs["tokenizer"] = json.dumps({"kind": "sentencepiece-bpe", "n_vocab": 32000})
    f.attrs["manifest"] = json.dumps({"domains": domains, "source": "llama.cpp vocab tests"})
    f.attrs["command_line"] = "make_store.py (test fixture)"
    f.attrs["tool_version"] = "h5py " + h5py.__version__
    f.attrs["created"] = "2026-01-01T00:00:00Z"
    f.attrs["n_documents"] = np.int64(D)
    f.attrs["n_tokens"] = np.int64(T)
    f["tokens/id"] = np.array(tok, dtype=np.int32)
    f["tokens/doc"] = np.array(doc, dtype=np.int32)
    f["tokens/pos"] = np.array(pos, dtype=np.int32)
    g = f.create_group("routing")
    g.attrs["n_expert"] = np.int32(E)
    g.attrs["k"] = np.int32(K)
    g["layers"] = layers
    g["expert"] = np.array(expert, dtype=np.uint8)
    g["weight"] = np.array(weight, dtype=np.float32)
    f["documents/domain"] = np.array(doc_domain, dtype=np.int32)
    f["documents/first_token"] = np.array(doc_first, dtype=np.int64)
    f["documents/n_tokens"] = np.array(doc_ntok, dtype=np.int64)
    f.create_dataset("documents/source", data=doc_source, dtype=st)
    f.create_dataset("domains", data=domains, dtype=st)
json.dump({"docs": [{"domain": dm, "texts": tx, "ids": ids} for dm, tx, ids in docs]},
          open(out + ".json", "w"))
print("store: %d documents, %d tokens" % (D, T))
