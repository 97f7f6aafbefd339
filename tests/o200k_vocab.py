#!/usr/bin/python3
"""o200k_vocab.py OUTDIR [JS_TIKTOKEN_DIR]

Builds GPT-OSS's tokenizer (o200k_harmony: OpenAI's o200k_base ranks plus the harmony special
tokens) from the o200k_base ranks that the npm package js-tiktoken ships
(JS_TIKTOKEN_DIR/dist/ranks/o200k_base.js; default: tests/oracle/node_modules/js-tiktoken
beside this script), without downloading anything. Writes:

  OUTDIR/o200k.gguf                   vocabulary-only GGUF as llama.cpp's convert_hf_to_gguf.py
                                      writes gpt-oss's (tokenizer.ggml.model "gpt2", pre
                                      "gpt-4o", 201088 tokens, the specials as CONTROL, merges,
                                      BOS <|startoftext|>, EOS <|return|>, padding <|endoftext|>)
  OUTDIR/o200k/tokenizer.json         the Hugging Face form (BPE, Split with o200k's pattern +
                                      ByteLevel, the specials as special added tokens)
  OUTDIR/o200k/tokenizer_config.json  bos/eos/pad tokens as gpt-oss's

Merges are derived from the ranks as tiktoken's converters do (llama.cpp's QwenModel.bpe,
transformers' TikTokenConverter): the merge producing token T (rank r) is the pair that byte
pair encoding of T's bytes with ranks below r leaves; rules are ordered by r. Exit 77 when
js-tiktoken is not installed (npm ci in tests/oracle), 1 on any inconsistency.
Deterministic: the same ranks give byte-identical files. Up to date files are not rewritten."""
import base64
import json
import os
import struct
import sys

N_VOCAB = 201088  # gpt-oss's vocab_size (o200k_harmony)
N_RANKS = 199998  # o200k_base's mergeable ranks 0..199997
PATTERN = ("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
           "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
           "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
           "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
# The harmony special tokens (tiktoken's o200k_harmony; gpt-oss's tokenizer.json); every other
# id from 199998 up is <|reserved_ID|>. 200018 keeps o200k_base's <|endofprompt|>.
SPECIAL = {
    199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>",
    200003: "<|constrain|>", 200005: "<|channel|>", 200006: "<|start|>", 200007: "<|end|>",
    200008: "<|message|>", 200012: "<|call|>", 200018: "<|endofprompt|>",
}
BOS, EOS, PAD = 199998, 200002, 199999


def special_text(i):
    return SPECIAL.get(i, "<|reserved_%d|>" % i)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def load_ranks(js_dir):
    path = os.path.join(js_dir, "dist", "ranks", "o200k_base.js")
    if not os.path.isfile(path):
        print("js-tiktoken is not installed: no %s (npm ci in tests/oracle)" % path)
        sys.exit(77)
    src = open(path, encoding="utf-8").read().strip()
    head = "export default "
    if not src.startswith(head):
        sys.exit("%s: not the expected 'export default {...}' module" % path)
    data = json.loads(src[len(head):].rstrip(";"))
    # js-tiktoken spells tiktoken's (?i:'s|...) out; anything else is a different encoding.
    want = PATTERN.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)",
                           "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)")
    if data["pat_str"] != want:
        sys.exit("%s: pat_str is not o200k's pattern" % path)
    ranks = {}
    # js-tiktoken's compressed form: lines "! OFFSET b64 b64 ..." (ranks OFFSET, OFFSET+1, ...).
    for line in data["bpe_ranks"].split("\n"):
        if not line:
            continue
        parts = line.split(" ")
        off = int(parts[1])
        for k, tok in enumerate(parts[2:]):
            ranks[base64.b64decode(tok)] = off + k
    if sorted(ranks.values()) != list(range(N_RANKS)):
        sys.exit("%s: expected ranks 0..%d, one token each" % (path, N_RANKS - 1))
    if data["special_tokens"] != {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}:
        sys.exit("%s: unexpected special tokens %r" % (path, data["special_tokens"]))
    return ranks


