#!/bin/sh
# test_tokenizer_cli.sh MOESCOPE VOCAB.gguf HF_DIR WORKDIR — `moescope tokenize` end to end.
# Expected ids are llama.cpp's (tests/data/vocab/ggml-vocab-llama-spm.gguf.out: "Hello world"
# is 15043 3186, " this is 🦙.cpp" is 29871 445 338 29871 243 162 169 156 29889 8223); BOS is 1.
# HF_DIR is a tokenizer.json folder of the same vocabulary (written by the vectors test).
set -u
M=$1 V=$2 HF=$3 W=$4
mkdir -p "$W"
fails=0
check() { # name expected actual
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1"; echo "  want: $2"; echo "  got:  $3"; fails=$((fails + 1))
    fi
}
check "ids with BOS" "1 15043 3186" "$("$M" tokenize --model "$V" "Hello world")"
check "--no-bos" "15043 3186" "$("$M" tokenize --model "$V" --no-bos "Hello world")"
check "HF folder" "1 15043 3186" "$("$M" tokenize --model "$HF" "Hello world")"
check "tokenizer.json" "1 15043 3186" "$("$M" tokenize -m "$HF/tokenizer.json" "Hello world")"
check "empty text gives BOS only" "1" "$("$M" tokenize -m "$V" "")"
printf ' this is \360\237\246\231.cpp' > "$W/llama.txt"
check "--file" "1 29871 445 338 29871 243 162 169 156 29889 8223" \
    "$("$M" tokenize -m "$V" --file "$W/llama.txt")"
check "stdin" "29871 445 338 29871 243 162 169 156 29889 8223" \
    "$("$M" tokenize -m "$HF" --no-bos -f - < "$W/llama.txt")"
# A newline at the end of a file is text: <0x0A> is 13.
printf 'Hello world\n' > "$W/nl.txt"
check "trailing newline is kept" "1 15043 3186 13" "$("$M" tokenize -m "$V" -f "$W/nl.txt")"
# Invalid UTF-8 gives byte tokens (0xFF is 3 + 255), not an error.
printf 'a\377' > "$W/bad.txt"
check "invalid UTF-8" "1 263 258" "$("$M" tokenize -m "$V" -f "$W/bad.txt")"
"$M" tokenize -m "$V" --pieces "Hello world" > "$W/pieces.txt"
check "--pieces" "1 15043 3186
1	<s>
15043	▁Hello
3186	▁world" "$(cat "$W/pieces.txt")"
check "--pieces escapes control bytes" "13	<0x0A>" \
    "$(printf '\n' | "$M" tokenize -m "$V" -p --no-bos -f - | sed -n 3p)"
"$M" tokenize -m "$V" --describe > "$W/describe.json"
grep -q '"n_vocab":32000' "$W/describe.json" || { echo "FAIL: --describe"; fails=$((fails + 1)); }
# Usage and input errors: exit 2 and one "moescope: error:" line.
for args in "--model" "Hello" "-m $V" "-m $V a b" "-m $V -f $W/llama.txt text" \
            "-m /nonexistent.gguf x" "-m $W/llama.txt x" "-m $V --bogus x"; do
    # shellcheck disable=SC2086
    "$M" tokenize $args > "$W/out.txt" 2> "$W/err.txt"
    rc=$?
    if [ $rc -ne 2 ] || [ "$(wc -l < "$W/err.txt")" -ne 1 ] || ! grep -q '^moescope: error: ' "$W/err.txt"; then
        echo "FAIL: 'tokenize $args' exit $rc, stderr:"; cat "$W/err.txt"; fails=$((fails + 1))
    fi
done
"$M" tokenize -m "$V" -f "$W/missing.txt" > /dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: missing --file must exit 2"; fails=$((fails + 1)); }
"$M" tokenize --help | grep -q '^usage: moescope tokenize' || { echo "FAIL: --help"; fails=$((fails + 1)); }
[ $fails -eq 0 ] && echo "tokenize command: ok"
exit $fails
