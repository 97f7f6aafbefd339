#!/bin/sh
# test_tokenizer_bpe_cli.sh MOESCOPE GPT2_VOCAB.gguf TEST_TOKENIZER_BPE WORKDIR — `moescope
# tokenize` on byte-level BPE: ids (llama.cpp's, from ggml-vocab-gpt-2.gguf.out: "Hello world"
# is 15496 995, " Hello world" 18435 995, "\n\n" 628), readable --pieces, an unknown
# tokenizer.ggml.pre, and malformed tokenizer.json files: exit 2 with one line naming the file.
set -u
M=$1 V=$2 T=$3 W=$4
[ -f "$V" ] || exit 77
mkdir -p "$W"
fails=0
check() { # name expected actual
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1"; echo "  want: $2"; echo "  got:  $3"; fails=$((fails + 1))
    fi
}
check "ids" "15496 995" "$("$M" tokenize --model "$V" --no-bos "Hello world")"
check "space" "18435 995" "$("$M" tokenize --model "$V" --no-bos " Hello world")"
check "--pieces: Ġ is a space" "995	 world" "$("$M" tokenize -m "$V" -p --no-bos "Hello world" | sed -n 3p)"
check "--pieces: Ċ is a newline (escaped)" "628	\x0A\x0A" \
    "$(printf '\n\n' | "$M" tokenize -m "$V" -p --no-bos -f - | sed -n 2p)"
# A character split across tokens: its bytes as <0xXX> in --pieces.
"$M" tokenize -m "$V" -p --no-bos "🦙" > "$W/llama.txt"
grep -q '<0xF0>' "$W/llama.txt" || { echo "FAIL: split character in --pieces"; fails=$((fails + 1)); }

# error CASE WANT_IN_MESSAGE args...: exit 2, one "moescope: error:" line containing WANT.
error() {
    name=$1 want=$2
    shift 2
    "$M" "$@" > "$W/out.txt" 2> "$W/err.txt"
    rc=$?
    [ "$rc" = 2 ] || { echo "FAIL: $name: exit $rc (want 2)"; fails=$((fails + 1)); }
    [ "$(wc -l < "$W/err.txt")" = 1 ] || { echo "FAIL: $name: not one line"; cat "$W/err.txt"; fails=$((fails + 1)); }
    grep -q "moescope: error: .*$want" "$W/err.txt" || { echo "FAIL: $name: message"; cat "$W/err.txt"; fails=$((fails + 1)); }
}
"$T" repre "$V" "$W/unknown.gguf" "no-such-pre" || fails=$((fails + 1))
error "unknown pre-type" "unknown.gguf: tokenizer.ggml.pre 'no-such-pre' is not supported (supported: default, .*gpt-4o" \
    tokenize -m "$W/unknown.gguf" x

