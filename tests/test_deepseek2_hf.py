"""test_deepseek2_hf.py — Hugging Face DeepseekV2ForCausalLM / DeepseekV3ForCausalLM folders
against GGUF `deepseek2` files of the same weights (`make-model --arch deepseek2` with the same
options; the GGUF side is checked against llama.cpp by test_deepseek2_oracle.py).

For each variant (V2-Lite-like: no q low-rank, dense lead, YaRN with mscale_all_dim; V2 with
q low-rank, expert_weights_norm; V3: sigmoid + e_score_correction_bias + n_group/topk_group
noaux_tc, q low-rank, YaRN), F32 both sides (BF16 folders round the norms and the router too,
which GGUF fixtures keep in F32, so they are not the same model): `route --json` gives the same
experts in the same order at every MoE layer and token and weights within 1e-6; `eval --json` next-token
distributions agree within max |dp| 1e-6; `inspect --json` reports the same hyper-parameters
(latent attention sizes, kq scale, router kind, groups, scale, dense layers); the config.json
the fixture writes names the V3 class for the sigmoid router; routes are the same at 1 and 2
threads and packed capture windows store what one document per pass stores. Also a config.json with DeepSeek-V2
-Lite's real sizes (no weights) is read as the model card says, through `inspect`'s error path
for the missing weights only.

usage: test_deepseek2_hf.py MOESCOPE WORK_DIR
"""
import json
import os
import sys

import mstest

MS, WORK = sys.argv[1:3]
mstest.fresh_dir(WORK)
fails = []
run = mstest.runner(MS, fails, show=3, tail=1500)

VARIANTS = [
    ("v2lite", ["--experts", "64", "--k", "6", "--shared-experts", "2", "--dense-lead", "1",
                "--yarn", "4"]),
    ("v2q", ["--experts", "16", "--k", "4", "--shared-experts", "1", "--q-lora", "48",
             "--v-head-dim", "24", "--expert-norm"]),
    ("v3", ["--experts", "32", "--k", "4", "--shared-experts", "1", "--q-lora", "32",
            "--dense-lead", "1", "--sigmoid-router", "--groups", "4", "--groups-used", "2",
            "--expert-norm", "--yarn", "8"]),
]
TEXT = ("The history of the river valley is a story of floods and harvests. Farmers built "
        "terraces on the slopes, and merchants carried grain down to the harbour towns.\n"
        "def add(a, b):\n    return a + b\n")


prompt = os.path.join(WORK, "prompt.txt")
with open(prompt, "w") as f:
    f.write(TEXT)

HP_KEYS = ["n_layer", "n_head", "d_head", "n_expert", "n_expert_used", "router", "d_ff",
           "d_ff_shared", "d_ff_dense", "n_shared_experts", "expert_weights_scale",
           "selection_bias", "expert_weights_norm", "n_group", "topk_group", "mla"]

for name, opts in VARIANTS:
    for typ, wtol in (("F32", 1e-6),):
        tag = "%s_%s" % (name, typ.lower())
        common = ["--d-model", "128", "--ff", "64", "--layers", "3", "--heads", "4",
                  "--head-dim", "32", "--seed", "5", "-q", "--type", typ] + opts
        gg, hf = os.path.join(WORK, tag + ".gguf"), os.path.join(WORK, tag + ".hf")
        run("make-model", "--arch", "deepseek2", "--out", gg, *common)
        run("make-model", "--arch", "deepseek2", "--format", "hf", "--out", hf, *common)
        if not (os.path.exists(gg) and os.path.isdir(hf)):
            continue
        cfg = json.load(open(os.path.join(hf, "config.json")))
        want_cls = "DeepseekV3ForCausalLM" if "--sigmoid-router" in opts else \
            "DeepseekV2ForCausalLM"
        if cfg["architectures"] != [want_cls]:
            fails.append("%s: config architectures %s" % (tag, cfg["architectures"]))
        ig = json.loads(run("inspect", "--json", gg).stdout or "{}")
        ih = json.loads(run("inspect", "--json", hf).stdout or "{}")
        hg, hh = ig.get("hparams", {}), ih.get("hparams", {})
        for k in HP_KEYS:
            a, b = hg.get(k), hh.get(k)
            if k == "mla" and a and b:
                a = {x: y for x, y in a.items() if x != "kv_b"}
                b = {x: y for x, y in b.items() if x != "kv_b"}
                if abs(a.pop("kq_scale") - b.pop("kq_scale")) > 1e-6 * abs(b.get("kq_scale", 1)):
                    fails.append("%s: kq_scale differs" % tag)
            if a != b:
                fails.append("%s: hparams.%s: GGUF %s, HF %s" % (tag, k, a, b))
        rg = json.loads(run("route", "--model", gg, "--file", prompt, "--json", "--threads",
                            "2").stdout or "{}")
        rh = json.loads(run("route", "--model", hf, "--file", prompt, "--json", "--threads",
                            "2").stdout or "{}")
        if not rg.get("tokens") or rg.get("layers") != rh.get("layers") or \
                len(rg["tokens"]) != len(rh.get("tokens", [])):
            fails.append("%s: route outputs differ in shape" % tag)
            continue
        dw, bad = 0.0, 0
        for a, b in zip(rg["tokens"], rh["tokens"]):
            if a["experts"] != b["experts"]:
                bad += 1
                continue
            for wa, wb in zip(a["weights"], b["weights"]):
                dw = max(dw, max(abs(x - y) for x, y in zip(wa, wb)))
        n = len(rg["tokens"]) * len(rg["layers"])
        print("%-12s routes: %d tokens x %d MoE layers, %d differ, max |dweight| %.1e" %
              (tag, len(rg["tokens"]), len(rg["layers"]), bad, dw))
        if bad or dw > wtol:
            fails.append("%s: HF and GGUF routes differ (%d tokens, max |dw| %.2e)" %
                         (tag, bad, dw))
        eg = json.loads(run("eval", "--model", gg, "--file", prompt, "--json", "--top", "50",
                            "--threads", "2").stdout or "{}")
        eh = json.loads(run("eval", "--model", hf, "--file", prompt, "--json", "--top", "50",
                            "--threads", "2").stdout or "{}")
        pg = {t["id"]: t["prob"] for t in eg.get("top", [])}
        ph = {t["id"]: t["prob"] for t in eh.get("top", [])}
        dp = max([abs(pg[i] - ph.get(i, 0.0)) for i in pg] or [1.0])
        print("%-12s next token: max |dp| %.1e over the top 50" % (tag, dp))
        if dp > 1e-6:
            fails.append("%s: next-token distributions differ by %.2e" % (tag, dp))

