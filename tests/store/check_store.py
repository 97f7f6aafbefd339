#!/usr/bin/python3
"""Independent check of a route store written by test_store, with h5py and numpy only:
layout, dtypes, shapes, attributes, descriptions, chunking/filters, and every value against
the raw arrays test_store dumped (PREFIX.tok/doc/pos/ids/w/lg/docs).
usage: check_store.py STORE.h5 PREFIX"""
import sys

import h5py
import numpy as np

L, K, E = 3, 2, 8
path, prefix = sys.argv[1], sys.argv[2]
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


def raw(ext, dtype, shape):
    return np.fromfile(prefix + "." + ext, dtype=dtype).reshape(shape)


def check_store(path, logits, docs_expect):
    with h5py.File(path, "r") as f:
        a = f.attrs
        check(a["format"] == "moescope-routes", "format %r" % a.get("format"))
        check(int(a["format_version"]) == 1, "format_version")
        check(a["format_version"].dtype == np.int32, "format_version dtype")
        for name in ("model", "tokenizer", "manifest", "command_line", "tool_version",
                     "hdf5_version", "created"):
            check(isinstance(a.get(name), str), "attribute %s is not a str: %r" % (name, a.get(name)))
        check(a["tool_version"].startswith("moescope "), "tool_version")
        check(a["created"].endswith("Z") and len(a["created"]) == 20, "created")
        check(a["n_documents"].dtype == np.int64, "n_documents dtype")
        D = int(a["n_documents"])
        check(D == len(docs_expect), "n_documents %d != %d" % (D, len(docs_expect)))
        T = int(sum(n for _, n, _ in docs_expect))
        check(int(a["n_tokens"]) == T, "n_tokens")
        check(int(f["routing"].attrs["n_expert"]) == E and int(f["routing"].attrs["k"]) == K,
              "routing attrs")
        want = {
            "tokens/id": (np.int32, (T,)),
            "tokens/doc": (np.int32, (T,)),
            "tokens/pos": (np.int32, (T,)),
            "routing/expert": (np.uint8, (T, L, K)),
            "routing/weight": (np.float32, (T, L, K)),
            "routing/layers": (np.int32, (L,)),
            "documents/domain": (np.int32, (D,)),
            "documents/first_token": (np.int64, (D,)),
            "documents/n_tokens": (np.int64, (D,)),
        }
        if logits:
            want["routing/logits"] = (np.float32, (T, L, E))
        else:
            check("logits" not in f["routing"], "unexpected /routing/logits")
        for name, (dt, shape) in want.items():
            ds = f[name]
            check(ds.dtype == dt, "%s dtype %s, want %s" % (name, ds.dtype, np.dtype(dt)))
            check(ds.shape == shape, "%s shape %s, want %s" % (name, ds.shape, shape))
            if name != "routing/layers":
                check(ds.chunks is not None and ds.maxshape[0] is None,
                      "%s not chunked/extendible" % name)
            if name.startswith(("tokens", "routing/e", "routing/w", "routing/lo")):
                check(ds.compression == "gzip" and ds.shuffle, "%s not shuffle+deflate" % name)
        # strings
        check(h5py.check_string_dtype(f["domains"].dtype) is not None, "domains not strings")
        check(h5py.check_string_dtype(f["documents/source"].dtype).encoding == "utf-8",
              "source not utf-8 strings")
        doms = [s.decode() for s in f["domains"][()]]
        check(doms == ["alpha", "Beta (b)", "gamma ünï"], "domains %r" % doms)
        # descriptions everywhere
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                d = obj.attrs.get("description")
                check(isinstance(d, str) and len(d) > 10, "%s has no description" % name)
        f.visititems(visit)
        # values
        check(list(f["routing/layers"][()]) == [0, 2, 5], "layers")
        check(np.array_equal(f["tokens/id"][()], raw("tok", "<i4", (T,))), "tokens/id values")
        check(np.array_equal(f["tokens/doc"][()], raw("doc", "<i4", (T,))), "tokens/doc values")
        check(np.array_equal(f["tokens/pos"][()], raw("pos", "<i4", (T,))), "tokens/pos values")
        check(np.array_equal(f["routing/expert"][()].astype(np.int32),
                             raw("ids", "<i4", (T, L, K))), "routing/expert values")
        check(np.array_equal(f["routing/weight"][()], raw("w", "<f4", (T, L, K))),
              "routing/weight values")
        if logits:
            check(np.array_equal(f["routing/logits"][()], raw("lg", "<f4", (T, L, E))),
                  "routing/logits values")
        dom = f["documents/domain"][()]
        first = f["documents/first_token"][()]
        ntok = f["documents/n_tokens"][()]
        src = [s.decode() for s in f["documents/source"][()]]
        t = 0
        for d, (dm, n, s) in enumerate(docs_expect):
            check(dom[d] == dm and ntok[d] == n and first[d] == t and src[d] == s,
                  "document %d: %s %s %s %s" % (d, dom[d], first[d], ntok[d], src[d]))
            t += n
        # tokens/doc agrees with the document table
        expect_doc = np.repeat(np.arange(D, dtype=np.int32), ntok)
        check(np.array_equal(f["tokens/doc"][()], expect_doc), "tokens/doc vs table")
        # positions restart at 0 at every document start
        pos = f["tokens/pos"][()]
        check(all(pos[first[d]] == 0 for d in range(D) if ntok[d] > 0), "pos at doc start")


docs = []
with open(prefix + ".docs", encoding="utf-8") as fh:
    for line in fh:
        dm, n, s = line.rstrip("\n").split("\t")
        docs.append((int(dm), int(n), s))
check_store(path, True, docs)
# The no-logits store holds the first 10 documents.
with h5py.File(prefix + ".nologits.h5", "r") as f:
    check("logits" not in f["routing"], "nologits store has logits")
    check(int(f.attrs["n_documents"]) == 10, "nologits documents")
    T10 = sum(n for _, n, _ in docs[:10])
    check(np.array_equal(f["routing/expert"][()].astype(np.int32),
                         raw("ids", "<i4", (-1, L, K))[:T10]), "nologits ids")

if errors:
    for e in errors:
        print("FAIL:", e)
    sys.exit(1)
print("ok: %d documents, %d tokens" % (len(docs), sum(n for _, n, _ in docs)))
