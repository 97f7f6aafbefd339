#!/bin/sh
# The sample corpora are reproducible from their sources (docs/SAMPLES.md): a fresh assembly by
# `moescope make-corpus pile` equals the committed JSONL byte for byte; the DM Mathematics
# generator is deterministic per (seed, document index) and its documents are the ones in the
# sample; bad sources are refused with one error line, exit 2 and no output file left behind.
# usage: test_samples.sh MOESCOPE SAMPLES_DIR WORK_DIR
set -u
BIN=$1
SAMPLES=$2
W=$3
fail=0
rm -rf "$W"
mkdir -p "$W"
say() { echo "FAIL: $*"; fail=1; }

# 1. The committed sample is exactly what the generator and the sources give.
"$BIN" make-corpus pile --src "$SAMPLES/src" --dm-docs 20 --seed 1 --out "$W/fresh.jsonl" \
  || say "make-corpus pile failed"
cmp -s "$W/fresh.jsonl" "$SAMPLES/pile_sample.jsonl" \
  || say "pile_sample.jsonl differs from a fresh assembly (regenerate: see docs/SAMPLES.md)"

# 2. DM Mathematics: deterministic, prefix-stable, seed-sensitive, same as in the sample.
"$BIN" make-corpus dm-math --seed 7 --docs 40 --out "$W/a.jsonl" || say "dm-math failed"
"$BIN" make-corpus dm-math --seed 7 --docs 40 --out "$W/b.jsonl" || say "dm-math failed"
cmp -s "$W/a.jsonl" "$W/b.jsonl" || say "dm-math is not deterministic"
"$BIN" make-corpus dm-math --seed 7 --docs 10 --out - >"$W/c.jsonl" || say "dm-math to stdout failed"
head -n 10 "$W/a.jsonl" | cmp -s - "$W/c.jsonl" || say "document i depends on --docs"
"$BIN" make-corpus dm-math --seed 8 --docs 40 --out "$W/d.jsonl" || say "dm-math failed"
cmp -s "$W/a.jsonl" "$W/d.jsonl" && say "seeds 7 and 8 give the same documents"
[ "$(wc -l <"$W/a.jsonl")" = 40 ] || say "dm-math --docs 40 did not write 40 lines"
"$BIN" make-corpus dm-math --seed 1 --docs 20 --out "$W/dm1.jsonl" || say "dm-math failed"
grep -F '"pile_set_name":"DM Mathematics"' "$SAMPLES/pile_sample.jsonl" | cmp -s - "$W/dm1.jsonl" \
  || say "the sample's DM Mathematics documents are not dm-math --seed 1 --docs 20"

# 3. Bad input: one error line, exit 2, nothing left at --out.
expect_error() { # description, pattern expected on stderr, then the command line
  what=$1; pat=$2; shift 2
  rm -f "$W/out.jsonl"
  "$@" >"$W/stdout" 2>"$W/stderr"; rc=$?
  if [ "$rc" != 2 ] || [ "$(wc -l <"$W/stderr")" != 1 ] || ! grep -q "^moescope: error: .*$pat" "$W/stderr"; then
    say "$what: exit $rc, stderr:"; cat "$W/stderr"
  fi
  [ -e "$W/out.jsonl" ] && say "$what: left $W/out.jsonl behind"
  return 0
}
mkdir -p "$W/bad1/dom" "$W/bad2/dom" "$W/bad3/dom" "$W/bad4/dom" "$W/bad5"
echo "text" >"$W/bad1/dom/01.txt"                                      # no SET_NAME
printf 'X\n' >"$W/bad2/dom/SET_NAME"; printf 'ok\n' >"$W/bad2/dom/01.txt"
printf 'caf\351\n' >"$W/bad2/dom/02.txt"                                 # Latin-1, not UTF-8
printf 'X\n' >"$W/bad3/dom/SET_NAME"; printf ' \n\n' >"$W/bad3/dom/01.txt" # empty document
printf 'X\n' >"$W/bad4/dom/SET_NAME"                                     # no documents
expect_error "missing SET_NAME" "bad1/dom/SET_NAME" "$BIN" make-corpus pile --src "$W/bad1" --out "$W/out.jsonl"
expect_error "invalid UTF-8" "bad2/dom/02.txt: invalid UTF-8" "$BIN" make-corpus pile --src "$W/bad2" --out "$W/out.jsonl"
expect_error "empty document" "bad3/dom/01.txt: empty document" "$BIN" make-corpus pile --src "$W/bad3" --out "$W/out.jsonl"
expect_error "no documents" "no .txt documents" "$BIN" make-corpus pile --src "$W/bad4" --out "$W/out.jsonl"
expect_error "no domains" "no domain folders" "$BIN" make-corpus pile --src "$W/bad5" --out "$W/out.jsonl"
expect_error "missing src" "no-such-dir" "$BIN" make-corpus pile --src "$W/no-such-dir" --out "$W/out.jsonl"
expect_error "no mode" "missing what to make" "$BIN" make-corpus --out "$W/out.jsonl"
expect_error "unknown mode" "unknown corpus" "$BIN" make-corpus novels --out "$W/out.jsonl"
expect_error "no --out" "--out FILE is required" "$BIN" make-corpus dm-math
expect_error "bad --docs" "docs" "$BIN" make-corpus dm-math --docs -3 --out "$W/out.jsonl"
expect_error "--docs with pile" "dm-docs" "$BIN" make-corpus pile --src "$SAMPLES/src" --docs 3 --out "$W/out.jsonl"

[ $fail = 0 ] && echo "samples: reproducible, deterministic, bad input refused"
exit $fail
