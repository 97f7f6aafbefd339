"""Table of hand-made corrupt model files: `moescope inspect` must answer each with exit
status 2 and exactly one line "moescope: error: <file>: <problem>" naming the bad file, never
a crash (run in the sanitizer build this is the ASan/UBSan check of the loaders).

usage: test_model_corrupt.py MOESCOPE WORKDIR
"""
import json
import os
import shutil
import struct
import sys

import mstest

MS, WORK = sys.argv[1], sys.argv[2]
failures = []


def run(*args):
    return mstest.run_bytes(MS, *args)


def make_base():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    dims = ["--d-model", "16", "--heads", "2", "--kv-heads", "1", "--ff", "32", "--experts", "2",
            "--k", "1", "--layers", "1", "--tied", "-q"]
    for out, extra in (("base_hf", ["--type", "BF16"]),
                       ("base_sharded", ["--type", "BF16", "--shard-mb", "0.05"]),
                       ("base.gguf", ["--type", "F16"]),
                       ("base_yarn.gguf", ["--type", "F16", "--yarn", "4"])):
        r = run("make-model", "--out", os.path.join(WORK, out), *dims, *extra)
        if r.returncode != 0:
            sys.exit("make-model %s failed: %s" % (out, r.stderr.decode()))
    for base in ("base_hf", "base_sharded", "base.gguf", "base_yarn.gguf"):
        r = run("inspect", "--no-tensors", os.path.join(WORK, base))
        if r.returncode != 0:
            sys.exit("base fixture %s does not open: %s" % (base, r.stderr.decode()))


# ---- safetensors helpers ---------------------------------------------------------------

def st_read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def st_bytes(header_text, data):
    h = header_text.encode() if isinstance(header_text, str) else header_text
    return struct.pack("<Q", len(h)) + h + data


def hf_case(name, base="base_hf"):
    """Copies the base folder (hard links) to a new case folder; returns its path."""
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in os.listdir(os.path.join(WORK, base)):
        os.link(os.path.join(WORK, base, f), os.path.join(d, f))
    return d


def replace(path, data):
    os.unlink(path)  # break the hard link
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def st_header_case(name, mutate):
    """mutate(header dict, data) -> (header text or dict, data)."""
    d = hf_case(name)
    p = os.path.join(d, "model.safetensors")
    h, data = st_read(p)
    out = mutate(h, data)
    text, data2 = out
    if not isinstance(text, (str, bytes)):
        text = json.dumps(text)
    replace(p, st_bytes(text, data2))
    return p


def by_offset(h):
    return sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])


def expect(name, path, substring, target=None):
    mstest.expect_error(MS, failures, name, ["inspect", "--no-tensors", path], substring,
                        target or path, width=26, no_stdout=True)


