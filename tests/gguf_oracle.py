"""GGUF reader/writer against gguf-py (llama.cpp's independent Python implementation, from
the source bundle), through the test_gguf tool:
  1. the real vocabulary file tests/data/vocab/ggml-vocab-llama-spm.gguf: every key, type and
     value our reader reports equals what gguf-py's GGUFReader reports;
  2. files written by gguf-py's GGUFWriter (every scalar type, string and numeric arrays, a
     nested array, tensors of 1-3 dims in F32/F16/BF16/Q*_0/Q*_1 and K-quant types, default
     and 64-byte alignment, and a copy patched to GGUF v2): our dump equals what was written;
  3. the file our writer makes (test_gguf write): gguf-py's GGUFReader reads every value and
     tensor back as intended, and gguf-py dequantizes the tensors to the written pattern.
Usage: gguf_oracle.py TEST_GGUF_TOOL TESTS_DIR WORK_DIR"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_llama_src  # noqa: E402

tool, tests_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
np, gguf, src = gguf_llama_src.import_gguf(tests_dir, os.path.join(work, ".."))
os.makedirs(work, exist_ok=True)
VT = gguf.GGUFValueType
QT = gguf.GGMLQuantizationType
failures = []


def check(what, ok, detail=""):
    print("%-60s %s %s" % (what, "ok" if ok else "FAIL", detail if not ok else ""))
    if not ok:
        failures.append(what)


def dump(path):
    r = subprocess.run([tool, "dump", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        gguf_llama_src.fail("test_gguf dump %s: %s" % (path, r.stderr.decode(errors="replace")))
    out = {"kv": {}, "tensors": {}}
    for line in r.stdout.decode().splitlines():
        f = line.split(" ")
        if f[0] == "kv":
            out["kv"][bytes.fromhex(f[1]).decode("utf-8")] = (int(f[2]), f[3:])
        elif f[0] == "tensor":
            out["tensors"][f[1]] = f[2:]
        else:
            out[f[0]] = int(f[1])
    return out


def fnv(b):
    h = 1469598103934665603
    for c in b:
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def fmt_scalar(t, v):
    """Our dump's text for a scalar of GGUF value type t."""
    if t == VT.FLOAT32:
        return "0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0]
    if t == VT.FLOAT64:
        return "0x%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if t == VT.BOOL:
        return "1" if v else "0"
    if t == VT.STRING:
        b = v.encode() if isinstance(v, str) else bytes(v)
        return b.hex() if b else "-"
    return str(int(v))


def expected_fields(t, v, sub=None):
    """(type, fields) our dump prints for a value written by gguf-py."""
    if t == VT.ARRAY:
        if sub == VT.ARRAY:
            return (int(t), [str(int(VT.ARRAY)), str(len(v))])
        return (int(t), [str(int(sub)), str(len(v))] + [fmt_scalar(sub, x) for x in v])
    if t == VT.UINT64 and v > 2**63 - 1:
        return (int(t), ["UINT64-OUT-OF-RANGE"])
    return (int(t), [fmt_scalar(t, v)])


# --- 1. the real vocabulary file vs GGUFReader --------------------------------------------
vocab = os.path.join(tests_dir, "data", "vocab", "ggml-vocab-llama-spm.gguf")
ours = dump(vocab)
rd = gguf.GGUFReader(vocab)
n_checked = 0
for name, field in rd.fields.items():
    if name.startswith("GGUF."):
        continue
    t = field.types[0]
    if t == VT.ARRAY:
        sub = field.types[-1]
        if sub == VT.STRING:
            vals = [bytes(field.parts[i]) for i in field.data]
        else:
            vals = [field.parts[i].tolist()[0] for i in field.data]
        exp = expected_fields(t, vals, sub)
    elif t == VT.STRING:
        exp = expected_fields(t, bytes(field.parts[-1]))
    else:
        exp = expected_fields(t, field.parts[-1].tolist()[0])
    got = ours["kv"].get(name)
    ok = got == exp
    n_checked += ok
    if not ok:
        check("vocab key %s" % name, False, "ours %s... theirs %s..." % (str(got)[:80], str(exp)[:80]))
check("vocab: %d keys equal gguf-py's" % n_checked,
      n_checked == len(ours["kv"]) == len([k for k in rd.fields if not k.startswith("GGUF.")]))
check("vocab: version/tensors", ours["version"] == int(rd.fields["GGUF.version"].parts[-1][0])
      and ours["n_tensors"] == len(rd.tensors) == 0)
tok = ours["kv"]["tokenizer.ggml.tokens"][1]
check("vocab: 32000 tokens, token 3 is <0x00>, 29871 is U+2581",
      tok[1] == "32000" and bytes.fromhex(tok[2 + 3]) == b"<0x00>"
      and bytes.fromhex(tok[2 + 29871]) == "\u2581".encode())

