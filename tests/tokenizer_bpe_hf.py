#!/usr/bin/python3
"""tokenizer_bpe_hf.py FORMS.json VOCAB_DIR WORK TEST_TOKENIZER_BPE TEST_TOKENIZER NODE ORACLE_DIR SEEDS

Hugging Face's own tokenizer.json implementation (tokenizers.js) against moescope's reader on
byte-level BPE files: for every form of FORMS.json (a llama.cpp vocabulary with a model
family's real normalizer, pre-tokenizer and ignore_merges), writes WORK/<name>/tokenizer.json
from the GGUF's vocabulary and merges, has tokenizers.js tokenize the seed texts and generated
ones, and checks that ms_tokenize gives the same ids. With MS_HF_SPECIAL=1 in the
environment the same with special-token parsing instead (tokenize_special_oracle.mjs puts the
files' added tokens between seed snippets; MS_TOKENIZE_SPECIAL). Exit 77 when node or its
packages are missing."""
import json
import os
import subprocess
import sys
import unicodedata

forms_path, vocab_dir, work, tool, test_tok, node, oracle, seeds = sys.argv[1:9]
if not os.path.isdir(os.path.join(oracle, "node_modules", "@huggingface", "tokenizers")):
    print("@huggingface/tokenizers is not installed in tests/oracle (npm ci there)")
    sys.exit(77)
forms = json.load(open(forms_path))
dirs = []
for f in forms:
    gguf = os.path.join(vocab_dir, "ggml-vocab-%s.gguf" % f["vocab"])
    if not os.path.exists(gguf):
        print("missing", gguf)
        sys.exit(77)
    d = os.path.join(work, f["name"])
    os.makedirs(d, exist_ok=True)
    if f.get("written"):  # the file ms_tokenizer_write_json writes from the GGUF
        subprocess.run([tool, "writejson", gguf, d], check=True)
    else:
        subprocess.run([tool, "tojson", gguf, d, json.dumps(f["pre_tokenizer"]),
                        json.dumps(f["normalizer"]), "1" if f["ignore_merges"] else "0",
                        f.get("added_flags", "")], check=True)
    dirs.append(d)
if os.environ.get("MS_HF_SPECIAL") == "1":
    # Special-token parsing (MS_TOKENIZE_SPECIAL) against tokenizers.js, which parses them by
    # default: tokenize_special_oracle.mjs puts the files' added tokens between seed snippets.
    bad = 0
    for d in dirs:
        out = os.path.join(d, "special")
        r = subprocess.run([node, os.path.join(oracle, "tokenize_special_oracle.mjs"), d, seeds, out,
                            "150", "7"], cwd=oracle)
        if r.returncode:
            sys.exit(r.returncode)
        bad += subprocess.run([test_tok, "jsonx", "special", os.path.join(d, "tokenizer.json"),
                               out + ".inp", out + ".out"]).returncode != 0
    sys.exit(1 if bad else 0)
r = subprocess.run([node, os.path.join(oracle, "tokenize_hf_oracle.mjs"), seeds, "150", "17"] + dirs,
                   cwd=oracle, env=dict(os.environ, MS_HF_FILTER="special"))
if r.returncode:
    sys.exit(r.returncode)
# tokenizers.js's Digits takes only ASCII digits (JavaScript's \d); the Rust library, which
# transformers runs, takes every \p{N} (char::is_numeric), and so does moescope. Texts with other
# numerals are left out for forms with Digits.
SEP = "\n__ggml_vocab_test__\n"
for f, d in zip(forms, dirs):
    if "Digits" not in json.dumps(f.get("pre_tokenizer")):
        continue
    inp = open(os.path.join(d, "hf.inp"), encoding="utf-8", newline="").read().split(SEP)
    out = open(os.path.join(d, "hf.out"), encoding="utf-8", newline="").read().split("\n")
    keep = [i for i, t in enumerate(inp)
            if not any(ord(c) > 127 and unicodedata.category(c)[0] == "N" for c in t)]
    open(os.path.join(d, "hf.inp"), "w", encoding="utf-8", newline="").write(SEP.join(inp[i] for i in keep))
    open(os.path.join(d, "hf.out"), "w", encoding="utf-8", newline="").write(
        "\n".join(out[i] for i in keep) + "\n")
    print("%s: %d texts with non-ASCII numerals left out (Digits)" % (d, len(inp) - len(keep)))
bad = 0
for d in dirs:
    r = subprocess.run([test_tok, "json", os.path.join(d, "tokenizer.json"),
                        os.path.join(d, "hf.inp"), os.path.join(d, "hf.out")])
    bad += r.returncode != 0
sys.exit(1 if bad else 0)
