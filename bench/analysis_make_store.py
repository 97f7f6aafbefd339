#!/usr/bin/python3
"""Writes a big synthetic route store (layout of docs/ROUTE_STORE.md) for the analysis
memory benchmark, in chunks so the generator itself stays small.

usage: analysis_make_store.py OUT.h5 N_TOKENS [N_LAYERS=32] [E=8] [K=2] [DOMAINS=8]
Documents of 200..800 tokens, windows of up to 512 positions, token ids < 32000."""
import json
import sys

import h5py
import numpy as np

out, T = sys.argv[1], int(sys.argv[2])
L = int(sys.argv[3]) if len(sys.argv) > 3 else 32
E = int(sys.argv[4]) if len(sys.argv) > 4 else 8
k = int(sys.argv[5]) if len(sys.argv) > 5 else 2
ND = int(sys.argv[6]) if len(sys.argv) > 6 else 8
rng = np.random.default_rng(7)
lens = []
while sum(lens) < T:
    lens.append(int(rng.integers(200, 800)))
lens[-1] -= sum(lens) - T
lens = [n for n in lens if n > 0]
D = len(lens)
with h5py.File(out, "w") as f:
    f.attrs["format"] = "moescope-routes"
    f.attrs["format_version"] = np.int64(1)
    f.attrs["model"] = json.dumps({"arch": "synthetic", "n_layer": L, "n_expert": E, "k": k})
    f.attrs["tokenizer"] = "{}"
    f.attrs["manifest"] = "{}"
    f.attrs["command_line"] = " ".join(sys.argv)
    f.attrs["tool_version"] = "bench"
    f.attrs["created"] = "2024-01-01T00:00:00Z"
    f.attrs["n_documents"] = np.int64(D)
    f.attrs["n_tokens"] = np.int64(T)
    C = min(65536, T)
    tid = f.create_dataset("tokens/id", (T,), np.int32, chunks=(C,), compression="gzip", shuffle=True)
    tdoc = f.create_dataset("tokens/doc", (T,), np.int32, chunks=(C,), compression="gzip", shuffle=True)
    tpos = f.create_dataset("tokens/pos", (T,), np.int32, chunks=(C,), compression="gzip", shuffle=True)
    g = f.create_group("routing")
    g.attrs["n_expert"] = np.int64(E)
    g.attrs["k"] = np.int64(k)
    g.create_dataset("layers", data=np.arange(L, dtype=np.int32))
    ex = g.create_dataset("expert", (T, L, k), np.uint8, chunks=(min(4096, T), L, k), compression="gzip", shuffle=True)
    g.create_dataset("weight", (T, L, k), np.float32, chunks=(min(4096, T), L, k), compression="gzip", shuffle=True)
    doms = rng.integers(0, ND, size=D).astype(np.int32)
    first = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    f.create_dataset("documents/domain", data=doms)
    f.create_dataset("documents/first_token", data=first)
    f.create_dataset("documents/n_tokens", data=np.asarray(lens, np.int64))
    f.create_dataset("domains", data=[f"domain{i}" for i in range(ND)], dtype=h5py.string_dtype())
    doc = np.repeat(np.arange(D, dtype=np.int32), lens)
    pos = (np.arange(T) - np.repeat(first, lens)) % 512
    for t0 in range(0, T, C):
        n = min(C, T - t0)
        tid[t0:t0 + n] = rng.integers(0, 32000, size=n)
        tdoc[t0:t0 + n] = doc[t0:t0 + n]
        tpos[t0:t0 + n] = pos[t0:t0 + n]
        # k distinct experts per (token, layer): argsort of random keys
        ex[t0:t0 + n] = np.argsort(rng.random((n, L, E)), axis=2)[:, :, :k].astype(np.uint8)
print(f"{out}: {T} tokens x {L} layers = {T * L} token-layer rows, {D} documents")
