"""test_gptoss_hf.py — GPT-OSS Hugging Face folders (GptOssForCausalLM) against GGUF files of the
same weights, both written by `moescope make-model --arch gpt-oss` (F32, and MXFP4 experts).

1. The layout, checked in numpy without moescope: the folder's gate_up_proj (E, d, 2*ff)
   holds gate in the even and up in the odd columns, transposed against the GGUF's
   ffn_gate_exps / ffn_up_exps (E, ff, d) (convert_hf_to_gguf.py's GptOssModel: transpose,
   then [:, ::2] / [:, 1::2]); down_proj (E, ff, d) is ffn_down_exps transposed; the
   interleaved gate_up_proj_bias splits into ffn_gate_exps.bias / ffn_up_exps.bias; sinks,
   router, o and q/k/v biases are equal. With MXFP4, the *_blocks / *_scales tensors
   dequantized as transformers does (convert_moe_packed_tensors: low nibble -> element 2i,
   high -> 2i+1, FP4 table, ldexp(scale - 127)) equal gguf-py's dequantization of the GGUF's
   MXFP4 experts bit for bit.
2. moescope on the folder equals moescope on the GGUF: `route --json` (experts and weights of
   every layer and token) and `eval --json` identical, for a prompt longer than the window.
   Also with YaRN (rope_scaling factor 8; GGUF rope.scaling.*).
3. config.json's layer_types is read: all "full_attention" changes the routes of the long
   prompt; so does rope_scaling.truncate false (the release's setting, which llama.cpp
   ignores); a bad entry or a missing *_scales tensor is one error line, exit 2.

usage: test_gptoss_hf.py MOESCOPE TESTS_DIR WORK_DIR
"""
import json
import os
import shutil
import struct
import sys

MOESCOPE, TESTS, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
os.makedirs(WORK, exist_ok=True)
sys.path.insert(0, TESTS)
import gguf_llama_src  # noqa: E402
import mstest  # noqa: E402

np, gguf, _ = gguf_llama_src.import_gguf(TESTS, WORK)
fails = []
SHAPE = ["--arch", "gpt-oss", "--experts", "8", "--k", "4", "--d-model", "128", "--ff", "64",
         "--layers", "4", "--heads", "8", "--kv-heads", "2", "--head-dim", "32",
         "--sliding-window", "16", "--seed", "3", "-q"]
LONG = ("The history of the river valley is a story of floods and harvests. Farmers built "
        "terraces on the slopes, and merchants carried grain down to the harbour towns. ")
FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=np.float32)


def run(args, rc=0):
    return mstest.runner(MOESCOPE, fails, show=3, tail=1500)(*args, rc=rc)


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack_from("<Q", b)[0]
    hdr = json.loads(b[8:8 + n])
    dt = {"F32": np.float32, "U8": np.uint8, "BF16": np.uint16, "F16": np.float16}
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt[v["dtype"]]).reshape(v["shape"])
        if v["dtype"] == "BF16":  # the high half of an f32, exactly
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[k] = a.astype(np.float32) if v["dtype"] == "F16" else a
    return out


def read_gguf(path):
    r = gguf.GGUFReader(path)
    return {t.name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            .reshape([int(x) for x in reversed(t.shape)]) for t in r.tensors}


def deq_hf(blocks, scales):
    """transformers' convert_moe_packed_tensors, in numpy: (E, out, in) float32."""
    lo, hi = FP4[blocks & 0x0F], FP4[blocks >> 4]
    v = np.empty(blocks.shape[:-1] + (32,), dtype=np.float32)
    v[..., 0::2], v[..., 1::2] = lo, hi
    v = np.ldexp(v, (scales.astype(np.int32) - 127)[..., None])
    return v.reshape(blocks.shape[0], blocks.shape[1], -1)


def same(tag, a, b):
    if a.shape != b.shape or not np.array_equal(a.view(np.uint32), b.view(np.uint32)):
        fails.append("%s differs (shapes %s, %s; max |d| %s)" %
                     (tag, a.shape, b.shape,
                      np.abs(a - b).max() if a.shape == b.shape else "-"))


