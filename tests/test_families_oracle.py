"""test_families_oracle.py — the MoE families (OLMoE, Qwen2-MoE, Qwen3-MoE, Granite-MoE, and
Mixtral as the control) against llama.cpp (node-llama-cpp's prebuilt CPU build, which ships
all four architectures), on `moescope make-model --arch` fixtures.

For each family, an F32 GGUF fixture and a Q8_0 one (compared through an F32 copy whose
weights gguf-py dequantized: the numbers moescope multiplies), with the family's routing shape
(OLMoE 64 experts k=8, Qwen3-MoE 128 experts k=8 and head_dim != d_model/heads, Qwen2-MoE 60
experts k=4 + shared expert, Granite 40 experts k=8):

1. Router top-k at every layer and token equals llama.cpp's. llama.cpp exposes no router
   outputs through node-llama-cpp, so for each layer L the test builds a "router probe" copy:
   layers 0..L only, layer L's expert (and shared expert) down projections zeroed so the
   residual after layer L is the router's input, output_norm := layer L's ffn_norm and
   output := layer L's router padded with zero rows to the vocabulary (Granite: logit scale 1).
   llama.cpp's next-token probabilities of tokens 0..E-1 are then softmax(router logits)/Z,
   so log p[e] - log p[e'] is the router-logit difference llama.cpp computed. moescope's
   `route --json` on the original fixture must give the same experts in the same rank order
   (a swap between two experts whose logits differ by < 1e-4 is a near tie and is counted,
   not failed), and the same weights (softmax over E from llama.cpp's logits, renormalised
   over the k or not as the family's router does) within 1e-4.
   The F32 fixture is also written as a Hugging Face folder (same weights): its routes and
   next-token distributions get the same checks against the same llama.cpp results.
2. Next-token distributions after each prompt agree (`eval --json` against
   tests/oracle/forward_oracle.mjs): max |log p - log p_llama| <= 5e-4 over tokens with
   p >= 1e-4 p_max, max |dp| <= 1e-5, same top-10.

usage: test_families_oracle.py MOESCOPE TESTS_DIR WORK_DIR [FAMILY...]
"""
import math
import os
import sys

MOESCOPE, TESTS, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
ONLY = sys.argv[4:]
ORACLE = os.path.join(TESTS, "oracle")
os.makedirs(WORK, exist_ok=True)
sys.path.insert(0, TESTS)
import gguf_llama_src  # noqa: E402
import mstest  # noqa: E402

np, gguf, _ = gguf_llama_src.import_gguf(TESTS, WORK)

# family, experts, k, extra make-model options
FAMILIES = [
    ("mixtral", 8, 2, []),
    ("olmoe", 64, 8, ["--kv-heads", "4"]),  # llama.cpp's OLMoE k_norm is {n_embd}: no GQA
    ("qwen2moe", 60, 4, ["--shared-ff", "96"]),
    ("qwen3moe", 128, 8, ["--head-dim", "64"]),
    ("granitemoe", 40, 8, []),
]
# YaRN RoPE scaling (rope.scaling.* / rope_scaling) on both RoPE layouts, F32 only: the
# variant's name, its family, experts, k, options
VARIANTS = [
    ("mixtral-yarn", "mixtral", 8, 2, ["--yarn", "4", "--ctx", "128"]),
    ("qwen3moe-yarn", "qwen3moe", 16, 4, ["--head-dim", "64", "--yarn", "8", "--ctx", "256"]),
]
TYPES = ["F32", "Q8_0"]
PARA = ("The history of the river valley is a story of floods and harvests. Farmers "
        "built terraces on the slopes, and merchants carried grain, wool and salt down to "
        "the harbour towns, where ships waited for the spring winds. ")
PROMPTS = ["Hello", "def add(a, b):\n    return a + b\n\nprint(add(2, 3))", PARA * 2]
TIE = 1e-4   # router-logit gap below which two experts may swap ranks
WTOL = 1e-4  # weights


run = mstest.must  # (other oracle tests use fo.run, fo.node, fo.write_prompt ...)


def write_prompt(text):
    path = os.path.join(WORK, "prompt.txt")
    with open(path, "w") as f:
        f.write(text)
    return path


NODE = mstest.NODE


def node(script, jobs, tag):
    return mstest.node_json(script, jobs, WORK, tag, ORACLE)


