#!/bin/sh
# Runs a test command and, when it passes (exit status 0), removes the test's own work
# directory, so that `make test` does not keep ~13 GB of fixtures on disk until it ends (a fresh
# Debian root runs the whole suite again beside the host's). A failing or skipped test keeps its
# work for inspection, and MS_KEEP_WORK=1 keeps every one. The exit status is the command's.
# Usage: clean_on_pass.sh WORK_DIR COMMAND [ARGS...]
[ $# -ge 2 ] || { echo "usage: $0 WORK_DIR COMMAND [ARGS...]" >&2; exit 2; }
work=$1
shift
"$@"
rc=$?
if [ "$rc" -eq 0 ] && [ -z "${MS_KEEP_WORK:-}" ] && [ -d "$work" ]; then
  rm -rf -- "$work"
fi
exit "$rc"
