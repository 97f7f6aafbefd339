#!/usr/bin/env python3
"""Build the training corpus of the demo model (issue 22) from text that Debian packages or
this project provide. Nothing is downloaded and nothing large is committed: the corpus is
rebuilt here, deterministically, from the files below (docs/SAMPLES.md, "The demo model").

  c       C headers under /usr/include            libc6-dev (LGPL-2.1+), linux-libc-dev
                                                    (GPL-2 with the syscall note)
  python  Python modules under /usr/lib/python3.X  libpython3.X-minimal/-stdlib (PSF-2.0)
  math    DM Mathematics-style problems             this project (moescope make-corpus dm-math,
                                                    seed 7; the demo's samples use seed 1)
  latex   LaTeX paper fragments                     this project (generated below)
  prose   English license texts and the project's  base-files (/usr/share/common-licenses:
          own documentation prose                   each text's own verbatim-copy terms), and
                                                    this project's README/docs (its license)

The demo's capture corpus (corpora/samples) is held out: every training line that also occurs
in a sample document is dropped (lines of 24 characters or more), and the count is printed.

usage: demo_corpus.py --moescope BIN --out DIR [--per-domain-bytes N]
Writes DIR/<domain>.jsonl ({"text": ...} a line) and DIR/SOURCES.txt (the files used)."""
import argparse
import glob
import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC_BYTES = 6000  # documents are cut to this many bytes (at a line end)


def read(path):
    with open(path, "rb") as f:
        b = f.read()
    try:
        t = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return t if "\0" not in t else None


def cut_docs(text, limit=DOC_BYTES):
    """Split a file's text into documents of at most `limit` bytes, at line ends."""
    out, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        if n + len(line) > limit and cur:
            out.append("".join(cur))
            cur, n = [], 0
        cur.append(line)
        n += len(line)
    if cur:
        out.append("".join(cur))
    return [d.strip("\n") for d in out if d.strip()]


def from_files(paths, budget, reader=None):
    docs, used, total = [], [], 0
    for p in paths:
        t = (reader or read)(p)
        if not t:
            continue
        used.append(p)
        for d in cut_docs(t):
            docs.append(d)
            total += len(d.encode())
            if total >= budget:
                return docs, used
    return docs, used


def spread(paths, seed):
    """A fixed pseudo-random order of the files (sorted first), so a budget samples many."""
    paths = sorted(paths)
    random.Random(seed).shuffle(paths)
    return paths


# --- LaTeX fragments (written for this project) ------------------------------------------
WORDS = {
    "obj": ["operator", "function", "sequence", "manifold", "estimator", "kernel", "graph",
            "matrix", "measure", "space", "algebra", "bound", "series", "domain", "map",
            "solution", "subgroup", "norm", "process", "distribution"],
    "adj": ["compact", "bounded", "linear", "convex", "smooth", "finite", "continuous",
            "orthogonal", "stationary", "regular", "symmetric", "positive", "closed",
            "unbiased", "invariant", "measurable", "sparse", "dense"],
    "verb": ["converges", "vanishes", "is bounded", "is invariant", "is well defined",
             "holds uniformly", "is attained", "is integrable", "decays exponentially"],
    "sec": ["Introduction", "Preliminaries", "Main results", "Proof of the main theorem",
            "Related work", "Numerical experiments", "Discussion", "Notation",
            "Estimates", "Applications", "Conclusion", "Auxiliary lemmas"],
    "env": ["theorem", "lemma", "proposition", "corollary", "definition", "remark"],
}
GREEK = ["\\alpha", "\\beta", "\\gamma", "\\delta", "\\epsilon", "\\lambda", "\\mu", "\\sigma",
         "\\theta", "\\phi", "\\omega", "\\xi"]
VARS = ["x", "y", "z", "t", "n", "k", "f", "g", "u", "v"]


def tex_expr(r, depth=0):
    a = r.choice(VARS + GREEK)
    c = r.random()
    if depth > 2 or c < 0.25:
        return a if r.random() < 0.6 else f"{a}_{{{r.choice(['i', 'j', 'n', '0', '1'])}}}"
    if c < 0.4:
        return f"\\frac{{{tex_expr(r, depth + 1)}}}{{{tex_expr(r, depth + 1)}}}"
    if c < 0.5:
        return f"{tex_expr(r, depth + 1)}^{{{r.randint(2, 4)}}}"
    if c < 0.6:
        return f"\\sum_{{i=1}}^{{n}} {tex_expr(r, depth + 1)}"
    if c < 0.68:
        return f"\\int_{{0}}^{{\\infty}} {tex_expr(r, depth + 1)} \\, d{r.choice(VARS[:4])}"
    if c < 0.76:
        return f"\\left\\| {tex_expr(r, depth + 1)} \\right\\|"
    if c < 0.84:
        return f"\\sqrt{{{tex_expr(r, depth + 1)}}}"
    op = r.choice(["+", "-", "\\cdot", "\\leq", "=", "\\otimes"])
    return f"{tex_expr(r, depth + 1)} {op} {tex_expr(r, depth + 1)}"


def tex_sentence(r):
    w = WORDS
    s = r.choice([
        "Let ${e}$ be a {a} {o} and suppose that ${e2}$.",
        "Then the {o} ${e}$ {v} for every {a} {o2}.",
        "By Lemma~\\ref{{lem:{lab}}}, the {a} {o} satisfies ${e}$.",
        "We show that ${e}$ {v}, as in \\cite{{{cite}}}.",
        "Hence ${e} \\leq {e2}$, which {v} since the {o} is {a}.",
        "Recall from Section~\\ref{{sec:{lab}}} that every {a} {o} {v}.",
        "It follows that the {o} ${e}$ is {a} whenever ${e2}$.",
    ])
    return s.format(e=tex_expr(r), e2=tex_expr(r), a=r.choice(w["adj"]), o=r.choice(w["obj"]),
                    o2=r.choice(w["obj"]), v=r.choice(w["verb"]),
                    lab=r.choice(w["obj"]) + str(r.randint(1, 9)),
                    cite=f"{r.choice(['ref', 'key', 'cit'])}{r.randint(1, 60)}")


