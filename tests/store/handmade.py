#!/usr/bin/python3
"""Builds route stores by hand with h5py, following docs/ROUTE_STORE.md (the example there,
plus corrupt variants), for `test_store handmade DIR`."""
import sys

import h5py
import numpy as np

d = sys.argv[1]
S = h5py.string_dtype()


def make(name, ids=None, first=(0,), ntok=(3,), domain=(0,), fixed_strings=False, n_docs=1):
    if ids is None:
        ids = np.array([[[0, 1]], [[1, 2]], [[2, 0]]], dtype=np.uint8)  # T=3, L=1, k=2
    with h5py.File("%s/%s" % (d, name), "w") as f:
        f.attrs["format"] = "moescope-routes"
        f.attrs["format_version"] = np.int32(1)
        if n_docs is not None:
            f.attrs["n_documents"] = np.int64(n_docs)
        if fixed_strings:
            f.create_dataset("domains", data=np.array([b"ArXiv"]))
        else:
            f.create_dataset("domains", data=["ArXiv"], dtype=S)
        f.create_dataset("tokens/id", data=np.array([1, 415, 2936], np.int64))
        f.create_dataset("tokens/doc", data=np.zeros(3, np.int32))
        f.create_dataset("tokens/pos", data=np.arange(3, dtype=np.int32))
        r = f.create_group("routing")
        r.attrs["n_expert"] = np.int32(4)
        r.attrs["k"] = np.int32(2)
        r.create_dataset("layers", data=np.array([7], np.int32))
        r.create_dataset("expert", data=ids)
        r.create_dataset("weight", data=np.full((3, 1, 2), 0.5, np.float32))
        f.create_dataset("documents/domain", data=np.array(domain, np.int32))
        f.create_dataset("documents/first_token", data=np.array(first, np.int64))
        f.create_dataset("documents/n_tokens", data=np.array(ntok, np.int64))


make("tiny.h5")
make("tiny_fixed.h5", fixed_strings=True, n_docs=None)
make("bad_ids.h5", ids=np.array([[[0, 1]], [[1, 4]], [[2, 0]]], dtype=np.uint8))
make("bad_docs.h5", first=(0, 2), ntok=(1, 2), domain=(0, 0), n_docs=2)
make("bad_domain.h5", domain=(1,))
make("bad_ndocs.h5", n_docs=5)
