#!/usr/bin/env python3
"""Outputs never destroy inputs, are replaced atomically, and a full stdout is an error
(docs/CLI.md, "Outputs"; issue 14 items 2, 4 and 7).

  1. output onto input: for every command that writes files, each output spelling of an input
     (the same path, ./path, a hard link, a symlink; for output directories a file inside the
     directory) is refused with exit 2 and one error line, and the input keeps its bytes (and a
     symlink stays a symlink). A control run with a fresh output succeeds, so the refusals are
     not usage errors.
  2. atomic replace: an existing output survives a write that fails midway (RLIMIT_FSIZE, so
     writes fail with EFBIG): exit 1, one error line, old bytes intact, no temporary file left;
     an output in a missing directory is exit 2 naming it.
  3. results to a full stdout (> /dev/full): exit 1 and exactly one error line
     "stdout: write failed: No space left on device", for every command that prints results.

usage: test_outputs.py MOESCOPE WORKDIR SOURCE_DIR
"""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys

M, W, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
fails = []


def fail(msg):
    fails.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def run(args, cwd=None, stdout=subprocess.PIPE, preexec=None, timeout=300):
    p = subprocess.run([M] + args, cwd=cwd or W, stdout=stdout, stderr=subprocess.PIPE,
                       preexec_fn=preexec, timeout=timeout)
    return p.returncode, (p.stdout or b"").decode("utf-8", "replace"), p.stderr.decode(
        "utf-8", "replace")


def must(args, cwd=None):
    rc, out, err = run(args, cwd)
    if rc != 0:
        raise SystemExit("setup failed: moescope %s: exit %d: %s" % (" ".join(args), rc, err))
    return out


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def error_lines(err):
    return [l for l in err.splitlines() if l.startswith("moescope: error:")]


def tmp_leftovers(d):
    return [n for n in os.listdir(d) if ".tmp." in n]


# ---------------------------------------------------------------------------------------------
# fixtures: a tiny model (its own copy of the vocabulary), two captured stores, an analysis
# JSON and a small Pile-style source tree.
shutil.rmtree(W, ignore_errors=True)
os.makedirs(W)
shutil.copy(os.path.join(SRC, "tests/data/vocab/ggml-vocab-llama-spm.gguf"), os.path.join(W, "v.gguf"))
must(["-q", "make-model", "--out", "m.gguf", "--layers", "2", "--experts", "4", "--k", "2",
      "--d-model", "32", "--ff", "32", "--vocab", "v.gguf"])
manifest = os.path.join(SRC, "corpora/samples/manifest.json")
must(["-q", "capture", "--model", "m.gguf", "--corpus", manifest, "--out", "r.h5", "--max-docs", "3"])
must(["-q", "capture", "--model", "m.gguf", "--corpus", manifest, "--out", "r2.h5", "--max-docs", "3"])
must(["-q", "analyze", "r.h5", "--bootstrap", "0", "--json", "a.json"])
for dom, name in (("d1", "Set One"), ("d2", "Set Two")):
    os.makedirs(os.path.join(W, "src", dom))
    with open(os.path.join(W, "src", dom, "SET_NAME"), "w") as f:
        f.write(name + "\n")
    for i in range(2):
        with open(os.path.join(W, "src", dom, "%d.txt" % i), "w") as f:
            f.write("Document %d of %s, some words to tokenize.\n" % (i, name))
with open(os.path.join(W, "text.txt"), "w") as f:
    f.write("The quick brown fox jumps over the lazy dog.\n")
have_gnuplot = shutil.which(os.environ.get("MOESCOPE_GNUPLOT") or "gnuplot") is not None


