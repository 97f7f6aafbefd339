"""test_deepseek2_oracle.py — GGUF `deepseek2` (DeepSeek-V2/V3: multi-head latent attention,
leading dense layers, ungated shared experts, V2 softmax and V3 sigmoid + selection bias +
group-limited routers, YaRN with DeepSeek's attention-scale correction) against llama.cpp (node-llama-cpp, src/models/deepseek2.cpp), on
`moescope make-model --arch deepseek2` fixtures.

Routes: for each MoE layer L a "router probe" copy (layers 0..L, layer L's routed and shared
down projections zeroed, output_norm := layer L's ffn_norm, output := layer L's router padded
with zero rows) gives llama.cpp's router logits: log p[e] - log p[E] (token E's logit is 0).
The routing rule is then applied here in numpy, independently of engine/router_v3.c: softmax
or sigmoid scores, + exp_probs_b (read from the file with gguf-py) for the selection only,
groups scored by their top-2 sum with the best topk_group kept, top-k by score (lower id first
on ties), weights = unbiased scores of the chosen, renormalised if expert_weights_norm, times
expert_weights_scale. moescope's `route --json` must choose the same experts in the same order
(a swap whose scores differ by at most 1e-4 relative is a near tie, counted not failed) and
apply the same weights within 1e-4. Next-token distributions (`eval --json`) agree with
llama.cpp's within test_families_oracle.compare_next's tolerance (max |dlogp| 5e-4 over tokens
with p >= 1e-4 p_max, max |dp| 1e-5, same top 10).

usage: test_deepseek2_oracle.py MOESCOPE TESTS_DIR WORK_DIR
"""
import sys

import mstest
import test_deepseek_oracle as dso  # noqa: E402
import test_families_oracle as fo  # noqa: E402  (same argv layout: MOESCOPE TESTS WORK)

np = fo.np
SCALE = 1.5  # make-model's expert_weights_scale for the DeepSeek families
N_LAYER = 3
STOL = 1e-4  # relative score gap below which two experts may swap ranks

# tag, experts, k, make-model options, leading dense layers, sigmoid, groups (n, used), norm
VARIANTS = [
    ("v2lite", 64, 6, ["--shared-experts", "2", "--dense-lead", "1", "--yarn", "4"], 1, False,
     None, False),
    ("v2qlora", 16, 4, ["--shared-experts", "1", "--q-lora", "48", "--kv-b-fused",
                        "--v-head-dim", "24", "--expert-norm"], 0, False, None, True),
    ("v3", 32, 4, ["--shared-experts", "1", "--q-lora", "32", "--dense-lead", "1",
                   "--sigmoid-router", "--groups", "4", "--groups-used", "2",
                   "--expert-norm", "--yarn", "8"], 1, True, (4, 2), True),
]


def probe_models(f32_path, tag, moe_layers):
    """test_deepseek_oracle's router probes, and each MoE layer's exp_probs_b (or None)."""
    _, _, t = fo.read_f32(f32_path)
    return dso.probe_models(f32_path, tag, moe_layers), \
        {L: t.get("blk.%d.exp_probs_b.bias" % L) for L in moe_layers}


def reference_route(logits, k, sigmoid, bias, groups, norm):
    """(ids, weights, selection scores, group-gap) by the rule of llama.cpp's build_moe_ffn."""
    lg = np.asarray(logits, dtype=np.float64)
    if sigmoid:
        p = 1.0 / (1.0 + np.exp(-lg))
    else:
        p = np.exp(lg - lg.max())
        p /= p.sum()
    sel = p + (bias.astype(np.float64) if bias is not None else 0.0)
    gap = np.inf
    if groups:
        n, used = groups
        g = sel.reshape(n, -1)
        gs = np.sort(g, axis=1)[:, -2:].sum(axis=1)
        order = sorted(range(n), key=lambda i: (-gs[i], i))
        gap = gs[order[used - 1]] - gs[order[used]]
        masked = sel.copy().reshape(n, -1)
        for i in order[used:]:
            masked[i, :] = -np.inf
        sel = masked.reshape(-1)
    ids = sorted(range(len(sel)), key=lambda e: (-sel[e], e))[:k]
    w = p[ids]
    if norm:
        w = w / max(w.sum(), 6.103515625e-5)
    return ids, SCALE * w, sel, gap


