"""Independent check of the fixture files moescope writes, with numpy and llama.cpp's gguf-py
(from the source bundle node-llama-cpp ships): safetensors headers parsed by hand (8-byte
length + JSON), shapes derived from config.json, offsets tiling the data, BF16 equal to
round-to-nearest-even of the F32 weights, shards consistent with model.safetensors.index.json,
and the GGUF file equal to the safetensors weights after llama.cpp's converter permutation
(convert_hf_to_gguf.py LlamaModel.permute) and expert stacking — exactly for F32, within
Q8_0's error for Q8_0 (dequantized by gguf-py). Also GGUF metadata vs config.json and the
vocabulary copied from the source GGUF.

usage: test_model_numpy.py MOESCOPE TESTS_DIR WORKDIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

MS, TESTS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, TESTS)
import gguf_llama_src  # noqa: E402

np, gguf, _ = gguf_llama_src.import_gguf(TESTS, os.path.join(os.path.dirname(WORK), "..",
                                                              "gguf-work"))
VOCAB = os.path.join(TESTS, "data", "vocab", "ggml-vocab-llama-spm.gguf")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL " + msg, file=sys.stderr)


def make(out, *args):
    r = subprocess.run([MS, "-q", "make-model", "--out", os.path.join(WORK, out), "--seed", "7",
                        "--layers", "2", "--experts", "4", *args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("make-model %s failed: %s" % (out, r.stderr.decode()))
    return os.path.join(WORK, out)


DT = {"F32": (np.float32, 4), "BF16": (np.uint16, 2), "F16": (np.float16, 2)}


def read_safetensors(path):
    """Returns {name: (dtype, shape, raw numpy array)} with all header checks."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    check(8 + n <= len(b), "%s: header length beyond the file" % path)
    check((8 + n) % 8 == 0, "%s: data section not 8-byte aligned" % path)
    h = json.loads(b[8:8 + n].decode("utf-8"))
    data = b[8 + n:]
    meta = h.pop("__metadata__", {})
    check(meta.get("format") == "pt", "%s: __metadata__.format" % path)
    out, spans = {}, []
    for name, e in h.items():
        dt, size = DT[e["dtype"]]
        begin, end = e["data_offsets"]
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        check(end - begin == count * size, "%s: %s byte size" % (path, name))
        spans.append((begin, end))
        out[name] = (e["dtype"], tuple(e["shape"]),
                     np.frombuffer(data[begin:end], dtype=dt).reshape(e["shape"]))
    spans.sort()
    pos = 0
    for b0, e0 in spans:
        check(b0 == pos, "%s: tensors do not tile the data section" % path)
        pos = e0
    check(pos == len(data), "%s: data section has trailing bytes" % path)
    return out


def expected_shapes(c):
    d, ff, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    dh = c.get("head_dim") or d // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * dh, c["num_key_value_heads"] * dh
    s = {"model.embed_tokens.weight": (V, d), "model.norm.weight": (d,)}
    if not c["tie_word_embeddings"]:
        s["lm_head.weight"] = (V, d)
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        s[p + "input_layernorm.weight"] = (d,)
        s[p + "post_attention_layernorm.weight"] = (d,)
        s[p + "self_attn.q_proj.weight"] = (q, d)
        s[p + "self_attn.k_proj.weight"] = (kv, d)
        s[p + "self_attn.v_proj.weight"] = (kv, d)
        s[p + "self_attn.o_proj.weight"] = (d, q)
        s[p + "block_sparse_moe.gate.weight"] = (c["num_local_experts"], d)
        for e in range(c["num_local_experts"]):
            s[p + "block_sparse_moe.experts.%d.w1.weight" % e] = (ff, d)
            s[p + "block_sparse_moe.experts.%d.w3.weight" % e] = (ff, d)
            s[p + "block_sparse_moe.experts.%d.w2.weight" % e] = (d, ff)
    return s


