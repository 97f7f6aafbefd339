#!/usr/bin/python3
"""capture packs short documents into shared forward passes (default) and stores exactly what
one window per pass (--no-pack) stores: every dataset of the route store is equal (h5py, bit for
bit), on three fixtures (F32; Q8_0 with a sliding window; Q4_K_M), windows of 64 and 256 tokens
(long documents are cut, short ones packed), router logits stored, 1 and 2 threads. The
--profile line shows that packing happened (fewer forward passes than windows) and that
--no-pack runs one window per pass.

usage: packed.py MOESCOPE WORK_DIR SAMPLES_DIR"""
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

BIN, WORK, SAMPLES = sys.argv[1], sys.argv[2], sys.argv[3]
fails = []


def run(args):
    p = subprocess.run([BIN] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("FAIL: %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p.stderr


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def passes(err):
    m = re.search(r"(\d+) windows in (\d+) forward passes", err)
    if not m:
        sys.exit("FAIL: no pass count in the profile line: " + err)
    return int(m.group(1)), int(m.group(2))


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
models = [("F32", ["--type", "F32", "--d-model", "64", "--ff", "128"]),
          ("Q8_0sw", ["--type", "Q8_0", "--d-model", "128", "--ff", "256", "--sliding-window",
                      "40"]),
          ("Q4_K_M", ["--type", "Q4_K_M", "--d-model", "256", "--ff", "256", "--layers", "2"])]
manifest = os.path.join(SAMPLES, "manifest.json")
for name, opts in models:
    model = os.path.join(WORK, name + ".gguf")
    run(["-q", "make-model", "--out", model, "--seed", "5"] + opts)
    for window in (64, 256):
        for threads in (1, 2):
            stores = {}
            for pack in (True, False):
                out = os.path.join(WORK, "%s_w%d_t%d_%s.h5" % (name, window, threads,
                                                                "pack" if pack else "nopack"))
                err = run(["capture", "--model", model, "--corpus", manifest, "--out", out,
                           "--window", str(window), "--threads", str(threads), "--max-docs",
                           "40", "--logits", "--profile", "-q"] + ([] if pack else ["--no-pack"]))
                nw, npass = passes(err)
                print("%s window %d threads %d %s: %d windows in %d passes" %
                      (name, window, threads, "pack" if pack else "no-pack", nw, npass))
                if pack and not npass < nw:
                    fails.append("%s w%d t%d: packing ran %d windows in %d passes" %
                                 (name, window, threads, nw, npass))
                if not pack and npass != nw:
                    fails.append("%s w%d t%d: --no-pack ran %d windows in %d passes" %
                                 (name, window, threads, nw, npass))
                stores[pack] = datasets(out)
            a, b = stores[True], stores[False]
            if sorted(a) != sorted(b):
                fails.append("%s w%d t%d: dataset lists differ" % (name, window, threads))
            for k in sorted(set(a) & set(b)):
                x, y = a[k], b[k]
                same = x.shape == y.shape and x.dtype == y.dtype and (
                    x.tobytes() == y.tobytes() if x.dtype.kind != "O" else list(x) == list(y))
                if not same:
                    fails.append("%s w%d t%d: %s differs with packing" % (name, window, threads, k))
            if "tokens/pos" in a and not (a["tokens/pos"] == 0).sum() > 40:
                fails.append("%s w%d: no document was cut into windows" % (name, window))
            print("%s window %d threads %d: %d datasets equal, %d tokens" %
                  (name, window, threads, len(a), len(a.get("tokens/id", []))))
if fails:
    print("\n".join("FAIL: " + f for f in fails))
    sys.exit(1)
print("capture_packed: stores identical with and without packing")
