#!/usr/bin/python3
"""Distributed capture and analysis equal the serial ones (GitHub issue 11; MOESCOPE_MPI builds).

  mpi_e2e.py MOESCOPE SAMPLES WORKDIR capture   serial capture of the sample corpora vs
                                                `mpirun -n 2` and `-n 3`: every dataset equal
                                                (h5py), provenance attributes equal, the rank
                                                stores removed; `moescope merge` of two range
                                                captures equals them too
  mpi_e2e.py MOESCOPE SAMPLES WORKDIR analyze   `mpirun -n 2/-n 3 moescope analyze` vs the serial
                                                analysis: the JSON equal except command lines
  mpi_e2e.py MOESCOPE SAMPLES WORKDIR resume    kill -9 one rank of `mpirun -n 2 capture`, then
                                                --resume: each rank continues its own store and
                                                the result equals the serial store; --resume of
                                                a finished run does nothing

The reference is always the serial moescope run; h5py/numpy/json do the comparing, and the
documents' order and token counts are also checked against the serial store's own tables."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mstest  # noqa: E402  (tests/mstest.py)

MOESCOPE, SAMPLES, WORK, MODE = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)
os.chdir(WORK)
errors = []
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           HDF5_USE_FILE_LOCKING="FALSE", OMPI_MCA_btl_vader_single_copy_mechanism="none")
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"] + (
    ["--allow-run-as-root"] if os.geteuid() == 0 else [])
MANIFEST = os.path.join(SAMPLES, "manifest.json")
check = mstest.checker(errors)


def run(args, n=0, **kw):
    cmd = (MPIRUN + ["-n", str(n)] if n else []) + [MOESCOPE] + args
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)
    if r.returncode != 0:
        print("$ %s\n%s" % (" ".join(cmd), r.stderr), flush=True)
    return r


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return out


# Attributes that must agree; created and command_line naturally differ.
ATTRS = ["format", "format_version", "model", "tokenizer", "manifest", "window", "n_documents",
         "n_tokens", "tool_version"]


def store_diff(a, b):
    """None when every dataset of a and b is equal (dtype, shape, values) and so are ATTRS."""
    with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
        da, db = datasets(f), datasets(g)
        if sorted(da) != sorted(db):
            return "datasets %s vs %s" % (sorted(da), sorted(db))
        for name in da:
            x, y = da[name][()], db[name][()]
            if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y):
                return "%s differs (%s %s vs %s %s)" % (name, x.dtype, x.shape, y.dtype, y.shape)
        for grp in ["/", "routing"]:
            for at in (ATTRS if grp == "/" else ["n_expert", "k"]):
                va, vb = f[grp].attrs.get(at), g[grp].attrs.get(at)
                if va is None or str(va) != str(vb):
                    return "attribute %s%s: %r vs %r" % (grp, at, va, vb)
    return None


def base_capture(model):
    return ["capture", "--model", model, "--corpus", MANIFEST, "--threads", "1", "-q"]


def make_model(name="m.gguf", extra=()):
    if not os.path.exists(name):
        r = run(["make-model", "--out", name] + list(extra))
        assert r.returncode == 0, r.stderr


def serial_store(model="m.gguf", out="serial.h5", extra=()):
    if not os.path.exists(out):
        r = run(base_capture(model) + ["--out", out] + list(extra))
        assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        return int(f.attrs["n_documents"]), int(f.attrs["n_tokens"])


def test_capture():
    make_model()
    D, T = serial_store()
    print("serial store: %d documents, %d tokens" % (D, T))
    check(D == 160 and T > 0, "the sample corpora have 160 documents (got %d)" % D)
    for n in (2, 3):
        out = "mpi%d.h5" % n
        t0 = time.time()
        r = run(base_capture("m.gguf") + ["--out", out], n=n)
        check(r.returncode == 0, "mpirun -n %d capture failed: %s" % (n, r.stderr))
        d = store_diff("serial.h5", out)
        check(d is None, "mpirun -n %d store differs from the serial one: %s" % (n, d))
        left = [p for p in os.listdir(".") if p.startswith(out + ".rank-")]
        check(not left, "rank stores left behind: %s" % left)
        print("mpirun -n %d capture: %.1f s, store equals the serial one" % (n, time.time() - t0))
    # The same with --max-docs (the ranks share the first N documents) and --logits.
    serial_store(out="serial40.h5", extra=["--max-docs", "40", "--logits", "--layers", "0,3"])
    r = run(base_capture("m.gguf") + ["--out", "mpi40.h5", "--max-docs", "40", "--logits",
                                      "--layers", "0,3"], n=3)
    check(r.returncode == 0, "mpirun --max-docs: %s" % r.stderr)
    d = store_diff("serial40.h5", "mpi40.h5")
    check(d is None, "mpirun -n 3 --max-docs 40 --logits store differs: %s" % d)
    # `moescope merge` of hand-split stores: a store of the first 40 documents (above) plus
    # one of the other 120, taken from the serial store with h5py, equals the serial store.
    with h5py.File("serial.h5", "r") as f:
        ft = f["documents/first_token"][()]
    split_tail("serial.h5", "tail.h5", 40, int(ft[40]))
    serial_store(out="head40.h5", extra=["--max-docs", "40"])
    r = run(["merge", "--out", "merged.h5", "--window", "2048", "head40.h5", "tail.h5"])
    check(r.returncode == 0, "merge: %s" % r.stderr)
    d = store_diff("serial.h5", "merged.h5")
    check(d is None, "merge of two stores differs from the serial store: %s" % d)
    r = run(["merge", "--out", "bad.h5", "serial.h5", "serial40.h5"])
    check(r.returncode == 2 and "cannot merge" in r.stderr, "merge of incompatible stores: %s"
          % r.stderr)


def split_tail(src, dst, d0, t0):
    """Documents d0.. of src as a store of their own (doc indices and first rows renumbered)."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        for name, ds in datasets(f).items():
            x = ds[()]
            if name.startswith("tokens/") or name.startswith("routing/") and name != "routing/layers":
                x = x[t0:]
            elif name.startswith("documents/"):
                x = x[d0:]
            if name == "tokens/doc":
                x = x - d0
            if name == "documents/first_token":
                x = x - t0
            g.create_dataset(name, data=x, dtype=ds.dtype)
        for k, v in f["routing"].attrs.items():
            g["routing"].attrs[k] = v
        g.attrs["n_documents"] = np.int64(len(g["documents/domain"]))
        g.attrs["n_tokens"] = np.int64(len(g["tokens/id"]))