def split_of(ranks, token, rank):
    """The two parts byte pair encoding of token leaves with merges ranked below rank."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, at = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < rank and (best is None or r < best):
                best, at = r, i
        if best is None:
            break
        parts[at:at + 2] = [parts[at] + parts[at + 1]]
    if len(parts) != 2:
        sys.exit("token of rank %d does not come from one merge (%d parts)" % (rank, len(parts)))
    return parts


def gguf_bytes(kvs):
    """A GGUF v3 file with metadata kvs and no tensors."""
    def s(x):
        b = x.encode("utf-8")
        return struct.pack("<Q", len(b)) + b
    out = [b"GGUF", struct.pack("<IQQ", 3, 0, len(kvs))]
    for key, typ, val in kvs:
        out.append(s(key))
        if typ == "str":
            out += [struct.pack("<I", 8), s(val)]
        elif typ == "u32":
            out.append(struct.pack("<II", 4, val))
        elif typ == "strs":
            out.append(struct.pack("<IIQ", 9, 8, len(val)))
            out += [s(v) for v in val]
        elif typ == "i32s":
            out.append(struct.pack("<IIQ", 9, 5, len(val)))
            out.append(struct.pack("<%di" % len(val), *val))
    return b"".join(out)


def write_if_changed(path, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    if os.path.isfile(path) and open(path, "rb").read() == data:
        return
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        sys.exit(2)
    out = sys.argv[1]
    js_dir = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "oracle", "node_modules", "js-tiktoken")
    ranks = load_ranks(js_dir)
    enc = bytes_to_unicode()
    by_rank = sorted(ranks, key=ranks.get)
    pieces = ["".join(enc[b] for b in tok) for tok in by_rank]
    merges = []
    for r, tok in enumerate(by_rank):
        if len(tok) > 1:
            a, b = split_of(ranks, tok, r)
            merges.append("".join(enc[x] for x in a) + " " + "".join(enc[x] for x in b))
    specials = [special_text(i) for i in range(N_RANKS, N_VOCAB)]
    tokens = pieces + specials
    types = [1] * N_RANKS + [3] * (N_VOCAB - N_RANKS)  # NORMAL, CONTROL

    os.makedirs(os.path.join(out, "o200k"), exist_ok=True)
    write_if_changed(os.path.join(out, "o200k.gguf"), gguf_bytes([
        ("general.architecture", "str", "gpt-oss"),
        ("general.name", "str", "o200k_harmony"),
        ("tokenizer.ggml.model", "str", "gpt2"),
        ("tokenizer.ggml.pre", "str", "gpt-4o"),
        ("tokenizer.ggml.tokens", "strs", tokens),
        ("tokenizer.ggml.token_type", "i32s", types),
        ("tokenizer.ggml.merges", "strs", merges),
        ("tokenizer.ggml.bos_token_id", "u32", BOS),
        ("tokenizer.ggml.eos_token_id", "u32", EOS),
        ("tokenizer.ggml.padding_token_id", "u32", PAD),
    ]))
    added = [{"id": i, "content": special_text(i), "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for i in range(N_RANKS, N_VOCAB)]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": {p: i for i, p in enumerate(pieces)},
                  "merges": merges},
    }
    write_if_changed(os.path.join(out, "o200k", "tokenizer.json"),
                     json.dumps(tj, ensure_ascii=False, separators=(",", ":")))
    cfg = {"bos_token": special_text(BOS), "eos_token": special_text(EOS),
           "pad_token": special_text(PAD), "model_max_length": 131072,
           "tokenizer_class": "PreTrainedTokenizerFast",
           "model_input_names": ["input_ids", "attention_mask"]}
    write_if_changed(os.path.join(out, "o200k", "tokenizer_config.json"), json.dumps(cfg, indent=1) + "\n")
    print("o200k: %d tokens, %d merges -> %s" % (len(tokens), len(merges), out))


if __name__ == "__main__":
    main()
