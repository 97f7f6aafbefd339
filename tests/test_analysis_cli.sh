#!/bin/sh
# `moescope analyze` / `moescope diff` command conventions: exit codes, one-line errors,
# the Table-5 summary, JSON on stdout, the CSV file set.
# usage: test_analysis_cli.sh MOESCOPE DIR   (DIR from test_analysis_stores.py)
M=$1
D=$2
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect() { # expect STATUS CMD...
    want=$1; shift
    "$@" >"$D/cli.out" 2>"$D/cli.err"; got=$?
    [ "$got" = "$want" ] || fail "exit $got (want $want): $*"
}
expect 0 "$M" analyze --help
grep -q "^usage: moescope analyze" "$D/cli.out" || fail "analyze --help text"
expect 2 "$M" analyze
expect 2 "$M" analyze "$D/nope.h5"
[ "$(wc -l <"$D/cli.err")" = 1 ] && grep -q "^moescope: error: $D/nope.h5: " "$D/cli.err" || fail "one-line error naming the file"
expect 2 "$M" analyze "$D/bad_expert.h5"
grep -q "^moescope: error: .*bad_expert.h5" "$D/cli.err" || fail "corrupt store error"
expect 2 "$M" analyze "$D/hand.h5" --layers 1
expect 2 "$M" analyze "$D/hand.h5" --bootstrap x
expect 0 "$M" analyze "$D/random.h5" --bootstrap 10
grep -q "Table 5" "$D/cli.out" || fail "no Table-5 summary"
grep -q "random baseline .* 12.5 .* 46.4" "$D/cli.out" || fail "baselines 12.5 / 46.4 missing"
expect 0 "$M" analyze "$D/hand.h5" --layers 3 --json - --bootstrap 0
grep -q '"schema":[[:space:]]*"moescope-analysis"' "$D/cli.out" || fail "JSON on stdout"
grep -q '"layers":[[:space:]]*\[3\]' "$D/cli.out" || fail "--layers 3 not honoured in JSON"
rm -rf "$D/cli_csv"
expect 0 "$M" -q analyze "$D/hand.h5" --csv "$D/cli_csv"
[ -s "$D/cli.out" ] && fail "-q printed a summary"
for f in experts repetition layers divergence chi_square coactivation vocabulary; do
    [ -s "$D/cli_csv/$f.csv" ] || fail "missing $f.csv"
done
expect 0 "$M" diff "$D/random.h5" "$D/random.h5"
grep -q "100.00%" "$D/cli.out" || fail "self-diff is not 100%"
expect 2 "$M" diff "$D/random.h5" "$D/other_tok.h5"
grep -q "differs" "$D/cli.err" || fail "diff of other tokens"
expect 2 "$M" diff "$D/random.h5"
[ $fails = 0 ] && echo "analysis cli: all checks passed"
exit $((fails != 0))