def st_cases():
    # raw bytes
    d = hf_case("st_short")
    p = os.path.join(d, "model.safetensors")
    replace(p, b"\x05\x00\x00")
    expect("st_short", d, "too short", p)

    def raw(name, fn, sub):
        d = hf_case(name)
        p = os.path.join(d, "model.safetensors")
        b = open(p, "rb").read()
        replace(p, fn(b))
        expect(name, d, sub, p)

    raw("st_hdr_len_huge", lambda b: struct.pack("<Q", 1 << 63) + b[8:], "exceeds")
    raw("st_hdr_len_beyond", lambda b: struct.pack("<Q", len(b)) + b[8:], "larger than the file")
    raw("st_not_json", lambda b: b[:9] + b"\x00garbage" + b[17:], "not valid JSON")
    raw("st_bad_start", lambda b: b[:8] + b"[" + b[9:], "does not start with '{'")
    raw("st_truncated", lambda b: b[:len(b) - 100], "data section")
    raw("st_extended", lambda b: b + b"\x00" * 64, "data section")

    def first_matrix(h):
        return next(k for k in by_offset(h) if len(h[k]["shape"]) == 2)

    def set_field(name, field, value, sub, pick=first_matrix):
        def m(h, data):
            h[pick(h)][field] = value
            return h, data
        p = st_header_case(name, m)
        expect(name, os.path.dirname(p), sub, p)

    set_field("st_unknown_dtype", "dtype", "F17", "unknown dtype")
    set_field("st_dtype_not_string", "dtype", 7, "non-string dtype")
    set_field("st_overflow", "shape", [1 << 40, 1 << 40, 1 << 40], "overflows")
    set_field("st_negative_dim", "shape", [-1, 16], "not a non-negative integer")
    set_field("st_fraction_dim", "shape", [1.5, 16], "not a non-negative integer")
    set_field("st_shape_string", "shape", "16,16", "non-array shape")
    set_field("st_too_many_dims", "shape", [1] * 9 + [16], "dimensions")
    set_field("st_offsets_type", "data_offsets", "0-32", "two non-negative integers")
    set_field("st_offsets_three", "data_offsets", [0, 1, 2], "two non-negative integers")

    def lying_shape(h, data):
        k = first_matrix(h)
        h[k]["shape"][0] += 1
        return h, data
    p = st_header_case("st_lying_shape", lying_shape)
    expect("st_lying_shape", os.path.dirname(p), "shape need", p)

    def reversed_offsets(h, data):
        k = first_matrix(h)
        h[k]["data_offsets"].reverse()
        return h, data
    p = st_header_case("st_reversed_offsets", reversed_offsets)
    expect("st_reversed_offsets", os.path.dirname(p), "before begin", p)

    def overlap(h, data):
        keys = [k for k in by_offset(h) if h[k]["shape"] == [16]]  # the equal-size norms
        a, b = keys[0], keys[1]
        h[b]["data_offsets"] = list(h[a]["data_offsets"])
        return h, data
    p = st_header_case("st_overlap", overlap)
    expect("st_overlap", os.path.dirname(p), "overlap", p)

    def gap(h, data):
        k = by_offset(h)[0]
        h[k]["data_offsets"] = [x + 2 for x in h[k]["data_offsets"]]
        return h, data
    p = st_header_case("st_gap", gap)
    expect("st_gap", os.path.dirname(p), "gap", p)

    def beyond(h, data):
        k = by_offset(h)[-1]
        h[k]["data_offsets"] = [x + 4096 for x in h[k]["data_offsets"]]
        return h, data
    p = st_header_case("st_beyond", beyond)
    expect("st_beyond", os.path.dirname(p), "beyond the data section", p)

    def huge_offset(h, data):
        k = by_offset(h)[-1]
        h[k]["data_offsets"] = [2 ** 60, 2 ** 60 + 32]
        return h, data
    p = st_header_case("st_huge_offset", huge_offset)
    expect("st_huge_offset", os.path.dirname(p), "data_offsets", p)

    def dup(h, data):
        k = first_matrix(h)
        text = json.dumps(h)
        entry = json.dumps({k: h[k]})[1:-1]
        return text[:-1] + ", " + entry + "}", data
    p = st_header_case("st_duplicate", dup)
    expect("st_duplicate", os.path.dirname(p), "appears twice", p)

    def trailing(h, data):
        return json.dumps(h) + " xx", data
    p = st_header_case("st_trailing", trailing)
    expect("st_trailing", os.path.dirname(p), "trailing bytes", p)

    def meta(h, data):
        h["__metadata__"] = {"format": 1}
        return h, data
    p = st_header_case("st_metadata", meta)
    expect("st_metadata", os.path.dirname(p), "__metadata__", p)

    def not_object(h, data):
        k = first_matrix(h)
        h[k] = [1, 2]
        return h, data
    p = st_header_case("st_entry_not_object", not_object)
    expect("st_entry_not_object", os.path.dirname(p), "not a JSON object", p)

    # valid safetensors, wrong model
    def rename(h, data):
        k = "model.layers.0.self_attn.k_proj.weight"
        h[k.replace("k_proj", "k_prox")] = h.pop(k)
        return h, data
    p = st_header_case("model_missing_tensor", rename)
    expect("model_missing_tensor", os.path.dirname(p),
           "missing tensor 'model.layers.0.self_attn.k_proj.weight'")

    def transpose(h, data):
        k = "model.layers.0.self_attn.k_proj.weight"
        h[k]["shape"].reverse()
        return h, data
    p = st_header_case("model_wrong_shape", transpose)
    expect("model_wrong_shape", os.path.dirname(p), "k_proj.weight' has shape", p)

    def int_dtype(h, data):
        h["model.norm.weight"]["dtype"] = "I16"
        return h, data
    p = st_header_case("model_unsupported_dtype", int_dtype)
    expect("model_unsupported_dtype", os.path.dirname(p), "unsupported type", p)

    def five_dims(h, data):
        h["model.norm.weight"]["shape"] = [1, 1, 1, 1, 16]
        return h, data
    p = st_header_case("model_five_dims", five_dims)
    expect("model_five_dims", os.path.dirname(p), "at most 4", p)