# Malformed tokenizer.json files (byte-level): name, JSON, expected message.
bad() { # name json want
    mkdir -p "$W/$1"
    printf '%s' "$2" > "$W/$1/tokenizer.json"
    error "tokenizer.json $1" "$1/tokenizer.json: $3" tokenize -m "$W/$1" x
}
BL='"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false}'
V2='"vocab":{"a":0,"b":1,"ab":2}'
bad badregex "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a|[b\"},\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\"}]},\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    'Split pattern "(a|\[b": bad regex'
bad unknownmerge "{$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[\"a c\"]}}" \
    'model.merges\[0\] ("a", "c") uses a piece that is not in the vocabulary'
bad dupid "{$BL,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}" \
    'model.vocab gives id 0 to both "a" and "b"'
bad idtype "{$BL,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"0\"},\"merges\":[]}}" \
    'model.vocab\["a"\] is not a valid id'
bad mergetype "{$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[[\"a\",1]]}}" \
    'model.merges\[0\] is not a pair of pieces'
bad behavior "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"MergedWithNext\"},{\"type\":\"ByteLevel\"}]},\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    "Split behavior 'MergedWithNext' is not supported"
bad normalizer "{\"normalizer\":{\"type\":\"Lowercase\"},$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    "normalizer 'Lowercase' is not supported for byte-level BPE"
bad prefixtype "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":\"yes\"},\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    'ByteLevel add_prefix_space and use_regex must be booleans'
bad ignoremerges "{$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[],\"ignore_merges\":1}}" \
    'model.ignore_merges must be a boolean'
bad suffix "{$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[],\"end_of_word_suffix\":\"</w>\"}}" \
    'model.end_of_word_suffix is not supported'
bad dropout "{$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[],\"dropout\":0.1}}" \
    'model.dropout is set'
bad twobytelevel "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"ByteLevel\"}]},\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    'more than one ByteLevel pre-tokenizer'
bad invalidutf8 "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"$(printf '\377')\"},\"behavior\":\"Isolated\"},{\"type\":\"ByteLevel\"}]},\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    'Split pattern .*: pattern is not valid UTF-8'
bad addedflag "{$BL,\"added_tokens\":[{\"id\":3,\"content\":\"<x>\",\"special\":false,\"lstrip\":\"yes\"}],\"model\":{\"type\":\"BPE\",$V2,\"merges\":[]}}" \
    'added_tokens\[0\].lstrip must be a boolean (got a string)'
# Added tokens with their flags, as the Rust tokenizers reads them: single_word "ab" only
# between non-word characters; lstrip/rstrip "<x>" takes the spaces beside it.
mkdir -p "$W/flags"
printf '%s' "{\"pre_tokenizer\":{\"type\":\"ByteLevel\"},\"added_tokens\":[{\"id\":3,\"content\":\"ab\",\"special\":false,\"single_word\":true},{\"id\":5,\"content\":\"<x>\",\"special\":false,\"lstrip\":true,\"rstrip\":true}],\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\u0120\":4},\"merges\":[]}}" > "$W/flags/tokenizer.json"
check "single_word" "3 4 2 0 1" "$("$M" tokenize -m "$W/flags" --no-bos "ab cab")"
check "lstrip/rstrip" "0 5 1" "$("$M" tokenize -m "$W/flags" --no-bos "a  <x> b")"
# BOS from the post-processor (Llama 3's Sequence[ByteLevel, TemplateProcessing]), unless
# tokenizer_config.json says add_bos_token false.
mkdir -p "$W/bos"
rm -f "$W/bos/tokenizer_config.json"
printf '%s' "{$BL,\"added_tokens\":[{\"id\":6,\"content\":\"<|bos|>\",\"special\":true}],\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|bos|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]}]},\"model\":{\"type\":\"BPE\",$V2,\"merges\":[\"a b\"]}}" > "$W/bos/tokenizer.json"
check "BOS from the template" "6 2" "$("$M" tokenize -m "$W/bos" "ab")"
printf '{"add_bos_token": false}' > "$W/bos/tokenizer_config.json"
check "add_bos_token false" "2" "$("$M" tokenize -m "$W/bos" "ab")"
# A well-formed one works: "ab" merges (rank 0).
mkdir -p "$W/good"
printf '%s' "{$BL,\"model\":{\"type\":\"BPE\",$V2,\"merges\":[\"a b\"]}}" > "$W/good/tokenizer.json"
check "tiny tokenizer.json" "2 0" "$("$M" tokenize -m "$W/good" "aba")"
# The views on a model with this vocabulary: route, show and the report's token pages show
# text (a space, a newline, a character split across tokens assembled), never Ġ or Ċ.
"$M" make-model --out "$W/bl.gguf" --vocab "$V" --layers 2 --experts 4 --k 2 2> /dev/null ||
    { echo "FAIL: make-model"; fails=$((fails + 1)); }
printf 'def f(x):\n    return x  # caf\303\251 \360\237\246\231\n' > "$W/doc.txt"
"$M" route --model "$W/bl.gguf" --no-bos --file "$W/doc.txt" > "$W/route.txt" 2>&1
grep -q '	 return	' "$W/route.txt" || { echo "FAIL: route shows no ' return'"; fails=$((fails + 1)); }
"$M" capture --model "$W/bl.gguf" --corpus "$W/doc.txt" --out "$W/r.h5" -q > /dev/null 2>&1 ||
    { echo "FAIL: capture"; fails=$((fails + 1)); }
"$M" show "$W/r.h5" --doc 0 --layer 0 > "$W/show.txt" 2>&1
for want in "return" "café" "🦙"; do
    grep -q "$want" "$W/show.txt" || { echo "FAIL: show lacks $want"; fails=$((fails + 1)); }
done
"$M" report "$W/r.h5" --out "$W/report" > /dev/null 2>&1 || { echo "FAIL: report"; fails=$((fails + 1)); }
cat "$W"/report/*.html > "$W/report.txt" 2>/dev/null
grep -q ' café' "$W/report.txt" || { echo "FAIL: report lacks ' café'"; fails=$((fails + 1)); }
grep -q '🦙' "$W/report.txt" || { echo "FAIL: report lacks the emoji"; fails=$((fails + 1)); }
if grep -q 'Ġ\|Ċ' "$W/report.txt" "$W/show.txt" "$W/route.txt"; then
    echo "FAIL: byte-level spelling in a view"; fails=$((fails + 1))
fi
[ "$fails" = 0 ] && echo "tokenizer bpe cli: ok"
[ "$fails" = 0 ]
