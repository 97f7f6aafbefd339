#!/bin/sh
# test_corpora_cli.sh — corpus inputs through `moescope capture`: a FIFO (given directly, named
# by a manifest, inside a folder) or a device as corpus ends at once with exit status 2 and one
# error line naming it; a JSONL line holding two objects is exit 2 naming file:line; nothing is
# written to --out. Every run is under `timeout`: a blocked read fails the test (status 124).
# usage: test_corpora_cli.sh MOESCOPE WORKDIR
set -u
BIN=$1
W=$2
rm -rf "$W"
mkdir -p "$W/fold" || exit 1
fails=0

# expect NAME STATUS PATTERN -- ARGS...: runs capture, checks status, a single stderr line
# matching PATTERN, and that no output file appeared.
expect() {
    name=$1 want=$2 pat=$3
    shift 4
    rm -f "$W/out.h5"
    timeout 20 "$BIN" capture --model "$W/no-model.gguf" --out "$W/out.h5" "$@" \
        >"$W/stdout" 2>"$W/stderr" </dev/null
    st=$?
    lines=$(wc -l <"$W/stderr")
    if [ "$st" -ne "$want" ]; then
        echo "FAIL $name: exit $st, want $want: $(cat "$W/stderr")" >&2
        fails=$((fails + 1))
    elif ! grep -q -- "$pat" "$W/stderr"; then
        echo "FAIL $name: stderr lacks '$pat': $(cat "$W/stderr")" >&2
        fails=$((fails + 1))
    elif [ "$lines" -ne 1 ]; then
        echo "FAIL $name: $lines stderr lines: $(cat "$W/stderr")" >&2
        fails=$((fails + 1))
    elif [ -e "$W/out.h5" ]; then
        echo "FAIL $name: --out was written" >&2
        fails=$((fails + 1))
    else
        echo "ok $name"
    fi
}

mkfifo "$W/p.jsonl" "$W/p.txt" "$W/p.jsonl.zst" "$W/pm.json" "$W/fold/b.txt" || exit 1
printf 'a\n' >"$W/fold/a.txt"
printf '{"domains": [{"name": "x", "sources": "p.jsonl"}]}' >"$W/m.json"
printf '{"text": "a"}\n{"text": "b"}{"text": "c"}\n' >"$W/two.jsonl"
printf '{"text": "a"}\r{"text": "b"}\r' >"$W/cr.jsonl"
printf '{"text": "a\\u0000b"}\n' >"$W/nul.jsonl"
# Sampled domains are read when the corpus opens (before the model): a bad line is found there.
for f in two cr nul; do
    printf '{"domains": [{"name": "%s", "sources": "%s.jsonl", "docs": 5}]}' $f $f >"$W/m_$f.json"
done

ln -s /proc/self/mem "$W/mem.jsonl" || exit 1
printf '{"domains": [{"name": "m", "sources": "mem.jsonl", "docs": 5}]}' >"$W/m_mem.json"

expect read_error 1 'mem.jsonl: read error.*Input/output error' -- --corpus "$W/m_mem.json"
expect fifo_jsonl 2 'p.jsonl: is a named pipe (FIFO)' -- --corpus "$W/p.jsonl"
expect fifo_txt 2 'p.txt: is a named pipe (FIFO)' -- --corpus "$W/p.txt"
expect fifo_zst 2 'p.jsonl.zst: is a named pipe (FIFO)' -- --corpus "$W/p.jsonl.zst"
expect fifo_manifest 2 'pm.json: is a named pipe (FIFO)' -- --corpus "$W/pm.json"
expect fifo_in_manifest 2 'p.jsonl: is a named pipe (FIFO).*domain "x"' -- --corpus "$W/m.json"
expect fifo_in_folder 2 'fold/b.txt: is a named pipe (FIFO)' -- --corpus "$W/fold"
expect dev_zero 2 '/dev/zero: is a character device' -- --corpus /dev/zero
expect two_values 2 'two.jsonl:2: two JSON values on one line' -- --corpus "$W/m_two.json"
expect cr_only 2 'cr.jsonl:1: two JSON values on one line.*\\r' -- --corpus "$W/m_cr.json"
expect nul_escape 2 'nul.jsonl:1: field "text" holds \\u0000' -- --corpus "$W/m_nul.json"

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)" >&2
    exit 1
fi
echo "corpora cli: all passed"
