"""test_mxfp4_files.py — GGUF files with MXFP4 tensors (ggml type 39) through the model loader,
without llama.cpp (the oracle comparisons are test_mxfp4_oracle.py's):

  - `make-model --type MXFP4` stores exactly the routed experts as MXFP4 (stacked and
    per-expert layouts), `inspect` names the type, and `route` runs on both layouts and
    gives the same routes (the same weights, stored two ways);
  - bad files are refused with one error line naming the file and exit status 2: an MXFP4
    tensor whose rows are not whole 32-element blocks, one whose data runs past the end of
    the file, and an MXFP4 expert tensor whose size disagrees with its neighbours.

usage: test_mxfp4_files.py MOESCOPE WORK_DIR
"""
import os
import shutil
import struct
import subprocess
import sys

MOESCOPE, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
os.makedirs(WORK, exist_ok=True)
failures = []

# GGUF value types -> fixed sizes (string 8 and array 9 are handled apart)
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def run(args):
    return subprocess.run([MOESCOPE] + args, capture_output=True, text=True)


def check(what, ok, detail=""):
    print("%-64s %s %s" % (what, "ok" if ok else "FAIL", detail))
    if not ok:
        failures.append(what)


def tensor_infos(path):
    """[(name, dims, type, offset of the type field in the file)] of a GGUF v3 file."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:4] == b"GGUF"
    n_t, n_kv = struct.unpack_from("<QQ", b, 8)
    p = 24

    def skip_str(p):
        (n,) = struct.unpack_from("<Q", b, p)
        return p + 8 + n

    def skip_val(vt, p):
        if vt == 8:
            return skip_str(p)
        if vt == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            if et == 8:
                for _ in range(n):
                    p = skip_str(p)
                return p
            return p + n * SIZES[et]
        return p + SIZES[vt]

    for _ in range(n_kv):
        p = skip_str(p)
        (vt,) = struct.unpack_from("<I", b, p)
        p = skip_val(vt, p + 4)
    out = []
    for _ in range(n_t):
        (n,) = struct.unpack_from("<Q", b, p)
        name = b[p + 8:p + 8 + n].decode()
        p += 8 + n
        (nd,) = struct.unpack_from("<I", b, p)
        dims = list(struct.unpack_from("<%dQ" % nd, b, p + 4))
        dims_off = p + 4
        p += 4 + 8 * nd
        (ty,) = struct.unpack_from("<I", b, p)
        out.append((name, dims, ty, p, dims_off))
        p += 12
    return out


def patched(src, dst, edits):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        for off, data in edits:
            f.seek(off)
            f.write(data)
    return dst


def expect_refused(what, path):
    r = run(["route", "--model", path, "Hello world"])
    lines = r.stderr.strip().splitlines()
    ok = r.returncode == 2 and len(lines) == 1 and os.path.basename(path) in lines[0] and \
        r.stdout == ""
    check(what, ok, "(exit %d: %s)" % (r.returncode, r.stderr.strip()[:200]))


common = ["--type", "MXFP4", "--experts", "8", "--k", "2", "--d-model", "64", "--ff", "96",
          "--layers", "2", "--seed", "5", "-q"]
stacked = os.path.join(WORK, "stacked.gguf")
per = os.path.join(WORK, "per-expert.gguf")
r1 = run(["make-model", "--out", stacked] + common)
r2 = run(["make-model", "--out", per, "--per-expert-tensors"] + common)
check("make-model --type MXFP4 (both layouts)", r1.returncode == 0 and r2.returncode == 0,
      r1.stderr + r2.stderr)

for path, n_expected in ((stacked, 3 * 2), (per, 3 * 2 * 8)):
    infos = tensor_infos(path)
    mx = [t for t in infos if t[2] == 39]
    expert_names = [t[0] for t in infos if "_exps." in t[0] or
                    any(t[0].startswith("blk.%d.ffn_%s." % (l, w)) and t[0].count(".") == 4
                        for l in range(2) for w in ("gate", "up", "down"))]
    check("%s: MXFP4 on exactly the %d expert tensors" % (os.path.basename(path), n_expected),
          len(mx) == n_expected and sorted(t[0] for t in mx) == sorted(expert_names),
          "(%d MXFP4)" % len(mx))
    r = run(["inspect", path])
    check("%s: inspect names MXFP4" % os.path.basename(path),
          r.returncode == 0 and "MXFP4: %d tensors" % n_expected in r.stdout)

ra = run(["route", "--model", stacked, "The quick brown fox jumps over the lazy dog"])
rb = run(["route", "--model", per, "The quick brown fox jumps over the lazy dog"])
check("route: stacked and per-expert MXFP4 layouts agree",
      ra.returncode == 0 and rb.returncode == 0 and ra.stdout == rb.stdout and
      ra.stdout.count("L1:") >= 10, (ra.stderr + rb.stderr)[:200])

infos = {t[0]: t for t in tensor_infos(stacked)}
gate = infos["blk.0.ffn_gate_exps.weight"]  # dims {d_model 64, ff 96, E 8}
# rows of 48 elements: not whole blocks of 32 (and the ff dim grown so the byte count stays)
expect_refused("refused: MXFP4 row of 48 elements (not whole 32-blocks)",
               patched(stacked, os.path.join(WORK, "bad-row.gguf"),
                       [(gate[4], struct.pack("<Q", 48)), (gate[4] + 8, struct.pack("<Q", 192))]))
# the last tensor's data made to run past the end: truncate the file
last = os.path.join(WORK, "truncated.gguf")
shutil.copyfile(stacked, last)
with open(last, "r+b") as f:
    f.truncate(os.path.getsize(stacked) - 1000)
expect_refused("refused: file truncated inside tensor data", last)
# an expert tensor whose expert count disagrees with the others (E 8 -> 4)
expect_refused("refused: MXFP4 expert tensor with 4 experts of 8",
               patched(stacked, os.path.join(WORK, "bad-e.gguf"),
                       [(gate[4] + 16, struct.pack("<Q", 4))]))

if failures:
    print("%d check(s) failed: %s" % (len(failures), "; ".join(failures)), file=sys.stderr)
    sys.exit(1)
print("all MXFP4 file checks passed")
