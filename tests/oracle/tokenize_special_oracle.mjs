// tokenize_special_oracle.mjs — llama.cpp's special-token parsing (node-llama-cpp, vocabulary
// only, tokenize(text, true): parse_special) as the reference for moescope's
// MS_TOKENIZE_SPECIAL on any vocabulary; with a folder holding a tokenizer.json instead of a
// GGUF, Hugging Face's (tokenizers.js, which parses special tokens by default).
//
// usage: node tokenize_special_oracle.mjs (VOCAB.gguf | HF_DIR) SEED_TEXTS OUT_PREFIX [N] [SEED]
//   Texts: the seeds that contain the text of a special token, and N texts made of seed
//   snippets with the texts of the vocabulary's special tokens (control, user-defined,
//   unknown) and broken forms of them put between. Writes OUT_PREFIX.inp/.out in llama.cpp's
//   test-tokenizer-0 format (no BOS added).
import fs from "node:fs";
import { SEP, makeRng } from "./rng.mjs";

const [vocabPath, seedPath, outPrefix, nArg, seedArg] = process.argv.slice(2);
if (!outPrefix) {
    console.error("usage: node tokenize_special_oracle.mjs VOCAB.gguf SEED_TEXTS OUT_PREFIX [N] [SEED]");
    process.exit(2);
}
const rnd = makeRng(seedArg ?? 7);
const pick = (a) => a[Math.floor(rnd() * a.length)];

// The engine: encode(text) with special parsing, and the texts of the special tokens.
let encode, dispose = async () => {}, asciiDigitsOnly = false;
const specials = [];
try {
    if (fs.statSync(vocabPath).isDirectory()) {
        const { Tokenizer } = await import("@huggingface/tokenizers");
        const tj = JSON.parse(fs.readFileSync(vocabPath + "/tokenizer.json", "utf8"));
        const cfgPath = vocabPath + "/tokenizer_config.json";
        const tc = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
        const tok = new Tokenizer(tj, tc);
        encode = (t) => tok.encode(t, { add_special_tokens: false }).ids;
        for (const a of tj.added_tokens || []) if (a.content.trim() === a.content) specials.push(a.content);
        // tokenizers.js's Digits takes only ASCII digits (JavaScript's \d), the Rust library and
        // moescope every \p{N}: texts with other numerals are left out for such files.
        asciiDigitsOnly = JSON.stringify(tj.pre_tokenizer ?? null).includes("Digits");
    } else {
        const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
        const llama = await getLlama({
            gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false, maxThreads: 1,
        });
        const model = await llama.loadModel({ modelPath: vocabPath, vocabOnly: true, gpuLayers: 0 });
        encode = (t) => model.tokenize(t, true);
        dispose = async () => {
            await model.dispose();
            await llama.dispose();
        };
        for (const id of model.iterateAllTokens()) {
            const a = model.getTokenAttributes(id);
            if (!(a.control || a.userDefined || a.unknown)) continue;
            const text = model.detokenize([id], true);
            if (text.length > 0 && text.trim() === text) specials.push(text);
        }
    }
} catch (e) {
    if (e.code !== "ERR_MODULE_NOT_FOUND") throw e;
    console.error(`not installed in tests/oracle (npm ci there): ${e.message}`);
    process.exit(77);
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
    // A slice may cut a surrogate pair: the text written is its well-formed form (U+FFFD).
    texts.push(parts.join(pick(["", " ", "\n", "  "])).toWellFormed());
}
const kept = asciiDigitsOnly ? texts.filter((t) => !/[^\P{N}0-9]/u.test(t)) : texts;
const lines = kept.map((t) => Array.from(encode(t)).map((x) => " " + x).join(""));
fs.writeFileSync(outPrefix + ".inp", kept.join(SEP));
fs.writeFileSync(outPrefix + ".out", lines.join("\n") + "\n");
await dispose();
console.log(`${kept.length} texts (${specials.length} special tokens) written to ${outPrefix}.inp/.out`);
