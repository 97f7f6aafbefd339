// tokenize_hf_oracle.mjs — Hugging Face's own tokenizer.json implementation (tokenizers.js,
// npm @huggingface/tokenizers) as the reference for moescope's tokenizer.json reader.
//
// usage: node tokenize_hf_oracle.mjs SEED_TEXTS N SEED HF_DIR...
//   For each HF_DIR (tokenizer.json + tokenizer_config.json), writes HF_DIR/hf.inp and
//   HF_DIR/hf.out in llama.cpp's test-tokenizer-0 format: the seed texts (separated by
//   "\n__ggml_vocab_test__\n") and N generated texts (soups of the vocabulary's pieces,
//   characters of many scripts, whitespace runs; deterministic from SEED), with the ids that
//   tokenizers.js gives without special tokens. Texts that contain the text of an added token
//   are left out: Hugging Face turns "<s>" in text into BOS, moescope (like llama.cpp with
//   parse_special = false) keeps it as text (docs/TOKENIZER.md).
// Exit status 77 (a skip for ctest) when @huggingface/tokenizers is not installed.
import fs from "node:fs";
import { SEP, makeXorshift } from "./rng.mjs";

let Tokenizer;
try {
    ({ Tokenizer } = await import("@huggingface/tokenizers"));
} catch {
    console.error("@huggingface/tokenizers is not installed in tests/oracle (npm ci there)");
    process.exit(77);
}
const [seedPath, nArg, seedArg, ...dirs] = process.argv.slice(2);
if (!dirs.length) {
    console.error("usage: node tokenize_hf_oracle.mjs SEED_TEXTS N SEED HF_DIR...");
    process.exit(2);
}
const rnd = makeXorshift(seedArg);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const ranges = [
    [0x20, 0x7e], [0xa0, 0xff], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff], [0x900, 0x97f],
    [0xe00, 0xe7f], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x300, 0x36f], [0x2000, 0x2bff],
    [0x1f300, 0x1faff], [0xe000, 0xe0ff],
];
const randomChar = () => {
    const [a, b] = pick(ranges);
    return String.fromCodePoint(a + Math.floor(rnd() * (b - a + 1)));
};

// One corpus for every directory (they hold the same vocabulary).
const first = JSON.parse(fs.readFileSync(dirs[0] + "/tokenizer.json", "utf8"));
const pieces = Object.keys(first.model.vocab)
    .filter((p) => !/^<0x[0-9A-F]{2}>$/.test(p))
    .map((p) => p.replaceAll("\u2581", " "));
const texts = fs.readFileSync(seedPath, "utf8").split(SEP);
const N = Number(nArg);
for (let i = 0; i < N; i++) {
    const len = 1 + Math.floor(rnd() * 60);
    let t = i % 4 === 0 ? pick([" ", "  ", "\n", ""]) : "";
    for (let k = 0; k < len; k++) {
        const r = rnd();
        if (r < 0.15) t += pick([" ", "  ", "\n", "\t", " ".repeat(1 + Math.floor(rnd() * 20))]);
        else if (i % 3 !== 2 || r < 0.3) t += pick(pieces);
        else t += randomChar();
    }
    texts.push(t);
}
for (let d = 0; d < 2; d++) { // long documents from the seeds
    let t = "";
    while (t.length < 30000 * (d + 1)) t += pick(texts.slice(0, 40)) + pick(["\n", " ", ""]);
    texts.push(t);
}

for (const dir of dirs) {
    const tj = JSON.parse(fs.readFileSync(dir + "/tokenizer.json", "utf8"));
    const tc = JSON.parse(fs.readFileSync(dir + "/tokenizer_config.json", "utf8"));
    const tok = new Tokenizer(tj, tc);
    // MS_HF_FILTER=special: only texts with special-token text are left out (byte-level
    // tokenizers, whose non-special added tokens moescope matches as tokenizers does).
    const onlySpecial = process.env.MS_HF_FILTER === "special";
    const specials = (tj.added_tokens || []).filter((a) => !onlySpecial || a.special).map((a) => a.content);
    const kept = texts.filter((t) => !specials.some((s) => t.includes(s)));
    const lines = kept.map((t) =>
        tok.encode(t, { add_special_tokens: false }).ids.map((x) => " " + x).join("")
    );
    fs.writeFileSync(dir + "/hf.inp", kept.join(SEP));
    fs.writeFileSync(dir + "/hf.out", lines.join("\n") + "\n");
    console.log(`${dir}: ${kept.length} texts (${texts.length - kept.length} with special-token text left out)`);
}