# Determinism of the latent attention and the DeepSeek routers: routes at 1 and 2 threads are
# identical, and packed capture windows (several documents per pass) store exactly what one
# document per pass stores.
v3 = os.path.join(WORK, "v3_f32.hf")
r1 = run("route", "--model", v3, "--file", prompt, "--json", "--threads", "1").stdout
r2 = run("route", "--model", v3, "--file", prompt, "--json", "--threads", "2").stdout
if not r1 or r1 != r2:
    fails.append("routes differ between 1 and 2 threads")
manifest = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpora", "samples",
                        "manifest.json")
stores = []
for extra in ([], ["--no-pack"]):
    st = os.path.join(WORK, "pack%d.h5" % len(extra))
    run("capture", "--model", v3, "--corpus", manifest, "--out", st, "--layers", "all",
        "--max-docs", "6", "--threads", "2", "-q", *extra)
    stores.append(st)
try:
    import h5py
    import numpy as np
    with h5py.File(stores[0], "r") as a, h5py.File(stores[1], "r") as b:
        for ds in ("/routing/expert", "/routing/weight"):
            if not np.array_equal(a[ds][()], b[ds][()]):
                fails.append("packed and unpacked captures differ in %s" % ds)
        print("packed vs unpacked capture: %d tokens, identical: %s" %
              (a["/routing/weight"].shape[0], not fails))
except OSError as e:
    fails.append("capture stores unreadable: %s" % e)

# DeepSeek-V2-Lite's config.json (sizes of the model card), no weights: the config is read and
# the first missing tensor is named (exit 2), not the config refused.
lite = os.path.join(WORK, "v2lite-config")
os.makedirs(lite)
cfg = {"architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
       "vocab_size": 102400, "hidden_size": 2048, "intermediate_size": 10944,
       "moe_intermediate_size": 1408, "num_hidden_layers": 27, "num_attention_heads": 16,
       "num_key_value_heads": 16, "n_shared_experts": 2, "n_routed_experts": 64,
       "routed_scaling_factor": 1.0, "kv_lora_rank": 512, "q_lora_rank": None,
       "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
       "topk_method": "greedy", "n_group": 1, "topk_group": 1, "num_experts_per_tok": 6,
       "moe_layer_freq": 1, "first_k_dense_replace": 1, "norm_topk_prob": False,
       "scoring_func": "softmax", "hidden_act": "silu", "max_position_embeddings": 163840,
       "rms_norm_eps": 1e-06, "rope_theta": 10000, "tie_word_embeddings": False,
       "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707,
                        "mscale_all_dim": 0.707, "original_max_position_embeddings": 4096,
                        "type": "yarn"}}
with open(os.path.join(lite, "config.json"), "w") as f:
    json.dump(cfg, f)
with open(os.path.join(lite, "model.safetensors"), "wb") as f:
    hdr = b'{"__metadata__":{"format":"pt"}}'
    f.write(len(hdr).to_bytes(8, "little") + hdr)
r = run("inspect", lite, rc=2)
err = r.stderr.strip().splitlines()
if len(err) != 1 or "model.embed_tokens.weight" not in err[0]:
    fails.append("V2-Lite config: want one line naming the first missing tensor, got %r" % err)

for f_ in fails:
    print("FAIL:", f_)
print("%d failure(s)" % len(fails))
sys.exit(1 if fails else 0)
