// families_oracle.mjs — llama.cpp (node-llama-cpp, CPU build) as the reference for the MoE
// families (tests/test_families_oracle.py): every position's distribution over the first
// `n_first` tokens of the vocabulary.
//
// usage: node families_oracle.mjs JOBS.json OUT.json
//   JOBS.json: [{"model": "path.gguf", "prompt": [token ids], "n_first": N}, ...]
//   OUT.json:  [{"model": ..., "probs": [[N floats] per position]}]
// The probabilities are the softmax of llama.cpp's raw logits over the whole vocabulary
// (temperature 0: node-llama-cpp's greedy sampler leaves the logits untouched). The test
// builds "router probe" models whose lm_head is one layer's router padded with zero rows, so
// log p[e] - log p[e'] is exactly the difference of that layer's router logits.
//
// Settings that make llama.cpp comparable: llama.mjs's (F32 KV cache, flash attention off, the
// whole prompt in one batch, CPU only, 2 threads), with every row an output.
import fs from "node:fs";
import { comparableContext, cpuLlama, jobsFromArgs } from "./llama.mjs";

const [jobs, outPath] = jobsFromArgs("families_oracle.mjs");
const llama = await cpuLlama();
const out = [];
for (const job of jobs) {
    const p = job.prompt;
    const model = await llama.loadModel({ modelPath: job.model, gpuLayers: 0 });
    const context = await comparableContext(model, p.length);
    const seq = context.getSequence();
    const res = await seq.controlledEvaluate(
        p.map((t) => [t, { generateNext: { probabilities: true } }])
    );
    const probs = [];
    for (let i = 0; i < p.length; i++) {
        const m = res[i].next.probabilities; // Map: token -> probability
        const row = new Array(job.n_first).fill(0);
        for (let e = 0; e < job.n_first; e++) row[e] = m.get(e) ?? 0;
        probs.push(row);
    }
    out.push({ model: job.model, probs });
    await context.dispose();
    await model.dispose();
}
fs.writeFileSync(outPath, JSON.stringify(out));
await llama.dispose();
