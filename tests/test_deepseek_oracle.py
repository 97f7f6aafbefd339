"""test_deepseek_oracle.py — GGUF `deepseek` (DeepSeek-MoE-16B layout) against llama.cpp
(node-llama-cpp, src/models/deepseek.cpp), on `moescope make-model --arch deepseek` fixtures:
leading dense layers, routed experts (softmax over E, top-k, no renormalisation, weights times
expert_weights_scale = 1.5) and shared experts added without a gate.

The method is test_families_oracle.py's (its helpers are reused): for each MoE layer L a
"router probe" copy (layers 0..L, layer L's routed and shared down projections zeroed,
output_norm := layer L's ffn_norm, output := layer L's router padded to the vocabulary), whose
next-token probabilities of tokens 0..E-1 are softmax(router logits). moescope's `route --json`
must give the same experts in the same order (near ties within 1e-4 in logit counted, not
failed) and weights = 1.5 x softmax within 1e-4. Dense layers must not appear in the routes.
Next-token distributions (`eval --json`) agree with llama.cpp's within the families tolerance.

usage: test_deepseek_oracle.py MOESCOPE TESTS_DIR WORK_DIR
"""
import os
import sys

import mstest
import test_families_oracle as fo  # noqa: E402  (same argv layout: MOESCOPE TESTS WORK)

np = fo.np
SCALE = 1.5  # make-model's expert_weights_scale for deepseek

# tag, experts, k, extra make-model options, leading dense layers
VARIANTS = [
    ("ds64", 64, 6, ["--shared-experts", "2", "--dense-lead", "1"], 1),
    ("ds16", 16, 4, ["--shared-experts", "1"], 0),
]
N_LAYER = 3


def probe_models(f32_path, tag, moe_layers):
    return fo.probe_models(f32_path, tag, moe_layers)


def check_routes(tag, k, routes, probe_out, stats):
    return fo.check_routes(tag, "deepseek", k, routes, probe_out, stats, scale=SCALE)


def fixture(arch, tag, typ, opts):
    """make-model's GGUF of arch (type typ, options opts) and its F32 reference: itself, or a
    copy whose weights gguf-py dequantized."""
    model = os.path.join(fo.WORK, tag + ".gguf")
    fo.run([fo.MOESCOPE, "make-model", "--arch", arch, "--out", model, "--type", typ] + opts)
    ref = model
    if typ != "F32":
        ref = os.path.join(fo.WORK, tag + ".f32.gguf")
        fo.f32_copy(model, ref)
    return model, ref


def prompt_runs(tag, model, ne, k, moe_layers):
    """(eval JSON, next-token probabilities, route JSON) of each prompt; the route JSON is None
    (and the problem printed) when route reports another E, k, layer list or tokens."""
    for text in fo.PROMPTS:
        path = fo.write_prompt(text)
        d, probs = mstest.eval_probs(fo.MOESCOPE, model, path)
        routes = mstest.route_json(fo.MOESCOPE, model, path)
        if routes["n_expert"] != ne or routes["k"] != k or routes["layers"] != moe_layers or \
                [t["id"] for t in routes["tokens"]] != d["ids"]:
            print("%s: route reports E=%d k=%d layers %s (want %s) or other tokens" %
                  (tag, routes["n_expert"], routes["k"], routes["layers"], moe_layers))
            routes = None
        yield d, probs, routes


def main():
    failures = 0
    next_jobs, next_checks, probe_jobs, probe_checks = [], [], [], []
    for name, ne, k, extra, lead in VARIANTS:
        moe_layers = list(range(lead, N_LAYER))
        for typ in fo.TYPES:
            tag = "%s_%s" % (name, typ.lower())
            model, ref = fixture("deepseek", tag, typ, [
                "--experts", str(ne), "--k", str(k), "--d-model", "128", "--ff", "64",
                "--layers", str(N_LAYER), "--heads", "4", "--kv-heads", "2", "--seed", "7",
                "-q"] + extra)
            probes = probe_models(ref, tag, moe_layers)
            prompts, ours = [], []
            for d, probs, routes in prompt_runs(tag, model, ne, k, moe_layers):
                prompts.append(d["ids"])
                ours.append(probs)
                if routes is None:
                    failures += 1
                    continue
                probe_checks.append((tag, k, routes, len(probe_jobs), len(moe_layers)))
                for pm in probes:
                    probe_jobs.append({"model": pm, "prompt": d["ids"], "n_first": ne})
            next_jobs.append({"model": ref, "prompts": prompts, "all_positions": False})
            next_checks.append((tag, ours, len(next_jobs) - 1))
    probe_out = fo.node("families_oracle.mjs", probe_jobs, "ds_probes")
    stats = {"ties": 0, "checked": 0, "dw": 0.0}
    for tag, k, routes, j0, nl in probe_checks:
        outs = [probe_out[j0 + i]["probs"] for i in range(nl)]
        b = check_routes(tag, k, routes, outs, stats)
        if b:
            print("%s: %d route mismatches   FAIL" % (tag, b))
            failures += 1
    print("routes: %d (layer, token) pairs checked, %d near-tie swaps, max |dweight| %.2e" %
          (stats["checked"], stats["ties"], stats["dw"]))
    if stats["checked"] == 0:
        failures += 1
    next_out = fo.node("forward_oracle.mjs", next_jobs, "ds_next")
    failures += mstest.next_failures(next_checks, next_out, fo.compare_next)
    return mstest.summary(failures, "all deepseek oracle checks passed")


if __name__ == "__main__":
    sys.exit(main())
