// forward_oracle.mjs — llama.cpp (through node-llama-cpp, CPU build) as the reference for
// moescope's forward pass.
//
// usage: node forward_oracle.mjs JOBS.json OUT.json
//   JOBS.json: [{"model": "path.gguf", "prompts": [[token ids...], ...]}, ...] (moescope's
//   tokenization, BOS included when the model adds it)
//   With "all_positions": true, every position's distribution is computed too and each result
//   has "next_probs": [probability of prompt[i+1] after prompt[0..i], for i < len - 1].
//   OUT.json: [{"model": ..., "results": [{"n": len, "probs": [V floats]}]}]: the next-token
//   distribution after each prompt, the softmax of llama.cpp's raw logits (temperature 0
//   selects a greedy sampler, which leaves the logits untouched; node-llama-cpp's addon then
//   normalises exp(logit - max)).
//
// Settings that make llama.cpp comparable: llama.mjs's (docs/DESIGN.md: an F32 KV cache, the
// default is F16; flash attention off, the whole prompt in one batch, CPU only, 2 threads).
import fs from "node:fs";
import { comparableContext, cpuLlama, jobsFromArgs } from "./llama.mjs";

const [jobs, outPath] = jobsFromArgs("forward_oracle.mjs");
const llama = await cpuLlama();
const out = [];
for (const job of jobs) {
    const maxLen = Math.max(...job.prompts.map((p) => p.length));
    const model = await llama.loadModel({ modelPath: job.model, gpuLayers: 0 });
    const context = await comparableContext(model, maxLen);
    const seq = context.getSequence();
    const results = [];
    for (const p of job.prompts) {
        await seq.clearHistory();
        const input = p.map((t, i) =>
            i === p.length - 1 || job.all_positions
                ? [t, { generateNext: { probabilities: true } }]
                : t
        );
        const res = await seq.controlledEvaluate(input);
        const nextProbs = [];
        if (job.all_positions)
            for (let i = 0; i + 1 < p.length; i++)
                nextProbs.push(res[i].next.probabilities.get(p[i + 1]) ?? 0);
        const probs = res[p.length - 1].next.probabilities; // Map: token -> probability
        let V = 0;
        for (const k of probs.keys()) V = Math.max(V, k + 1);
        const arr = new Array(V).fill(0);
        for (const [k, v] of probs) arr[k] = v;
        results.push({ n: p.length, probs: arr, next_probs: nextProbs });
    }
    out.push({ model: job.model, kv_cache: "F32", flash_attention: false, results });
    await context.dispose();
    await model.dispose();
}
fs.writeFileSync(outPath, JSON.stringify(out));
await llama.dispose();
