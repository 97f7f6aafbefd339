"""Split GGUF models (llama.cpp's gguf-split layout, written by tests/gguf_split_tool.py):
any part opens the whole set and gives routes, tokens and route stores identical to the
unsplit file; `inspect` (text and --json) and the route store's model description list every
part with its size; the engine's file list refuses an output naming any part; and the table
of broken sets (a missing part, parts of different sets, a tensor twice or in no part, a part
with the wrong split.no, a part renamed) is answered with exit status 2 and exactly one
error line naming the file.

usage: test_model_split.py MOESCOPE TEST_MODEL_SPLIT_FILES WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_split_tool as gs  # noqa: E402
import mstest  # noqa: E402

MS, FILES_BIN, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []
TEXT = "The quick brown fox jumps over the lazy dog. Experts route tokens, 42 times."
check = mstest.checker(failures, sys.stderr)


def run(*args, timeout=300):
    return subprocess.run([MS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def ok(*args):
    return mstest.ok(MS, *args)


def w(*p):
    return os.path.join(WORK, *p)


mstest.fresh_dir(WORK)
dims = ["--layers", "3", "--d-model", "64", "--experts", "4", "--k", "2", "-q"]
ok("make-model", "--out", w("m.gguf"), "--type", "Q8_0", *dims)
ok("make-model", "--out", w("m_tied.gguf"), "--type", "Q8_0", "--seed", "2", "--tied", *dims)
kvs, tensors = gs.read(w("m.gguf"))
NT = len(tensors)  # 3 + 10 * 3 = 33 (stacked experts)
check(NT == 33, "fixture has %d tensors, expected 33" % NT)

sets = {
    "by12": gs.split(w("m.gguf"), w("by12"), 12),                      # 12 + 12 + 9
    "empty_first": gs.split(w("m.gguf"), w("ef"), 16, no_tensor_first=True),  # 0,16,16,1
    "by1": gs.split(w("m.gguf"), w("by1"), 1),                        # one tensor per part
}
check(len(sets["by12"]) == 3 and len(sets["empty_first"]) == 4 and len(sets["by1"]) == NT,
      "unexpected part counts %s" % {k: len(v) for k, v in sets.items()})

# ---- routes, tokens, inspect from any part ----------------------------------------------
ref_route = ok("route", "--model", w("m.gguf"), "--json", "--threads", "2", TEXT)
ref_text = ok("route", "--model", w("m.gguf"), "--threads", "1", TEXT)
ref_tok = ok("tokenize", "--model", w("m.gguf"), TEXT)
check(json.loads(ref_route), "reference route output is not JSON")
for name, parts in sets.items():
    n = len(parts)
    for k in sorted({0, 1, n - 1}):
        p = parts[k]
        r = ok("route", "--model", p, "--json", "--threads", "2", TEXT)
        check(r == ref_route, "%s part %d: route --json differs from the unsplit file" % (name, k + 1))
        check(ok("route", "--model", p, "--threads", "1", TEXT) == ref_text,
              "%s part %d: route text differs" % (name, k + 1))
        check(ok("tokenize", "--model", p, TEXT) == ref_tok,
              "%s part %d: tokenize differs" % (name, k + 1))
    j = json.loads(ok("inspect", "--json", "--no-tensors", parts[-1]))
    check(j.get("split_parts") == n, "%s: inspect --json split_parts %s" % (name, j.get("split_parts")))
    files = j.get("files", [])
    check([f["path"] for f in files] == parts, "%s: inspect --json files %s" % (name, files))
    check([f.get("size") for f in files] == [os.path.getsize(p) for p in parts],
          "%s: inspect --json sizes" % name)
    check([f.get("part") for f in files] == list(range(1, n + 1)), "%s: inspect --json parts" % name)
    txt = ok("inspect", "--no-tensors", parts[0]).decode()
    for i, p in enumerate(parts):
        check(("%s (" % p) in txt and ("part %d of %d)" % (i + 1, n)) in txt,
              "%s: inspect text does not list part %d: %s" % (name, i + 1, txt))
    full = json.loads(ok("inspect", "--json", parts[1]))
    where = {t["name"]: t["file"] for t in full["tensors"]}
    check(len(where) == NT, "%s: inspect lists %d tensors" % (name, len(where)))
j1 = json.loads(ok("inspect", "--json", "--no-tensors", w("m.gguf")))
check(j1.get("split_parts") == 1 and "part" not in j1["files"][0],
      "single file: split_parts %s, files %s" % (j1.get("split_parts"), j1["files"]))

# ---- route stores: identical datasets, every part in the model description --------------
with open(w("corpus.txt"), "w") as f:
    f.write(TEXT + "\nA second line, with more words for the router to see.\n")


def datasets(path):
    out = {}
    with h5py.File(path, "r") as h:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        h.visititems(visit)
        model = json.loads(h.attrs["model"])
    return out, model


ok("capture", "--model", w("m.gguf"), "--corpus", w("corpus.txt"), "--out", w("ref.h5"),
   "--logits", "--threads", "2", "-q")
ok("capture", "--model", sets["by12"][1], "--corpus", w("corpus.txt"), "--out", w("split.h5"),
   "--logits", "--threads", "2", "-q")
a, ma = datasets(w("ref.h5"))
b, mb = datasets(w("split.h5"))
check(sorted(a) == sorted(b), "route stores hold different datasets: %s vs %s" % (sorted(a), sorted(b)))
check("routing/expert" in a and a["routing/expert"].size > 0, "reference store has no routes")
for k in a:
    if k in b:
        same = (a[k].shape == b[k].shape and
                (np.array_equal(a[k], b[k]) if a[k].dtype.kind != "O" else list(a[k]) == list(b[k])))
        check(same, "route store dataset %s differs between unsplit and split" % k)
check([f["path"] for f in mb["files"]] == sets["by12"] and
      [f["size"] for f in mb["files"]] == [os.path.getsize(p) for p in sets["by12"]],
      "route store model description does not list every part: %s" % mb["files"])
check(mb.get("split_parts") == 3, "route store split_parts %s" % mb.get("split_parts"))
check({k: v for k, v in ma.items() if k not in ("files", "split_parts")} ==
      {k: v for k, v in mb.items() if k not in ("files", "split_parts")},
      "model descriptions differ beyond the file list")

# ---- the engine's file list: an output naming any part is refused ---------------------
parts = sets["by12"]
os.link(parts[2], w("hardlink.gguf"))
rel = os.path.relpath(parts[1])
r = subprocess.run([FILES_BIN, parts[0], "3", parts[0], rel, parts[2], w("hardlink.gguf"), "--",
                    w("m.gguf"), w("new.h5")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check(r.returncode == 0, "output check against parts: %s" % r.stderr.decode(errors="replace"))

# ---- the table of broken sets ------------------------------------------------------------


def fresh(tag):
    d = w("bad", tag)
    os.makedirs(d)
    out = []
    for p in sets["by12"]:
        q = os.path.join(d, os.path.basename(p))
        shutil.copyfile(p, q)
        out.append(q)
    return out


def rewrite(path, drop=0, add=(), split_no=None, extra_kv=(), no_split_keys=False):
    kv, ts = gs.read(path)
    if drop:
        ts = ts[:-drop]
    ts = ts + list(add)
    kv = [x for x in kv if not (no_split_keys and x[0].startswith("split."))]
    if split_no is not None:
        kv = [gs.kv_u16("split.no", split_no) if x[0] == "split.no" else x for x in kv]
    gs.write(path, kv + list(extra_kv), ts)


cases = []
p = fresh("missing")
os.remove(p[2])
cases.append(("missing part", p[0], p[2], "missing part 3 of 3"))
p = fresh("missing_first")
os.remove(p[0])
cases.append(("missing first part", p[2], p[0], "missing part 1 of 3"))
p = fresh("other_count")
other = gs.split(w("m.gguf"), w("bad", "other_count", "five"), 8)  # 5 parts
shutil.copyfile(other[1], p[1])
cases.append(("part of a set with another split.count", p[0], p[1], "split.count is 5"))
p = fresh("other_set")
other = gs.split(w("m_tied.gguf"), w("bad", "other_set", "tied"), 12)  # 32 tensors, 3 parts
shutil.copyfile(other[2], p[2])
cases.append(("part of a set with another split.tensors.count", p[1], p[2],
              "metadata key 'split.tensors.count' differs"))
p = fresh("other_meta")
rewrite(p[1], extra_kv=[gs.kv_str("general.architecture", "qwen2moe")])
cases.append(("part with different metadata", p[0], p[1],
              "metadata key 'general.architecture' differs"))
p = fresh("duplicate")
_, t1 = gs.read(p[0])
rewrite(p[2], add=[t1[3]])
cases.append(("tensor in two parts", p[0], p[2], "listed twice"))
p = fresh("duplicate_same_count")
_, t1 = gs.read(p[0])
rewrite(p[2], drop=1, add=[t1[0]])
cases.append(("tensor twice, one in no part", p[1], p[2], "listed twice"))
p = fresh("no_part")
rewrite(p[2], drop=1)
cases.append(("tensor in no part", p[0], p[0], "tensors in no part"))
p = fresh("swapped")
os.rename(p[1], p[1] + ".tmp")
os.rename(p[2], p[1])
os.rename(p[1] + ".tmp", p[2])
cases.append(("parts 2 and 3 swapped", p[0], p[1], "split.no is 2, expected 1"))
p = fresh("wrong_no")
rewrite(p[2], split_no=1)
cases.append(("part with the wrong split.no", p[0], p[2], "split.no is 1, expected 2"))
p = fresh("no_split_keys")
rewrite(p[1], no_split_keys=True)
cases.append(("part without split keys", p[0], p[1], "split.count is missing"))
p = fresh("fifo")
os.remove(p[1])
os.mkfifo(p[1])
cases.append(("part is a FIFO", p[0], p[1], "not a regular file"))
p = fresh("dir")
os.remove(p[2])
os.mkdir(p[2])
cases.append(("part is a folder", p[1], p[2], "not a regular file"))
p = fresh("renamed")
shutil.copyfile(p[0], w("bad", "renamed", "model.gguf"))
cases.append(("first part renamed", w("bad", "renamed", "model.gguf"),
              w("bad", "renamed", "model.gguf"), "does not end in '-00001-of-00003.gguf'"))
p = fresh("bad_no")
rewrite(p[0], split_no=7)
cases.append(("split.no beyond split.count", p[0], p[0], "'split.no' is not an integer in [0, 2]"))

for what, model, culprit, text in cases:
    for cmd in (["inspect", model], ["route", "--model", model, "hello"]):
        try:
            r = run(*cmd, timeout=60)  # a FIFO part must not block the open
        except subprocess.TimeoutExpired:
            check(False, "%s (%s): hangs" % (what, cmd[0]))
            continue
        err = r.stderr.decode(errors="replace")
        lines = err.splitlines()
        check(r.returncode == 2, "%s (%s): exit %d, expected 2: %s" % (what, cmd[0], r.returncode, err))
        check(len(lines) == 1, "%s (%s): %d stderr lines: %r" % (what, cmd[0], len(lines), err))
        check(lines and lines[0].startswith("moescope: error: " + culprit + ":"),
              "%s (%s): error does not name %s first: %r" % (what, cmd[0], culprit, err))
        check(text in err, "%s (%s): error lacks %r: %r" % (what, cmd[0], text, err))
    print("ok: %s -> %s" % (what, lines[0] if lines else "?"))

if failures:
    print("%d failure(s)" % len(failures), file=sys.stderr)
    sys.exit(1)
print("ok: split GGUF sets open from any part with identical routes; %d broken sets refused"
      % len(cases))