# --- 2. files written by gguf-py -----------------------------------------------------------
rng = np.random.default_rng(7)
KV = [  # key, type, value, array subtype
    ("t.u8", VT.UINT8, 250, None), ("t.i8", VT.INT8, -128, None),
    ("t.u16", VT.UINT16, 65535, None), ("t.i16", VT.INT16, -32768, None),
    ("t.u32", VT.UINT32, 4294967295, None), ("t.i32", VT.INT32, -2147483648, None),
    ("t.u64", VT.UINT64, 2**64 - 1, None), ("t.u64small", VT.UINT64, 12345, None),
    ("t.i64", VT.INT64, -2**63, None), ("t.f32", VT.FLOAT32, -3.25, None),
    ("t.f64", VT.FLOAT64, 1.0 / 3.0, None), ("t.bool", VT.BOOL, True, None),
    ("t.bool0", VT.BOOL, False, None), ("t.str", VT.STRING, "caf\u00e9 \u2581x\u0000y", None),
    ("t.arr_str", VT.ARRAY, ["", "\u2581a", "<0x0A>", "z" * 300], VT.STRING),
    ("t.arr_f32", VT.ARRAY, [0.5, -1e-40, 3.0e38], VT.FLOAT32),
    ("t.arr_u16", VT.ARRAY, [1, 65535], VT.UINT16),
    ("t.arr_i64", VT.ARRAY, [-2**63, 2**63 - 1], VT.INT64),
    ("t.arr_f64", VT.ARRAY, [1e300, -0.0], VT.FLOAT64),
    ("t.arr_bool", VT.ARRAY, [True, False], VT.BOOL),
    ("t.nested", VT.ARRAY, [[1, 2], [3]], VT.ARRAY),
]


def tensors():
    out = []
    x = rng.standard_normal((4, 64)).astype(np.float32)
    out.append(("f32.2d", x, QT.F32))
    out.append(("f16.3d", rng.standard_normal((2, 3, 32)).astype(np.float16), QT.F16))
    out.append(("f32.1d", rng.standard_normal(7).astype(np.float32), QT.F32))
    for qt in (QT.BF16, QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1):
        out.append(("q." + qt.name, gguf.quants.quantize(rng.standard_normal((3, 64)).astype(np.float32), qt), qt))
    for qt, bb in ((QT.Q2_K, 84), (QT.Q3_K, 110), (QT.Q4_K, 144), (QT.Q5_K, 176), (QT.Q6_K, 210)):
        out.append(("k." + qt.name, rng.integers(0, 256, (2, 2, bb), dtype=np.uint8), qt))
    return out


