"""test_gptoss_o200k.py — a gpt-oss fixture with GPT-OSS's own vocabulary (o200k_harmony, 201088
tokens, built at test time by tests/o200k_vocab.py: the tok_o200k ctest fixture) against
llama.cpp (node-llama-cpp): a harmony chat transcript tokenized with special-token parsing
(`--special`: <|start|>, <|channel|>, <|message|>, <|end|>, <|return|> become those tokens)
and a plain text longer than the window, MXFP4 experts, 2 layers (one sliding, window 8).
Router top-k at every layer and token equals llama.cpp's on the dequantized weights (router
probes as test_gptoss_oracle.py, lm_head padded to the 201088-token vocabulary), and the
next-token distribution after each text (`eval`, with `--special` for the transcript: the
same ids as `route --special`) agrees with test_families_oracle.py's tolerances. The tokenization
itself is checked against tiktoken, llama.cpp and tokenizers.js by the tokenizer_o200k tests.

usage: test_gptoss_o200k.py MOESCOPE TESTS_DIR WORK_DIR O200K_GGUF   (exit 77 without it)
"""
import os
import sys

VOCAB = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else ""
if not os.path.exists(VOCAB):
    print("no o200k vocabulary at %r: skipped" % VOCAB)
    sys.exit(77)
del sys.argv[4:]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
import test_gptoss_oracle as go  # noqa: E402  (argv: MOESCOPE TESTS_DIR WORK_DIR)

fam, np = go.fam, go.np
TEXTS = ["<|start|>system<|message|>You are ChatGPT.<|end|><|start|>user<|message|>What is "
         "2+2?<|end|><|start|>assistant<|channel|>analysis<|message|>Simple sum.<|end|>"
         "<|start|>assistant<|channel|>final<|message|>4<|return|>",
         fam.PARA]


def main():
    go.N_LAYER, go.NE, go.K = 2, 8, 2
    model = os.path.join(fam.WORK, "o200k_mxfp4.gguf")
    fam.run([fam.MOESCOPE, "make-model", "--arch", "gpt-oss", "--vocab", VOCAB, "--out", model,
             "--type", "MXFP4", "--d-model", "64", "--ff", "64", "--heads", "4", "--kv-heads",
             "2", "--head-dim", "16", "--experts", "8", "--k", "2", "--layers", "2",
             "--sliding-window", "8", "--seed", "9", "-q"])
    ref = os.path.join(fam.WORK, "o200k_mxfp4.f32.gguf")
    fam.f32_copy(model, ref)
    probes, biases = go.probes(ref, "o200k")
    failures, jobs, checks, ours, prompts = 0, [], [], [], []
    for i, text in enumerate(TEXTS):
        path = fam.write_prompt(text)
        special = ["--special"] if i == 0 else []
        r = mstest.route_json(fam.MOESCOPE, model, path, special)
        ids = [t["id"] for t in r["tokens"]]
        if i == 0 and not {200006, 200008, 200005, 200007, 200002} <= set(ids):
            print("harmony transcript: special tokens not parsed: %s" % ids[:12])
            failures += 1
        # the next-token distribution after each text (eval --special: route --special's ids)
        d, p = mstest.eval_probs(fam.MOESCOPE, model, path, special)
        if d["ids"] != ids or len(d["top"]) != 201088:
            print("prompt %d: route and eval disagree on the tokens, or the vocabulary is "
                  "not 201088" % i)
            failures += 1
        ours.append(p)
        prompts.append(ids)
        checks.append((r, len(jobs)))
        for pm in probes:
            jobs.append({"model": pm, "prompt": ids, "n_first": go.NE})
    po = fam.node("families_oracle.mjs", jobs, "o200k_probe")
    no = fam.node("forward_oracle.mjs", [{"model": ref, "prompts": prompts,
                                          "all_positions": False}], "o200k_next")
    stats = {"ties": 0, "checked": 0, "dw": 0.0}
    for r, j0 in checks:
        b = fam.check_routes("o200k", "gpt-oss", go.K, r,
                             [po[j0 + L]["probs"] for L in range(go.N_LAYER)], stats, biases)
        if b:
            print("o200k: %d route mismatches   FAIL" % b)
            failures += 1
    for i, p in enumerate(ours):
        what = "o200k harmony transcript (--special)" if i == 0 else "o200k plain text"
        if not fam.compare_next(what, p, np.array(no[0]["results"][i]["probs"])):
            failures += 1
    print("routes: %d (layer, token) pairs checked, %d near-tie swaps, max |dweight| %.2e" %
          (stats["checked"], stats["ties"], stats["dw"]))
    if failures or stats["checked"] == 0:
        print("%d check(s) failed" % failures)
        return 1
    print("all gpt-oss o200k checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
