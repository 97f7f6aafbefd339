// perf_bench.mjs — llama.cpp prompt processing over the windows `moescope capture` ran, for
// bench/run.sh: node-llama-cpp CPU build, one context of WINDOW tokens, every window evaluated
// from an empty sequence (positions restart at 0, as in capture), logits for the last position
// of each batch only (llama.cpp's default for a prompt).
//
// usage: node tests/oracle/perf_bench.mjs MODEL.gguf WINDOWS.txt THREADS WINDOW
//   WINDOWS.txt: one window per line, token ids separated by spaces.
// Prints one JSON line: tokens, windows, wall and CPU seconds of the evaluations (CPU: user +
// system of the whole process while evaluating), and the process's peak RSS.
import fs from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, windowsPath, threadsArg, windowArg] = process.argv.slice(2);
const windows = fs.readFileSync(windowsPath, "utf8").split("\n").filter((l) => l.trim())
    .map((l) => l.trim().split(/\s+/).map(Number));
const threads = Number(threadsArg ?? 2), window = Number(windowArg ?? 512);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                               maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: window, batchSize: window, threads });
const seq = context.getSequence();
let tokens = 0;
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (const w of windows) {
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens(w);
    tokens += w.length;
}
const dt = Number(process.hrtime.bigint() - t0) / 1e9;
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ engine: "llama.cpp", tokens, windows: windows.length, threads,
                             seconds: dt, cpu_seconds: (c.user + c.system) / 1e6,
                             max_rss_kb: process.resourceUsage().maxRSS }));
await context.dispose();
await model.dispose();
await llama.dispose();
