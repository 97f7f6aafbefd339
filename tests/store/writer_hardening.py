#!/usr/bin/python3
"""The route store writer and `capture` under misuse and failure (issue 14).

  writer_hardening.py MOESCOPE WORKDIR MODE SHIM

  outinput  --out naming an input (GGUF, safetensors shard, config.json, tokenizer.json, corpus
            file, manifest; spelled differently, hard link, symlink) or a user's file: one
            error line, exit 2, the file untouched; a previous route store is replaced
  lock      two concurrent captures on one --out: the second stops at once with "another
            capture is writing this store (pid N)", exit 1; the first finishes a complete store
  faults    ENOSPC injected (LD_PRELOAD shim SHIM) at write calls sampled across a whole
            capture and a --resume: exit 1, one error line, no signal; the committed documents
            read back (h5py and moescope) and --resume completes to the uninterrupted store
  fsize     a file-size limit (ulimit -f) with SIGXFSZ at its default action: exit 1, not a
            signal; --resume completes the store
  respell   --resume with the model named m.gguf, ./m.gguf, an absolute path, a symlink: the
            same model; another model is still refused

Expectations come from h5py reading the stores and from an uninterrupted capture."""
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mstest  # noqa: E402  (tests/mstest.py)

MOESCOPE, WORK, MODE, SHIM = sys.argv[1:5]
MOESCOPE = os.path.abspath(MOESCOPE)
SHIM = os.path.abspath(SHIM)
os.makedirs(WORK, exist_ok=True)
os.chdir(WORK)
errors = []
check = mstest.checker(errors)


def run(args, **kw):
    return subprocess.run([MOESCOPE] + args, capture_output=True, text=True, **kw)


