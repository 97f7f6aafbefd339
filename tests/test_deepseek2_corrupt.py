"""test_deepseek2_corrupt.py — bad `deepseek2` GGUF files, bad DeepseekV2/V3 config.json files
and refused requests: each must give exit status 2 and exactly one line "moescope: error: ..."
naming the file (or option) and the problem, never a crash (under ASan/UBSan this is the
sanitizer check of the latent-attention loader and router configuration).

GGUF files are edits of a `make-model --arch deepseek2` fixture (q low-rank, split attn_k_b /
attn_v_b, sigmoid router with groups, expert_weights_norm, YaRN) through
test_deepseek_corrupt.py's GGUF rewriter: missing or out-of-range latent-attention keys, an
inconsistent key_length_mla / value_length_mla pair, odd rope dims, an unknown gating function,
expert groups that do not fit, a non-boolean expert_weights_norm, a negative YaRN multiplier,
missing latent-attention tensors. HF folders: edits of the fixture's config.json.

usage: test_deepseek2_corrupt.py MOESCOPE WORKDIR
"""
import json
import os
import shutil
import struct
import sys

import test_deepseek_corrupt as dc  # noqa: E402  (same argv layout: MOESCOPE WORKDIR)

WORK = os.path.join(dc.WORK, "ds2")
os.makedirs(WORK, exist_ok=True)
OPTS = ["--d-model", "32", "--heads", "2", "--head-dim", "16", "--ff", "8", "--experts", "8",
        "--k", "2", "--layers", "3", "--dense-lead", "1", "--q-lora", "16", "--sigmoid-router",
        "--groups", "4", "--groups-used", "2", "--expert-norm", "--yarn", "4", "-q"]


def make(out, *extra):
    r = dc.run("make-model", "--arch", "deepseek2", "--out", out, *OPTS, *extra)
    if r.returncode != 0:
        sys.exit("make-model %s failed: %s" % (out, r.stderr.decode()))


def main():
    base = os.path.join(WORK, "base.gguf")
    make(base, "--type", "F16")
    r = dc.run("inspect", "--no-tensors", base)
    out = r.stdout.decode()
    if r.returncode != 0 or "latent attn" not in out or "2 of 4 expert groups" not in out:
        sys.exit("base fixture does not open as expected: %s%s" % (out, r.stderr.decode()))

    def v(tag, **kw):
        return dc.variant(base, os.path.join(WORK, tag + ".gguf"), **kw)

    u32 = lambda x: (4, struct.pack("<I", x))  # noqa: E731
    f32 = lambda x: (6, struct.pack("<f", x))  # noqa: E731
    K = "deepseek2."
    cases = [
        ("no kv_lora_rank", v("nokvr", drop_keys={K + "attention.kv_lora_rank"}),
         K + "attention.kv_lora_rank"),
        ("kv_lora_rank 0", v("kvr0", set_keys={K + "attention.kv_lora_rank": u32(0)}),
         K + "attention.kv_lora_rank"),
        ("key_length_mla alone", v("kmla", drop_keys={K + "attention.value_length_mla"}),
         "latent attention layout"),
        ("rope dims odd", v("rope15", set_keys={K + "rope.dimension_count": u32(15)}),
         "latent attention layout"),
        ("rope dims >= key", v("rope32", set_keys={K + "rope.dimension_count": u32(32)}),
         "latent attention layout"),
        ("key_length wrong", v("klen", set_keys={K + "attention.key_length": u32(40)}),
         "latent attention layout"),
        ("no rope dims", v("norope", drop_keys={K + "rope.dimension_count"}),
         K + "rope.dimension_count"),
        ("gating func 3", v("gate3", set_keys={K + "expert_gating_func": u32(3)}),
         K + "expert_gating_func"),
        ("groups 3 of 8 experts", v("grp3", set_keys={K + "expert_group_count": u32(3)}),
         "expert groups"),
        ("groups used = count", v("grpall", set_keys={K + "expert_group_used_count": u32(4)}),
         "expert groups"),
        ("weights norm not bool", v("normu32", set_keys={K + "expert_weights_norm": u32(1)}),
         K + "expert_weights_norm"),
        ("yarn multiplier < 0", v("ylm", set_keys={K + "rope.scaling.yarn_log_multiplier":
                                                   f32(-0.1)}),
         K + "rope.scaling.yarn_log_multiplier"),
        ("no attn_k_b", v("nokb", drop_tensors={"blk.1.attn_k_b.weight"}),
         "blk.1.attn_k_b.weight"),
        ("no attn_v_b", v("novb", drop_tensors={"blk.2.attn_v_b.weight"}),
         "blk.2.attn_v_b.weight"),
        ("no kv_a norm", v("nokvn", drop_tensors={"blk.0.attn_kv_a_norm.weight"}),
         "blk.0.attn_kv_a_norm.weight"),
        ("no q_a norm", v("noqan", drop_tensors={"blk.1.attn_q_a_norm.weight"}),
         "blk.1.attn_q_a_norm.weight"),
        ("no kv_a_mqa", v("nokva", drop_tensors={"blk.2.attn_kv_a_mqa.weight"}),
         "blk.2.attn_kv_a_mqa.weight"),
        ("q_lora_rank 0 (no attn_q)", v("qr0", set_keys={K + "attention.q_lora_rank": u32(0)}),
         "blk.0.attn_q.weight"),
    ]
    dc.expect_files(cases, "no attn_v_b")

    # HF folders: edits of the fixture's config.json
    hf = os.path.join(WORK, "base.hf")
    shutil.rmtree(hf, ignore_errors=True)
    make(hf, "--format", "hf")
    cfg0 = json.load(open(os.path.join(hf, "config.json")))
    hf_cases = [
        ("scoring_func relu", {"scoring_func": "relu"}, "scoring_func"),
        ("topk_method other", {"topk_method": "top1"}, "topk_method"),
        ("q_lora_rank a string", {"q_lora_rank": "16"}, "q_lora_rank"),
        ("kv_lora_rank 0", {"kv_lora_rank": 0}, "kv_lora_rank"),
        ("rope head dim odd", {"qk_rope_head_dim": 15}, "qk_rope_head_dim"),
        ("groups 3", {"n_group": 3}, "n_group"),
        ("no shared experts", {"n_shared_experts": 0}, "n_shared_experts"),
        ("dense lead = layers", {"first_k_dense_replace": 3}, "first_k_dense_replace"),
        ("norm not bool", {"norm_topk_prob": 1}, "norm_topk_prob"),
        ("kv_b of other rank", {"kv_lora_rank": 24}, "kv_a_proj_with_mqa"),
    ]
    for i, (name, edit, sub) in enumerate(hf_cases):
        d = os.path.join(WORK, "hf%d" % i)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(hf, d)
        cfg = dict(cfg0, **edit)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        dc.expect("hf " + name, ["inspect", "--no-tensors", d], sub, d)

    dc.expect("mla options on deepseek",
              ["make-model", "--arch", "deepseek", "--out", os.path.join(WORK, "x.gguf"),
               "--q-lora", "8"], "deepseek2", "fixture")
    dc.expect("groups that do not fit",
              ["make-model", "--arch", "deepseek2", "--out", os.path.join(WORK, "y.gguf"),
               "--experts", "8", "--k", "4", "--groups", "4", "--groups-used", "1"],
              "expert groups", "fixture")

    return dc.result("deepseek2")


if __name__ == "__main__":
    sys.exit(main())
