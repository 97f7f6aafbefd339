// tokenize_o200k_oracle.mjs — three independent references for GPT-OSS's o200k tokenizer
// (o200k_base ranks + harmony special tokens), on a varied text set:
//   - js-tiktoken (OpenAI's tiktoken algorithm in JavaScript) on the o200k_base ranks it ships,
//     with the harmony special tokens of the vocabulary added;
//   - llama.cpp (node-llama-cpp, vocabulary only) on o200k.gguf;
//   - Hugging Face's tokenizers.js on o200k/tokenizer.json.
//
// usage: node tokenize_o200k_oracle.mjs O200K.gguf O200K_DIR SEED_TEXTS OUT_DIR [N] [SEED]
//   SEED_TEXTS: texts separated by "\n__ggml_vocab_test__\n".
//   Writes OUT_DIR/<ref>.inp/.out (plain text: special-token text is text) and
//   OUT_DIR/<ref>-special.inp/.out (special parsing: the text of a special token is that
//   token), ref = tiktoken, llamacpp, hf, in llama.cpp's test-tokenizer-0 format (no BOS).
//   Left out, and counted: plain texts containing special-token text for tokenizers.js (it
//   always parses them) and, for llama.cpp, plain texts containing <|channel|>, <|message|>,
//   <|start|>, <|constrain|> or <|end|> (llama.cpp turns these five into user-defined tokens
//   for gpt-oss, which it then cuts out of any text). Prints how often the references agree
//   with each other. Exit 77 when a package is missing.
import fs from "node:fs";
import { SEP, longDocs, makeRng } from "./rng.mjs";

let Tiktoken, o200k, getLlama, LlamaLogLevel, Tokenizer;
try {
    ({ Tiktoken } = await import("js-tiktoken/lite"));
    o200k = (await import("js-tiktoken/ranks/o200k_base")).default;
    ({ getLlama, LlamaLogLevel } = await import("node-llama-cpp"));
    ({ Tokenizer } = await import("@huggingface/tokenizers"));
} catch (e) {
    console.error(`a package is missing in tests/oracle (npm ci there): ${e.message}`);
    process.exit(77);
}
const [ggufPath, hfDir, seedPath, outDir, nArg, seedArg] = process.argv.slice(2);
if (!outDir) {
    console.error("usage: node tokenize_o200k_oracle.mjs O200K.gguf O200K_DIR SEED_TEXTS OUT_DIR [N] [SEED]");
    process.exit(2);
}
const rnd = makeRng(seedArg ?? 2025);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const tj = JSON.parse(fs.readFileSync(hfDir + "/tokenizer.json", "utf8"));
const tc = JSON.parse(fs.readFileSync(hfDir + "/tokenizer_config.json", "utf8"));
const specialTokens = Object.fromEntries(tj.added_tokens.map((a) => [a.content, a.id]));
const specialTexts = Object.keys(specialTokens);
const enc = new Tiktoken(o200k, specialTokens);
const hf = new Tokenizer(tj, tc);
const llama = await getLlama({
    gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false, maxThreads: 1,
});
const model = await llama.loadModel({ modelPath: ggufPath, vocabOnly: true, gpuLayers: 0 });

