#!/bin/sh
# Peak RSS of `moescope analyze` on generated stores of 1 and 10 million token-layer rows
# (and 4 million; ROWS="..." overrides) (32 layers, E=8, k=2, 8 domains): memory must not grow with the number of tokens.
# usage: bench/analysis_rss.sh MOESCOPE [WORKDIR]
M=${1:?usage: analysis_rss.sh MOESCOPE [WORKDIR]}
W=${2:-/tmp/moescope-analysis-bench}
HERE=$(dirname "$0")
mkdir -p "$W"
for rows in ${ROWS:-1000000 4000000 10000000}; do
    T=$((rows / 32))
    S="$W/routes_$rows.h5"
    [ -f "$S" ] || /usr/bin/python3 "$HERE/analysis_make_store.py" "$S" "$T" 32 8 2 8 >/dev/null
    for boot in 0 200; do
        /usr/bin/time -v "$M" -q analyze "$S" --bootstrap $boot --json "$W/a.json" 2>"$W/time.txt"
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/time.txt")
        sec=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/time.txt")
        echo "rows=$rows tokens=$T bootstrap=$boot peak_rss_kb=$rss wall=$sec"
    done
done
