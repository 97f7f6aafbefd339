"""test_gptoss_oracle.py — GPT-OSS (GGUF `gpt-oss`, `moescope make-model --arch gpt-oss`) against
llama.cpp (node-llama-cpp), with the router-probe machinery of test_families_oracle.py.

Fixtures: 4 layers (llama.cpp's pattern: layers 0 and 2 slide, 1 and 3 see everything), 16
experts, k 4, 8 query heads / 2 kv heads of 32 (head size != d_model / heads), attention sinks,
q/k/v/o biases, router and expert biases, clamped SwiGLU. One fixture has a sliding window of
32 tokens (written in the file), one the release's 128; the prompts include one of more than
256 tokens (282), so both kinds of layer see keys the other would not. One F32 fixture has YaRN
RoPE scaling (factor 8 over an original context of 128, as gpt-oss's 32 over 4096).

1. F32 fixtures, exact: router top-k at every layer and token equals llama.cpp's. The probes
   (see test_families_oracle.py) give llama.cpp's router logits up to a constant; the test
   adds the router bias read from the file, takes the top-k of the biased logits and the
   softmax over those k (llama.cpp's SOFTMAX_WEIGHT gating), and compares experts in rank
   order (near ties, logit gap <= 1e-4, counted not failed) and weights (<= 1e-4).
   Next-token distributions with test_families_oracle.py's tolerances (max |dlogp| <= 5e-4
   over the tokens with p >= 1e-4 p_max, max |dp| <= 1e-5, same top-10).
2. MXFP4 experts (`--type MXFP4`): the same exact checks against llama.cpp on an F32 copy
   whose weights gguf-py dequantized; llama.cpp on the MXFP4 file itself (it quantizes the
   activations to Q8_0 for MXFP4 weights) is reported: share of (layer, token) pairs with the
   same top-k, and next-token rms / max |dlogp| (stated tolerance: >= 90%, rms <= 0.1,
   max <= 0.5, as test_mxfp4_oracle.py).

usage: test_gptoss_oracle.py MOESCOPE TESTS_DIR WORK_DIR [FIXTURE...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
import test_families_oracle as fam  # noqa: E402  (same argv: MOESCOPE TESTS_DIR WORK_DIR)
import test_mxfp4_oracle as mxo  # noqa: E402

np, gguf = fam.np, fam.gguf
Q = gguf.GGMLQuantizationType
WORK, MOESCOPE = fam.WORK, fam.MOESCOPE
N_LAYER, NE, K = 4, 16, 4
SHAPE = ["--experts", str(NE), "--k", str(K), "--d-model", "128", "--ff", "64", "--layers",
         str(N_LAYER), "--heads", "8", "--kv-heads", "2", "--head-dim", "32", "--seed", "5"]
# tag, make-model options
FIXTURES = [
    ("gptoss_w32_f32", ["--type", "F32", "--sliding-window", "32"]),
    ("gptoss_w128_f32", ["--type", "F32"]),
    ("gptoss_w32_mxfp4", ["--type", "MXFP4", "--sliding-window", "32"]),
    ("gptoss_w32_yarn_f32", ["--type", "F32", "--sliding-window", "32", "--yarn", "8", "--ctx",
                             "128"]),
]
PROMPTS = fam.PROMPTS + [fam.PARA * 5]


def tensors(path):
    """{name: (f32 array or None, raw bytes or None, numpy shape)} and the reader."""
    reader = gguf.GGUFReader(path)
    out = {}
    for t in reader.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        if t.tensor_type == Q.MXFP4:
            out[t.name] = (None, np.array(t.data), shape)
        else:
            a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            out[t.name] = (a.reshape(shape), None, shape)
    return reader, out


def probes(path, tag):
    """Router probes of layers 0..N_LAYER-1: layers 0..L, layer L's expert down projections
    and down biases zeroed (the residual after layer L is the router's input), output_norm :=
    layer L's post_attention_norm, output := layer L's router padded to the vocabulary.
    MXFP4 tensors of layers < L stay MXFP4 (raw) when the file has them."""
    reader, t = tensors(path)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    n_vocab = t["token_embd.weight"][0].shape[0]
    out, biases = [], []
    for L in range(N_LAYER):
        p = os.path.join(WORK, "%s.probe%d.gguf" % (tag, L))
        w = gguf.GGUFWriter(p, arch)
        mstest.gguf_copy_kv(gguf, w, reader, {"%s.block_count" % arch: L + 1})
        w.add_tensor("token_embd.weight", t["token_embd.weight"][0])
        for name, (a, raw, shape) in t.items():
            if not name.startswith("blk.") or int(name.split(".")[1]) > L:
                continue
            if int(name.split(".")[1]) == L and name.startswith("blk.%d.ffn_down" % L):
                w.add_tensor(name, np.zeros(shape, dtype=np.float32))
            elif raw is not None:
                w.add_tensor(name, raw, raw_dtype=Q.MXFP4)
            else:
                w.add_tensor(name, a)
        router = t["blk.%d.ffn_gate_inp.weight" % L][0]
        head = np.zeros((n_vocab, router.shape[1]), dtype=np.float32)
        head[: router.shape[0]] = router
        w.add_tensor("output_norm.weight", t["blk.%d.post_attention_norm.weight" % L][0])
        w.add_tensor("output.weight", head)
        mstest.gguf_finish(w)
        out.append(p)
        biases.append(t["blk.%d.ffn_gate_inp.bias" % L][0].astype(np.float64))
    return out, biases


def main():
    failures = 0
    jobs = {"probe": [], "raw": [], "next": []}
    checks = []
    for tag, opts in FIXTURES:
        if fam.ONLY and tag not in fam.ONLY:
            continue
        model = os.path.join(WORK, tag + ".gguf")
        fam.run([MOESCOPE, "make-model", "--arch", "gpt-oss", "--out", model, "-q"] + SHAPE +
                opts)
        mx = "MXFP4" in opts
        types = {t.name: t.tensor_type for t in gguf.GGUFReader(model).tensors}
        n_mx = sum(1 for v in types.values() if v == Q.MXFP4)
        if n_mx != (3 * N_LAYER if mx else 0) or any(
                v == Q.MXFP4 for n, v in types.items() if not n.endswith("_exps.weight")):
            print("%s: %d MXFP4 tensors, expected exactly the expert matrices" % (tag, n_mx))
            failures += 1
        ref = model
        if mx:
            ref = os.path.join(WORK, tag + ".f32.gguf")
            fam.f32_copy(model, ref)
        pr, biases = probes(ref, tag)
        raw = probes(model, tag + "_raw")[0] if mx else None
        ours, prompts = [], []
        for text in PROMPTS:
            path = fam.write_prompt(text)
            d, probs = mstest.eval_probs(MOESCOPE, model, path)
            ours.append(probs)
            prompts.append(d["ids"])
            routes = mstest.route_json(MOESCOPE, model, path)
            if routes["n_expert"] != NE or routes["k"] != K or len(routes["layers"]) != N_LAYER:
                print("%s: route reports E=%d k=%d" % (tag, routes["n_expert"], routes["k"]))
                failures += 1
            checks.append(("route", tag, routes, biases, len(jobs["probe"]),
                           len(jobs["raw"]) if mx else None))
            for i, pm in enumerate(pr):
                jobs["probe"].append({"model": pm, "prompt": d["ids"], "n_first": NE})
                if mx:
                    jobs["raw"].append({"model": raw[i], "prompt": d["ids"], "n_first": NE})
        if max(len(p) for p in prompts) <= 256:
            print("%s: the longest prompt has only %d tokens (want > 2 x 128)" % (tag, max(map(len, prompts))))
            failures += 1
        jobs["next"].append({"model": ref, "prompts": prompts, "all_positions": False})
        if mx:
            jobs["next"].append({"model": model, "prompts": prompts, "all_positions": False})
        checks.append(("next", tag, ours, len(jobs["next"]) - (2 if mx else 1), mx))

    po = fam.node("families_oracle.mjs", jobs["probe"], "gptoss_probe")
    ro = fam.node("families_oracle.mjs", jobs["raw"], "gptoss_raw") if jobs["raw"] else []
    no = fam.node("forward_oracle.mjs", jobs["next"], "gptoss_next")
    stats = {"ties": 0, "checked": 0, "dw": 0.0}
    agree = {}
    for c in checks:
        if c[0] == "next":
            _, tag, ours, j, mx = c
            for i, p in enumerate(ours):
                if not fam.compare_next("%s prompt %d" % (tag, i), p,
                                        np.array(no[j]["results"][i]["probs"])):
                    failures += 1
                if not mx:
                    continue
                failures += not mxo.direct_ok("%s prompt %d" % (tag, i), p,
                                              np.array(no[j + 1]["results"][i]["probs"]))
            continue
        _, tag, routes, biases, j0, r0 = c
        b = fam.check_routes(tag, "gpt-oss", K, routes,
                             [po[j0 + L]["probs"] for L in range(N_LAYER)], stats, biases)
        if b:
            print("%s: %d route mismatches   FAIL" % (tag, b))
            failures += 1
        if r0 is not None:
            s, t = mxo.route_agreement(K, routes, [ro[r0 + L]["probs"] for L in range(N_LAYER)],
                                       biases)
            a = agree.setdefault(tag, [0, 0])
            a[0] += s
            a[1] += t
    print("routes: %d (layer, token) pairs checked, %d near-tie swaps, max |dweight| %.2e" %
          (stats["checked"], stats["ties"], stats["dw"]))
    return mxo.summary(agree, stats, failures, "gpt-oss")


if __name__ == "__main__":
    sys.exit(main())
