#!/bin/sh
# bpe_vocabs.sh BUNDLE OUTDIR NAME... — copies llama.cpp's byte-level test vocabularies
# (models/ggml-vocab-NAME.gguf with .inp/.out) and its LICENSE out of the llama.cpp source that
# node-llama-cpp ships (llama/gitRelease.bundle), into OUTDIR. Exit 77 (skip) without the bundle.
set -eu
bundle=$1
out=$2
shift 2
[ -f "$bundle" ] || { echo "no llama.cpp bundle at $bundle (npm ci in tests/oracle)"; exit 77; }
mkdir -p "$out"
git_dir="$out/llama.git"
if [ ! -d "$git_dir" ]; then
  rm -rf "$git_dir.tmp"
  git clone -q --bare "$bundle" "$git_dir.tmp"
  mv "$git_dir.tmp" "$git_dir"
fi
git --git-dir="$git_dir" show HEAD:LICENSE >"$out/LICENSE.llama.cpp"
for name in "$@"; do
  for ext in "" .inp .out; do
    f="models/ggml-vocab-$name.gguf$ext"
    [ -f "$out/${f#models/}" ] && continue
    git --git-dir="$git_dir" show "HEAD:$f" >"$out/${f#models/}.tmp"
    mv "$out/${f#models/}.tmp" "$out/${f#models/}"
  done
done
echo "extracted: $*"