def permute(w, n_head):
    """convert_hf_to_gguf.py, LlamaModel.permute (n_head already the kv count for k_proj)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def hf_to_gguf(hf, c):
    """The GGUF tensors llama.cpp's converter would write for this HF checkpoint (f32)."""
    g = {"token_embd.weight": hf["model.embed_tokens.weight"],
         "output_norm.weight": hf["model.norm.weight"]}
    if "lm_head.weight" in hf:
        g["output.weight"] = hf["lm_head.weight"]
    E = c["num_local_experts"]
    for i in range(c["num_hidden_layers"]):
        p, b = "model.layers.%d." % i, "blk.%d." % i
        g[b + "attn_norm.weight"] = hf[p + "input_layernorm.weight"]
        g[b + "ffn_norm.weight"] = hf[p + "post_attention_layernorm.weight"]
        g[b + "attn_q.weight"] = permute(hf[p + "self_attn.q_proj.weight"],
                                         c["num_attention_heads"])
        g[b + "attn_k.weight"] = permute(hf[p + "self_attn.k_proj.weight"],
                                         c["num_key_value_heads"])
        g[b + "attn_v.weight"] = hf[p + "self_attn.v_proj.weight"]
        g[b + "attn_output.weight"] = hf[p + "self_attn.o_proj.weight"]
        g[b + "ffn_gate_inp.weight"] = hf[p + "block_sparse_moe.gate.weight"]
        for w, gn in (("w1", "ffn_gate_exps"), ("w3", "ffn_up_exps"), ("w2", "ffn_down_exps")):
            g[b + gn + ".weight"] = np.stack(
                [hf[p + "block_sparse_moe.experts.%d.%s.weight" % (e, w)] for e in range(E)])
    return g


def gguf_tensors(path):
    r = gguf.GGUFReader(path)
    out = {}
    for t in r.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            a = np.array(t.data, dtype=np.float32).reshape(shape)
        else:
            a = gguf.quants.dequantize(t.data, t.tensor_type).reshape(shape)
        out[t.name] = (t.tensor_type, a)
    return r, out


