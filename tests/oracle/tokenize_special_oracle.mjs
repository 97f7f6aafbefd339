// tokenize_special_oracle.mjs — llama.cpp's special-token parsing (node-llama-cpp, vocabulary
// only, tokenize(text, true): parse_special) as the reference for moescope's
// MS_TOKENIZE_SPECIAL on any vocabulary.
//
// usage: node tokenize_special_oracle.mjs VOCAB.gguf SEED_TEXTS OUT_PREFIX [N] [SEED]
//   Texts: the seeds that contain the text of a special token, and N texts made of seed
//   snippets with the texts of the vocabulary's special tokens (control, user-defined,
//   unknown) and broken forms of them put between. Writes OUT_PREFIX.inp/.out in llama.cpp's
//   test-tokenizer-0 format (no BOS added).
import fs from "node:fs";
import { makeRng } from "./rng.mjs";

let getLlama, LlamaLogLevel;
try {
    ({ getLlama, LlamaLogLevel } = await import("node-llama-cpp"));
} catch {
    console.error("node-llama-cpp is not installed in tests/oracle (npm ci there)");
    process.exit(77);
}
const [vocabPath, seedPath, outPrefix, nArg, seedArg] = process.argv.slice(2);
if (!outPrefix) {
    console.error("usage: node tokenize_special_oracle.mjs VOCAB.gguf SEED_TEXTS OUT_PREFIX [N] [SEED]");
    process.exit(2);
}
const SEP = "\n__ggml_vocab_test__\n";
const rnd = makeRng(seedArg ?? 7);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const llama = await getLlama({
    gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false, maxThreads: 1,
});
const model = await llama.loadModel({ modelPath: vocabPath, vocabOnly: true, gpuLayers: 0 });
const specials = [];
for (const id of model.iterateAllTokens()) {
    const a = model.getTokenAttributes(id);
    if (!(a.control || a.userDefined || a.unknown)) continue;
    const text = model.detokenize([id], true);
    if (text.length > 0 && text.trim() === text) specials.push(text);
}
const seeds = fs.readFileSync(seedPath, "utf8").split(SEP);
const texts = seeds.filter((t) => specials.some((s) => t.includes(s)));
const broken = specials.slice(0, 50).map((s) => s.slice(0, Math.max(1, s.length - 1)));
const N = Number(nArg ?? 150);
for (let i = 0; i < N; i++) {
    const parts = [];
    const len = 1 + Math.floor(rnd() * 10);
    for (let k = 0; k < len; k++) {
        const r = rnd();
        if (r < 0.4) parts.push(pick(specials));
        else if (r < 0.5) parts.push(pick(broken));
        else {
            const s = pick(seeds);
            const a = Math.floor(rnd() * s.length);
            parts.push(s.slice(a, a + 1 + Math.floor(rnd() * 40)));
        }
    }
    texts.push(parts.join(pick(["", " ", "\n", "  "])));
}
const lines = texts.map((t) => Array.from(model.tokenize(t, true)).map((x) => " " + x).join(""));
fs.writeFileSync(outPrefix + ".inp", texts.join(SEP));
fs.writeFileSync(outPrefix + ".out", lines.join("\n") + "\n");
await model.dispose();
await llama.dispose();
console.log(`${texts.length} texts (${specials.length} special tokens) written to ${outPrefix}.inp/.out`);
