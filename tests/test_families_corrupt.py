"""Corrupt or inconsistent files of each MoE family (OLMoE, Qwen2-MoE, Qwen3-MoE, Granite-MoE):
`moescope inspect` must answer each with exit status 2 and exactly one line
"moescope: error: <file>: <problem>" naming the file and the problem, never a crash (in the
sanitizer build this is the ASan/UBSan check of the registry-driven loaders).

Cases per family, GGUF and HF folder: a missing norm, a missing or wrongly shaped optional
tensor of the family's block (QK-norm, q/k/v bias, shared expert), k > E, an unknown
architecture, and family-specific config fields of the wrong type or range.

usage: test_families_corrupt.py MOESCOPE WORKDIR
"""
import json
import os
import shutil
import struct
import sys

import mstest

MS, WORK = sys.argv[1], sys.argv[2]
failures = []
# family -> (extra make-model options, q_dim, kv_dim, d_head, HF experts key)
FAMILIES = {
    "olmoe": (["--kv-heads", "2"], 16, 16, 8, "num_experts"),
    "qwen2moe": ([], 16, 8, 8, "num_experts"),
    "qwen3moe": (["--head-dim", "16"], 32, 16, 16, "num_experts"),
    "granitemoe": ([], 16, 8, 8, "num_local_experts"),
}


def run(*args):
    return mstest.run_bytes(MS, *args)


def expect(name, path, substring, target=None):
    mstest.expect_error(MS, failures, name, ["inspect", "--no-tensors", path], substring,
                        target or path, width=34, no_stdout=True)


def make(family, out, fmt):
    extra = FAMILIES[family][0]
    args = ["make-model", "--arch", family, "--out", out, "--format", fmt, "--d-model", "16",
            "--heads", "2", "--kv-heads", "1", "--ff", "32", "--experts", "4", "--k", "2",
            "--layers", "2", "--type", "F16" if fmt == "gguf" else "BF16", "-q"] + extra
    r = run(*args)
    if r.returncode != 0:
        sys.exit("make-model %s failed: %s" % (out, r.stderr.decode()))
    r = run("inspect", "--no-tensors", out)
    if r.returncode != 0:
        sys.exit("base fixture %s does not open: %s" % (out, r.stderr.decode()))


# ---- GGUF byte patches -----------------------------------------------------------------

kv_value_at, tensor_info_at = mstest.gguf_kv_value_at, mstest.gguf_tensor_info_at
set_u32 = mstest.gguf_set_u32


def rename(old, new):
    assert len(old) == len(new)

    def fn(b):
        i = b.find(old.encode())
        assert i >= 0, old
        b[i:i + len(old)] = new.encode()
        return bytes(b)
    return fn


def set_ne0(name, v):
    def fn(b):
        i = tensor_info_at(b, name)
        b[i + 4:i + 12] = struct.pack("<q", v)
        return bytes(b)
    return fn


