// rng.mjs — the deterministic generators of the oracle scripts' generated texts (the same
// sequence on every run and platform): makeRng(seed) (mulberry32) and makeXorshift(seed)
// (xorshift128+ in 32-bit halves, the tokenizer oracles' first generator, kept so that their
// texts stay the same) return functions giving [0, 1).
export function makeRng(seed) {
    let state = (Number(seed) >>> 0) || 1;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

export function makeXorshift(seed) {
    let s0 = (Number(seed) >>> 0) || 1, s1 = 0x9e3779b9;
    return () => {
        let x = s0, y = s1;
        s0 = y;
        x ^= x << 23;
        x ^= x >>> 17;
        x ^= y ^ (y >>> 26);
        s1 = x >>> 0;
        return ((s0 + s1) >>> 0) / 4294967296;
    };
}

// llama.cpp's test-tokenizer-0 files: the texts of a .inp file are separated by SEP.
export const SEP = "\n__ggml_vocab_test__\n";

// n long documents (tens of KB): texts picked from seeds, joined by whitespace, until the d-th
// holds size * (d + 1) characters.
export function longDocs(seeds, pick, size, n = 3) {
    const docs = [];
    for (let d = 0; d < n; d++) {
        let t = "";
        while (t.length < size * (d + 1)) t += pick(seeds) + pick(["\n", " ", "\n\n", ""]);
        docs.push(t);
    }
    return docs;
}
