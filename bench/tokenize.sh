#!/bin/sh
# bench/tokenize.sh — tokenizer throughput (MB/s of input text) of ms_tokenize on a few MB of
# mixed text, for the GGUF vocabulary and for a tokenizer.json of the same vocabulary, for the
# byte-level BPE vocabularies of Llama 3, Qwen2 and GPT-OSS's o200k (GGUF), and llama.cpp's (node-llama-cpp,
# vocabulary only) on the same bytes when the test oracle is installed. Times cover ms_tokenize alone (no file reading, no vocabulary loading, no output);
# CPU time of the process and wall time, best of 3 (wall time suffers on a loaded machine).
#
# Corpora (built from the repository, so every machine measures the same bytes):
#   code.txt  : the C sources of the tree       ml.txt : tests/data/tokenizer/roundtrip.txt x40
#   docs.txt  : Markdown of the tree                     (multilingual, emoji, LaTeX, code)
#   mixed.txt : all of them, ~4 MB, as ONE document (the worst case: llama.cpp merges across
#               the whole text), and cut into 100 KB documents (one call each)
#
# usage: sh bench/tokenize.sh        (CC=... to choose the compiler)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
V=$ROOT/tests/data/vocab/ggml-vocab-llama-spm.gguf
W=${TMPDIR:-/tmp}/moescope-bench-tokenize
mkdir -p "$W"

cat "$ROOT"/engine/*.c "$ROOT"/analysis/*.c "$ROOT"/cli/*.c 2>/dev/null > "$W/code.txt"
cat "$ROOT"/docs/*.md "$ROOT"/README.md 2>/dev/null > "$W/docs.txt"
: > "$W/ml.txt"
i=0; while [ $i -lt 40 ]; do cat "$ROOT/tests/data/tokenizer/roundtrip.txt" >> "$W/ml.txt"; i=$((i + 1)); done
: > "$W/mixed.txt"
while [ "$(wc -c < "$W/mixed.txt")" -lt 4000000 ]; do
    cat "$W/code.txt" "$W/ml.txt" "$W/docs.txt" >> "$W/mixed.txt"
done

calc() { awk "BEGIN { print $1 }"; }

# The bench program is compiled from the tokenizer's sources (no dependency on the rest of the
# tree being buildable); same flags as the release build.
CC=${CC:-cc}
$CC -std=c11 -O2 -march=native -D_GNU_SOURCE -I"$ROOT/engine" -I"$ROOT/util" \
    $(pkg-config --cflags libcjson oniguruma libutf8proc) \
    "$ROOT"/engine/tokenizer.c "$ROOT"/engine/tokenizer_load.c "$ROOT"/engine/tokenizer_bpe.c \
    "$ROOT"/engine/gguf.c "$ROOT"/engine/gguf_split.c "$ROOT"/engine/safetensors.c \
    "$ROOT"/engine/quant.c "$ROOT"/util/*.c "$ROOT"/bench/tokenize_bench.c \
    $(pkg-config --libs libcjson oniguruma libutf8proc) -lpthread -lm -o "$W/tokenize_bench"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$W/tokenize_bench" "$V" "$W" "$W/code.txt" "$W/docs.txt" "$W/ml.txt" "$W/mixed.txt"

# Byte-level BPE vocabularies (Llama 3, Qwen2) out of the llama.cpp source node-llama-cpp
# ships, when it is installed.
BUNDLE=$ROOT/tests/oracle/node_modules/node-llama-cpp/llama/gitRelease.bundle
BPE=""
if [ -f "$BUNDLE" ] && sh "$ROOT/tests/bpe_vocabs.sh" "$BUNDLE" "$W/vocab" llama-bpe qwen2 > /dev/null; then
    BPE="$W/vocab/ggml-vocab-llama-bpe.gguf $W/vocab/ggml-vocab-qwen2.gguf"
    for b in $BPE; do
        echo "byte-level: $(basename "$b")"
        "$W/tokenize_bench" "$b" "$W" "$W/code.txt" "$W/docs.txt" "$W/ml.txt" "$W/mixed.txt"
    done
fi

# GPT-OSS's o200k (gpt-4o pre-tokenizer, 201,088 tokens), built from js-tiktoken's ranks when
# the npm package is installed (tests/o200k_vocab.py).
if [ -d "$ROOT/tests/oracle/node_modules/js-tiktoken" ] &&
    python3 "$ROOT/tests/o200k_vocab.py" "$W/o200k" > /dev/null; then
    echo "byte-level: o200k.gguf (GPT-OSS)"
    "$W/tokenize_bench" "$W/o200k/o200k.gguf" "$W" "$W/code.txt" "$W/docs.txt" "$W/ml.txt" "$W/mixed.txt"
    BPE="$BPE $W/o200k/o200k.gguf"
fi

# llama.cpp on the same mixed text, when the oracle is installed.
if command -v node > /dev/null && [ -d "$ROOT/tests/oracle/node_modules/node-llama-cpp" ]; then
    cat > "$ROOT/tests/oracle/.bench_tokenize.mjs" <<'JS'
import fs from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
const [vocab, file] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
const model = await llama.loadModel({ modelPath: vocab, vocabOnly: true });
const text = fs.readFileSync(file, "utf8");
let best = 1e9, n = 0;
for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    n = model.tokenize(text, false).length;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
}
console.log(`${n} ${Buffer.byteLength(text)} ${best}`);
JS
    for v in "$V" $BPE; do
        set -- $(cd "$ROOT/tests/oracle" && node .bench_tokenize.mjs "$v" "$W/mixed.txt" 2>/dev/null | tail -1)
        echo "llama.cpp (node-llama-cpp, wall, best of 3), $(basename "$v"): mixed.txt whole," \
            "$2 bytes, $1 tokens: $(calc "$2 / $3 / 1000000") MB/s"
    done
    rm -f "$ROOT/tests/oracle/.bench_tokenize.mjs"
fi
