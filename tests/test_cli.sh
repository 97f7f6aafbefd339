#!/bin/sh
# CLI conventions shared by every command (docs/CLI.md): --help lists the commands, each
# command has --help, unknown commands and options exit 2 with exactly one line on stderr.
set -u
BIN=$1
fail=0
err=$(mktemp)
out=$(mktemp)
trap 'rm -f "$err" "$out"' EXIT

check_usage_error() { # description, then the command line
  what=$1; shift
  "$@" >"$out" 2>"$err"; rc=$?
  lines=$(wc -l <"$err")
  if [ "$rc" != 2 ] || [ "$lines" != 1 ] || ! grep -q '^moescope: error: ' "$err" || [ -s "$out" ]; then
    echo "FAIL: $what: exit $rc, $lines stderr lines, stdout $(wc -c <"$out") bytes:"; cat "$err"; fail=1
  fi
}

"$BIN" --version >"$out" 2>"$err" && grep -Eq '^moescope [0-9]+\.[0-9]+\.[0-9]+$' "$out" \
  || { echo "FAIL: --version"; fail=1; }
"$BIN" --help >"$out" 2>"$err" || { echo "FAIL: --help exit status"; fail=1; }
cmds=$(sed -n '/^commands:/,/^$/p' "$out" | awk 'NF>1 && $1!="commands:" {print $1}')
[ -n "$cmds" ] || { echo "FAIL: --help lists no commands"; fail=1; }
check_usage_error "unknown command" "$BIN" no-such-command
check_usage_error "unknown global option" "$BIN" --no-such-option
"$BIN" >"$out" 2>"$err"; [ $? = 2 ] || { echo "FAIL: no command should exit 2"; fail=1; }
for c in $cmds; do
  "$BIN" "$c" --help >"$out" 2>"$err" && grep -q '^usage: moescope '"$c" "$out" \
    || { echo "FAIL: $c --help"; cat "$out" "$err"; fail=1; }
  "$BIN" help "$c" >"$out" 2>"$err" && grep -q '^usage: moescope '"$c" "$out" \
    || { echo "FAIL: help $c"; fail=1; }
  check_usage_error "$c with unknown long option" "$BIN" "$c" --no-such-option
  check_usage_error "$c with unknown short option" "$BIN" "$c" -Z
done
n=$(echo "$cmds" | wc -w)
[ $fail = 0 ] && echo "cli: $n commands checked"
exit $fail
