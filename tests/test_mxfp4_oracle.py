"""test_mxfp4_oracle.py — fixtures with MXFP4 experts (`moescope make-model --type MXFP4`:
routed experts MXFP4, everything else F32, as gpt-oss is released) against llama.cpp
(node-llama-cpp), with the router-probe machinery of test_families_oracle.py.

1. Exact: moescope on the MXFP4 file against llama.cpp on an F32 copy whose weights gguf-py
   dequantized (bit-exact with ggml's dequantize_row_mxfp4, checked by quant_oracle):
   router top-k and weights at every layer and token (near ties excepted), and next-token
   distributions, with test_families_oracle.py's tolerances.
2. Reported: llama.cpp on the MXFP4 file itself. Its CPU matmul quantizes the activations to
   Q8_0 for MXFP4 weights, so it is not exact: the probes keep layers 0..L-1's experts in
   MXFP4, and the share of (layer, token) pairs whose top-k (in rank order) equals moescope's
   is printed, as are the next-token log-probability differences. Stated tolerance (as the
   forward oracle's direct checks): at least 90% of the pairs agree, rms |dlogp| <= 0.1 and
   max |dlogp| <= 0.5 over the tokens that matter.

usage: test_mxfp4_oracle.py MOESCOPE TESTS_DIR WORK_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
import test_families_oracle as fam  # noqa: E402  (same argv: MOESCOPE TESTS_DIR WORK_DIR)

np, gguf = fam.np, fam.gguf
Q = gguf.GGMLQuantizationType
WORK, MOESCOPE = fam.WORK, fam.MOESCOPE

# family, experts, k, extra make-model options (olmoe: softmax over all E, no renorm)
FIXTURES = [
    ("mixtral", 16, 4, []),
    ("olmoe", 64, 8, ["--kv-heads", "4"]),
]
N_LAYER = 3


def raw_probe_models(path, tag, n_layer):
    """Router probes (see test_families_oracle.py) that keep the MXFP4 expert tensors of
    layers 0..L-1 as they are in the file; layer L's expert down projections are F32 zeros."""
    reader = gguf.GGUFReader(path)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    raw, f32 = {}, {}
    for t in reader.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        if t.tensor_type == Q.MXFP4:
            raw[t.name] = (np.array(t.data), shape)
        else:
            f32[t.name] = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
    if not raw:
        fam.gguf_llama_src.fail("%s: no MXFP4 tensors" % path)
    n_vocab = f32["token_embd.weight"].shape[0]
    out = []
    for L in range(n_layer):
        p = os.path.join(WORK, "%s.rawprobe%d.gguf" % (tag, L))
        w = gguf.GGUFWriter(p, arch)
        mstest.gguf_copy_kv(gguf, w, reader, {"%s.block_count" % arch: L + 1})
        router = f32["blk.%d.ffn_gate_inp.weight" % L]
        head = np.zeros((n_vocab, router.shape[1]), dtype=np.float32)
        head[: router.shape[0]] = router
        w.add_tensor("token_embd.weight", f32["token_embd.weight"])
        for name in list(f32) + list(raw):
            if not name.startswith("blk.") or int(name.split(".")[1]) > L:
                continue
            il = int(name.split(".")[1])
            if il == L and name.startswith("blk.%d.ffn_down" % L):
                shape = raw[name][1] if name in raw else f32[name].shape
                w.add_tensor(name, np.zeros(shape, dtype=np.float32))
            elif name in raw:
                w.add_tensor(name, raw[name][0], raw_dtype=Q.MXFP4)
            else:
                w.add_tensor(name, f32[name])
        w.add_tensor("output_norm.weight", f32["blk.%d.ffn_norm.weight" % L])
        w.add_tensor("output.weight", head)
        mstest.gguf_finish(w)
        out.append(p)
    return out


def route_agreement(k, routes, probe_out, biases=None):
    same = total = 0
    for L, probs in enumerate(probe_out):
        lp = np.log(np.maximum(np.array(probs, dtype=np.float64), 1e-300))
        if biases is not None:  # gpt-oss: the router bias of layer L
            lp = lp + biases[L]
        for pos, tok in enumerate(routes["tokens"]):
            order = sorted(range(len(lp[pos])), key=lambda e: (-lp[pos][e], e))[:k]
            same += list(tok["experts"][L]) == order
            total += 1
    return same, total