ANALYSIS_SKIP = {"command_line", "path", "created"}


def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ANALYSIS_SKIP}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


def test_analyze():
    make_model()
    serial_store()
    args = ["analyze", "serial.h5", "--bootstrap", "50", "--seed", "7", "-q"]
    r = run(args + ["--json", "serial.json"])
    check(r.returncode == 0, "serial analyze: %s" % r.stderr)
    with open("serial.json") as f:
        ref = strip(json.load(f))
    check(ref["results"] and ref["bootstrap"], "serial analysis has results and bootstrap")
    for n in (2, 3):
        out = "mpi%d.json" % n
        r = run(args + ["--json", out, "--layers", "all"], n=n)
        check(r.returncode == 0, "mpirun -n %d analyze: %s" % (n, r.stderr))
        with open(out) as f:
            got = strip(json.load(f))
        check(got == ref, "mpirun -n %d analysis differs from the serial one" % n)
        print("mpirun -n %d analyze: equal to the serial analysis" % n)
    # A part that fails (an expert id out of range in rank 1's slice) stops all of them.
    shutil.copy("serial.h5", "corrupt.h5")
    with h5py.File("corrupt.h5", "r+") as f:
        T = int(f.attrs["n_tokens"])
        e = f["routing/expert"]
        e[T - 2, 0, 0] = 200
    r = run(["analyze", "corrupt.h5", "-q"], n=2, timeout=120)
    check(r.returncode != 0 and "routing/expert" in r.stderr,
          "corrupt store under mpirun: exit %d, %s" % (r.returncode, r.stderr))


def rank_pids(root):
    """{rank: pid} of the processes below pid root that Open MPI launched."""
    out, todo = {}, [root]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        for k in kids:
            try:
                with open("/proc/%d/environ" % k, "rb") as f:
                    env = dict(x.split(b"=", 1) for x in f.read().split(b"\0") if b"=" in x)
                if b"OMPI_COMM_WORLD_RANK" in env:
                    out[int(env[b"OMPI_COMM_WORLD_RANK"])] = k
            except OSError:
                pass
            todo.append(k)
    return out


n_committed = mstest.n_committed


def test_resume():
    # A slower model so that a capture takes a few seconds; flushed every document.
    make_model("slow.gguf", ["--d-model", "128", "--ff", "512", "--layers", "4"])
    D, _ = serial_store("slow.gguf", "serial_slow.h5")
    base = base_capture("slow.gguf") + ["--batch", "1", "--out", "res.h5"]
    for victim, target in [(1, 8), (0, 15)]:
        for p in [p for p in os.listdir(".") if p.startswith("res.h5")]:
            os.remove(p)
        part = "res.h5.rank-%d-of-2" % victim
        p = subprocess.Popen(MPIRUN + ["-n", "2", MOESCOPE] + base, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 90
        while p.poll() is None and n_committed(part) < target and time.time() < deadline:
            time.sleep(0.02)
        pids = rank_pids(p.pid)
        if p.poll() is None and victim in pids:
            os.kill(pids[victim], signal.SIGKILL)
        p.wait(timeout=60)
        p.stderr.close()
        done = [n_committed("res.h5.rank-%d-of-2" % r) for r in (0, 1)]
        print("killed rank %d: rank stores hold %s documents, mpirun exit %d"
              % (victim, done, p.returncode))
        check(p.returncode != 0, "mpirun exit status after a rank was killed")
        check(not os.path.exists("res.h5"), "no merged store after a rank was killed")
        check(done[victim] >= target and sum(done) < D,
              "the kill missed the capture of rank %d: %s of %d" % (victim, done, D))
        r = run(base + ["--resume", "-v"], n=2)
        check(r.returncode == 0, "mpirun --resume after killing rank %d: %s" % (victim, r.stderr))
        if victim == 0:
            check("resuming res.h5.rank-0-of-2 after" in r.stderr,
                  "rank 0 did not resume its store: %s" % r.stderr)
        d = store_diff("serial_slow.h5", "res.h5")
        check(d is None, "resumed store (rank %d killed) differs from the serial one: %s"
              % (victim, d))
    # --resume of a finished run (rank stores merged and removed): nothing to do, store kept.
    mtime = os.path.getmtime("res.h5")
    r = run(base + ["--resume", "-v"], n=2)
    check(r.returncode == 0 and "nothing to do" in r.stderr, "resume of a finished run: %s"
          % r.stderr)
    check(os.path.getmtime("res.h5") == mtime and store_diff("serial_slow.h5", "res.h5") is None,
          "resume of a finished run changed the store")
    check(not [p for p in os.listdir(".") if ".rank-" in p], "resume of a finished run left "
          "rank stores")


{"capture": test_capture, "analyze": test_analyze, "resume": test_resume}[MODE]()
if errors:
    print("%d failure(s)" % len(errors))
    sys.exit(1)
print("ok")
