// llama.mjs — what the oracle scripts that run llama.cpp share: node-llama-cpp's prebuilt CPU
// build (never a local build, errors only on the console), the JOBS.json OUT.json command line,
// and a context with the settings that make llama.cpp comparable with moescope
// (docs/DESIGN.md): an F32 KV cache (the default is F16), flash attention off, the whole prompt
// in one batch, CPU only, 2 threads.
import fs from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

// [jobs parsed from JOBS.json, OUT.json's path] of `node SCRIPT JOBS.json OUT.json`; a usage
// line and exit 2 without them.
export function jobsFromArgs(script) {
    const [jobsPath, outPath] = process.argv.slice(2);
    if (!outPath) {
        console.error(`usage: node ${script} JOBS.json OUT.json`);
        process.exit(2);
    }
    return [JSON.parse(fs.readFileSync(jobsPath, "utf8")), outPath];
}

export function cpuLlama(threads = 2) {
    return getLlama({
        gpu: false,
        build: "never",
        logLevel: LlamaLogLevel.error,
        progressLogs: false,
        maxThreads: threads,
    });
}

// A context of `model` for prompts of up to maxLen tokens, evaluated in one batch.
export function comparableContext(model, maxLen) {
    return model.createContext({
        contextSize: Math.max(256, maxLen + 8),
        batchSize: Math.max(16, maxLen),
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
        threads: 2,
    });
}
