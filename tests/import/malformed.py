#!/usr/bin/python3
"""Every malformed input of `moescope import` is refused with exit 2, one error line naming
the file and the array, and no output file (nor a temporary or lock file) left behind; an
existing store at --out is left byte for byte as it was.

usage: malformed.py MOESCOPE WORKDIR
"""
import base64
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np

FAILS = []


def good(rng, T=40, L=2, k=2, E=8):
    ex = np.stack([rng.permutation(E)[:k] for _ in range(T * L)]).reshape(T, L, k)
    return {"tokens": np.arange(T), "experts": ex,
            "weights": np.full((T, L, k), 0.5, np.float32),
            "doc_lengths": np.array([10, 30]), "doc_domain": np.array([0, 1]),
            "domains": np.array(["a", "b"]), "layers": np.array([0, 3])}


def npy_bytes(a, version=(1, 0)):
    b = io.BytesIO()
    np.lib.format.write_array(b, a, version=version, allow_pickle=True)
    return b.getvalue()


def main():
    moescope, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(1)
    g = good(rng)
    base = ["--n-expert", "8", "--n-layers", "4"]
    # a valid store, put at --out before each failing import: it must survive byte for byte
    np.savez(os.path.join(work, "good.npz"), **g)
    r = subprocess.run([moescope, "-q", "import", "--out", "good.h5"] + base + ["good.npz"],
                       cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: the good input is refused: {r.stderr}")
    old_store = open(os.path.join(work, "good.h5"), "rb").read()
    cases = []  # (label, files {name: bytes}, args, words the error must contain)

    def npz_case(label, change, words, args=()):
        a = dict(g)
        change(a)
        b = io.BytesIO()
        np.savez(b, **{k: v for k, v in a.items() if v is not None})
        cases.append((label, {"in.npz": b.getvalue()}, list(args) + ["in.npz"], words))

    def setk(key, val):
        return lambda a: a.__setitem__(key, val)

    npz_case("experts rows != tokens", setk("experts", g["experts"][:-1]), ["experts", "tokens"])
    npz_case("weights shape", setk("weights", g["weights"][:, :1]), ["weights", "shape"])
    npz_case("expert id >= E", setk("experts", np.where(g["experts"] == 0, 8, g["experts"])),
             ["experts", "out-of-range"])
    npz_case("k > E", setk("experts", np.tile(np.arange(9), (40, 2, 1))), ["experts", "k = 9"])
    npz_case("negative id", setk("experts", np.where(g["experts"] == 0, -1, g["experts"])),
             ["experts", "negative"])
    npz_case("float experts", setk("experts", g["experts"].astype(np.float32)),
             ["experts", "not an integer"])
    npz_case("float tokens", setk("tokens", g["tokens"].astype(np.float64)),
             ["tokens", "not an integer"])
    npz_case("int weights", setk("weights", np.ones((40, 2, 2), np.int32)),
             ["weights", "not a floating"])
    npz_case("nan weight", setk("weights", np.where(g["weights"] > 0, np.nan, 0).astype("f4")),
             ["weights", "finite"])
    npz_case("negative token", setk("tokens", np.arange(40) - 1), ["tokens", "negative"])
    npz_case("docs short", setk("doc_lengths", np.array([10, 20])), ["doc_lengths", "40"])
    npz_case("docs long", setk("doc_lengths", np.array([10, 31])), ["doc_lengths", "cover"])
    npz_case("negative doc length", setk("doc_lengths", np.array([-1, 41])), ["doc_lengths"])
    npz_case("doc index gap", lambda a: (a.pop("doc_lengths"), a.__setitem__(
        "doc", np.repeat([0, 2], [10, 30]))), ["doc", "rise by 0 or 1"])
    npz_case("doc index wrong length", lambda a: (a.pop("doc_lengths"), a.__setitem__(
        "doc", np.zeros(39, np.int32))), ["doc", "tokens"])
    npz_case("unknown domain index", setk("doc_domain", np.array([0, 2])),
             ["doc_domain", "unknown"])
    npz_case("negative domain index", setk("doc_domain", np.array([-1, 0])), ["doc_domain"])
    npz_case("doc_domain length", setk("doc_domain", np.array([0])), ["doc_domain"])
    npz_case("repeated expert", setk("experts", np.zeros((40, 2, 2), np.int64)),
             ["experts", "twice"])
    npz_case("unknown array", setk("expert_ids", g["experts"]), ["expert_ids", "unknown array"])
    npz_case("missing tokens", setk("tokens", None), ["tokens", "missing"])
    npz_case("layers descending", setk("layers", np.array([3, 0])), ["layers", "ascending"])
    npz_case("layer beyond model", setk("layers", np.array([0, 4])), ["layers", "4 layers"])
    npz_case("layers length", setk("layers", np.array([0])), ["layers"])
    npz_case("pos not restarting at doc", setk("pos", np.arange(40)), ["pos"])
    npz_case("2-D experts", setk("experts", g["experts"][:, 0, :]), ["experts", "dimensions"])
    npz_case("domains as numbers", setk("domains", np.array([1, 2])), ["domains", "string"])
    npz_case("bad rank_order", setk("rank_order", np.array("best")), ["rank_order"])
    npz_case("weights without experts", lambda a: (a.pop("experts"), a.__setitem__(
        "logits", np.zeros((40, 2, 8), np.float32))), ["weights", "without experts"],
             args=["--k", "2"])
    npz_case("logits not finite", lambda a: a.__setitem__(
        "logits", np.full((40, 2, 8), np.inf, np.float32)), ["logits", "finite"])
    npz_case("logits E differs", lambda a: a.__setitem__(
        "logits", np.zeros((40, 2, 9), np.float32)), ["logits", "9 experts"])
    npz_case("layer subset unnamed", setk("layers", None), ["2 layers", "--layers"])
    npz_case("--out is stdout", lambda a: None, ["stdout"], args=["--out", "-"])
    npz_case("--layers disagrees", lambda a: None, ["--layers"], args=["--layers", "0,2"])

    # .npy level: corrupt files inside an npz and as NAME=FILE.npy
    def raw_case(label, name, data, words):
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w") as zf:
            for k, v in g.items():
                zf.writestr(k + ".npy", data if k == name else npy_bytes(v))
        cases.append((label, {"in.npz": z.getvalue()}, ["in.npz"], words))

    ex = npy_bytes(g["experts"])
    raw_case("truncated npy", "experts", ex[:-5], ["experts", "truncated"])
    raw_case("trailing bytes", "experts", ex + b"\0", ["experts", "bytes"])
    raw_case("bad magic", "experts", b"XNUMPY" + ex[6:], ["experts", "magic"])
    raw_case("fortran order", "experts", npy_bytes(np.asfortranarray(g["experts"])),
             ["experts", "fortran"])
    raw_case("object dtype", "experts", npy_bytes(np.array([1, "x"], dtype=object)),
             ["experts", "object"])
    raw_case("structured dtype", "experts",
             npy_bytes(np.zeros(3, dtype=[("a", "<i4"), ("b", "<f4")])), ["experts", "structured"])
    raw_case("complex dtype", "experts", npy_bytes(np.zeros((40, 2, 2), np.complex64)),
             ["experts", "dtype"])
    hdr = ex.replace(b"'shape': (40, 2, 2)", b"'shape': (40, 2, 2, 'x')", 1)
    raw_case("bad shape literal", "experts", hdr, ["experts", "shape"])
    big = ex.replace(b"'shape': (40, 2, 2)", b"'shape': (9999999999999999999, 2)", 1)
    raw_case("huge shape", "experts", big, ["experts"])
    raw_case("version 9", "experts", ex[:6] + b"\x09" + ex[7:], ["experts", "version"])

    def hdr_case(label, header, words, body=b""):
        """A .npy with this header text (padded as numpy pads it) and data bytes."""
        h = header.encode("latin-1")
        pad = 64 - (10 + len(h) + 1) % 64
        raw = b"\x93NUMPY\x01\x00" + (len(h) + pad + 1).to_bytes(2, "little") + h + \
            b" " * pad + b"\n" + body
        raw_case(label, "experts", raw, ["experts"] + words)

    body = g["experts"].astype("<i8").tobytes()
    hdr_case("header: missing shape", "{'descr': '<i8', 'fortran_order': False, }", ["shape"],
             body)
    hdr_case("header: repeated key",
             "{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (40, 2, 2), }",
             ["repeated"], body)
    hdr_case("header: negative dim",
             "{'descr': '<i8', 'fortran_order': False, 'shape': (-40, 2, 2), }", ["shape"], body)
    hdr_case("header: fortran_order 1",
             "{'descr': '<i8', 'fortran_order': 1, 'shape': (40, 2, 2), }", ["fortran_order"],
             body)
    hdr_case("header: not a dict", "['<i8', False, (40, 2, 2)]", ["dict"], body)
    hdr_case("header: non-ASCII",
             "{'descr': '<i8', 'fortran_order': False, 'shape': (40, 2, 2), 'é': 1}",
             ["ASCII"], body)
    hdr_case("header: escape in string",
             "{'descr': '<i\\8', 'fortran_order': False, 'shape': (40, 2, 2), }", ["descr"],
             body)
    hdr_case("header: 9 dimensions",
             "{'descr': '<i8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,160), }",
             ["8 dimensions"], body)
    hdr_case("header: datetime dtype",
             "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (40, 2, 2), }", ["dtype"],
             body)
    hdr_case("header: 3-byte ints",
             "{'descr': '<i3', 'fortran_order': False, 'shape': (40, 2, 2), }", ["dtype"], body)
    raw_case("header length past the end", "experts",
             b"\x93NUMPY\x01\x00\xff\xff{'descr'", ["experts", "truncated"])
    raw_case("empty member", "experts", b"", ["experts", "magic"])

    def extra_member(label):
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w") as zf:
            for k, v in g.items():
                zf.writestr(k + ".npy", npy_bytes(v))
            zf.writestr("notes.txt", "hello")
        cases.append((label, {"in.npz": z.getvalue()}, ["in.npz"], ["notes.txt", "not a .npy"]))

    extra_member("non-npy member")
    cases.append(("not a zip", {"in.npz": b"PK\x03\x04garbage" * 10}, ["in.npz"], ["in.npz", "zip"]))
    z = io.BytesIO()
    np.savez_compressed(z, **g)
    zb = bytearray(z.getvalue())
    zb[len(zb) // 3] ^= 0xFF
    cases.append(("corrupt deflate", {"in.npz": bytes(zb)}, ["in.npz"], ["in.npz"]))
    cases.append(("npy named twice", {"t.npy": npy_bytes(g["tokens"])},
                  ["tokens=t.npy", "tokens=t.npy"], ["tokens", "twice"]))

    # JSONL
    def jl_case(label, lines, words, args=()):
        text = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
        cases.append((label, {"in.jsonl": text.encode()},
                      ["--layers", "0,3", "--domains", "a,b"] + list(args) + ["in.jsonl"], words))

    ok_line = {"token_ids": [1, 2], "routed_experts": [[[0, 1], [2, 3]], [[4, 5], [6, 7]]],
               "domain": "a"}
    jl_case("jsonl id >= E", [ok_line, dict(ok_line, routed_experts=[[[0, 8], [2, 3]],
                                                                      [[4, 5], [6, 7]]])],
            ["in.jsonl:2", "routed_experts", "out-of-range"])
    jl_case("jsonl negative", [dict(ok_line, routed_experts=[[[0, -1], [2, 3]], [[4, 5], [6, 7]]])],
            ["in.jsonl:1", "negative"])
    jl_case("jsonl rows", [dict(ok_line, token_ids=[1, 2, 3])], ["routed_experts", "rows"])
    jl_case("jsonl unknown domain", [dict(ok_line, domain="c")], ["domain", "not one of"])
    jl_case("jsonl not json", [ok_line, "{nope"], ["in.jsonl:2", "JSON"])
    jl_case("jsonl float id", [dict(ok_line, routed_experts=[[[0, 1.5], [2, 3]],
                                                              [[4, 5], [6, 7]]])],
            ["routed_experts", "integer"])
    b64 = base64.b64encode(np.array([[[0, 1], [2, 3]]], "<i4").tobytes()).decode()
    jl_case("base64 length", [dict(ok_line, routed_experts=b64)], ["routed_experts", "bytes"],
            args=["--k", "2"])
    jl_case("base64 garbage", [dict(ok_line, routed_experts="!!!!")], ["routed_experts", "base64"],
            args=["--k", "2"])
    jl_case("base64 without k", [dict(ok_line, routed_experts=b64)], ["routed_experts", "--k"])
    jl_case("jsonl missing token_ids", [{"routed_experts": [], "domain": "a"}], ["token_ids"])
    jl_case("jsonl k > E", [dict(ok_line, routed_experts=[[[0, 1], [2, 3]], [[4, 5], [6, 7]]])],
            ["k = 2", "E = 1"], args=["--n-expert", "1"])

    # --model config.json: its E, layers and vocabulary bound the arrays
    def cfg_case(label, cfg, words):
        b = io.BytesIO()
        np.savez(b, **g)
        cases.append((label, {"in.npz": b.getvalue(), "config.json": json.dumps(cfg).encode()},
                      ["--model", "config.json", "in.npz"], words))

    mix = {"model_type": "mixtral", "num_local_experts": 8, "num_experts_per_tok": 2,
           "num_hidden_layers": 4, "vocab_size": 32000}
    cfg_case("token beyond vocabulary", dict(mix, vocab_size=30), ["tokens", "vocabulary"])
    cfg_case("ids beyond config E", dict(mix, num_local_experts=4), ["experts", "E"])
    cfg_case("config k differs", dict(mix, num_experts_per_tok=1), ["experts", "k is 2"])
    cfg_case("layer beyond config", dict(mix, num_hidden_layers=3), ["layers", "3 layers"])
    cfg_case("config without MoE keys", {"model_type": "llama"}, ["config.json", "MoE"])

    n = 0
    for label, files, args, words in cases:
        d = os.path.join(work, f"case{n:02d}")
        n += 1
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        # an existing store at --out must survive untouched; a fresh name must not appear
        for out, keep in (("new.h5", None), ("old.h5", old_store)):
            outp = os.path.join(d, out)
            if keep is not None:
                with open(outp, "wb") as f:
                    f.write(keep)
            extra = [] if "--n-expert" in args or "--model" in args else base
            r = subprocess.run([moescope, "import", "--out", out] + extra + args, cwd=d,
                               capture_output=True, text=True)
            lines = r.stderr.strip().splitlines()
            msg = lines[0] if lines else ""
            if r.returncode != 2:
                FAILS.append(f"{label}: exit {r.returncode}, want 2 ({r.stderr.strip()})")
            elif len(lines) != 1 or not msg.startswith("moescope: error: "):
                FAILS.append(f"{label}: not one error line: {r.stderr!r}")
            elif not all(w in msg for w in words):
                FAILS.append(f"{label}: message lacks {words}: {msg}")
            left = sorted(set(os.listdir(d)) - set(files) - {"old.h5"})
            if left:
                FAILS.append(f"{label}: left files behind: {left}")
            if keep is not None and open(outp, "rb").read() != keep:
                FAILS.append(f"{label}: the existing --out was changed")
        print(f"{label}: {msg}")
    # --out is an input (by inode, under another spelling): refused, input intact
    d = os.path.join(work, "same")
    os.makedirs(d)
    np.savez(os.path.join(d, "in.npz"), **g)
    before = open(os.path.join(d, "in.npz"), "rb").read()
    r = subprocess.run([moescope, "import", "--out", "./in.npz"] + base + ["in.npz"], cwd=d,
                       capture_output=True, text=True)
    if r.returncode != 2 or "same file" not in r.stderr:
        FAILS.append(f"out == input: exit {r.returncode}: {r.stderr.strip()}")
    if open(os.path.join(d, "in.npz"), "rb").read() != before:
        FAILS.append("out == input: the input changed")
    # --out is a user's file that is not a store: refused, untouched
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("precious")
    r = subprocess.run([moescope, "import", "--out", "notes.txt"] + base + ["in.npz"], cwd=d,
                       capture_output=True, text=True)
    if r.returncode != 2 or open(os.path.join(d, "notes.txt")).read() != "precious":
        FAILS.append(f"out is a user's file: exit {r.returncode}: {r.stderr.strip()}")
    # a write that fails (file-size limit, as a full disk): exit 1, no output, old store kept
    import resource
    big = good(rng, T=20000, L=4)
    big["doc_lengths"] = np.array([5000, 15000])
    big["layers"] = np.array([0, 1, 2, 3])
    np.savez(os.path.join(d, "big.npz"), **big)
    with open(os.path.join(d, "old.h5"), "wb") as f:
        f.write(old_store)
    for out in ("fresh.h5", "old.h5"):
        r = subprocess.run([moescope, "import", "--out", out] + base + ["big.npz"], cwd=d,
                           capture_output=True, text=True,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                                 (200000, 200000)))
        left = sorted(set(os.listdir(d)) - {"in.npz", "notes.txt", "big.npz", "old.h5"})
        if r.returncode != 1 or len(r.stderr.strip().splitlines()) != 1 or left:
            FAILS.append(f"file-size limit ({out}): exit {r.returncode}, left {left}: "
                         f"{r.stderr.strip()}")
    if open(os.path.join(d, "old.h5"), "rb").read() != old_store:
        FAILS.append("file-size limit: the existing store was changed")
    for f in FAILS:
        print("FAIL:", f, file=sys.stderr)
    print(f"{len(cases)} malformed cases")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