def check_layout(hf, gg, mx):
    h, g = read_st(os.path.join(hf, "model.safetensors")), read_gguf(gg)
    n_layer = 4
    for il in range(n_layer):
        p, b = "model.layers.%d." % il, "blk.%d." % il
        if mx:
            gu = deq_hf(h[p + "mlp.experts.gate_up_proj_blocks"],
                        h[p + "mlp.experts.gate_up_proj_scales"])
            dn = deq_hf(h[p + "mlp.experts.down_proj_blocks"], h[p + "mlp.experts.down_proj_scales"])
            gate, up = gu[:, ::2, :], gu[:, 1::2, :]
        else:
            gu = h[p + "mlp.experts.gate_up_proj"].transpose(0, 2, 1)
            gate, up = gu[:, ::2, :], gu[:, 1::2, :]
            dn = h[p + "mlp.experts.down_proj"].transpose(0, 2, 1)
        same(b + "ffn_gate_exps", np.ascontiguousarray(gate), g[b + "ffn_gate_exps.weight"])
        same(b + "ffn_up_exps", np.ascontiguousarray(up), g[b + "ffn_up_exps.weight"])
        same(b + "ffn_down_exps", np.ascontiguousarray(dn), g[b + "ffn_down_exps.weight"])
        gub = h[p + "mlp.experts.gate_up_proj_bias"]
        same(b + "gate bias", np.ascontiguousarray(gub[:, ::2]), g[b + "ffn_gate_exps.bias"])
        same(b + "up bias", np.ascontiguousarray(gub[:, 1::2]), g[b + "ffn_up_exps.bias"])
        for hn, gn in [("mlp.experts.down_proj_bias", "ffn_down_exps.bias"),
                       ("self_attn.sinks", "attn_sinks.weight"),
                       ("mlp.router.weight", "ffn_gate_inp.weight"),
                       ("mlp.router.bias", "ffn_gate_inp.bias"),
                       ("self_attn.o_proj.bias", "attn_output.bias"),
                       ("self_attn.q_proj.bias", "attn_q.bias"),
                       ("self_attn.q_proj.weight", "attn_q.weight"),
                       ("post_attention_layernorm.weight", "post_attention_norm.weight")]:
            same(b + gn, h[p + hn], g[b + gn])