def main():
    failures = 0
    jobs = {"exact_probe": [], "raw_probe": [], "next": []}
    checks = []
    for family, ne, k, extra in FIXTURES:
        tag = "%s_mxfp4" % family
        model = os.path.join(WORK, tag + ".gguf")
        fam.run([MOESCOPE, "make-model", "--arch", family, "--out", model, "--type", "MXFP4",
                 "--experts", str(ne), "--k", str(k), "--d-model", "128", "--ff", "64",
                 "--layers", str(N_LAYER), "--heads", "4", "--kv-heads", "2", "--seed", "11",
                 "-q"] + extra)
        types = {t.name: t.tensor_type for t in gguf.GGUFReader(model).tensors}
        n_mx = sum(1 for v in types.values() if v == Q.MXFP4)
        if n_mx != 3 * N_LAYER or any(v == Q.MXFP4 for n, v in types.items() if "_exps" not in n):
            print("%s: expected MXFP4 exactly on the %d expert tensors, got %d" %
                  (tag, 3 * N_LAYER, n_mx))
            failures += 1
        ref = os.path.join(WORK, tag + ".f32.gguf")
        fam.f32_copy(model, ref)
        probes = fam.probe_models(ref, tag, N_LAYER)
        rprobes = raw_probe_models(model, tag, N_LAYER)
        ours, prompts = [], []
        for text in fam.PROMPTS:
            path = fam.write_prompt(text)
            d, probs = mstest.eval_probs(MOESCOPE, model, path)
            ours.append(probs)
            prompts.append(d["ids"])
            routes = mstest.route_json(MOESCOPE, model, path)
            checks.append((tag, family, k, routes, len(jobs["exact_probe"])))
            for pm, rp in zip(probes, rprobes):
                jobs["exact_probe"].append({"model": pm, "prompt": d["ids"], "n_first": ne})
                jobs["raw_probe"].append({"model": rp, "prompt": d["ids"], "n_first": ne})
        jobs["next"].append({"model": ref, "prompts": prompts, "all_positions": False})
        jobs["next"].append({"model": model, "prompts": prompts, "all_positions": False})
        checks.append((tag, "next", ours, len(jobs["next"]) - 2))

    exact = fam.node("families_oracle.mjs", jobs["exact_probe"], "mx_exact")
    rawp = fam.node("families_oracle.mjs", jobs["raw_probe"], "mx_raw")
    nxt = fam.node("forward_oracle.mjs", jobs["next"], "mx_next")
    stats = {"ties": 0, "checked": 0, "dw": 0.0}
    agree = {}
    for c in checks:
        if c[1] == "next":
            tag, _, ours, j = c
            for i, p in enumerate(ours):
                q = np.array(nxt[j]["results"][i]["probs"])
                if not fam.compare_next("%s prompt %d" % (tag, i), p, q):
                    failures += 1
                failures += not direct_ok(tag + " prompt %d" % i, p,
                                          np.array(nxt[j + 1]["results"][i]["probs"]))
            continue
        tag, family, k, routes, j0 = c
        outs = [exact[j0 + L]["probs"] for L in range(N_LAYER)]
        b = fam.check_routes(tag, family, k, routes, outs, stats)
        if b:
            print("%s: %d route mismatches against llama.cpp on the dequantized copy   FAIL" %
                  (tag, b))
            failures += 1
        s, t = route_agreement(k, routes, [rawp[j0 + L]["probs"] for L in range(N_LAYER)])
        a = agree.setdefault(tag, [0, 0])
        a[0] += s
        a[1] += t
    print("routes vs dequantized copy: %d (layer, token) pairs checked, %d near-tie swaps, "
          "max |dweight| %.2e" % (stats["checked"], stats["ties"], stats["dw"]))
    return summary(agree, stats, failures, "MXFP4")


def direct_ok(label, p, qd):
    """llama.cpp on the MXFP4 file itself (qd) against moescope (p): rms |dlogp| <= 0.1 and
    max |dlogp| <= 0.5 over the tokens with qd >= 1e-4 max; prints the numbers."""
    keep = qd >= 1e-4 * qd.max()
    dl = np.log(np.maximum(p[keep], 1e-300)) - np.log(qd[keep])
    rms, mx = float(np.sqrt(np.mean(dl * dl))), float(np.abs(dl).max())
    ok = rms <= 0.1 and mx <= 0.5
    print("%-26s llama.cpp on the MXFP4 file: rms|dlogp| %.3e max %.3e%s" %
          (label, rms, mx, "" if ok else "   FAIL"))
    return ok


def summary(agree, stats, failures, what):
    """Prints llama.cpp's agreement on the MXFP4 files (stated tolerance: >= 90% of the
    (layer, token) pairs) and the verdict; returns the exit status."""
    for tag, (s, t) in agree.items():
        ok = t > 0 and s >= 0.9 * t
        print("%-26s llama.cpp on the MXFP4 file: same top-k (rank order) on %d of %d "
              "(layer, token) pairs (%.1f%%)%s" % (tag, s, t, 100.0 * s / max(t, 1),
                                                   "" if ok else "   FAIL"))
        failures += not ok
    if stats["checked"] == 0:
        print("no routes checked   FAIL")
        failures += 1
    if failures:
        print("%d check(s) failed" % failures)
        return 1
    print("all %s oracle checks passed" % what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
