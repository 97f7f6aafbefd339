"""test_deepseek_corrupt.py — bad `deepseek` GGUF files and refused requests: each must give
exit status 2 and exactly one line "moescope: error: ..." naming the file (or option) and the
problem, never a crash (under ASan/UBSan this is the sanitizer check of the DeepSeek loader).

The files are edits of a `make-model --arch deepseek` fixture by a small GGUF rewriter below
(no gguf-py needed): a missing or out-of-range DeepSeek key, a missing shared-expert or dense
tensor, shared-expert tensors of another width than expert_shared_count x expert width.
Also: an HF folder / HF fixture of the family (GGUF only for now) and --dense-lead >= layers.

usage: test_deepseek_corrupt.py MOESCOPE WORKDIR
"""
import json
import os
import struct
import sys

import mstest

MS, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
failures = []

# --- a minimal GGUF v3 reader/writer: keys as (name, type, raw value bytes) ---------------
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_value(b, o, t):
    if t in SIZES:
        return o + SIZES[t]
    if t == 8:
        n = struct.unpack_from("<Q", b, o)[0]
        return o + 8 + n
    if t == 9:
        et, n = struct.unpack_from("<IQ", b, o)
        o += 12
        for _ in range(n):
            o = read_value(b, o, et)
        return o
    raise ValueError("bad type %d" % t)


def read_string(b, o):
    n = struct.unpack_from("<Q", b, o)[0]
    return b[o + 8:o + 8 + n].decode(), o + 8 + n


def parse(path):
    b = open(path, "rb").read()
    magic, ver, nt, nkv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF" and ver == 3
    o, kvs, tis = 24, [], []
    align = 32
    for _ in range(nkv):
        name, o = read_string(b, o)
        t = struct.unpack_from("<I", b, o)[0]
        e = read_value(b, o + 4, t)
        kvs.append([name, t, b[o + 4:e]])
        if name == "general.alignment":
            align = struct.unpack_from("<I", b, o + 4)[0]
        o = e
    for _ in range(nt):
        name, o = read_string(b, o)
        nd = struct.unpack_from("<I", b, o)[0]
        e = o + 4 + 8 * nd + 4 + 8
        tis.append([name, b[o:e]])
        o = e
    data = (o + align - 1) // align * align
    return kvs, tis, b[data:], align


def write(path, kvs, tis, data, align):
    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x

    out = bytearray(struct.pack("<4sIQQ", b"GGUF", 3, len(tis), len(kvs)))
    for name, t, raw in kvs:
        out += s(name) + struct.pack("<I", t) + raw
    for name, raw in tis:
        out += s(name) + raw
    out += b"\0" * ((-len(out)) % align)
    with open(path, "wb") as f:
        f.write(out + data)


def variant(base, out, drop_keys=(), set_keys=None, drop_tensors=()):
    kvs, tis, data, align = parse(base)
    kvs = [kv for kv in kvs if kv[0] not in drop_keys]
    for kv in kvs:
        if set_keys and kv[0] in set_keys:
            kv[1], kv[2] = set_keys[kv[0]]
    tis = [ti for ti in tis if ti[0] not in drop_tensors]
    write(out, kvs, tis, data, align)
    return out


# --- the checks ---------------------------------------------------------------------------
def run(*args):
    return mstest.run_bytes(MS, *args)


def expect(name, args, substring, target):
    mstest.expect_error(MS, failures, name, args, substring, target)


def expect_files(cases, also_eval):
    """cases: (name, file, problem): `inspect` of each file is refused; the case named also_eval
    is refused by `eval` too (the forward pass, not only inspect)."""
    for name, path, sub in cases:
        expect(name, ["inspect", "--no-tensors", path], sub, path)
        if name == also_eval:
            expect(name + " (eval)", ["eval", "--model", path, "hello"], sub, path)


def result(what):
    """The exit status: the failures, or "all <what> corrupt-file checks passed"."""
    if failures:
        print("\n".join(failures))
        return 1
    print("all %s corrupt-file checks passed" % what)
    return 0