def tex_doc(r):
    parts = [f"\\section{{{r.choice(WORDS['sec'])}}}\\label{{sec:{r.choice(WORDS['obj'])}}}"]
    for _ in range(r.randint(3, 6)):
        c = r.random()
        if c < 0.45:
            parts.append(" ".join(tex_sentence(r) for _ in range(r.randint(2, 4))))
        elif c < 0.7:
            parts.append(f"\\begin{{equation}}\\label{{eq:{r.randint(1, 40)}}}\n"
                         f"{tex_expr(r)} = {tex_expr(r)}\n\\end{{equation}}")
        elif c < 0.88:
            env = r.choice(WORDS["env"])
            parts.append(f"\\begin{{{env}}}\\label{{lem:{r.choice(WORDS['obj'])}{r.randint(1, 9)}}}\n"
                         f"{tex_sentence(r)}\n\\end{{{env}}}")
            if env in ("theorem", "lemma", "proposition"):
                parts.append(f"\\begin{{proof}}\n{tex_sentence(r)} {tex_sentence(r)}\n\\end{{proof}}")
        else:
            items = "\n".join(f"  \\item {tex_sentence(r)}" for _ in range(r.randint(2, 4)))
            parts.append(f"\\begin{{itemize}}\n{items}\n\\end{{itemize}}")
    return "\n\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--moescope", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-domain-bytes", type=int, default=1_500_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--docs-rev", default="03f8984",
                    help="git revision of this project's README.md and docs/*.md used as prose\n"
                         "(fixed, so later edits of the docs do not change the corpus)")
    a = ap.parse_args()
    budget = a.per_domain_bytes
    os.makedirs(a.out, exist_ok=True)
    sources = {}
    docs = {}

    heads = [p for p in glob.glob("/usr/include/**/*.h", recursive=True) if os.path.isfile(p)]
    docs["c"], sources["c"] = from_files(spread(heads, a.seed), budget)

    pyfiles = sorted(glob.glob("/usr/lib/python3.*/**/*.py", recursive=True))
    pyfiles = [p for p in pyfiles if "/site-packages/" not in p and "/dist-packages/" not in p
               and "/test/" not in p and "/tests/" not in p]
    docs["python"], sources["python"] = from_files(spread(pyfiles, a.seed), budget)

    n_dm = max(50, budget // 700)
    dm = subprocess.run([a.moescope, "-q", "make-corpus", "dm-math", "--seed", str(a.seed),
                         "--docs", str(n_dm), "--out", os.path.join(a.out, "dm.tmp.jsonl")],
                        check=True)
    with open(os.path.join(a.out, "dm.tmp.jsonl"), encoding="utf-8") as f:
        docs["math"] = [json.loads(l)["text"] for l in f]
    os.remove(os.path.join(a.out, "dm.tmp.jsonl"))
    sources["math"] = [f"moescope make-corpus dm-math --seed {a.seed} --docs {n_dm}"]

    r = random.Random(a.seed)
    docs["latex"], total = [], 0
    while total < budget:
        d = tex_doc(r)
        docs["latex"].append(d)
        total += len(d.encode())
    sources["latex"] = [f"tools/demo_corpus.py LaTeX generator, seed {a.seed}"]

    prose = sorted(p for p in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(p))
    ls = subprocess.run(["git", "-C", ROOT, "ls-tree", "--name-only", a.docs_rev, "docs/"],
                        stdout=subprocess.PIPE, check=True, text=True).stdout.split()
    prose += ["git:README.md"] + sorted("git:" + p for p in ls if p.endswith(".md"))

    def read_prose(p):
        if not p.startswith("git:"):
            return read(p)
        return subprocess.run(["git", "-C", ROOT, "show", f"{a.docs_rev}:{p[4:]}"],
                              stdout=subprocess.PIPE, check=True).stdout.decode("utf-8")

    docs["prose"], sources["prose"] = from_files(prose, budget, read_prose)
    sources["prose"] = [f"{p} at {a.docs_rev}" if p.startswith("git:") else p
                        for p in sources["prose"]]

    # held out: drop every training line that occurs in a demo sample document
    held = set()
    with open(os.path.join(ROOT, "corpora", "samples", "pile_sample.jsonl"), encoding="utf-8") as f:
        for l in f:
            for line in json.loads(l)["text"].splitlines():
                if len(line.strip()) >= 24:
                    held.add(line.strip())
    dropped = 0
    for dom, ds in docs.items():
        keep = []
        for d in ds:
            lines = d.splitlines()
            kept = [x for x in lines if x.strip() not in held]
            dropped += len(lines) - len(kept)
            if kept:
                keep.append("\n".join(kept))
        docs[dom] = keep

    with open(os.path.join(a.out, "SOURCES.txt"), "w", encoding="utf-8") as f:
        for dom in docs:
            for s in sources[dom]:
                f.write(f"{dom}\t{s}\n")
    for dom, ds in docs.items():
        with open(os.path.join(a.out, f"{dom}.jsonl"), "w", encoding="utf-8") as f:
            for d in ds:
                f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
        print(f"{dom}: {len(ds)} documents, {sum(len(d.encode()) for d in ds)} bytes, "
              f"{len(sources[dom])} sources", file=sys.stderr)
    print(f"held out: {dropped} training lines that occur in corpora/samples dropped", file=sys.stderr)


if __name__ == "__main__":
    main()