def write_py(path, alignment=None):
    w = gguf.GGUFWriter(path, "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    for k, t, v, sub in KV:
        w.add_key_value(k, v, t, sub_type=sub)
    ts = tensors()
    for name, data, qt in ts:
        if qt in (QT.F32, QT.F16):
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return ts


def check_py_file(label, path, ts, alignment, version=3):
    d = dump(path)
    check(label + ": version %d, alignment %d" % (version, alignment),
          d["version"] == version and d["alignment"] == alignment)
    for k, t, v, sub in KV:
        exp = expected_fields(t, v, sub)
        if t == VT.STRING:
            exp = (int(t), [v.encode().hex()])
        if t == VT.ARRAY and sub == VT.STRING:
            exp = (int(t), [str(int(sub)), str(len(v))] + [s.encode().hex() if s else "-" for s in v])
        check(label + ": key " + k, d["kv"].get(k) == exp, "ours %s expected %s" % (d["kv"].get(k), exp))
    rd2 = gguf.GGUFReader(path)
    offs = {t.name: t.data_offset for t in rd2.tensors}
    for name, data, qt in ts:
        got = d["tensors"].get(name)
        blck, bsz = gguf.GGML_QUANT_SIZES[qt]
        shape = list(data.shape)
        if qt not in (QT.F32, QT.F16):
            shape[-1] = shape[-1] // bsz * blck
        ne = list(reversed(shape)) + [1] * (4 - len(shape))
        raw = np.ascontiguousarray(data).tobytes()
        exp = [qt.name, str(len(shape))] + [str(n) for n in ne] + [str(offs[name]), str(len(raw)), fnv(raw)]
        check(label + ": tensor " + name, got == exp, "ours %s expected %s" % (got, exp))
        check(label + ": tensor %s offset aligned" % name, offs[name] % alignment == 0)


ts = write_py(os.path.join(work, "py.gguf"))
check_py_file("gguf-py file", os.path.join(work, "py.gguf"), ts, 32)
ts64 = write_py(os.path.join(work, "py64.gguf"), alignment=64)
check_py_file("gguf-py file, alignment 64", os.path.join(work, "py64.gguf"), ts64, 64)
# GGUF v2 has the v3 layout on little-endian machines: patch the version field.
b = bytearray(open(os.path.join(work, "py.gguf"), "rb").read())
b[4:8] = struct.pack("<I", 2)
open(os.path.join(work, "py-v2.gguf"), "wb").write(b)
d2 = dump(os.path.join(work, "py-v2.gguf"))
check("gguf-py file patched to v2 reads as v2", d2["version"] == 2 and len(d2["tensors"]) == len(ts))

# --- 3. our writer, read by gguf-py ----------------------------------------------------------
ourfile = os.path.join(work, "ours.gguf")
r = subprocess.run([tool, "write", ourfile], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
check("test_gguf write", r.returncode == 0, r.stdout.decode(errors="replace"))
rd3 = gguf.GGUFReader(ourfile)
check("our file: version 3", int(rd3.fields["GGUF.version"].parts[-1][0]) == 3)
EXP = {
    "general.architecture": (VT.STRING, "llama"), "t.u8": (VT.UINT8, 200), "t.i8": (VT.INT8, -100),
    "t.u16": (VT.UINT16, 60000), "t.i16": (VT.INT16, -30000), "t.u32": (VT.UINT32, 4000000000),
    "t.i32": (VT.INT32, -2000000000), "t.u64": (VT.UINT64, 18000000000000000000),
    "t.i64": (VT.INT64, -9000000000000000000), "t.f32": (VT.FLOAT32, np.float32(0.1)),
    "t.f64": (VT.FLOAT64, -1e300), "t.bool": (VT.BOOL, True),
    "t.str": (VT.STRING, "h\u00e9llo \u2581world"), "t.empty": (VT.STRING, ""),
    "t.arr_str": (VT.ARRAY, ["a", "", "\u2581the", "<0x0A>"]),
    "t.arr_f32": (VT.ARRAY, [1.5, -0.0, float(np.float32(3e-39))]),
    "t.arr_i32": (VT.ARRAY, [-1, 0, 2147483647]), "t.arr_u8": (VT.ARRAY, [0, 255]),
    "t.arr_i64": (VT.ARRAY, [-2**63, 2**63 - 1]), "t.arr_f64": (VT.ARRAY, [0.25, -7.0]),
    "t.arr_bool": (VT.ARRAY, [True, False, True]),
}
fields = {k: f for k, f in rd3.fields.items() if not k.startswith("GGUF.")}
check("our file: key set", sorted(fields) == sorted(EXP), str(sorted(fields)))
for k, (t, v) in EXP.items():
    f = fields.get(k)
    got = None if f is None else f.contents()
    ok = f is not None and f.types[0] == t and (got == v or (isinstance(v, list) and
                                                            [str(a) for a in got] == [str(a) for a in v]))
    check("our file: key " + k, ok, "got %r" % (got,))
i = np.arange(512 * 6)
pattern = (((i * 37) % 101 - 50) / 16.0 * (1 + i % 7)).astype(np.float32)
TOL = {"F32": 1e-6, "F16": 2e-3, "BF16": 1e-2, "Q8_0": 0.02, "Q5_0": 0.06, "Q5_1": 0.06,
       "Q4_0": 0.12, "Q4_1": 0.12, "Q6_K": 0.04, "Q5_K": 0.06, "Q4_K": 0.12, "Q3_K": 0.25,
       "Q2_K": 0.45}
names = [t.name for t in rd3.tensors]
check("our file: 14 tensors in order", names[:13] == ["w." + k for k in
      ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")]
      and names[13] == "v.odd")
for t in rd3.tensors:
    check("our file: tensor %s offset aligned to 32" % t.name, t.data_offset % 32 == 0)
    if not t.name.startswith("w."):
        continue
    tn = t.name[2:]
    check("our file: tensor %s type and shape" % t.name,
          t.tensor_type.name == tn and list(t.shape) == [512, 3, 2], "%s %s" % (t.tensor_type.name, list(t.shape)))
    if tn == "F32":
        y = np.asarray(t.data, dtype=np.float32).reshape(-1)
    else:
        y = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(-1).astype(np.float32)
    rel = float(np.sqrt(np.mean((y - pattern) ** 2) / np.mean(pattern ** 2)))
    check("our file: %s dequantized by gguf-py matches (rel rms %.4f)" % (tn, rel), rel <= TOL[tn])
    if tn == "F32":
        check("our file: F32 exact", bool(np.array_equal(y, pattern)))
odd = [t for t in rd3.tensors if t.name == "v.odd"][0]
check("our file: v.odd", list(odd.shape) == [5] and np.array_equal(np.asarray(odd.data).reshape(-1), pattern[:5]))
# gguf_w_copy_kv reproduced every key/value exactly.
dc, do = dump(ourfile + ".copy"), dump(ourfile)
check("gguf_w_copy_kv: every key and value identical", dc["kv"] == do["kv"] and len(dc["kv"]) == 21)

if failures:
    print("%d checks failed" % len(failures), file=sys.stderr)
    sys.exit(1)
print("all gguf oracle checks passed")
