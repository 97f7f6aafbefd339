"""Bit-exact checks of moescope's weight types (engine/quant.c, through the test_quant tool)
against two independent implementations from llama.cpp's source bundle:
  1. gguf-py's numpy quants (gguf/quants.py): dequantization of every type we read, and
     quantization where gguf-py has a quantizer (BF16, F16 via numpy, Q4_0, Q4_1, Q5_0,
     Q5_1, Q8_0, MXFP4);
  2. ggml's reference C code (ggml/src/ggml-quants.c), compiled here: quantize_row_*_ref
     for all our quantized types (this is the only oracle for the K-quant quantizers) and
     dequantize_row_* once more.
Inputs are random blocks with scales that include negative, zero, subnormal, huge, inf and
NaN halves, and random floats at several magnitudes with zeros, ties and outliers.
Usage: quant_oracle.py TEST_QUANT_TOOL TESTS_DIR WORK_DIR"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_llama_src  # noqa: E402

tool, tests_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
np, gguf, src = gguf_llama_src.import_gguf(tests_dir, os.path.join(work, ".."))
Q = gguf.GGMLQuantizationType
np.seterr(all="ignore")  # NaN/inf scales are part of the input on purpose
os.makedirs(work, exist_ok=True)

# name -> (block elems, block bytes, byte offsets of fp16 scale fields)
TYPES = {
    "F32": (1, 4, []), "F16": (1, 2, []), "BF16": (1, 2, []),
    "Q4_0": (32, 18, [0]), "Q4_1": (32, 20, [0, 2]), "Q5_0": (32, 22, [0]),
    "Q5_1": (32, 24, [0, 2]), "Q8_0": (32, 34, [0]),
    "Q2_K": (256, 84, [80, 82]), "Q3_K": (256, 110, [108]), "Q4_K": (256, 144, [0, 2]),
    "Q5_K": (256, 176, [0, 2]), "Q6_K": (256, 210, [208]),
    "MXFP4": (32, 17, []),  # E8M0 exponent byte: every pattern 0..255 is meaningful
}
failures = []
rng = np.random.default_rng(20240601)


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        gguf_llama_src.fail("%s exited %d: %s" % (cmd, r.returncode, r.stdout.decode(errors="replace")))


def ours(mode, tname, data, out_dtype):
    i, o = os.path.join(work, "in.bin"), os.path.join(work, "out.bin")
    data.tofile(i)
    run([tool, mode, tname, i, o])
    return np.fromfile(o, dtype=out_dtype)


def ggml_ref(mode, tname, data, out_dtype):
    i, o = os.path.join(work, "rin.bin"), os.path.join(work, "rout.bin")
    data.tofile(i)
    run([ref_exe, mode, tname, i, o])
    return np.fromfile(o, dtype=out_dtype)


def same_f32(a, b):
    """Bitwise equal, except that any NaN matches any NaN (payload propagation order is
    not part of the format)."""
    if a.shape != b.shape:
        return False
    ab, bb = a.view(np.uint32), b.view(np.uint32)
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all((ab == bb) | both_nan))


def report(what, ok, detail=""):
    print("%-48s %s %s" % (what, "ok" if ok else "MISMATCH", detail))
    if not ok:
        failures.append(what)


def special_halves(n):
    """n fp16 bit patterns: mostly ordinary magnitudes of both signs, plus edge values."""
    h = (rng.standard_normal(n) * 0.05).astype(np.float16).view(np.uint16).copy()
    edge = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF,
                     0x3C00, 0xBC00, 0x7C00, 0xFC00, 0x7E00, 0x1000], dtype=np.uint16)
    pick = rng.random(n) < 0.15
    h[pick] = edge[rng.integers(0, len(edge), pick.sum())]
    return h


def random_blocks(tname, n_blocks):
    blck, bb, scale_offs = TYPES[tname]
    raw = rng.integers(0, 256, size=(n_blocks, bb), dtype=np.uint8)
    if tname == "F32":
        v = (rng.standard_normal(n_blocks) * 10).astype(np.float32)
        v[::17] = np.float32("inf")
        v[5::19] = -0.0
        return v.view(np.uint8).reshape(n_blocks, 4)
    if tname == "F16":
        return special_halves(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    if tname == "BF16":
        return raw  # every bit pattern, including NaNs and subnormals
    for off in scale_offs:
        raw[:, off:off + 2] = special_halves(n_blocks).view(np.uint8).reshape(n_blocks, 2)
    return raw


def random_floats(n, kind):
    x = rng.standard_normal(n).astype(np.float32)
    if kind == 0:
        return x
    if kind == 1:
        return x * np.float32(1e-4)
    if kind == 2:
        return (x * 300 + 17).astype(np.float32)
    if kind == 3:  # sparse, with zero blocks and exact ties/repeats
        x[rng.random(n) < 0.5] = 0
        x[:64] = 0
        x[64:96] = np.float32(0.5)
        x[96:128] = np.round(x[96:128] * 4) / 4
        return x
    if kind == 4:  # outliers
        x[rng.integers(0, n, n // 50)] *= 100
        return x
    return np.abs(x)  # all positive


# --- ggml reference harness ------------------------------------------------------------
ref_exe = os.path.join(work, "quant_ggml_ref")
ggml = os.path.join(src, "ggml")
cc = os.environ.get("CC", "cc")
r = subprocess.run([cc, "-std=gnu11", "-O1", "-ffp-contract=off", "-w",
                    "-I" + os.path.join(ggml, "include"), "-I" + os.path.join(ggml, "src"),
                    "-o", ref_exe, os.path.join(tests_dir, "quant_ggml_ref.c"),
                    os.path.join(ggml, "src", "ggml-quants.c"), "-lm"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if r.returncode != 0:
    gguf_llama_src.fail("cannot compile ggml-quants.c: %s" % r.stdout.decode(errors="replace")[-2000:])

# --- dequantization ----------------------------------------------------------------------
N_BLOCKS = 512
for tname, (blck, bb, _) in TYPES.items():
    blocks = random_blocks(tname, N_BLOCKS)
    mine = ours("deq", tname, blocks.reshape(-1), np.float32)
    theirs = gguf.quants.dequantize(blocks.reshape(1, -1), Q[tname]).reshape(-1).astype(np.float32)
    report("dequantize %s vs gguf-py (%d blocks)" % (tname, N_BLOCKS), same_f32(mine, theirs))
    if tname not in ("F32", "F16", "BF16"):
        ref = ggml_ref("deq", tname, blocks.reshape(-1), np.float32)
        report("dequantize %s vs ggml-quants.c" % tname, same_f32(mine, ref))

# --- quantization ------------------------------------------------------------------------
N = 256 * 32
for kind in range(6):
    x = random_floats(N, kind)
    for tname in ("F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "MXFP4"):
        mine = ours("quant", tname, x, np.uint8)
        theirs = np.ascontiguousarray(gguf.quants.quantize(x.reshape(1, -1), Q[tname])).view(np.uint8).reshape(-1)
        nbad = int(np.sum(mine != theirs)) if mine.shape == theirs.shape else -1
        report("quantize %s vs gguf-py (input kind %d)" % (tname, kind), nbad == 0,
               "" if nbad == 0 else "(%d bytes differ)" % nbad)
    for tname in ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                  "MXFP4"):
        mine = ours("quant", tname, x, np.uint8)
        ref = ggml_ref("quant", tname, x, np.uint8)
        nbad = int(np.sum(mine != ref)) if mine.shape == ref.shape else -1
        report("quantize %s vs ggml-quants.c (input kind %d)" % (tname, kind), nbad == 0,
               "" if nbad == 0 else "(%d bytes differ)" % nbad)

# MXFP4's exponent for tiny blocks: floor(log2(amax)) - 2 + 127 is negative below 2^-125
# and ggml's float-to-uint8 conversion wraps it (the low byte of the int32); blocks at every
# scale from subnormal to huge, and with exact powers of two as amax.
x = rng.standard_normal(32 * 400).astype(np.float32).reshape(400, 32)
x *= np.float32(2.0) ** rng.integers(-150, 120, size=(400, 1)).astype(np.float32)
x[::7, 0] = np.float32(2.0) ** rng.integers(-149, 127, size=x[::7].shape[0]).astype(np.float32)
x = x.reshape(-1)
mine = ours("quant", "MXFP4", x, np.uint8)
ref = ggml_ref("quant", "MXFP4", x, np.uint8)
nbad = int(np.sum(mine != ref)) if mine.shape == ref.shape else -1
report("quantize MXFP4 vs ggml-quants.c (2^-150..2^120)", nbad == 0,
       "" if nbad == 0 else "(%d bytes differ)" % nbad)

if failures:
    print("%d checks failed: %s" % (len(failures), ", ".join(failures)), file=sys.stderr)
    sys.exit(1)
print("all quant oracle checks passed")