// Texts: the seeds, soups of o200k pieces, of characters from many scripts (with combining
// marks) and of whitespace, and long documents made of the seeds.
const ranges = [
    [0x20, 0x7e], [0xa0, 0xff], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff], [0x900, 0x97f],
    [0x980, 0x9ff], [0xe00, 0xe7f], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x300, 0x36f],
    [0x2000, 0x2bff], [0x1f300, 0x1faff], [0xe000, 0xe0ff], [0x10a0, 0x10ff], [0x30, 0x39],
];
const randomChar = () => {
    const [a, b] = pick(ranges);
    return String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
};
const seeds = fs.readFileSync(seedPath, "utf8").split(SEP);
const N = Number(nArg ?? 300);
const texts = seeds.slice();
for (let i = 0; i < N; i++) {
    const len = 1 + Math.floor(rnd() * 60);
    let t = "";
    for (let k = 0; k < len; k++) {
        const r = rnd();
        if (r < 0.15) t += pick([" ", "  ", "\n", "\t", "\r\n", " ".repeat(1 + Math.floor(rnd() * 20))]);
        else if (i % 3 === 0 || r < 0.3) t += enc.decode([Math.floor(rnd() * 199998)]);
        else if (i % 3 === 1 && r < 0.5) t += pick(["'s", "'T", "'re", "'LL", "'d", "'M", "'ve"]);
        else t += randomChar();
    }
    texts.push(t);
}
texts.push(...longDocs(seeds, pick, 15000));
// Special parsing: the harmony transcripts of the seeds, and texts with special tokens (and
// broken ones) put between pieces.
const specialSet = texts.filter((t) => specialTexts.some((s) => t.includes(s)));
const broken = ["<|start", "<|start|", "|>", "<|", "<|reserved_99|>", "<|Start|>", "<||>"];
for (let i = 0; i < N / 2; i++) {
    const parts = [];
    const len = 1 + Math.floor(rnd() * 12);
    for (let k = 0; k < len; k++) {
        const r = rnd();
        if (r < 0.35) parts.push(pick(specialTexts.slice(0, 24).concat(specialTexts)));
        else if (r < 0.45) parts.push(pick(broken));
        else parts.push(pick(texts.slice(0, seeds.length + N)).slice(0, 1 + Math.floor(rnd() * 40)));
    }
    // A slice may cut a surrogate pair: the text written is its well-formed form (U+FFFD).
    specialSet.push(parts.join(pick(["", " ", "\n"])).toWellFormed());
}

const has = (t, list) => list.some((s) => t.includes(s));
const userDefinedInLlama = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"];
const refs = {
    tiktoken: {
        plain: (t) => enc.encode(t, [], []),
        special: (t) => enc.encode(t, "all"),
        keepPlain: () => true,
    },
    llamacpp: {
        plain: (t) => Array.from(model.tokenize(t, false)),
        special: (t) => Array.from(model.tokenize(t, true)),
        keepPlain: (t) => !has(t, userDefinedInLlama),
    },
    hf: {
        plain: (t) => hf.encode(t, { add_special_tokens: false }).ids,
        special: (t) => hf.encode(t, { add_special_tokens: false }).ids,
        keepPlain: (t) => !has(t, specialTexts),
    },
};
fs.mkdirSync(outDir, { recursive: true });
const results = {};
for (const [name, r] of Object.entries(refs)) {
    for (const mode of ["plain", "special"]) {
        const set = mode === "plain" ? texts.filter(r.keepPlain) : specialSet;
        const ids = set.map((t) => Array.from(r[mode](t)));
        const base = `${outDir}/${name}${mode === "plain" ? "" : "-special"}`;
        fs.writeFileSync(base + ".inp", set.join(SEP));
        fs.writeFileSync(base + ".out", ids.map((v) => v.map((x) => " " + x).join("")).join("\n") + "\n");
        results[`${name}-${mode}`] = new Map(set.map((t, i) => [t, ids[i].join(" ")]));
        const left = (mode === "plain" ? texts : specialSet).length - set.length;
        console.log(`${base}: ${set.length} texts${left ? `, ${left} left out` : ""}`);
    }
}
// How the references agree with each other on the texts both have.
for (const mode of ["plain", "special"]) {
    const a = results[`tiktoken-${mode}`];
    for (const other of ["llamacpp", "hf"]) {
        const b = results[`${other}-${mode}`];
        let same = 0, n = 0;
        for (const [t, v] of b) {
            if (!a.has(t)) continue;
            n++;
            if (a.get(t) === v) same++;
            else if (n - same <= 3) console.log(`  ${other} != tiktoken (${mode}): ${JSON.stringify(t.slice(0, 80))}`);
        }
        console.log(`${mode}: ${other} = tiktoken on ${same}/${n} texts`);
    }
}
await model.dispose();
await llama.dispose();