def widen_experts(src, dst):
    """A copy of HF folder src with its gate_up_proj / down_proj tensors as F32 (exact)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    path = os.path.join(src, "model.safetensors")
    b = open(path, "rb").read()
    n = struct.unpack_from("<Q", b)[0]
    hdr = json.loads(b[8:8 + n])
    ten = read_st(path)
    meta, names, off, blobs = hdr.get("__metadata__"), [], 0, []
    out = {} if meta is None else {"__metadata__": meta}
    for k in sorted((k for k in hdr if k != "__metadata__"),
                    key=lambda k: hdr[k]["data_offsets"][0]):
        v = dict(hdr[k])
        s0, e0 = v["data_offsets"]
        raw = b[8 + n + s0:8 + n + e0]
        if k.endswith(("mlp.experts.gate_up_proj", "mlp.experts.down_proj")):
            if v["dtype"] not in ("BF16", "F16"):
                fails.append("%s: %s is %s, not 16-bit" % (src, k, v["dtype"]))
            raw = np.ascontiguousarray(ten[k], dtype=np.float32).tobytes()
            v["dtype"] = "F32"
            names.append(k)
        v["data_offsets"] = [off, off + len(raw)]
        off += len(raw)
        out[k] = v
        blobs.append(raw)
    if len(names) != 8:
        fails.append("%s: %d expert tensors widened, expected 8" % (src, len(names)))
    h = json.dumps(out).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    prompt = os.path.join(WORK, "long.txt")
    with open(prompt, "w") as f:
        f.write(LONG)
    out = {}
    for tag, typ, extra in [("f32", "F32", []), ("mxfp4", "MXFP4", []),
                            ("yarn", "F32", ["--yarn", "8", "--ctx", "32"]),
                            ("bf16", "BF16", []), ("f16", "F16", [])]:
        gg, hf = os.path.join(WORK, tag + ".gguf"), os.path.join(WORK, tag + ".hf")
        shutil.rmtree(hf, ignore_errors=True)
        run(["make-model", "--out", hf, "--format", "hf", "--type", typ] + SHAPE + extra)
        if typ in ("BF16", "F16"):
            # 16-bit experts, which moescope transposes into 16-bit copies: against the same
            # folder with the two expert tensors widened to F32 here (exactly), which take
            # the F32 path checked against the GGUF above (the GGUF of a BF16 fixture keeps
            # norms and biases F32, so it is not the same model)
            gg = os.path.join(WORK, tag + "-f32experts.hf")
            widen_experts(hf, gg)
        else:
            run(["make-model", "--out", gg, "--type", typ] + SHAPE + extra)
        if fails:
            break
        if typ not in ("BF16", "F16"):
            check_layout(hf, gg, typ == "MXFP4")
        res = []
        for m in (gg, hf):
            r = json.loads(run(["route", "--model", m, "--file", prompt, "--json"]).stdout)
            e = json.loads(run(["eval", "--model", m, "--file", prompt, "--json", "--top",
                                "50"]).stdout)
            res.append(([(t["experts"], t["weights"]) for t in r["tokens"]],
                        [(t["id"], t["prob"]) for t in e["top"]], len(r["tokens"])))
        if res[0][2] <= 16:
            fails.append("%s: prompt of %d tokens does not cross the window" % (tag, res[0][2]))
        if res[0][0] != res[1][0]:
            fails.append("%s: routes differ between the GGUF and the HF folder" % tag)
        if res[0][1] != res[1][1]:
            fails.append("%s: next-token distributions differ between GGUF and HF" % tag)
        print("%-6s HF folder vs %s: layout %s, routes of %d tokens x 4 layers %s, eval %s" %
              (tag, "GGUF" if gg.endswith(".gguf") else "its F32-expert copy",
               "ok" if not fails else "?", res[0][2],
               "identical" if res[0][0] == res[1][0] else "DIFFER",
               "identical" if res[0][1] == res[1][1] else "DIFFER"))
        out[tag] = res[1][0]
    if fails:
        print("\n".join(fails))
        return 1
    # rope_scaling.truncate false (the release's config; transformers does not round YaRN's
    # correction range, llama.cpp does): read, and the routes move
    yt = os.path.join(WORK, "yarn_notrunc.hf")
    shutil.rmtree(yt, ignore_errors=True)
    shutil.copytree(os.path.join(WORK, "yarn.hf"), yt)
    cp = os.path.join(yt, "config.json")
    c = json.load(open(cp))
    c["rope_scaling"]["truncate"] = False
    json.dump(c, open(cp, "w"))
    r = json.loads(run(["route", "--model", yt, "--file", prompt, "--json"]).stdout)
    if [(t["experts"], t["weights"]) for t in r["tokens"]] == out["yarn"]:
        fails.append("rope_scaling.truncate false: routes unchanged")
    # layer_types is read
    hf = os.path.join(WORK, "mxfp4.hf")
    full = os.path.join(WORK, "full.hf")
    shutil.rmtree(full, ignore_errors=True)
    shutil.copytree(hf, full)
    cp = os.path.join(full, "config.json")
    c = json.load(open(cp))
    c["layer_types"] = ["full_attention"] * 4
    json.dump(c, open(cp, "w"))
    r = json.loads(run(["route", "--model", full, "--file", prompt, "--json"]).stdout)
    if [(t["experts"], t["weights"]) for t in r["tokens"]] == out["mxfp4"]:
        fails.append("layer_types all full_attention: routes unchanged")
    c["layer_types"] = ["full_attention", "chunked_attention", "full_attention", "x"]
    json.dump(c, open(cp, "w"))
    r = run(["inspect", "--no-tensors", full], rc=2)
    if "layer_types" not in r.stderr or len(r.stderr.strip().splitlines()) != 1:
        fails.append("bad layer_types: %r" % r.stderr)
    # a folder whose MXFP4 scales tensor is missing
    b = open(os.path.join(hf, "model.safetensors"), "rb").read()
    n = struct.unpack_from("<Q", b)[0]
    hdr = json.loads(b[8:8 + n])
    hdr["model.layers.2.mlp.experts.down_proj_scales_x"] = \
        hdr.pop("model.layers.2.mlp.experts.down_proj_scales")
    t = json.dumps(hdr).encode()
    t += b" " * ((-len(t)) % 8)
    bad = os.path.join(WORK, "noscales.hf")
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(hf, bad)
    with open(os.path.join(bad, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(t)) + t + b[8 + n:])
    r = run(["inspect", "--no-tensors", bad], rc=2)
    if "model.layers.2.mlp.experts.down_proj_scales" not in r.stderr or \
            len(r.stderr.strip().splitlines()) != 1:
        fails.append("missing scales: %r" % r.stderr)
    print("\n".join(fails) if fails else "all gpt-oss HF checks passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