def make(out, *extra):
    r = run("make-model", "--arch", "deepseek", "--out", out, "--d-model", "16", "--heads", "2",
            "--kv-heads", "1", "--ff", "8", "--experts", "8", "--k", "2", "--layers", "3",
            "--dense-lead", "1", "--shared-experts", "2", "--type", "F16", "-q", *extra)
    if r.returncode != 0:
        sys.exit("make-model %s failed: %s" % (out, r.stderr.decode()))


def main():
    base = os.path.join(WORK, "base.gguf")
    make(base)
    r = run("inspect", "--no-tensors", base)
    out = r.stdout.decode()
    if r.returncode != 0 or "no gate" not in out or "dense MLP layers (ff 16): 0;" not in out:
        sys.exit("base fixture does not open as expected: %s%s" % (out, r.stderr.decode()))
    three = os.path.join(WORK, "shared3.gguf")
    make(three, "--shared-experts", "3")

    def v(tag, **kw):
        return variant(base, os.path.join(WORK, tag + ".gguf"), **kw)

    u32 = lambda x: (4, struct.pack("<I", x))  # noqa: E731
    f32 = lambda x: (6, struct.pack("<f", x))  # noqa: E731
    cases = [
        ("no shared count", v("noshc", drop_keys={"deepseek.expert_shared_count"}),
         "deepseek.expert_shared_count"),
        ("shared count 0", v("shc0", set_keys={"deepseek.expert_shared_count": u32(0)}),
         "deepseek.expert_shared_count"),
        ("dense lead = layers", v("lead3", set_keys={"deepseek.leading_dense_block_count":
                                                     u32(3)}),
         "deepseek.leading_dense_block_count"),
        ("weights scale < 0", v("wsneg", set_keys={"deepseek.expert_weights_scale": f32(-1.0)}),
         "deepseek.expert_weights_scale"),
        ("weights scale NaN", v("wsnan", set_keys={"deepseek.expert_weights_scale":
                                                   f32(float("nan"))}),
         "deepseek.expert_weights_scale"),
        ("no shared down", v("noshd", drop_tensors={"blk.2.ffn_down_shexp.weight"}),
         "blk.2.ffn_down_shexp.weight"),
        ("no dense up", v("noffnup", drop_tensors={"blk.0.ffn_up.weight"}),
         "blk.0.ffn_up.weight"),
        ("no router of layer 1", v("norouter", drop_tensors={"blk.1.ffn_gate_inp.weight"}),
         "blk.1.ffn_gate_inp.weight"),
        ("shared width != count", variant(three, os.path.join(WORK, "sh3as2.gguf"),
                                          set_keys={"deepseek.expert_shared_count": u32(2)}),
         "ffn_gate_shexp"),
        ("no dense width", v("noff", drop_keys={"deepseek.feed_forward_length"}),
         "deepseek.feed_forward_length"),
    ]
    expect_files(cases, "no shared down")

    # requests refused before any file is written
    hf = os.path.join(WORK, "ds.hf")
    expect("hf fixture", ["make-model", "--arch", "deepseek", "--format", "hf", "--out", hf],
           "GGUF only", hf)
    if os.path.exists(hf):
        failures.append("hf fixture: folder %s was created" % hf)
    expect("dense lead >= layers",
           ["make-model", "--arch", "deepseek", "--out", os.path.join(WORK, "x.gguf"),
            "--layers", "2", "--dense-lead", "2"], "leading dense layers", "fixture")
    expect("dense lead not deepseek",
           ["make-model", "--arch", "olmoe", "--out", os.path.join(WORK, "y.gguf"),
            "--dense-lead", "1"], "leading dense layers", "fixture")
    # an HF folder of the family: refused by name
    folder = os.path.join(WORK, "hfdir")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"architectures": ["DeepseekForCausalLM"], "model_type": "deepseek",
                   "vocab_size": 100, "hidden_size": 16}, f)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 2) + b"{}")
    expect("hf folder", ["inspect", "--no-tensors", folder], "unsupported architecture",
           "config.json")

    return result("deepseek")


if __name__ == "__main__":
    sys.exit(main())
