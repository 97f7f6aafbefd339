#!/usr/bin/python3
"""test_tokenizer_o200k_capture.py MOESCOPE WORK — `capture` and `route` tokenize as `tokenize`
does, with --special and --original-regex: a small random-weight model with GPT-OSS's o200k
vocabulary (make-model --vocab WORK/o200k.gguf) captures a harmony transcript and a Devanagari
text; the token ids in the store (h5py) are js-tiktoken's (WORK/refs/tiktoken*.inp/.out) with
both options, and without them the transcript's plain-text ids and llama.cpp's ids of the
Devanagari text (WORK/refs/llamacpp.*). The store's tokenizer attribute records the options;
`route --special --original-regex` lists the same ids, and `eval --json` (with and without
--original-regex, and with --special) gives them too. Exit 77 without the references."""
import json
import os
import subprocess
import sys

import h5py

import mstest

moescope, work = sys.argv[1:3]
REFS = mstest.O200kRefs(work)
TRANSCRIPT = REFS.TRANSCRIPT
fails = 0


def fail(msg):
    global fails
    print("FAIL: " + msg)
    fails += 1


def ref(name, text):
    return [int(x) for x in REFS.ids(name, text)]


def run(*args):
    r = subprocess.run([moescope] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode:
        sys.exit("FAIL: moescope %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.decode()))
    return r.stdout.decode("utf-8")


HINDI = REFS.hindi()
d = os.path.join(work, "capture")
os.makedirs(os.path.join(d, "corpus"), exist_ok=True)
open(os.path.join(d, "corpus", "a-chat.txt"), "w", encoding="utf-8", newline="").write(TRANSCRIPT)
open(os.path.join(d, "corpus", "b-hindi.txt"), "w", encoding="utf-8", newline="").write(HINDI)
model = os.path.join(d, "o200k-model.gguf")
run("make-model", "--out", model, "--vocab", os.path.join(work, "o200k.gguf"), "--d-model", "16",
    "--heads", "2", "--kv-heads", "1", "--ff", "32", "--layers", "2", "--experts", "4", "--k", "2",
    "--tied")
cases = [(["--special", "--original-regex"], ref("tiktoken-special", TRANSCRIPT), ref("tiktoken", HINDI),
          {"parse_special": True, "original_regex": True}),
         ([], ref("tiktoken", TRANSCRIPT), ref("llamacpp", HINDI), {})]
if ref("tiktoken", HINDI) == ref("llamacpp", HINDI):
    fail("tiktoken and llama.cpp agree on the Devanagari text: the check proves nothing")
for opts, want_chat, want_hindi, attrs in cases:
    store = os.path.join(d, "s%d.h5" % len(opts))
    run("capture", "-q", "--model", model, "--corpus", os.path.join(d, "corpus"), "--out", store, *opts)
    with h5py.File(store, "r") as f:
        ids, doc = f["tokens/id"][:].tolist(), f["tokens/doc"][:].tolist()
        src = [s.decode() for s in f["documents/source"][:]]
        tok = json.loads(f.attrs["tokenizer"])
    by = {os.path.basename(s): [i for i, dd in zip(ids, doc) if dd == k] for k, s in enumerate(src)}
    label = "capture %s" % " ".join(opts)
    if by.get("a-chat.txt") != want_chat:
        fail("%s: transcript ids %s, want %s" % (label, by.get("a-chat.txt"), want_chat))
    if by.get("b-hindi.txt") != want_hindi:
        fail("%s: Devanagari ids %s, want %s" % (label, by.get("b-hindi.txt"), want_hindi))
    for k in ("parse_special", "original_regex"):
        if tok.get(k) != attrs.get(k):
            fail("%s: tokenizer attribute %s is %r" % (label, k, tok.get(k)))
lines = run("route", "--model", model, "--special", "--original-regex", "--layers", "0",
            TRANSCRIPT).split("\n")
got = [int(l.split("\t")[1]) for l in lines if l and not l.startswith("#")]
if got != ref("tiktoken-special", TRANSCRIPT):
    fail("route --special: ids %s" % got)
# eval tokenizes as route does: tiktoken's split of the Devanagari text with --original-regex,
# llama.cpp's without; the transcript's control tokens with --special
for opts, text, want in ((["--original-regex"], HINDI, ref("tiktoken", HINDI)),
                         ([], HINDI, ref("llamacpp", HINDI)),
                         (["--special", "--original-regex"], TRANSCRIPT, ref("tiktoken-special", TRANSCRIPT))):
    ev = json.loads(run("eval", "--model", model, "--json", "--top", "1", *opts, text))
    if ev["ids"] != want:
        fail("eval %s: ids %s, want %s" % (" ".join(opts), ev["ids"], want))
sys.exit(1 if fails else 0)
