#!/usr/bin/python3
"""test_tokenizer_o200k_cli.py MOESCOPE WORK — `moescope tokenize` on GPT-OSS's o200k vocabulary
(WORK/o200k.gguf and the folder WORK/o200k, from tests/o200k_vocab.py): a harmony chat
transcript gives js-tiktoken's ids with --special (allowedSpecial "all": the special tokens as
single ids) and its plain-text ids without (WORK/refs/tiktoken*.inp/.out, written by
tokenize_o200k_oracle.mjs); no BOS is added (gpt-oss adds none); --pieces shows the special
tokens as their text; --describe names BOS and EOS; --special changes nothing on text without
special-token text. Exit 77 when the references are missing."""
import json
import os
import subprocess
import sys

import mstest

moescope, work = sys.argv[1:3]
REFS = mstest.O200kRefs(work)
TRANSCRIPT = REFS.TRANSCRIPT
ref_ids = REFS.ids


def run(*args):
    r = subprocess.run([moescope, "tokenize"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode:
        fail("moescope tokenize %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.decode()))
        return ""
    return r.stdout.decode("utf-8")


fails = 0


def fail(msg):
    global fails
    print("FAIL: " + msg)
    fails += 1


def check(name, want, got):
    if want != got:
        fail("%s\n  want: %s\n  got:  %s" % (name, want, got))


special = ref_ids("tiktoken-special", TRANSCRIPT)
plain = ref_ids("tiktoken", TRANSCRIPT)
if len(special) != 12 or len(plain) <= len(special):
    fail("references: %d special ids, %d plain ids" % (len(special), len(plain)))
for model in (os.path.join(work, "o200k.gguf"), os.path.join(work, "o200k")):
    check(model + " --special", special, run("--model", model, "--special", TRANSCRIPT).split())
    check(model + " --special --no-bos", special,
          run("--model", model, "--special", "--no-bos", TRANSCRIPT).split())
    check(model + " plain", plain, run("--model", model, TRANSCRIPT).split())
    lines = run("--model", model, "--special", "--pieces", TRANSCRIPT).split("\n")
    check(model + " --pieces: <|start|>", special[0] + "\t<|start|>", lines[1])
    check(model + " --pieces: <|return|>", special[-1] + "\t<|return|>", lines[len(special)])
    d = json.loads(run("--model", model, "--describe"))
    check(model + " describe bos/eos/n_vocab", (199998, 200002, 201088, False),
          (d.get("bos"), d.get("eos"), d.get("n_vocab"), d.get("add_bos")))
    text = "No special tokens here: <|start, |>, <|Start|>."
    check(model + " --special without special text", run("--model", model, text),
          run("--model", model, "--special", text))
HINDI = REFS.hindi()
want_tt, want_ll = ref_ids("tiktoken", HINDI), ref_ids("llamacpp", HINDI)
if want_tt == want_ll:
    fail("tiktoken and llama.cpp agree on the combining-mark text: the check below proves nothing")
gguf, folder = os.path.join(work, "o200k.gguf"), os.path.join(work, "o200k")
check("gguf default = llama.cpp", want_ll, run("--model", gguf, HINDI).split())
check("gguf --original-regex = tiktoken", want_tt, run("--model", gguf, "--original-regex", HINDI).split())
check("tokenizer.json = tiktoken", want_tt, run("--model", folder, HINDI).split())
check("tokenizer.json --original-regex = tiktoken", want_tt,
      run("--model", folder, "--original-regex", HINDI).split())
sys.exit(1 if fails else 0)