def field(r, key):
    f = r.fields[key]
    v = f.parts[f.data[0]]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(v).decode()
    return v.tolist()[0]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    hf_dir = make("hf_f32", "--format", "hf")
    bf_dir = make("hf_bf16", "--format", "hf", "--type", "BF16", "--shard-mb", "0.5")
    g32 = make("f32.gguf")
    gq8 = make("q8.gguf", "--type", "Q8_0")

    c = json.load(open(os.path.join(hf_dir, "config.json")))
    check(c["architectures"] == ["MixtralForCausalLM"] and c["model_type"] == "mixtral",
          "config.json architecture")
    hf = {k: v[2] for k, v in read_safetensors(os.path.join(hf_dir, "model.safetensors")).items()}
    shapes = expected_shapes(c)
    check(set(hf) == set(shapes), "HF tensor names: extra %s missing %s" %
          (sorted(set(hf) - set(shapes))[:3], sorted(set(shapes) - set(hf))[:3]))
    for k, s in shapes.items():
        check(k in hf and hf[k].shape == s, "%s: shape %s, expected %s" %
              (k, hf[k].shape if k in hf else None, s))
    for k in hf:
        if k.endswith("layernorm.weight") or k == "model.norm.weight":
            m, sd = float(hf[k].mean()), float(hf[k].std())
            check(0.9 < m < 1.1 and 0.05 < sd < 0.2, "%s: norm weights mean %g std %g" % (k, m, sd))
    q = hf["model.layers.0.self_attn.q_proj.weight"]
    check(abs(float(q.std()) * np.sqrt(q.shape[1]) - 1) < 0.1, "q_proj std not 1/sqrt(fan_in)")

    # BF16 shards: index consistent, values = RNE rounding of the F32 weights
    idx = json.load(open(os.path.join(bf_dir, "model.safetensors.index.json")))
    shard_files = sorted(set(idx["weight_map"].values()))
    check(len(shard_files) >= 2, "BF16 fixture has %d shards" % len(shard_files))
    total, bf = 0, {}
    for sf in shard_files:
        part = read_safetensors(os.path.join(bf_dir, sf))
        for k, (dt, shp, a) in part.items():
            check(idx["weight_map"].get(k) == sf, "%s: index says %s, found in %s" %
                  (k, idx["weight_map"].get(k), sf))
            check(dt == "BF16", "%s dtype %s" % (k, dt))
            total += a.nbytes
            bf[k] = a
    check(set(bf) == set(hf), "BF16 shards hold other tensors than the F32 file")
    check(idx["metadata"]["total_size"] == total, "index total_size")
    for k, a in hf.items():
        u = a.view(np.uint32).astype(np.uint64)
        rne = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        check(np.array_equal(bf[k], rne), "%s: BF16 is not RNE(F32)" % k)

    # GGUF F32 == converter(HF)
    want = hf_to_gguf(hf, c)
    r, g = gguf_tensors(g32)
    check(set(g) == set(want), "GGUF tensor names: extra %s missing %s" %
          (sorted(set(g) - set(want))[:3], sorted(set(want) - set(g))[:3]))
    for k, w in want.items():
        if k not in g:
            continue
        t, a = g[k]
        check(a.shape == w.shape and np.array_equal(a, w),
              "%s: GGUF F32 differs from the permuted HF weights" % k)
    for key, ck in (("llama.embedding_length", "hidden_size"),
                    ("llama.block_count", "num_hidden_layers"),
                    ("llama.feed_forward_length", "intermediate_size"),
                    ("llama.attention.head_count", "num_attention_heads"),
                    ("llama.attention.head_count_kv", "num_key_value_heads"),
                    ("llama.expert_count", "num_local_experts"),
                    ("llama.expert_used_count", "num_experts_per_tok"),
                    ("llama.context_length", "max_position_embeddings"),
                    ("llama.vocab_size", "vocab_size")):
        check(field(r, key) == c[ck], "%s = %s, config %s = %s" % (key, field(r, key), ck, c[ck]))
    check(np.float32(field(r, "llama.rope.freq_base")) == np.float32(c["rope_theta"]), "rope_theta")
    check(np.float32(field(r, "llama.attention.layer_norm_rms_epsilon")) ==
          np.float32(c["rms_norm_eps"]), "rms_norm_eps")
    check(field(r, "general.architecture") == "llama", "general.architecture")
    v = gguf.GGUFReader(VOCAB)
    tv, tr = v.fields["tokenizer.ggml.tokens"], r.fields["tokenizer.ggml.tokens"]
    check(len(tv.data) == len(tr.data) == c["vocab_size"] and
          all(bytes(tv.parts[i]) == bytes(tr.parts[j]) for i, j in zip(tv.data, tr.data)),
          "vocabulary not copied from %s" % VOCAB)

    # GGUF Q8_0 (dequantized by gguf-py) close to the F32 weights
    _, g8 = gguf_tensors(gq8)
    err2 = ref2 = 0.0
    for k, w in want.items():
        t, a = g8[k]
        if k.endswith("norm.weight") or "gate_inp" in k:
            check(t == gguf.GGMLQuantizationType.F32 and np.array_equal(a, w), "%s not F32" % k)
            continue
        check(t == gguf.GGMLQuantizationType.Q8_0, "%s type %s" % (k, t))
        err2 += float(((a - w) ** 2).sum())
        ref2 += float((w ** 2).sum())
    rel = (err2 / ref2) ** 0.5
    print("Q8_0 relative RMS error (gguf-py dequantize): %.5f" % rel)
    check(1e-3 < rel < 1e-2, "Q8_0 relative error %g" % rel)


main()
if failures:
    print("%d failure(s)" % len(failures), file=sys.stderr)
    sys.exit(1)
print("ok: safetensors and GGUF fixtures agree with numpy/gguf-py")
