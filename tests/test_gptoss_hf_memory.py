"""test_gptoss_hf_memory.py — a GPT-OSS Hugging Face folder with MXFP4 experts (the release's
*_blocks / *_scales tensors) opens without copying its experts: they are read in place from the
mmapped safetensors file, so opening costs what opening the GGUF costs.

A folder whose experts take X bytes (X = the *_blocks and *_scales tensors, read from the
safetensors header here, not from moescope; about 214 MB: 2 layers of 64 experts, d_model 512,
ff 2048) and a tiny one of the same vocabulary are written by `moescope make-model` into
WORK_DIR (deleted at the end). The peak resident set (getrusage ru_maxrss of the child, which
counts the mmapped file pages the process touched as well as its own memory) of
`moescope inspect` on the big folder may exceed the tiny folder's by at most X/8, and that of
`moescope route` on a two-token text (the experts of the few tokens' routes are read) by at
most X/3; inspect says the experts are read in place. A loader that copies (or repacks) the experts at open needs at least X more: the
repacking loader this replaced measured 460 MB for inspect (growth 432 MB, 2.0 X).

usage: test_gptoss_hf_memory.py MOESCOPE WORK_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

MOESCOPE, WORK = (os.path.abspath(a) for a in sys.argv[1:3])
COMMON = ["--arch", "gpt-oss", "--format", "hf", "--type", "MXFP4", "--k", "2", "--layers", "2",
          "--seed", "5", "-q"]
BIG = ["--d-model", "512", "--ff", "2048", "--experts", "64", "--heads", "8", "--kv-heads", "2",
       "--head-dim", "64"]
TINY = ["--d-model", "64", "--ff", "64", "--experts", "4", "--heads", "2", "--kv-heads", "1",
        "--head-dim", "32"]


def expert_bytes(folder, ends=("_blocks", "_scales"), dtype="U8"):
    """Bytes of the expert tensors (names ending in one of ends, all of dtype), from the
    safetensors header (8-byte length, JSON)."""
    with open(os.path.join(folder, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    total = 0
    for name, t in header.items():
        if name.endswith(ends):
            if t["dtype"] != dtype:
                sys.exit("FAIL: %s is %s, not %s" % (name, t["dtype"], dtype))
            total += t["data_offsets"][1] - t["data_offsets"][0]
    return total


def peak_rss(args):
    """Exit code and peak resident set in bytes of `moescope ARGS` (its own rusage)."""
    p = subprocess.Popen([MOESCOPE] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    _, status, ru = os.wait4(p.pid, 0)
    rc = p.returncode = os.waitstatus_to_exitcode(status)
    if rc:
        sys.exit("FAIL: moescope %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
    return ru.ru_maxrss * 1024  # kilobytes on Linux


def float_experts():
    """A BF16 folder's experts (gate_up_proj, down_proj: transposed against the engine's rows)
    are copied at open, transposed but still 16-bit (inspect says so, with the copy's size: X),
    and the file's pages of the copied
    tensors are let go: `inspect`'s peak RSS grows by at most 1.75 X against the tiny folder
    (X = those tensors' bytes in the file: the copy, plus at most one of the 2 layers' file
    pages). An F32 copy needs 2 X, and keeping the file pages another X."""
    big, tiny = os.path.join(WORK, "big16.hf"), os.path.join(WORK, "tiny16.hf")
    com = list(COMMON)
    com[com.index("--type") + 1] = "BF16"
    big_shape = BIG[:BIG.index("--experts")] + ["--experts", "16"] + \
        BIG[BIG.index("--experts") + 2:]
    for out, shape in ((big, big_shape), (tiny, TINY)):
        subprocess.run([MOESCOPE, "make-model", "--out", out] + com + shape, check=True)
    x = expert_bytes(big, ("mlp.experts.gate_up_proj", "mlp.experts.down_proj"), "BF16")
    if x < 150e6:
        sys.exit("FAIL: the BF16 folder's experts are %d bytes, expected > 150 MB" % x)
    r = subprocess.run([MOESCOPE, "inspect", "--no-tensors", big], capture_output=True, text=True)
    said = "BF16 experts transposed into copies at open (%.1f MB)" % (x / 1e6)
    if said not in r.stdout:
        sys.exit("FAIL: inspect does not say %r:\n%s" % (said, r.stdout))
    hi, lo = peak_rss(["inspect", big]), peak_rss(["inspect", tiny])
    ok = hi - lo <= 1.75 * x
    print("inspect, BF16 experts: peak RSS %.1f MB (tiny folder %.1f MB): growth %.1f MB = "
          "%.3f of the %.1f MB of experts (limit 1.75)   %s" %
          (hi / 1e6, lo / 1e6, (hi - lo) / 1e6, (hi - lo) / x, x / 1e6, "ok" if ok else "FAIL"))
    return 0 if ok else 1


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    big, tiny = os.path.join(WORK, "big.hf"), os.path.join(WORK, "tiny.hf")
    try:
        for out, shape in ((big, BIG), (tiny, TINY)):
            subprocess.run([MOESCOPE, "make-model", "--out", out] + COMMON + shape, check=True)
        x = expert_bytes(big)
        r = subprocess.run([MOESCOPE, "inspect", "--no-tensors", tiny], capture_output=True,
                           text=True)
        if "MXFP4 (*_blocks, *_scales) read in place" not in r.stdout:
            sys.exit("FAIL: inspect does not say the experts are read in place:\n" + r.stdout)
        if x < 200e6:
            sys.exit("FAIL: the big folder's experts are %d bytes, expected > 200 MB" % x)
        fails = 0
        for what, args, limit in (("inspect", ["inspect"], x / 8),
                                  ("route", ["route", "--threads", "1", "--model"], x / 3)):
            text = [] if what == "inspect" else ["Hi"]
            hi = peak_rss(args + [big] + text)
            lo = peak_rss(args + [tiny] + text)
            ok = hi - lo <= limit
            fails += not ok
            print("%-7s peak RSS %.1f MB (tiny folder %.1f MB): growth %.1f MB = %.3f of the "
                  "%.1f MB of experts (limit %.3f)   %s" %
                  (what, hi / 1e6, lo / 1e6, (hi - lo) / 1e6, (hi - lo) / x, x / 1e6, limit / x,
                   "ok" if ok else "FAIL"))
        fails += float_experts()
        return 1 if fails else 0
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
