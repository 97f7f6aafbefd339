// forward_bench.mjs — llama.cpp prompt-processing time for the same tokens moescope
// runs (bench/forward_bench.sh): node-llama-cpp CPU build, default context settings except
// the thread count, the whole prompt as one batch, logits for the last position only.
//
// usage: node tests/oracle/forward_bench.mjs MODEL.gguf IDS.json THREADS [REPEATS]
import fs from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, idsPath, threadsArg, repeatsArg] = process.argv.slice(2);
const ids = JSON.parse(fs.readFileSync(idsPath, "utf8"));
const threads = Number(threadsArg ?? 2), repeats = Number(repeatsArg ?? 3);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                               maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: ids.length + 256, batchSize: ids.length,
                                            threads });
const seq = context.getSequence();
// wall time is at the mercy of the machine's load; CPU time (user + system of the whole
// process during the evaluation) is steadier, and with one thread there is no spin-waiting
let best = Infinity, bestCpu = Infinity;
for (let r = 0; r < repeats; r++) {
    await seq.clearHistory();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    best = Math.min(best, dt);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6);
}
console.log(JSON.stringify({ engine: "llama.cpp", tokens: ids.length, threads,
                             best_seconds: best, best_cpu_seconds: bestCpu,
                             tokens_per_second: ids.length / best }));
await context.dispose();
await model.dispose();
await llama.dispose();