# ---------------------------------------------------------------------------------------------
# 1. output onto input.
#
# Each case: a name, the command line with "@OUT" for the output (a file, or a directory for
# the directory cases), the input that must survive (relative to W), and for directory cases
# the file name inside the directory that would be written.
FILE_CASES = [
    ("analyze --json", ["analyze", "r.h5", "--bootstrap", "0", "--json", "@OUT"], "r.h5"),
    ("show --html (store)", ["show", "r.h5", "--html", "@OUT"], "r.h5"),
    ("show --html (model)", ["show", "r.h5", "--model", "m.gguf", "--html", "@OUT"], "m.gguf"),
    # the model recorded in the store, found without --model, is an input too
    ("show --html (recorded model)", ["show", "r.h5", "--html", "@OUT"], "m.gguf"),
    ("diff --json (a)", ["diff", "r.h5", "r2.h5", "--json", "@OUT"], "r.h5"),
    ("diff --json (b)", ["diff", "r.h5", "r2.h5", "--json", "@OUT"], "r2.h5"),
    ("merge --out (first)", ["merge", "--out", "@OUT", "r.h5", "r2.h5"], "r.h5"),
    ("merge --out (second)", ["merge", "--out", "@OUT", "r.h5", "r2.h5"], "r2.h5"),
    ("make-model --vocab", ["-q", "make-model", "--out", "@OUT", "--format", "gguf", "--layers", "1",
                            "--experts", "4", "--d-model", "32", "--ff", "32", "--vocab", "v.gguf"],
     "v.gguf"),
    ("make-corpus pile source", ["make-corpus", "pile", "--src", "src", "--out", "@OUT"],
     "src/d2/1.txt"),
    ("make-corpus pile SET_NAME", ["make-corpus", "pile", "--src", "src", "--out", "@OUT"],
     "src/d1/SET_NAME"),
]
DIR_CASES = [
    ("analyze --csv", ["-q", "analyze", "r.h5", "--bootstrap", "0", "--csv", "@OUT"], "r.h5",
     "experts.csv"),
    ("analyze --csv (last table)", ["-q", "analyze", "r.h5", "--bootstrap", "0", "--csv", "@OUT"],
     "r.h5", "vocabulary.csv"),
    ("report (json input)", ["-q", "report", "a.json", "--out", "@OUT", "--format", "svg"], "a.json",
     "analysis.json"),
    ("report (store input)", ["-q", "report", "r.h5", "--bootstrap", "0", "--out", "@OUT",
                              "--format", "svg"], "r.h5", "index.html"),
    ("report (model)", ["-q", "report", "r.h5", "--bootstrap", "0", "--model", "m.gguf", "--out",
                        "@OUT", "--format", "svg"], "m.gguf", "index.html"),
    ("report (recorded model)", ["-q", "report", "r.h5", "--bootstrap", "0", "--out", "@OUT",
                                 "--format", "svg"], "m.gguf", "index.html"),
    ("plot data", ["-q", "plot", "a.json", "--out", "@OUT", "--format", "svg"], "a.json",
     "fig7_expert_share.dat"),
    ("plot script", ["-q", "plot", "a.json", "--out", "@OUT", "--format", "svg"], "a.json",
     "heatmap_share.gp"),
    ("make-model hf", ["-q", "make-model", "--out", "@OUT", "--format", "hf", "--layers", "1",
                       "--experts", "4", "--d-model", "32", "--ff", "32", "--vocab", "v.gguf"],
     "v.gguf", "config.json"),
    ("demo routes", ["-q", "demo", "--samples", "samples", "--out", "@OUT"], "samples/manifest.json",
     "routes.h5"),
]
if have_gnuplot:  # gnuplot writes the images itself; they are checked before it runs
    DIR_CASES.append(("plot image", ["-q", "plot", "a.json", "--out", "@OUT", "--format", "svg"],
                      "a.json", "fig10_repetition.svg"))
os.makedirs(os.path.join(W, "samples"))
shutil.copy(manifest, os.path.join(W, "samples", "manifest.json"))


def subst(args, out):
    return [out if a == "@OUT" else a for a in args]


def check_refused(name, spelling, args, inp, before, link=None):
    rc, out, err = run(args)
    el = error_lines(err)
    what = "%s [%s]" % (name, spelling)
    if rc != 2:
        fail("%s: exit %d, want 2 (stderr: %s)" % (what, rc, err.strip()[:300]))
    if len(err.splitlines()) != 1 or len(el) != 1:
        fail("%s: want exactly one error line, got %r" % (what, err[:400]))
    elif "same file as the input" not in el[0]:
        fail("%s: error does not say the output is an input: %s" % (what, el[0]))
    if digest(os.path.join(W, inp)) != before:
        fail("%s: input %s changed" % (what, inp))
    if link and not os.path.islink(link):
        fail("%s: the symlink %s was replaced" % (what, link))


