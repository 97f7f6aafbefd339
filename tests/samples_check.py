#!/usr/bin/python3
"""Validates the demo's sample corpora (corpora/samples/, docs/SAMPLES.md) without moescope:
the JSONL is strict UTF-8, one Pile-format object a line, every Pile set of the Mixtral
figures has at least 20 documents, no two documents are the same, each written domain looks
like its domain, the manifest follows corpora/corpora.h and points at existing files with
enough documents, and the whole sample stays small.

usage: samples_check.py SAMPLES_DIR
"""
import json
import os
import sys

SETS = ["ArXiv", "DM Mathematics", "Github", "Gutenberg (PG-19)", "PhilPapers",
        "PubMed Abstracts", "StackExchange", "Wikipedia (en)"]
MIN_DOCS = 20
MAX_BYTES = 600 * 1024

fails = []


def fail(msg):
    fails.append(msg)
    print("FAIL: " + msg)


def style_ok(set_name, text):
    """A light check that a written document is in its domain's form."""
    first = text.split("\n", 1)[0]
    if set_name == "ArXiv":
        return "\\section" in text and ("\\cite" in text or "\\begin" in text or "$" in text)
    if set_name == "PubMed Abstracts":
        return all(k in text for k in ("BACKGROUND:", "METHODS:", "RESULTS:", "CONCLUSIONS:"))
    if set_name == "StackExchange":
        return text.startswith("Q:\n\n") and "\n\nA:\n\n" in text
    if set_name == "Wikipedia (en)":
        return text.split("\n")[1] == "" and len(first) < 60 and not first.endswith(".")
    if set_name == "Github":
        return any(m in text for m in ("//", "#", "/*", "--", '"""'))
    if set_name == "PhilPapers":
        return len(text.split()) >= 100
    if set_name == "Gutenberg (PG-19)":
        return len(text.split()) >= 100
    return True


def load_jsonl(path):
    docs = []
    raw = open(path, "rb").read()
    try:
        raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        fail("%s: invalid UTF-8 at byte %d" % (path, e.start))
        return docs
    lines = raw.split(b"\n")
    if lines[-1] != b"":
        fail("%s: does not end with a newline" % path)
    for ln, line in enumerate(lines[:-1], 1):
        try:
            o = json.loads(line.decode("utf-8"))
        except ValueError as e:
            fail("%s:%d: not JSON: %s" % (path, ln, e))
            continue
        if not isinstance(o, dict) or set(o) != {"text", "meta"}:
            fail("%s:%d: keys must be exactly text and meta" % (path, ln))
            continue
        text, meta = o["text"], o["meta"]
        if not isinstance(text, str) or not text.strip():
            fail("%s:%d: empty or non-string text" % (path, ln))
            continue
        if not isinstance(meta, dict) or meta.get("pile_set_name") not in SETS:
            fail("%s:%d: meta.pile_set_name must be one of the Pile set names" % (path, ln))
            continue
        if "\x00" in text or "\ufffd" in text:
            fail("%s:%d: NUL or replacement character in text" % (path, ln))
        docs.append((ln, meta["pile_set_name"], text))
    return docs


def main():
    root = sys.argv[1]
    jsonl = os.path.join(root, "pile_sample.jsonl")
    docs = load_jsonl(jsonl)
    by_set = {s: [] for s in SETS}
    for ln, s, text in docs:
        by_set[s].append((ln, text))
    for s in SETS:
        if len(by_set[s]) < MIN_DOCS:
            fail("%s: %d documents of %r, want at least %d" % (jsonl, len(by_set[s]), s, MIN_DOCS))
    seen = {}
    for ln, s, text in docs:
        key = " ".join(text.split())
        if key in seen:
            fail("%s:%d: same text as line %d" % (jsonl, ln, seen[key]))
        seen[key] = ln
        if s != "DM Mathematics":
            words = len(text.split())
            if not 60 <= words <= 400:
                fail("%s:%d: %d words (written documents are about 80 to 250)" % (jsonl, ln, words))
            if not style_ok(s, text):
                fail("%s:%d: does not look like a %s document" % (jsonl, ln, s))

    # The manifest, as documented in corpora/corpora.h.
    mpath = os.path.join(root, "manifest.json")
    try:
        man = json.load(open(mpath, encoding="utf-8"))
    except ValueError as e:
        fail("%s: not JSON: %s" % (mpath, e))
        man = {"domains": []}
    if not isinstance(man.get("name"), str) or not isinstance(man.get("seed"), int):
        fail("%s: needs a name and an integer seed" % mpath)
    names, covered = set(), set()
    for i, d in enumerate(man.get("domains", [])):
        where = "%s: domains[%d]" % (mpath, i)
        if not isinstance(d.get("name"), str) or d["name"] in names:
            fail(where + ": missing or repeated name")
        names.add(d.get("name"))
        srcs = d.get("sources")
        if not isinstance(srcs, list) or not srcs:
            fail(where + ": sources must be a non-empty list")
            continue
        avail = 0
        for src in srcs:
            p = os.path.join(os.path.dirname(mpath), src)
            if not os.path.isfile(p):
                fail(where + ": source %s does not exist" % src)
                continue
            if os.path.abspath(p) == os.path.abspath(jsonl):
                avail += len(by_set.get(d.get("pile_set_name"), []))
        s = d.get("pile_set_name")
        if s not in SETS:
            fail(where + ": pile_set_name %r is not a Pile set name" % s)
        covered.add(s)
        n = d.get("docs", man.get("docs_per_domain"))
        if n is not None and (not isinstance(n, int) or n < MIN_DOCS or n > avail):
            fail(where + ": docs %r, but %d documents are available" % (n, avail))
    if covered != set(SETS):
        fail("%s: domains cover %s, want all of %s" % (mpath, sorted(covered), SETS))

    total = 0
    for dirpath, _, files in os.walk(root):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    if total > MAX_BYTES:
        fail("%s: %d bytes, over the %d budget" % (root, total, MAX_BYTES))

    print("samples: %d documents (%s), %d bytes in %s" % (
        len(docs), ", ".join("%s %d" % (s, len(by_set[s])) for s in SETS), total, root))
    print("%d passed, %d failed" % (max(0, len(docs) + 1 - len(fails)), len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