def read_f32(path):
    """(arch, fields, {name: f32 array in numpy (ggml reversed) shape}) of a GGUF file."""
    reader = gguf.GGUFReader(path)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    tensors = {}
    for t in reader.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        tensors[t.name] = a.reshape([int(x) for x in reversed(t.shape)])
    return arch, reader, tensors


def write_gguf(dst, arch, reader, tensors, overrides):
    writer = gguf.GGUFWriter(dst, arch)
    mstest.gguf_copy_kv(gguf, writer, reader, overrides)
    for name, a in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
    mstest.gguf_finish(writer)


def probe_models(f32_path, tag, layers):
    """Router probe copies (see the module doc), one per layer of `layers` (a list, or a count
    n for layers 0..n-1)."""
    arch, reader, t = read_f32(f32_path)
    n_vocab = t["token_embd.weight"].shape[0]
    out = []
    for L in range(layers) if isinstance(layers, int) else layers:
        sel = {"token_embd.weight": t["token_embd.weight"]}
        for name, a in t.items():
            if name.startswith("blk."):
                il = int(name.split(".")[1])
                if il < L:
                    sel[name] = a
                elif il == L:
                    zero = name.startswith("blk.%d.ffn_down" % L)  # _exps and _shexp
                    sel[name] = np.zeros_like(a) if zero else a
        router = t["blk.%d.ffn_gate_inp.weight" % L]  # (E, d)
        head = np.zeros((n_vocab, router.shape[1]), dtype=np.float32)
        head[: router.shape[0]] = router
        sel["output_norm.weight"] = t["blk.%d.ffn_norm.weight" % L]
        sel["output.weight"] = head
        ov = {"%s.block_count" % arch: L + 1}
        if arch == "granitemoe":
            ov["granitemoe.logit_scale"] = 1.0
        path = os.path.join(WORK, "%s.probe%d.gguf" % (tag, L))
        write_gguf(path, arch, reader, sel, ov)
        out.append(path)
    return out


def f32_copy(src, dst):
    arch, reader, t = read_f32(src)
    write_gguf(dst, arch, reader, t, {})


def check_routes(tag, family, k, routes, probe_out, stats, biases=None, scale=None):
    """routes: moescope route --json; probe_out[L]: llama.cpp probabilities (n, E) of the L-th
    layer of routes["layers"]; biases[L]: the router bias of layer L added to llama.cpp's
    logits (gpt-oss; the softmax over the k biased logits is the renormalised top-k of the
    softmax over all E); scale: the weights are scale x softmax, not renormalised (deepseek's
    expert_weights_scale)."""
    renorm = family not in ("olmoe", "qwen2moe") and scale is None
    names = routes.get("layers") or list(range(len(probe_out)))
    bad = 0
    for L, probs in enumerate(probe_out):
        lp = np.log(np.maximum(np.array(probs, dtype=np.float64), 1e-300))
        if biases is not None:
            lp = lp + biases[L]
        for pos, tok in enumerate(routes["tokens"]):
            ours = tok["experts"][L]
            w_ours = tok["weights"][L]
            lg = lp[pos]
            order = sorted(range(len(lg)), key=lambda e: (-lg[e], e))[:k]
            for r in range(k):
                if ours[r] != order[r]:
                    if abs(lg[ours[r]] - lg[order[r]]) <= TIE:
                        stats["ties"] += 1
                    else:
                        bad += 1
                        if bad <= 5:
                            print("%s: layer %d pos %d: moescope %s, llama.cpp %s" %
                                  (tag, names[L], pos, ours, order))
                        break
            pr = np.exp(lg - lg.max())
            pr /= pr.sum()
            w = np.array([pr[e] for e in ours])
            if renorm:
                w /= w.sum()
            if scale is not None:
                w = scale * w  # no renormalisation, then the scale
            dw = np.abs(w - np.array(w_ours)).max()
            stats["dw"] = max(stats["dw"], dw)
            if dw > WTOL:
                bad += 1
                if bad <= 5:
                    print("%s: layer %d pos %d: weights differ by %.2e" % (tag, names[L], pos, dw))
            stats["checked"] += 1
    return bad


