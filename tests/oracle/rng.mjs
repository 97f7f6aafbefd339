// rng.mjs — mulberry32, the deterministic generator of the oracle scripts' generated texts (the
// same sequence on every run and platform). makeRng(seed) returns a function giving [0, 1).
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