n_checked = 0
for name, args, inp in FILE_CASES:
    before = digest(os.path.join(W, inp))
    # control: a fresh output works (so a refusal below is not a usage error)
    rc, out, err = run(subst(args, "fresh.out"))
    if rc != 0:
        fail("%s: control run with a fresh output failed: exit %d: %s" % (name, rc, err.strip()))
    for p in ("fresh.out",):
        if os.path.exists(os.path.join(W, p)):
            os.unlink(os.path.join(W, p))
    hard, sym = os.path.join(W, "hard.lnk"), os.path.join(W, "sym.lnk")
    for p in (hard, sym):
        if os.path.lexists(p):
            os.unlink(p)
    os.link(os.path.join(W, inp), hard)
    os.symlink(os.path.join(W, inp), sym)
    for spelling, out in (("same path", inp), ("./path", "./" + inp),
                          ("absolute", os.path.join(W, inp)), ("hard link", "hard.lnk"),
                          ("symlink", "sym.lnk")):
        check_refused(name, spelling, subst(args, out), inp, before,
                      link=sym if spelling == "symlink" else None)
        n_checked += 1
    os.unlink(hard)
    os.unlink(sym)

for name, args, inp, inside in DIR_CASES:
    before = digest(os.path.join(W, inp))
    if name != "demo routes":  # control: a fresh directory works
        fresh = os.path.join(W, "fresh.dir")
        shutil.rmtree(fresh, ignore_errors=True)
        rc, out, err = run(subst(args, fresh))
        if rc != 0 or not os.path.exists(os.path.join(fresh, inside)):
            fail("%s: control run into a fresh directory failed (exit %d, %s written: %s): %s"
                 % (name, rc, inside, os.path.exists(os.path.join(fresh, inside)), err.strip()))
        shutil.rmtree(fresh, ignore_errors=True)
    for spelling in ("hard link", "symlink"):
        d = os.path.join(W, "outdir")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        target = os.path.join(d, inside)
        if spelling == "hard link":
            os.link(os.path.join(W, inp), target)
        else:
            os.symlink(os.path.join(W, inp), target)
        check_refused(name, spelling + " " + inside, subst(args, d), inp, before,
                      link=target if spelling == "symlink" else None)
        n_checked += 1
        left = tmp_leftovers(d)
        if left:
            fail("%s [%s]: temporary files left: %s" % (name, spelling, left))
        shutil.rmtree(d, ignore_errors=True)

# the input named like the file the command writes, in the output directory itself
shutil.copy(os.path.join(W, "a.json"), os.path.join(W, "analysis.json"))
before = digest(os.path.join(W, "analysis.json"))
check_refused("report (analysis.json in DIR)", "same path",
              ["-q", "report", "analysis.json", "--out", ".", "--format", "svg"], "analysis.json",
              before)
check_refused("report (analysis.json in DIR)", "./DIR",
              ["-q", "report", "./analysis.json", "--out", W + "/.", "--format", "svg"],
              "analysis.json", before)
n_checked += 2
print("output onto input: %d refusals checked" % n_checked)


# ---------------------------------------------------------------------------------------------
# 2. atomic replace: a write failing midway leaves the old file.
def fsize_limit(nbytes):
    def f():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return f