def cfg_cases():
    base = json.load(open(os.path.join(WORK, "base_hf", "config.json")))

    def cfg(name, mutate, sub, text=None):
        d = hf_case(name)
        p = os.path.join(d, "config.json")
        c = json.loads(json.dumps(base))
        if mutate:
            mutate(c)
        replace(p, text if text is not None else json.dumps(c))
        expect(name, d, sub, p)

    cfg("cfg_bad_json", None, "not valid JSON", text='{"hidden_size": 16,')
    cfg("cfg_not_object", None, "not a JSON object", text="[1, 2]")
    cfg("cfg_wrong_type", lambda c: c.update(hidden_size="16"), "'hidden_size' must be an integer")
    cfg("cfg_fraction", lambda c: c.update(hidden_size=16.5), "must be an integer (got a fraction)")
    cfg("cfg_missing", lambda c: c.pop("num_hidden_layers"), "missing field 'num_hidden_layers'")
    cfg("cfg_arch", lambda c: c.update(architectures=["LlamaForCausalLM"]),
        "unsupported architecture")
    cfg("cfg_arch_type", lambda c: c.update(architectures="MixtralForCausalLM"),
        "'architectures' must be an array")
    cfg("cfg_k_gt_e", lambda c: c.update(num_experts_per_tok=5), "exceeds num_local_experts")
    cfg("cfg_heads", lambda c: c.update(num_key_value_heads=3), "not a multiple")
    cfg("cfg_bool", lambda c: c.update(tie_word_embeddings="yes"), "must be a boolean")
    cfg("cfg_negative", lambda c: c.update(num_local_experts=-1), "outside")
    cfg("cfg_huge", lambda c: c.update(hidden_size=1e300), "outside")
    cfg("cfg_eps", lambda c: c.update(rms_norm_eps="small"), "'rms_norm_eps' must be a number")
    cfg("cfg_rope_scaling", lambda c: c.update(rope_scaling={"type": "longrope", "factor": 2}),
        "rope_scaling.rope_type must be")
    cfg("cfg_rope_dynamic", lambda c: c.update(rope_scaling={"rope_type": "dynamic"}),
        "rope_scaling.rope_type must be")
    cfg("cfg_rope_factor", lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": "4"}),
        "'factor' must be a number")
    cfg("cfg_rope_obj", lambda c: c.update(rope_scaling=[1]), "'rope_scaling' must be an object")
    cfg("cfg_rope_truncate", lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": 2,
                                                              "truncate": 0}),
        "'truncate' must be a boolean")
    cfg("cfg_act", lambda c: c.update(hidden_act="gelu"), "hidden_act")
    d = hf_case("cfg_vocab_mismatch")
    p = os.path.join(d, "config.json")
    c = json.loads(json.dumps(base))
    c["vocab_size"] = 31999
    replace(p, json.dumps(c))
    expect("cfg_vocab_mismatch", d, "embed_tokens.weight' has shape",
           os.path.join(d, "model.safetensors"))
    d = hf_case("cfg_absent")
    os.unlink(os.path.join(d, "config.json"))
    expect("cfg_absent", d, "cannot open", os.path.join(d, "config.json"))


