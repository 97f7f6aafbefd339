#!/usr/bin/env python3
"""Write the demo model (models/demo-moe.gguf) as a Hugging Face Mixtral folder: config.json,
model.safetensors (F32: the Q8_0 weights dequantized by gguf-py), tokenizer.json and
tokenizer_config.json (those two from `moescope make-model --format hf`, whose vocabulary is
the same llama SentencePiece one). A development tool (issue 22): numpy and llama.cpp's gguf-py
on PYTHONPATH.

GGUF stores q and k with llama.cpp's RoPE row order (adjacent pairs); Hugging Face rotates
halves, so their rows are permuted back here (the inverse of convert_hf_to_gguf's permute).

usage: demo_hf.py --moescope BIN [--model models/demo-moe.gguf] --out DIR
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np
import gguf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unpermute(w, n_head):
    """GGUF (adjacent-pair) rows of q or k to Hugging Face's (rotate-half) order."""
    rows, cols = w.shape
    return w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def write_safetensors(path, tensors):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, a in tensors.items():
        n = a.size * 4
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--moescope", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "demo-moe.gguf"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    r = gguf.GGUFReader(a.model)

    def kv(k):
        return r.fields["llama." + k].contents()

    t = {x.name: gguf.quants.dequantize(x.data, x.tensor_type).astype(np.float32)
         .reshape([int(d) for d in reversed(x.shape)]) for x in r.tensors}
    L, H, Hk, E = kv("block_count"), kv("attention.head_count"), kv("attention.head_count_kv"), \
        kv("expert_count")
    d, ff = kv("embedding_length"), kv("feed_forward_length")
    out = {"model.embed_tokens.weight": t["token_embd.weight"]}
    for i in range(L):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        out[p + "input_layernorm.weight"] = t[b + "attn_norm.weight"]
        out[p + "self_attn.q_proj.weight"] = unpermute(t[b + "attn_q.weight"], H)
        out[p + "self_attn.k_proj.weight"] = unpermute(t[b + "attn_k.weight"], Hk)
        out[p + "self_attn.v_proj.weight"] = t[b + "attn_v.weight"]
        out[p + "self_attn.o_proj.weight"] = t[b + "attn_output.weight"]
        out[p + "post_attention_layernorm.weight"] = t[b + "ffn_norm.weight"]
        out[p + "block_sparse_moe.gate.weight"] = t[b + "ffn_gate_inp.weight"]
        for e in range(E):
            q = p + f"block_sparse_moe.experts.{e}."
            out[q + "w1.weight"] = t[b + "ffn_gate_exps.weight"][e]
            out[q + "w2.weight"] = t[b + "ffn_down_exps.weight"][e]
            out[q + "w3.weight"] = t[b + "ffn_up_exps.weight"][e]
    out["model.norm.weight"] = t["output_norm.weight"]
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:  # tokenizer files and the config's form
        ref = os.path.join(tmp, "ref")
        subprocess.run([a.moescope, "-q", "make-model", "--format", "hf", "--out", ref, "--tied",
                        "--layers", "1", "--d-model", "64", "--ff", "64"], check=True)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(ref, f), os.path.join(a.out, f))
        with open(os.path.join(ref, "config.json")) as f:
            cfg = json.load(f)
    cfg.update({"hidden_size": d, "intermediate_size": ff, "head_dim": d // H,
                "num_attention_heads": H, "num_key_value_heads": Hk, "num_hidden_layers": L,
                "num_local_experts": E, "num_experts_per_tok": kv("expert_used_count"),
                "rms_norm_eps": float(kv("attention.layer_norm_rms_epsilon")),
                "rope_theta": float(kv("rope.freq_base")),
                "max_position_embeddings": kv("context_length"), "tie_word_embeddings": True,
                "router_aux_loss_coef": 0.01})
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(a.out, "model.safetensors"), out)


if __name__ == "__main__":
    main()