def env_with(**extra):
    e = dict(os.environ)
    # Under ASan the sanitizer runtime is linked into moescope; a preloaded shim comes first.
    e["ASAN_OPTIONS"] = (e.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    e.update(extra)
    return e


WORDS = "the of a model expert routing token layer matrix proof gene protein é 漢字".split()


def make_corpus(name="c.jsonl", n=30, seed=1):
    rnd = random.Random(seed)
    with open(name, "w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 120)))
            f.write(json.dumps({"text": text, "meta": {"pile_set_name": "ArXiv"}}) + "\n")


def make_model(name="m.gguf", seed=3, extra=()):
    if not os.path.exists(name):
        r = run(["make-model", "--out", name, "--seed", str(seed), "--layers", "3"] + list(extra))
        assert r.returncode == 0, r.stderr


def digest(path):
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, _, files in sorted(os.walk(path)):
            for f in sorted(files):
                h.update(f.encode())
                h.update(open(os.path.join(root, f), "rb").read())
    else:
        h.update(open(path, "rb").read())
    return h.hexdigest()


def one_error_line(r, what):
    lines = r.stderr.strip().splitlines()
    ok = len(lines) == 1 and lines[0].startswith("moescope: error: ")
    check(ok, "%s: expected one error line, got %r" % (what, r.stderr))
    return lines[-1] if lines else ""


STORE_DSETS = ["tokens/id", "tokens/doc", "tokens/pos", "routing/layers", "routing/expert",
               "routing/weight", "documents/domain", "documents/source",
               "documents/first_token", "documents/n_tokens", "domains"]


def committed(path):
    """(documents, tokens, {dataset: committed rows}) read with h5py; raises if unreadable."""
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "moescope-routes"
        D = int(f.attrs["n_documents"])
        first = f["documents/first_token"][:D]
        ntok = f["documents/n_tokens"][:D]
        T = int(first[-1] + ntok[-1]) if D else 0
        assert D == 0 or first[0] == 0 and np.all(first[1:] == first[:-1] + ntok[:-1])
        out = {}
        for name in STORE_DSETS:
            d = f[name]
            if name in ("routing/layers", "domains"):
                out[name] = d[()]
            elif name.startswith("documents/"):
                out[name] = d[:D]
            else:
                out[name] = d[:T]
                assert out[name].shape[0] == T, name
        return D, T, out


def store_equal(a, b):
    _, _, x = committed(a)
    _, _, y = committed(b)
    for name in STORE_DSETS:
        if x[name].shape != y[name].shape or not np.array_equal(x[name], y[name]):
            return "%s differs" % name
    return None


# ---------------------------------------------------------------------------------------------
def test_outinput():
    make_model()
    make_corpus()
    r = run(["make-model", "--out", "hf", "--format", "hf", "--seed", "3", "--layers", "3",
             "--shard-mb", "0.05"])
    check(r.returncode == 0, "make-model hf: %s" % r.stderr)
    shards = sorted(x for x in os.listdir("hf") if x.endswith(".safetensors"))
    check(len(shards) > 1, "hf fixture is not sharded: %s" % shards)
    with open("man.json", "w") as f:
        json.dump({"name": "t", "domains": [{"name": "A", "sources": "c.jsonl"}]}, f)
    if os.path.exists("hard.gguf"):
        os.remove("hard.gguf")
    os.link("m.gguf", "hard.gguf")
    if not os.path.lexists("sym.gguf"):
        os.symlink("m.gguf", "sym.gguf")
    with open("notes.txt", "w") as f:
        f.write("a user's file, not a route store\n")
    gguf = ["--model", "m.gguf", "--corpus", "c.jsonl"]
    hf = ["--model", "hf", "--corpus", "c.jsonl"]
    cases = [
        (gguf, "m.gguf", "m.gguf"), (gguf, "./m.gguf", "m.gguf"),
        (gguf, os.path.abspath("m.gguf"), "m.gguf"), (gguf, "hard.gguf", "m.gguf"),
        (gguf, "sym.gguf", "m.gguf"), (gguf, "c.jsonl", "c.jsonl"),
        (["--model", "m.gguf", "--corpus", "man.json"], "man.json", "man.json"),
        (["--model", "m.gguf", "--corpus", "man.json"], "c.jsonl", "c.jsonl"),  # a manifest source
        (hf, "hf/" + shards[0], "hf"), (hf, "hf/" + shards[-1], "hf"),
        (hf, "hf/config.json", "hf"), (hf, "hf/tokenizer.json", "hf"),
        (["--model", "hf/" + shards[0], "--corpus", "c.jsonl"], "hf/model.safetensors.index.json",
         "hf"),
        (gguf, "notes.txt", "notes.txt"),
    ]
    for args, out, watch in cases:
        before = digest(watch)
        r = run(["capture"] + args + ["--out", out, "-q"])
        what = "capture %s --out %s" % (" ".join(args), out)
        check(r.returncode == 2, "%s: exit %d (%s)" % (what, r.returncode, r.stderr))
        last = one_error_line(r, what)
        check(out in last or os.path.basename(out) in last, "%s: message %r" % (what, last))
        if watch != "notes.txt":  # an input (even one named inside a manifest), not a user file
            check("same file" in last, "%s: not refused as an input: %r" % (what, last))
        check(digest(watch) == before, "%s: %s was changed" % (what, watch))
        check(not os.path.exists(out + ".lock"), "%s: lock file left" % what)
        print(last)
    # A previous route store at --out without --resume is replaced (documented).
    r = run(["capture"] + gguf + ["--out", "old.h5", "--max-docs", "3", "-q"])
    check(r.returncode == 0, "first capture: %s" % r.stderr)
    r = run(["capture"] + gguf + ["--out", "old.h5", "--max-docs", "5", "-q"])
    check(r.returncode == 0 and committed("old.h5")[0] == 5, "replacing a store: %s" % r.stderr)
    # An empty file (mktemp) may be the output.
    open("empty.h5", "w").close()
    r = run(["capture"] + gguf + ["--out", "empty.h5", "--max-docs", "2", "-q"])
    check(r.returncode == 0 and committed("empty.h5")[0] == 2, "empty --out: %s" % r.stderr)
    # The store is built under .NAME.PID.tmp.h5: a symlink (to a user's file) or a stale file
    # of a crashed run with the same pid at that name is neither followed nor truncated. The
    # child below makes them with its own pid, which moescope keeps across exec.
    for kind in ("symlink", "stale"):
        out = "pid_%s.h5" % kind
        if os.path.lexists(out):
            os.unlink(out)
        with open("victim.txt", "w") as f:
            f.write("a user's file\n")
        before = digest("victim.txt")
        err_path = "pid_%s.err" % kind
        pid = os.fork()
        if pid == 0:  # the child: plant the name, then become moescope
            try:
                name = ".%s.%d.tmp.h5" % (out, os.getpid())
                if kind == "symlink":
                    os.symlink("victim.txt", name)
                else:
                    with open(name, "w") as f:
                        f.write("left by a crashed run\n")
                fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 2)
                os.execv(MOESCOPE, [MOESCOPE, "capture"] + gguf +
                         ["--out", out, "--max-docs", "2", "-q"])
            finally:
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        planted = ".%s.%d.tmp.h5" % (out, pid)
        what = "capture with a %s at the temporary name" % kind
        check(rc == 0, "%s: exit %d (%s)" % (what, rc, open(err_path).read()[-500:]))
        check(digest("victim.txt") == before, "%s: the user's file was changed" % what)
        check(os.path.lexists(planted), "%s: the planted name was removed" % what)
        if kind == "stale":
            check(open(planted).read() == "left by a crashed run\n",
                  "%s: the stale file was changed" % what)
        try:
            check(committed(out)[0] == 2, "%s: the store does not hold 2 documents" % what)
        except Exception as ex:  # noqa: BLE001 - any failure to read is the finding
            check(False, "%s: the store does not read back: %s" % (what, ex))
        if os.path.lexists(planted):
            os.unlink(planted)
        stray = [x for x in os.listdir(".") if ".tmp." in x]
        check(not stray, "%s: temporary files left: %s" % (what, stray))


# ---------------------------------------------------------------------------------------------
def test_lock():
    make_model("big.gguf", extra=["--d-model", "128", "--ff", "256"])
    make_corpus("c.jsonl", n=120, seed=4)
    base = ["capture", "--model", "big.gguf", "--corpus", "c.jsonl", "--batch", "1",
            "--threads", "1", "--logits", "-q"]
    r = run(base + ["--out", "ref.h5"])
    check(r.returncode == 0, "reference capture: %s" % r.stderr)
    for trial in range(3):
        out = "both.h5"
        if os.path.exists(out):
            os.remove(out)
        first = subprocess.Popen([MOESCOPE] + base + ["--out", out], stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.time() + 30
        while not os.path.exists(out + ".lock") and time.time() < deadline:
            time.sleep(0.002)
        time.sleep(0.05 * trial)
        t0 = time.time()
        second = run(base + ["--out", out])
        dt = time.time() - t0
        still = first.poll() is None
        _, err1 = first.communicate()
        check(still, "trial %d: the first capture ended before the second started" % trial)
        check(second.returncode == 1, "trial %d: second capture exit %d: %s"
              % (trial, second.returncode, second.stderr))
        last = one_error_line(second, "second capture")
        check("%s: another capture is writing this store (pid %d)" % (out, first.pid) in last,
              "trial %d: message %r" % (trial, last))
        check(dt < 5, "trial %d: the second capture took %.1f s to fail" % (trial, dt))
        check(first.returncode == 0, "trial %d: first capture: %s" % (trial, err1))
        diff = store_equal("ref.h5", out)
        check(diff is None, "trial %d: the first capture's store: %s" % (trial, diff))
        check(not os.path.exists(out + ".lock"), "trial %d: lock file left" % trial)
        print("trial %d: %s (after %.2f s)" % (trial, last, dt))
    # --resume is locked too, and a stale lock file of a dead capture does not block.
    with open("both.h5.lock", "w") as f:
        f.write("999999\n")
    r = run(base + ["--out", "both.h5", "--resume"])
    check(r.returncode == 0, "stale lock file: %s" % r.stderr)


# ---------------------------------------------------------------------------------------------
def shim_env(n=None, count=None):
    e = {"LD_PRELOAD": SHIM, "MS_FAULT_MATCH": ".h5"}
    if n is not None:
        e["MS_FAULT_WRITE"] = str(n)
    if count:
        e["MS_FAULT_COUNT"] = count
    return env_with(**e)


def check_after_failure(r, out, what, reference, resume_args):
    check(r.returncode == 1, "%s: exit %d (%s)" % (what, r.returncode, r.stderr[-500:]))
    one_error_line(r, what)
    check("Sanitizer" not in r.stderr and "runtime error" not in r.stderr,
          "%s: sanitizer report" % what)
    stray = [x for x in os.listdir(".") if ".tmp." in x]
    check(not stray, "%s: temporary files left: %s" % (what, stray))
    if os.path.exists(out):
        try:
            D, _, _ = committed(out)
        except Exception as ex:  # noqa: BLE001 - any failure to read is the finding
            check(False, "%s: the store does not read back: %s" % (what, ex))
            return
        if D > 0:
            a = run(["analyze", out])
            check(a.returncode == 0, "%s: moescope analyze: %s" % (what, a.stderr))
    r2 = run(resume_args + ["--out", out, "--resume"])
    check(r2.returncode == 0, "%s: resume: %s" % (what, r2.stderr))
    if r2.returncode == 0:
        diff = store_equal(reference, out)
        check(diff is None, "%s: resumed store differs: %s" % (what, diff))


def test_faults():
    make_model()
    make_corpus("c.jsonl", n=24, seed=7)
    base = ["capture", "--model", "m.gguf", "--corpus", "c.jsonl", "--batch", "2", "--threads",
            "1", "-q"]
    r = run(base + ["--out", "ref.h5"])
    check(r.returncode == 0, "reference: %s" % r.stderr)
    if os.path.exists("cnt.h5"):
        os.remove("cnt.h5")
    r = subprocess.run([MOESCOPE] + base + ["--out", "cnt.h5"], capture_output=True, text=True,
                       env=shim_env(count="count.txt"))
    check(r.returncode == 0, "counting run: %s" % r.stderr)
    K = int(open("count.txt").read())
    check(K > 20, "only %d write calls counted: is the shim preloaded?" % K)
    points = sorted(set([1, 2, 3, K - 1, K] + list(range(1, K + 1, max(1, K // 40)))))
    points = [p for p in points if p >= 1]
    failed = 0
    for n in points:
        out = "f.h5"
        if os.path.exists(out):
            os.remove(out)
        r = subprocess.run([MOESCOPE] + base + ["--out", out], capture_output=True, text=True,
                           env=shim_env(n))
        if r.returncode == 0:  # the last calls may come after... nothing is allowed to be lost
            check(store_equal("ref.h5", out) is None, "injection at %d: exit 0 but store differs" % n)
            continue
        failed += 1
        check_after_failure(r, out, "injection at write %d of %d" % (n, K), "ref.h5", base)
    print("fresh capture: %d write calls, %d injection points, %d failed cleanly"
          % (K, len(points), failed))
    check(failed >= len(points) - 2, "only %d of %d injections made the capture fail"
          % (failed, len(points)))
    # Failures during a --resume (cutting back the uncommitted rows, then appending).
    for n in (1, 2, 3, 5, 8, 13, 21):
        out = "r.h5"
        if os.path.exists(out):
            os.remove(out)
        r = run(base + ["--out", out, "--max-docs", "9"])
        check(r.returncode == 0, "partial capture: %s" % r.stderr)
        r = subprocess.run([MOESCOPE] + base + ["--out", out, "--resume"], capture_output=True,
                           text=True, env=shim_env(n))
        if r.returncode == 0:
            continue
        check_after_failure(r, out, "resume, injection at write %d" % n, "ref.h5", base)
    # A store whose last bytes are corrupt (a torn last chunk): --resume ends with one error
    # line and exit 1 or 2, never a crash at exit.
    for cut in (64, 512, 4096):
        r = run(base + ["--out", "torn.h5", "--max-docs", "9"])
        check(r.returncode == 0, "partial capture: %s" % r.stderr)
        data = bytearray(open("torn.h5", "rb").read())
        for i in range(len(data) - cut, len(data)):
            data[i] ^= 0xA5
        open("torn.h5", "wb").write(bytes(data))
        r = run(base + ["--out", "torn.h5", "--resume"])
        check(r.returncode in (0, 1, 2), "torn store (%d bytes): exit %d" % (cut, r.returncode))
        if r.returncode:
            print(one_error_line(r, "torn store (%d bytes)" % cut))
        check("Sanitizer" not in r.stderr, "torn store: sanitizer report")
        os.remove("torn.h5")
    # The last chunk of /routing/weight corrupt (its compressed bytes): refused by the reader
    # (exit 2) or by the writer when it reads the chunk back to append (exit 1); one error line
    # either way, and no crash at exit (HDF5 1.10 crashed after such a failed write).
    r = run(base + ["--out", "torn.h5", "--max-docs", "9"])
    with h5py.File("torn.h5", "r") as f:
        d = f["routing/weight"]
        info = d.id.get_chunk_info(d.id.get_num_chunks() - 1)
    with open("torn.h5", "r+b") as f:
        f.seek(info.byte_offset + 2)
        f.write(bytes(b ^ 0x5A for b in f.read(info.size - 4)) and b"\xff" * (info.size - 4))
    r = run(base + ["--out", "torn.h5", "--resume"])
    check(r.returncode in (1, 2), "corrupt last chunk: exit %d (%s)" % (r.returncode, r.stderr))
    print(one_error_line(r, "corrupt last chunk"))
    check("Sanitizer" not in r.stderr, "corrupt last chunk: sanitizer report")
    os.remove("torn.h5")
    # EIO rather than ENOSPC.
    out = "eio.h5"
    if os.path.exists(out):
        os.remove(out)
    e = shim_env(K // 2)
    e["MS_FAULT_ERRNO"] = "5"
    r = subprocess.run([MOESCOPE] + base + ["--out", out], capture_output=True, text=True, env=e)
    check("Input/output error" in r.stderr, "EIO message: %s" % r.stderr)
    check_after_failure(r, out, "EIO at write %d" % (K // 2), "ref.h5", base)


# ---------------------------------------------------------------------------------------------
def test_fsize():
    make_model()
    make_corpus("c.jsonl", n=30, seed=2)
    base = ["capture", "--model", "m.gguf", "--corpus", "c.jsonl", "--batch", "1", "--logits",
            "-q"]
    r = run(base + ["--out", "ref.h5"])
    check(r.returncode == 0, "reference: %s" % r.stderr)
    size = os.path.getsize("ref.h5")
    for frac in (0.3, 0.6, 0.9):
        out = "lim.h5"
        if os.path.exists(out):
            os.remove(out)
        lim = int(size * frac)

        def pre():
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # the capture must ignore it itself
            resource.setrlimit(resource.RLIMIT_FSIZE, (lim, lim))
        r = subprocess.run([MOESCOPE] + base + ["--out", out], capture_output=True, text=True,
                           preexec_fn=pre)
        check(r.returncode == 1, "ulimit -f %d: exit %d (%s)" % (lim, r.returncode, r.stderr))
        last = one_error_line(r, "ulimit -f %d" % lim)
        print(last)
        D, _, _ = committed(out)
        check(0 < D < 30, "ulimit -f %d: %d documents kept" % (lim, D))
        r = run(base + ["--out", out, "--resume"])
        check(r.returncode == 0 and store_equal("ref.h5", out) is None,
              "resume after ulimit -f %d: %s" % (lim, r.stderr))


# ---------------------------------------------------------------------------------------------
def test_respell():
    make_model()
    make_model("other.gguf", seed=4)
    make_corpus("c.jsonl", n=12, seed=3)
    os.makedirs("sub", exist_ok=True)
    if not os.path.lexists("sub/link.gguf"):
        os.symlink("../m.gguf", "sub/link.gguf")
    tail = ["--corpus", "c.jsonl", "--batch", "1", "-q"]
    r = run(["capture", "--model", "m.gguf"] + tail + ["--out", "ref.h5"])
    check(r.returncode == 0, "reference: %s" % r.stderr)
    for i, spelled in enumerate(["./m.gguf", os.path.abspath("m.gguf"), "sub/link.gguf",
                                 "sub/../m.gguf"]):
        out = "s%d.h5" % i
        if os.path.exists(out):
            os.remove(out)
        r = run(["capture", "--model", "m.gguf"] + tail + ["--out", out, "--max-docs", "4"])
        check(r.returncode == 0, "partial: %s" % r.stderr)
        r = run(["capture", "--model", spelled] + tail[:-1] + ["--out", out, "--resume"])
        check(r.returncode == 0 and "resuming" in r.stderr,
              "resume with --model %s: %s" % (spelled, r.stderr))
        check(store_equal("ref.h5", out) is None, "resume with --model %s: store differs" % spelled)
    r = run(["capture", "--model", "other.gguf"] + tail + ["--out", "s0.h5", "--resume"])
    check(r.returncode == 2 and "another model" in r.stderr, "other model: %s" % r.stderr)
    print(r.stderr.strip())


{"outinput": test_outinput, "lock": test_lock, "faults": test_faults, "fsize": test_fsize,
 "respell": test_respell}[MODE]()
if errors:
    print("%d failures" % len(errors))
    sys.exit(1)
print("ok")