def gguf_cases(family):
    base = os.path.join(WORK, family + ".gguf")
    make(family, base, "gguf")
    src = open(base, "rb").read()
    _, q, kv, dh, _ = FAMILIES[family]

    def case(name, fn, sub):
        p = os.path.join(WORK, "%s_%s.gguf" % (family, name))
        with open(p, "wb") as f:
            f.write(fn(bytearray(src)))
        expect("%s gguf %s" % (family, name), p, sub)

    case("missing_ffn_norm", rename("blk.1.ffn_norm.weight", "blk.1.ffn_nrrm.weight"),
         "missing tensor 'blk.1.ffn_norm.weight'")
    case("missing_attn_norm", rename("blk.0.attn_norm.weight", "blk.0.attn_nrrm.weight"),
         "missing tensor 'blk.0.attn_norm.weight'")
    case("k_gt_e", set_u32(family + ".expert_used_count", 5), family + ".expert_used_count")
    case("unknown_arch", rename(family, "x" * len(family)),
         "unsupported architecture '%s'" % ("x" * len(family)))
    case("router_rows", set_u32(family + ".expert_count", 3), "ffn_gate_inp.weight' has shape")
    if family in ("olmoe", "qwen3moe"):
        case("missing_q_norm", rename("blk.0.attn_q_norm.weight", "blk.0.attn_x_norm.weight"),
             "missing tensor 'blk.0.attn_q_norm.weight'")
        # OLMoE normalises the whole projection, Qwen3 each head: the other length is wrong
        case("k_norm_shape", set_ne0("blk.1.attn_k_norm.weight", dh if family == "olmoe" else dh // 2),
             "attn_k_norm.weight' has shape")
    if family == "qwen2moe":
        case("missing_q_bias", rename("blk.0.attn_q.bias", "blk.0.attn_x.bias"),
             "missing tensor 'blk.0.attn_q.bias'")
        case("v_bias_shape", set_ne0("blk.1.attn_v.bias", kv // 2), "attn_v.bias' has shape")
        case("missing_shexp_gate",
             rename("blk.0.ffn_gate_inp_shexp.weight", "blk.0.ffn_gate_inp_shexq.weight"),
             "missing tensor 'blk.0.ffn_gate_inp_shexp.weight'")
        case("shexp_width", set_u32("qwen2moe.expert_shared_feed_forward_length", 16),
             "ffn_gate_shexp.weight' has shape")
    if family == "qwen3moe":
        case("expert_width", set_u32("qwen3moe.expert_feed_forward_length", 16),
             "ffn_gate_exps.weight' has shape")
    if family == "granitemoe":
        def neg_scale(b):  # a negative logit scale
            i = kv_value_at(b, "granitemoe.logit_scale")
            b[i:i + 4] = struct.pack("<f", -6.0)
            return bytes(b)
        case("logit_scale", neg_scale, "'granitemoe.logit_scale' is not a positive number")


# ---- HF folders ------------------------------------------------------------------------

def hf_cases(family):
    base = os.path.join(WORK, family + "_hf")
    shutil.rmtree(base, ignore_errors=True)
    make(family, base, "hf")
    ekey = FAMILIES[family][4]

    def folder(name):
        d = os.path.join(WORK, "%s_hf_%s" % (family, name))
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for f in os.listdir(base):
            os.link(os.path.join(base, f), os.path.join(d, f))
        return d

    def cfg_case(name, mutate, sub, names_folder=False):
        d = folder(name)
        p = os.path.join(d, "config.json")
        c = json.load(open(p))
        mutate(c)
        os.unlink(p)
        with open(p, "w") as f:
            json.dump(c, f)
        expect("%s hf %s" % (family, name), d, sub, target=d if names_folder else p)

    def st_case(name, old, new, sub):
        d = folder(name)
        p = os.path.join(d, "model.safetensors")
        b = bytearray(open(p, "rb").read())
        i = b.find(old.encode())
        assert i >= 0 and len(old) == len(new), old
        b[i:i + len(old)] = new.encode()
        os.unlink(p)
        open(p, "wb").write(bytes(b))
        expect("%s hf %s" % (family, name), d, sub)

    cfg_case("k_gt_e", lambda c: c.update({"num_experts_per_tok": 5}), "exceeds " + ekey)
    cfg_case("unknown_arch", lambda c: c.update({"architectures": ["FooMoeForCausalLM"]}),
             "unsupported architecture 'FooMoeForCausalLM'")
    st_case("missing_ffn_norm", "layers.1.post_attention_layernorm",
            "layers.1.post_attention_layernxrm", "missing tensor 'model.layers.1.post_attention")
    if family in ("olmoe", "qwen3moe"):
        st_case("missing_q_norm", "layers.0.self_attn.q_norm", "layers.0.self_attn.x_norm",
                "missing tensor 'model.layers.0.self_attn.q_norm.weight'")
        cfg_case("norm_topk_type", lambda c: c.update({"norm_topk_prob": "yes"}),
                 "'norm_topk_prob' must be a boolean")
        cfg_case("attention_bias", lambda c: c.update({"attention_bias": True}),
                 "'attention_bias' = true is not supported")
    if family == "qwen2moe":
        st_case("missing_k_bias", "layers.0.self_attn.k_proj.bias",
                "layers.0.self_attn.k_proj.bixs", "missing tensor 'model.layers.0.self_attn.k_proj.bias'")
        cfg_case("shared_width", lambda c: c.update({"shared_expert_intermediate_size": 16}),
                 "shared_expert.gate_proj.weight' has shape", names_folder=True)
    if family in ("qwen2moe", "qwen3moe"):
        cfg_case("mlp_only_range", lambda c: c.update({"mlp_only_layers": [7]}),
                 "'mlp_only_layers' holds")
        # a dense layer the folder has no dense MLP for
        cfg_case("mlp_only_missing", lambda c: c.update({"mlp_only_layers": [1]}),
                 "missing tensor 'model.layers.1.mlp.gate_proj.weight'", names_folder=True)
        cfg_case("moe_width_missing", lambda c: c.pop("moe_intermediate_size"),
                 "missing field 'moe_intermediate_size'")
    if family == "granitemoe":
        cfg_case("multiplier", lambda c: c.update({"residual_multiplier": -1}),
                 "'residual_multiplier' must be a positive number")
        st_case("missing_experts", "block_sparse_moe.input_linear",
                "block_sparse_moe.input_lineax", "input_linear.weight'")


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    for family in FAMILIES:
        gguf_cases(family)
        hf_cases(family)
    if failures:
        print("\n%d case(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all %d families' corrupt cases refused cleanly" % len(FAMILIES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
