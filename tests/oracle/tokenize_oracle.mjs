// tokenize_oracle.mjs — llama.cpp's tokenizer (through node-llama-cpp, vocabulary only) as the
// reference for moescope's tokenizer on a larger, generated corpus.
//
// usage: node tokenize_oracle.mjs VOCAB.gguf SEED_TEXTS OUT_PREFIX [N] [SEED]
//   SEED_TEXTS: texts separated by "\n__ggml_vocab_test__\n" (tests/data/tokenizer/roundtrip.txt)
//   writes OUT_PREFIX.inp and OUT_PREFIX.out in llama.cpp's test-tokenizer-0 format (ids
//   without BOS, as common_tokenize(add_special=false, parse_special=false) gives them), with
//   the seed texts, N generated texts (random soups of vocabulary pieces, of characters from
//   many scripts and of whitespace runs) and a few long documents built from the seed texts.
import fs from "node:fs";
import { cpuLlama } from "./llama.mjs";
import { SEP, longDocs, makeXorshift } from "./rng.mjs";

const [vocabPath, seedPath, outPrefix, nArg, seedArg] = process.argv.slice(2);
if (!outPrefix) {
    console.error("usage: node tokenize_oracle.mjs VOCAB.gguf SEED_TEXTS OUT_PREFIX [N] [SEED]");
    process.exit(2);
}
const N = Number(nArg ?? 400);

const rnd = makeXorshift(seedArg ?? 12345);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const llama = await cpuLlama(1);
const model = await llama.loadModel({ modelPath: vocabPath, vocabOnly: true, gpuLayers: 0 });

const seeds = fs.readFileSync(seedPath, "utf8").split(SEP);
const nVocab = 32000;
// Character ranges: Latin, Latin-1, Greek, Cyrillic, Arabic, Devanagari, Thai, CJK, Hangul,
// combining marks, symbols, emoji (astral), private use.
const ranges = [
    [0x20, 0x7e], [0xa0, 0xff], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff], [0x900, 0x97f],
    [0xe00, 0xe7f], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x300, 0x36f], [0x2000, 0x2bff],
    [0x1f300, 0x1faff], [0xe000, 0xe0ff],
];
function randomChar() {
    const [a, b] = pick(ranges);
    return String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
}
function pieceText(id) {
    return model.detokenize([id], false);
}

const texts = seeds.slice();
for (let i = 0; i < N; i++) {
    const len = 1 + Math.floor(rnd() * 60);
    let t = "";
    const mode = i % 3;
    for (let k = 0; k < len; k++) {
        const r = rnd();
        if (r < 0.15) t += pick([" ", "  ", "\n", "\t", " ".repeat(1 + Math.floor(rnd() * 20))]);
        else if (mode === 0 || r < 0.3) t += pieceText(3 + 256 + Math.floor(rnd() * (nVocab - 259)));
        else t += randomChar();
    }
    texts.push(t);
}
// Long documents: the seed texts concatenated in random orders (tens of KB each).
texts.push(...longDocs(seeds, pick, 20000));
const lines = texts.map((t) => Array.from(model.tokenize(t, false)).map((x) => " " + x).join(""));
fs.writeFileSync(outPrefix + ".inp", texts.join(SEP));
fs.writeFileSync(outPrefix + ".out", lines.join("\n") + "\n");
await model.dispose();
await llama.dispose();
console.log(`${texts.length} texts written to ${outPrefix}.inp/.out`);