def index_cases():
    idx_name = "model.safetensors.index.json"
    base = json.load(open(os.path.join(WORK, "base_sharded", idx_name)))
    shards = sorted(set(base["weight_map"].values()))
    if len(shards) < 2:
        failures.append("sharded base has %d shards" % len(shards))
        return

    def idx(name, mutate, sub, text=None, target=None):
        d = hf_case(name, "base_sharded")
        p = os.path.join(d, idx_name)
        c = json.loads(json.dumps(base))
        if mutate:
            mutate(c)
        replace(p, text if text is not None else json.dumps(c))
        expect(name, d, sub, target or p)

    first = next(iter(base["weight_map"]))
    idx("idx_bad_json", None, "not valid JSON", text="{")
    idx("idx_no_map", lambda c: c.pop("weight_map"), "weight_map")
    idx("idx_escape", lambda c: c["weight_map"].update({first: "../base_hf/model.safetensors"}),
        "not a file name")
    idx("idx_missing_shard", lambda c: c["weight_map"].update({first: "model-9.safetensors"}),
        "cannot open", target="model-9.safetensors")
    other = next(s for s in shards if s != base["weight_map"][first])
    idx("idx_wrong_shard", lambda c: c["weight_map"].update({first: other}), "is not in shard")
    idx("idx_unknown_tensor", lambda c: c["weight_map"].update({"nope.weight": shards[0]}),
        "'nope.weight' is not in shard")


# ---- GGUF helpers ----------------------------------------------------------------------

def gguf_case(name, fn, sub, expect_target=True, base="base.gguf"):
    src = open(os.path.join(WORK, base), "rb").read()
    p = os.path.join(WORK, name + ".gguf")
    with open(p, "wb") as f:
        f.write(fn(bytearray(src)))
    expect(name, p, sub)


kv_value_at, tensor_info_at = mstest.gguf_kv_value_at, mstest.gguf_tensor_info_at
set_u32 = mstest.gguf_set_u32


