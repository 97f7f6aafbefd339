"""test_fp8.py — FP8 Hugging Face weights (safetensors F8_E4M3 with 128 x 128 block scales in
`<name>_scale_inv`, DeepSeek-V3's layout) against an independent decoder written here in numpy
from the OCP e4m3fn bit layout (sign, 4 exponent bits of bias 7, 3 mantissa bits; exponent 0
subnormal; s1111111 NaN), not moescope's C code.

A `make-model --arch deepseek2 --format hf --type F8_E4M3` folder (V3 router, q low-rank,
matrices of 128-multiple and ragged sizes so blocks are both full and partial) gets every
finite FP8 code (0x00-0x7e, 0x80-0xfe) written into one of its matrices; this script decodes
every FP8 tensor x its block scales to float32 and writes an F32 folder of the same model.
moescope must give bit-identical routes (ids and weights) and next-token probabilities on the
two folders: the FP8 path dequantizes tile by tile through the same kernel, so any decoding or
scale-indexing difference shows. Also: a missing or misshapen `_scale_inv` is refused with one
error line (exit 2), and make-model refuses F8_E4M3 for GGUF.

usage: test_fp8.py MOESCOPE WORK_DIR
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

import mstest

MS, WORK = sys.argv[1:3]
mstest.fresh_dir(WORK)
fails = []
run = mstest.runner(MS, fails, show=3, tail=1500)


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack_from("<Q", b, 0)[0]
    hdr = json.loads(b[8:8 + n])
    return hdr, b[8 + n:]


def write_st(path, tensors):
    """tensors: {name: float32 array}"""
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        hdr[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def e4m3_decode(u8):
    """OCP FP8 E4M3 (e4m3fn) bytes -> float64, from the bit layout."""
    u = u8.astype(np.int64)
    s, e, m = (u >> 7) & 1, (u >> 3) & 15, u & 7
    v = np.where(e == 0, m / 8.0 * 2.0 ** -6, (1.0 + m / 8.0) * np.exp2(e - 7.0))
    v = np.where((e == 15) & (m == 7), np.nan, v)
    return np.where(s == 1, -v, v)


def bf16_decode(raw):
    return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)


# the decoder itself on known values (OCP spec table)
known = {0x00: 0.0, 0x01: 2.0 ** -9, 0x07: 7 * 2.0 ** -9, 0x08: 2.0 ** -6, 0x38: 1.0,
         0x3c: 1.5, 0x7e: 448.0, 0xb8: -1.0, 0xfe: -448.0, 0x40: 2.0, 0x30: 0.5}
for k, want in known.items():
    got = e4m3_decode(np.array([k], dtype=np.uint8))[0]
    if got != want:
        fails.append("numpy decoder: 0x%02x gives %r, want %r" % (k, got, want))

f8 = os.path.join(WORK, "f8.hf")
run("make-model", "--arch", "deepseek2", "--format", "hf", "--type", "F8_E4M3", "--out", f8,
    "--experts", "16", "--k", "4", "--d-model", "256", "--ff", "96", "--layers", "3",
    "--heads", "4", "--head-dim", "64", "--rope-dim", "32", "--kv-lora", "160", "--q-lora",
    "192", "--dense-lead", "1", "--sigmoid-router", "--groups", "4", "--groups-used", "2",
    "--expert-norm", "--seed", "9", "-q")
st = os.path.join(f8, "model.safetensors")
if not fails:
    hdr, data = read_st(st)
    dtypes = {}
    for name, e in hdr.items():
        if name != "__metadata__":
            dtypes[e["dtype"]] = dtypes.get(e["dtype"], 0) + 1
    if not dtypes.get("F8_E4M3") or dtypes.get("F32", 0) != dtypes["F8_E4M3"]:
        fails.append("F8 folder: dtypes %s (want F8 matrices, one F32 scale each)" % dtypes)
    # every finite code into one matrix (its scales stay as written)
    victim = "model.layers.1.self_attn.o_proj.weight"
    o0, o1 = hdr[victim]["data_offsets"]
    codes = bytes([c for c in range(256) if c not in (0x7F, 0xFF)])
    if o1 - o0 < len(codes):
        fails.append("victim matrix too small")
    data = bytearray(data)
    data[o0:o0 + len(codes)] = codes
    n = struct.unpack_from("<Q", open(st, "rb").read(), 0)[0]
    with open(st, "r+b") as f:
        f.seek(8 + n)
        f.write(bytes(data))
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__" or name.endswith("_scale_inv"):
            continue
        a0, a1 = e["data_offsets"]
        raw = bytes(data[a0:a1])
        shape = e["shape"]
        if e["dtype"] == "BF16":
            out[name] = bf16_decode(raw).reshape(shape)
        elif e["dtype"] == "F32":
            out[name] = np.frombuffer(raw, dtype="<f4").reshape(shape)
        elif e["dtype"] == "F8_E4M3":
            q = e4m3_decode(np.frombuffer(raw, dtype=np.uint8)).astype(np.float32).reshape(shape)
            se = hdr[name + "_scale_inv"]
            s0, s1 = se["data_offsets"]
            sc = np.frombuffer(bytes(data[s0:s1]), dtype="<f4").reshape(se["shape"])
            full = np.repeat(np.repeat(sc, 128, axis=0), 128, axis=1)[:shape[0], :shape[1]]
            out[name] = (q * full.astype(np.float32)).astype(np.float32)
        else:
            fails.append("unexpected dtype %s of %s" % (e["dtype"], name))
    ref = os.path.join(WORK, "f32.hf")
    os.makedirs(ref)
    for fn in os.listdir(f8):
        if fn != "model.safetensors":
            shutil.copy(os.path.join(f8, fn), ref)
    write_st(os.path.join(ref, "model.safetensors"), out)

    prompt = os.path.join(WORK, "p.txt")
    with open(prompt, "w") as f:
        f.write("The river valley floods every spring; farmers built terraces.\nx = [1, 2, 3]\n")
    ra = run("route", "--model", f8, "--file", prompt, "--json", "--threads", "2").stdout
    rb = run("route", "--model", ref, "--file", prompt, "--json", "--threads", "2").stdout
    ja, jb = json.loads(ra or "{}"), json.loads(rb or "{}")
    if not ja.get("tokens") or ja.get("tokens") != jb.get("tokens") or \
            ja.get("layers") != jb.get("layers"):
        fails.append("routes of the FP8 folder and its numpy-decoded F32 copy differ")
    ea = run("eval", "--model", f8, "--file", prompt, "--json", "--top", "100").stdout
    eb = run("eval", "--model", ref, "--file", prompt, "--json", "--top", "100").stdout
    if not ea or json.loads(ea).get("top") != json.loads(eb or "{}").get("top"):
        fails.append("next-token probabilities of the FP8 folder and the F32 copy differ")
    print("FP8 vs numpy-decoded F32: %d tokens x %d layers routed, identical: %s" %
          (len(ja.get("tokens", [])), len(ja.get("layers", [])), not fails))

    # bad FP8 folders: one error line, exit 2
    def bad_copy(tag, edit_hdr):
        d = os.path.join(WORK, tag)
        shutil.copytree(f8, d)
        h2 = json.loads(json.dumps(hdr))
        edit_hdr(h2)
        hb = json.dumps(h2).encode()
        hb += b" " * ((-len(hb)) % 8)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(struct.pack("<Q", len(hb)) + hb + bytes(data))
        return d

    def expect(tag, d, sub):
        r = run("inspect", "--no-tensors", d, rc=2)
        lines = r.stderr.strip().splitlines()
        if len(lines) != 1 or sub not in lines[0] or "Sanitizer" in r.stderr:
            fails.append("%s: want one error line with %r, got %r" % (tag, sub, r.stderr))
        print("%-22s %s" % (tag, lines[0] if lines else "(none)"))

    sname = "model.layers.2.mlp.experts.3.up_proj.weight_scale_inv"
    expect("no scale", bad_copy("noscale", lambda h: h.update({sname + "x": h.pop(sname)})),
           sname)

    def reshape(h):
        h[sname]["shape"] = list(reversed(h[sname]["shape"]))
    expect("scale shape", bad_copy("scaleshape", reshape), sname)

    def neg(h):  # the scale tensor's bytes now point at a BF16 norm: F32 of them is garbage
        h[sname]["dtype"] = "BF16"
        h[sname]["shape"] = [h[sname]["shape"][0], h[sname]["shape"][1] * 2]
    expect("scale dtype/shape", bad_copy("scalebf", neg), sname)
    r = run("make-model", "--arch", "deepseek2", "--type", "F8_E4M3", "--out",
            os.path.join(WORK, "x.gguf"), rc=2)

for f_ in fails:
    print("FAIL:", f_)
print("%d failure(s)" % len(fails))
sys.exit(1 if fails else 0)