OLD = b"old contents that must survive\n" * 8  # 248 bytes, under the 300-byte limit below
ATOMIC = [
    ("analyze --json", ["analyze", "r.h5", "--bootstrap", "0", "--json", "@OUT"], None),
    ("analyze --csv", ["-q", "analyze", "r.h5", "--bootstrap", "0", "--csv", "@DIR"], "experts.csv"),
    ("show --html", ["show", "r.h5", "--html", "@OUT"], None),
    ("diff --json", ["diff", "r.h5", "r2.h5", "--json", "@OUT"], None),
    ("merge --out", ["-q", "merge", "--out", "@OUT", "r.h5", "r2.h5"], None),
    ("make-model", ["-q", "make-model", "--out", "@OUT", "--format", "gguf", "--layers", "1",
                    "--experts", "4", "--d-model", "32", "--ff", "32", "--vocab", "v.gguf"], None),
    ("make-corpus", ["make-corpus", "dm-math", "--docs", "50", "--out", "@OUT"], None),
    ("report", ["-q", "report", "a.json", "--out", "@DIR", "--format", "svg"], "analysis.json"),
    ("plot", ["-q", "plot", "a.json", "--out", "@DIR", "--format", "svg"], "fig7_expert_share.dat"),
]
for name, args, inside in ATOMIC:
    d = os.path.join(W, "atomic")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    target = os.path.join(d, inside or "out.file")
    with open(target, "wb") as f:
        f.write(OLD)
    a = [d if x == "@DIR" else target if x == "@OUT" else x for x in args]
    rc, out, err = run(a, preexec=fsize_limit(300))
    with open(target, "rb") as f:
        now = f.read()
    if rc != 1:
        fail("atomic %s: exit %d under a 300-byte file-size limit, want 1: %s"
             % (name, rc, err[-300:]))
    el = error_lines(err)
    if len(el) != 1:
        fail("atomic %s: want one error line, got %r" % (name, err[-400:]))
    elif "write failed" not in el[0] and "File too large" not in el[0]:
        fail("atomic %s: error is not a write failure: %s" % (name, el[0]))
    if now != OLD:
        fail("atomic %s: the existing output was truncated or changed (%d bytes)" % (name, len(now)))
    if tmp_leftovers(d):
        fail("atomic %s: temporary files left: %s" % (name, tmp_leftovers(d)))
    shutil.rmtree(d, ignore_errors=True)

for name, args in (("analyze --json", ["analyze", "r.h5", "--json", "missing/x.json"]),
                   ("show --html", ["show", "r.h5", "--html", "missing/x.html"]),
                   ("diff --json", ["diff", "r.h5", "r2.h5", "--json", "missing/x.json"]),
                   ("merge --out", ["merge", "--out", "missing/x.h5", "r.h5"]),
                   ("make-corpus", ["make-corpus", "dm-math", "--out", "missing/x.jsonl"]),
                   ("make-model", ["make-model", "--out", "missing/x.gguf", "--layers", "1"]),
                   ("analyze --json onto a directory", ["analyze", "r.h5", "--json", "src"])):
    rc, out, err = run(args)
    el = error_lines(err)
    if rc != 2 or len(el) != 1 or "missing/x" not in el[0] and "src" not in el[0]:
        fail("%s into a missing directory: exit %d (want 2), stderr %r" % (name, rc, err[-300:]))
print("atomic replace: %d commands checked" % len(ATOMIC))


# ---------------------------------------------------------------------------------------------
# 3. results to a full stdout.
FULL = [
    ["analyze", "r.h5", "--bootstrap", "0"],
    ["analyze", "r.h5", "--bootstrap", "0", "--json", "-"],
    ["diff", "r.h5", "r2.h5"],
    ["diff", "r.h5", "r2.h5", "--json", "-"],
    ["show", "r.h5"],
    ["show", "r.h5", "--html", "-"],
    ["tokenize", "--model", "m.gguf", "--file", "text.txt"],
    ["eval", "--model", "m.gguf", "--file", "text.txt"],
    ["eval", "--model", "m.gguf", "--file", "text.txt", "--nll"],
    ["route", "--model", "m.gguf", "--file", "text.txt"],
    ["route", "--model", "m.gguf", "--file", "text.txt", "--json"],
    ["inspect", "m.gguf"],
    ["inspect", "--json", "m.gguf"],
    ["make-corpus", "dm-math", "--docs", "3", "--out", "-"],
    ["--version"],
    ["--help"],
    ["analyze", "--help"],
]
if os.path.exists("/dev/full"):
    for args in FULL:
        rc, out, err = run(args)  # control: the command prints results
        if rc != 0 or not out:
            fail("%s: control run printed nothing or failed (exit %d): %s"
                 % (" ".join(args), rc, err.strip()[-300:]))
        with open("/dev/full", "wb") as full:
            rc, out, err = run(args, stdout=full)
        el = error_lines(err)
        if rc != 1:
            fail("%s > /dev/full: exit %d, want 1" % (" ".join(args), rc))
        if el != ["moescope: error: stdout: write failed: No space left on device"]:
            fail("%s > /dev/full: want one 'stdout: write failed' line, got %r"
                 % (" ".join(args), err[-400:]))
    print("full stdout: %d command lines checked" % len(FULL))
else:
    print("full stdout: /dev/full missing, skipped")

if fails:
    print("%d failures" % len(fails), file=sys.stderr)
    sys.exit(1)
print("outputs: all checks passed")