def gguf_cases():
    gguf_case("gguf_truncated", lambda b: bytes(b[:len(b) // 2]), "")
    gguf_case("gguf_header_only", lambda b: bytes(b[:20]), "")
    gguf_case("gguf_magic", lambda b: b"GGUX" + bytes(b[4:]), "not a GGUF file")
    gguf_case("gguf_empty", lambda b: b"", "not a GGUF file")
    gguf_case("gguf_version", lambda b: bytes(b[:4]) + struct.pack("<I", 99) + bytes(b[8:]), "")
    gguf_case("gguf_n_tensors_lie",
              lambda b: bytes(b[:8]) + struct.pack("<Q", 1 << 40) + bytes(b[16:]), "")
    gguf_case("gguf_n_kv_lie",
              lambda b: bytes(b[:16]) + struct.pack("<Q", (1 << 64) - 1) + bytes(b[24:]), "")

    def arch(b):
        i = kv_value_at(b, "general.architecture") + 8
        b[i:i + 5] = b"gemma"
        return bytes(b)
    gguf_case("gguf_arch", arch, "unsupported architecture 'gemma'")
    gguf_case("gguf_expert_count", set_u32("llama.expert_count", 3), "ffn_gate_inp.weight' has shape")
    gguf_case("gguf_not_moe", set_u32("llama.expert_count", 0), "not a Mixture-of-Experts")
    gguf_case("gguf_k_gt_e", set_u32("llama.expert_used_count", 9), "llama.expert_used_count")
    gguf_case("gguf_kv_heads", set_u32("llama.attention.head_count_kv", 3), "not a multiple")
    gguf_case("gguf_block_count", set_u32("llama.block_count", 2), "missing tensor 'blk.1.")
    gguf_case("gguf_d_model", set_u32("llama.embedding_length", 1 << 30), "outside")

    def kv_type(b):  # expert_count relabelled FLOAT32 (same 4 bytes)
        i = kv_value_at(b, "llama.expert_count") - 4
        b[i:i + 4] = struct.pack("<I", 6)  # FLOAT32
        return bytes(b)
    gguf_case("gguf_kv_type", kv_type, "llama.expert_count")

    def rename(b):
        i = b.find(b"blk.0.attn_k.weight")
        b[i:i + 19] = b"blk.0.attn_x.weight"
        return bytes(b)
    gguf_case("gguf_missing_tensor", rename, "missing tensor 'blk.0.attn_k.weight'")

    def ne(b):  # attn_q rows 16 -> 8: a smaller tensor that still fits its data
        i = tensor_info_at(b, "blk.0.attn_q.weight")
        b[i + 12:i + 20] = struct.pack("<q", 8)
        return bytes(b)
    gguf_case("gguf_wrong_shape", ne, "attn_q.weight' has shape")

    def ne_neg(b):
        i = tensor_info_at(b, "blk.0.attn_q.weight")
        b[i + 12:i + 20] = struct.pack("<q", -16)
        return bytes(b)
    gguf_case("gguf_negative_ne", ne_neg, "")

    def ne_overflow(b):
        i = tensor_info_at(b, "blk.0.attn_q.weight")
        b[i + 4:i + 20] = struct.pack("<qq", 1 << 62, 1 << 62)
        return bytes(b)
    gguf_case("gguf_ne_overflow", ne_overflow, "")

    def bad_type(b):
        i = tensor_info_at(b, "output_norm.weight")
        b[i + 4 + 8:i + 4 + 8 + 4] = struct.pack("<I", 99)
        return bytes(b)
    gguf_case("gguf_bad_type", bad_type, "")

    def offset(b):
        i = tensor_info_at(b, "output_norm.weight")
        b[i + 16:i + 24] = struct.pack("<Q", 1 << 50)
        return bytes(b)
    gguf_case("gguf_offset", offset, "")

    def rope_type(b):  # rope.scaling.type "yarn" -> "yawn"
        i = kv_value_at(b, "llama.rope.scaling.type") + 8
        b[i:i + 4] = b"yawn"
        return bytes(b)
    gguf_case("gguf_rope_type", rope_type, "'yawn' is not supported", base="base_yarn.gguf")

    def rope_factor(b):  # rope.scaling.factor -1
        i = kv_value_at(b, "llama.rope.scaling.factor")
        b[i:i + 4] = struct.pack("<f", -1.0)
        return bytes(b)
    gguf_case("gguf_rope_factor", rope_factor, "rope.scaling.factor' is not a positive",
              base="base_yarn.gguf")
    gguf_case("gguf_rope_dims", set_u32("llama.rope.dimension_count", 7),
              "unsupported head layout")


def misc_cases():
    expect("no_such_path", os.path.join(WORK, "nope.gguf"), "cannot open")
    d = os.path.join(WORK, "empty_dir")
    os.makedirs(d, exist_ok=True)
    expect("empty_dir", d, "cannot open", os.path.join(d, "config.json"))
    p = os.path.join(WORK, "text.bin")
    with open(p, "w") as f:
        f.write("hello")
    expect("not_a_model", p, "not a GGUF file")


make_base()
st_cases()
cfg_cases()
index_cases()
gguf_cases()
misc_cases()
if failures:
    print("\n%d failure(s):" % len(failures), file=sys.stderr)
    for f in failures:
        print("FAIL " + f, file=sys.stderr)
    sys.exit(1)
print("all corrupt files rejected cleanly")
