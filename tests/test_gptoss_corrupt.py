"""test_gptoss_corrupt.py — bad `gpt-oss` GGUF files: each must give exit status 2 and exactly
one line "moescope: error: ..." naming the file and the problem, never a crash (under
ASan/UBSan this is the sanitizer check of the GPT-OSS loader).

The files are edits of a `make-model --arch gpt-oss --type MXFP4` fixture by the GGUF rewriter
of test_deepseek_corrupt.py: a missing sinks tensor, sinks or expert biases of the wrong shape,
a missing router bias or post-attention norm, a missing or zero sliding window, a different
RoPE base for the sliding layers, the sinks stored as MXFP4 (rows that are not whole blocks),
MXFP4 experts whose data ends before their last block, experts of type id 1009 (moescope's
MXFP4_HF, not a GGUF type).

usage: test_gptoss_corrupt.py MOESCOPE WORKDIR
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_deepseek_corrupt as dsc  # noqa: E402  (same argv: MOESCOPE WORKDIR)

MS, WORK = dsc.MS, dsc.WORK


def reshape(base, out, name, ne=None, typ=None):
    """A copy of base whose tensor `name` has other dimensions ne and/or ggml type typ (its data
    offset unchanged)."""
    kvs, tis, data, align = dsc.parse(base)
    for ti in tis:
        if ti[0] != name:
            continue
        raw = ti[1]
        nd = struct.unpack_from("<I", raw, 0)[0]
        dims = list(struct.unpack_from("<%dQ" % nd, raw, 4))
        t, off = struct.unpack_from("<IQ", raw, 4 + 8 * nd)
        dims = ne if ne is not None else dims
        t = typ if typ is not None else t
        ti[1] = struct.pack("<I%dQIQ" % len(dims), len(dims), *dims, t, off)
    dsc.write(out, kvs, tis, data, align)
    return out


def main():
    base = os.path.join(WORK, "base.gguf")
    r = dsc.run("make-model", "--arch", "gpt-oss", "--out", base, "--d-model", "64", "--heads",
                "4", "--kv-heads", "2", "--head-dim", "16", "--ff", "32", "--experts", "8", "--k",
                "2", "--layers", "2", "--type", "MXFP4", "-q")
    if r.returncode != 0:
        sys.exit("make-model failed: %s" % r.stderr.decode())
    r = dsc.run("inspect", "--no-tensors", base)
    if r.returncode != 0 or b"attention sinks" not in r.stdout:
        sys.exit("base fixture does not open as expected: %r" % r.stdout)

    def v(tag, **kw):
        return dsc.variant(base, os.path.join(WORK, tag + ".gguf"), **kw)

    def rs(tag, name, **kw):
        return reshape(base, os.path.join(WORK, tag + ".gguf"), name, **kw)

    u32 = lambda x: (4, struct.pack("<I", x))  # noqa: E731
    cases = [
        ("no sinks", v("nosinks", drop_tensors={"blk.1.attn_sinks.weight"}),
         "blk.1.attn_sinks.weight"),
        ("sinks of 5 heads", rs("sinks5", "blk.0.attn_sinks.weight", ne=[5]),
         "blk.0.attn_sinks.weight"),
        ("up bias of 7 experts", rs("ub7", "blk.1.ffn_up_exps.bias", ne=[32, 7]),
         "blk.1.ffn_up_exps.bias"),
        ("down bias of ff width", rs("dbff", "blk.0.ffn_down_exps.bias", ne=[32, 8]),
         "blk.0.ffn_down_exps.bias"),
        ("no router bias", v("norb", drop_tensors={"blk.0.ffn_gate_inp.bias"}),
         "blk.0.ffn_gate_inp.bias"),
        ("no o bias", v("nobo", drop_tensors={"blk.1.attn_output.bias"}),
         "blk.1.attn_output.bias"),
        ("no post-attention norm", v("nopan", drop_tensors={"blk.0.post_attention_norm.weight"}),
         "blk.0.post_attention_norm.weight"),
        ("no sliding window", v("noswa", drop_keys={"gpt-oss.attention.sliding_window"}),
         "gpt-oss.attention.sliding_window"),
        ("sliding window 0", v("swa0", set_keys={"gpt-oss.attention.sliding_window": u32(0)}),
         "gpt-oss.attention.sliding_window"),
        ("swa rope base differs", dsc.variant(base, os.path.join(WORK, "fbswa.gguf")),
         "rope.freq_base_swa"),
        ("sinks stored MXFP4", rs("sinksmx", "blk.0.attn_sinks.weight", typ=39),
         "blk.0.attn_sinks.weight"),
        ("MXFP4 experts cut short", rs("short", "blk.1.ffn_down_exps.weight", ne=[32, 64, 80]),
         "blk.1.ffn_down_exps.weight"),
        # moescope's id for Hugging Face's MXFP4 layout (its exponents live in another tensor)
        # is no GGUF type: refused, not read without exponents
        ("experts typed MXFP4_HF", rs("mxhf", "blk.0.ffn_gate_exps.weight", typ=1009),
         "blk.0.ffn_gate_exps.weight: unknown weight type id 1009"),
    ]
    # the freq_base_swa case: add the key (variant() can only set existing ones)
    kvs, tis, data, align = dsc.parse(base)
    kvs.append(["gpt-oss.rope.freq_base_swa", 6, struct.pack("<f", 12345.0)])
    dsc.write(os.path.join(WORK, "fbswa.gguf"), kvs, tis, data, align)
    dsc.expect_files(cases, "no sinks")
    return dsc.result("gpt-oss")


if __name__ == "__main__":
    sys.exit(main())
