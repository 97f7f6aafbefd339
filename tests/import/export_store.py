#!/usr/bin/python3
"""Exports a route store to what `moescope import` reads, in every layout of docs/IMPORT.md.

usage: export_store.py STORE.h5 OUTDIR

Writes into OUTDIR (numpy and h5py only, as a user's script would):
  full.npz        numpy.savez: every array (tokens, experts, weights, [logits], doc_lengths,
                  doc_domain, domains, sources, pos, layers, rank_order)
  docidx.npz      numpy.savez_compressed: documents as a doc index per token (doc), no pos
  npy/NAME.npy    one .npy per array (as full.npz), for NAME=FILE.npy inputs
  vllm.jsonl      one request per document: token_ids, routed_experts as a nested list
                  (tokens, layers, k), domain, source
  sglang.jsonl    the same with routed_experts as base64 of int32 little-endian (SGLang)
  meta.json       layers, window, domains (for the import command line)
"""
import base64
import json
import os
import sys

import h5py
import numpy as np


def main():
    store, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "npy"), exist_ok=True)
    with h5py.File(store, "r") as f:
        D = int(f.attrs["n_documents"])
        first = f["documents/first_token"][:D]
        ntok = f["documents/n_tokens"][:D]
        T = int(first[-1] + ntok[-1]) if D else 0
        arrays = {
            "tokens": f["tokens/id"][:T],
            "experts": f["routing/expert"][:T].astype(np.int64),  # any integer dtype will do
            "weights": f["routing/weight"][:T],
            "doc_lengths": ntok.astype(np.int64),
            "doc_domain": f["documents/domain"][:D],
            "domains": np.array(f["domains"].asstr()[()], dtype=str),  # '<U..' (UTF-32)
            "sources": np.array(f["documents/source"].asstr()[:D], dtype=str),
            "pos": f["tokens/pos"][:T],
            "layers": f["routing/layers"][()],
            "rank_order": np.array("rank"),
        }
        if "logits" in f["routing"]:
            arrays["logits"] = f["routing/logits"][:T]
        doc = f["tokens/doc"][:T]
        window = int(f.attrs.get("window", 0))
    np.savez(os.path.join(out, "full.npz"), **arrays)
    alt = {k: v for k, v in arrays.items() if k not in ("doc_lengths", "pos")}
    alt["doc"] = doc.astype(np.int32)
    alt["experts"] = arrays["experts"].astype(np.int16)
    np.savez_compressed(os.path.join(out, "docidx.npz"), **alt)
    for k, v in arrays.items():
        np.save(os.path.join(out, "npy", k + ".npy"), v)
    ids = arrays["experts"]
    with open(os.path.join(out, "vllm.jsonl"), "w") as fv, \
         open(os.path.join(out, "sglang.jsonl"), "w") as fs:
        for d in range(D):
            a, n = int(first[d]), int(ntok[d])
            dom = str(arrays["domains"][arrays["doc_domain"][d]])
            src = str(arrays["sources"][d])
            tok = arrays["tokens"][a:a + n].tolist()
            ex = ids[a:a + n]
            fv.write(json.dumps({"request_id": str(d), "token_ids": tok,
                                 "routed_experts": ex.tolist(), "domain": dom,
                                 "source": src}) + "\n")
            b64 = base64.b64encode(ex.astype("<i4").tobytes()).decode()
            fs.write(json.dumps({"meta_info": {"id": str(d)}, "token_ids": tok,
                                 "routed_experts": b64, "domain": dom, "source": src}) + "\n")
    with open(os.path.join(out, "meta.json"), "w") as fm:
        json.dump({"layers": arrays["layers"].tolist(), "window": window,
                   "domains": arrays["domains"].tolist()}, fm)


if __name__ == "__main__":
    main()