def compare_next(tag, p, q):
    if len(q) < len(p):
        q = np.concatenate([q, np.zeros(len(p) - len(q))])
    keep = q >= 1e-4 * q.max()
    d = np.log(np.maximum(p[keep], 1e-300)) - np.log(q[keep])
    dmax, dp = np.abs(d).max(), np.abs(p - q).max()
    top_p = list(np.argsort(-p, kind="stable")[:10])
    top_q = list(np.argsort(-q, kind="stable")[:10])
    ok_top = len(set(top_p) & set(top_q)) == 10 and all(
        a == b or abs(math.log(q[a]) - math.log(q[b])) <= 1e-3 for a, b in zip(top_p, top_q))
    ok = dmax <= 5e-4 and dp <= 1e-5 and ok_top
    print("%-26s next-token max|dlogp| %.2e  max|dp| %.2e%s" %
          (tag, dmax, dp, "" if ok else "   FAIL"))
    return ok


def main():
    failures = 0
    next_jobs, next_checks, probe_jobs, probe_checks = [], [], [], []
    n_layer = 3
    runs = [(f, f, ne, k, x, TYPES) for f, ne, k, x in FAMILIES] + \
        [(n, f, ne, k, x, ["F32"]) for n, f, ne, k, x in VARIANTS]
    for name, family, ne, k, extra, types in runs:
        if ONLY and name not in ONLY:
            continue
        for typ in types:
            tag = "%s_%s" % (name, typ.lower())
            model = os.path.join(WORK, tag + ".gguf")
            run([MOESCOPE, "make-model", "--arch", family, "--out", model, "--type", typ,
                 "--experts", str(ne), "--k", str(k), "--d-model", "128", "--ff", "64",
                 "--layers", str(n_layer), "--heads", "4", "--kv-heads", "2", "--seed", "7",
                 "-q"] + extra)
            ref = model
            if typ != "F32":
                ref = os.path.join(WORK, tag + ".f32.gguf")
                f32_copy(model, ref)
            probes = probe_models(ref, tag, n_layer)
            hf = None
            if typ == "F32":  # the same weights as an HF folder: the same checks
                hf = os.path.join(WORK, tag + ".hf")
                run([MOESCOPE, "make-model", "--arch", family, "--out", hf, "--format", "hf",
                     "--experts", str(ne), "--k", str(k), "--d-model", "128", "--ff", "64",
                     "--layers", str(n_layer), "--heads", "4", "--kv-heads", "2", "--seed",
                     "7", "-q"] + extra)
            prompts, ours, ours_hf = [], [], []
            for text in PROMPTS:
                path = write_prompt(text)
                d, probs = mstest.eval_probs(MOESCOPE, model, path)
                prompts.append(d["ids"])
                ours.append(probs)
                routes = mstest.route_json(MOESCOPE, model, path)
                if routes["n_expert"] != ne or routes["k"] != k or \
                        [t["id"] for t in routes["tokens"]] != d["ids"]:
                    print("%s: route reports E=%d k=%d or other tokens than eval" %
                          (tag, routes["n_expert"], routes["k"]))
                    failures += 1
                probe_checks.append((tag, family, k, routes, len(probe_jobs)))
                if hf:
                    dh, ph = mstest.eval_probs(MOESCOPE, hf, path)
                    ours_hf.append(ph)
                    rh = mstest.route_json(MOESCOPE, hf, path)
                    if dh["ids"] != d["ids"]:
                        print("%s: HF folder tokenizes differently" % tag)
                        failures += 1
                    probe_checks.append((tag + "_hf", family, k, rh, len(probe_jobs)))
                for pm in probes:  # one job per (prompt, layer)
                    probe_jobs.append({"model": pm, "prompt": d["ids"], "n_first": ne})
            next_jobs.append({"model": ref, "prompts": prompts, "all_positions": False})
            next_checks.append((tag, ours, len(next_jobs) - 1))
            if hf:
                next_checks.append((tag + "_hf", ours_hf, len(next_jobs) - 1))
    probe_out = node("families_oracle.mjs", probe_jobs, "probes")
    stats = {"ties": 0, "checked": 0, "dw": 0.0}
    for tag, family, k, routes, j0 in probe_checks:
        outs = [probe_out[j0 + L]["probs"] for L in range(n_layer)]
        b = check_routes(tag, family, k, routes, outs, stats)
        if b:
            print("%s: %d route mismatches   FAIL" % (tag, b))
            failures += 1
    print("routes: %d (layer, token) pairs checked, %d near-tie swaps, max |dweight| %.2e" %
          (stats["checked"], stats["ties"], stats["dw"]))
    next_out = node("forward_oracle.mjs", next_jobs, "next")
    failures += mstest.next_failures(next_checks, next_out, compare_next)
    return mstest.summary(failures, "all family oracle checks passed")


if __name__ == "__main__":
    sys.exit(main())