def check_routes(tag, k, v, routes, probe_out, biases, stats):
    _, ne, _, _, _, sigmoid, groups, norm = v
    bad = 0
    for li, probs in enumerate(probe_out):
        L = routes["layers"][li]
        lp = np.log(np.maximum(np.array(probs, dtype=np.float64), 1e-300))
        for pos, tok in enumerate(routes["tokens"]):
            ours, w_ours = tok["experts"][li], tok["weights"][li]
            logits = lp[pos][:ne] - lp[pos][ne]  # token ne's logit is 0
            ids, w_ref, sel, gap = reference_route(logits, k, sigmoid, biases[L], groups, norm)
            if ours != ids:
                # near ties: the first differing rank's scores, or the last kept group's score
                r = next(i for i in range(k) if ours[i] != ids[i])
                a, b = sel[ours[r]], sel[ids[r]]
                tie = (np.isfinite(a) and abs(a - b) <= STOL * max(abs(a), abs(b))) or \
                    gap <= STOL * 2
                if tie:
                    stats["ties"] += 1
                else:
                    bad += 1
                    if bad <= 5:
                        print("%s: layer %d pos %d: moescope %s, llama.cpp %s" %
                              (tag, L, pos, ours, ids))
                stats["checked"] += 1
                continue
            dw = np.abs(w_ref - np.array(w_ours)).max()
            stats["dw"] = max(stats["dw"], dw)
            if dw > fo.WTOL:
                bad += 1
                if bad <= 5:
                    print("%s: layer %d pos %d: weights differ by %.2e" % (tag, L, pos, dw))
            stats["checked"] += 1
    return bad


def main():
    failures = 0
    next_jobs, next_checks, probe_jobs, probe_checks = [], [], [], []
    for v in VARIANTS:
        name, ne, k, extra, lead = v[:5]
        moe_layers = list(range(lead, N_LAYER))
        for typ in fo.TYPES:
            tag = "%s_%s" % (name, typ.lower())
            model, ref = dso.fixture("deepseek2", tag, typ, [
                "--experts", str(ne), "--k", str(k), "--d-model", "128", "--ff", "64",
                "--layers", str(N_LAYER), "--heads", "4", "--head-dim", "32", "--seed", "11",
                "-q"] + extra)
            probes, biases = probe_models(ref, tag, moe_layers)
            if v[5] and any(biases[L] is None for L in moe_layers):
                print("%s: the sigmoid fixture has no exp_probs_b" % tag)
                failures += 1
            prompts, ours = [], []
            for d, probs, routes in dso.prompt_runs(tag, model, ne, k, moe_layers):
                prompts.append(d["ids"])
                ours.append(probs)
                if routes is None:
                    failures += 1
                    continue
                probe_checks.append((tag, k, v, routes, len(probe_jobs), biases))
                for pm in probes:
                    probe_jobs.append({"model": pm, "prompt": d["ids"], "n_first": ne + 1})
            next_jobs.append({"model": ref, "prompts": prompts, "all_positions": False})
            next_checks.append((tag, ours, len(next_jobs) - 1))
    probe_out = fo.node("families_oracle.mjs", probe_jobs, "ds2_probes")
    stats = {"ties": 0, "checked": 0, "dw": 0.0}
    for tag, k, v, routes, j0, biases in probe_checks:
        outs = [probe_out[j0 + i]["probs"] for i in range(len(routes["layers"]))]
        b = check_routes(tag, k, v, routes, outs, biases, stats)
        if b:
            print("%s: %d route mismatches   FAIL" % (tag, b))
            failures += 1
    print("routes: %d (layer, token) pairs checked, %d near-tie swaps, max |dweight| %.2e" %
          (stats["checked"], stats["ties"], stats["dw"]))
    if stats["checked"] == 0 or stats["ties"] > stats["checked"] // 50:
        failures += 1
    next_out = fo.node("forward_oracle.mjs", next_jobs, "ds2_next")
    failures += mstest.next_failures(next_checks, next_out, fo.compare_next)
    return mstest.summary(failures, "all deepseek2 oracle checks passed")


if __name__ == "__main__":
    sys.exit(main())
