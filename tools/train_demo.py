#!/usr/bin/python3
"""Train the demo model (issue 22): a small Mixtral-architecture MoE (llama GGUF with experts)
on the corpus of tools/demo_corpus.py, deterministically from a seed, and write it as GGUF.

A development tool, not a run-time or test dependency: Debian's python3-torch (1.13, CPU),
numpy, and llama.cpp's gguf-py on PYTHONPATH (e.g. /work/llama-src/gguf-py) to write the file.
The text is tokenized by `moescope tokenize` with the llama SentencePiece vocabulary the
fixtures use (tests/data/vocab/ggml-vocab-llama-spm.gguf), so training sees exactly the ids
that capture sees.

Model: token embeddings tied to the output (no output.weight, as llama.cpp and moescope allow);
RMSNorm, RoPE in GGUF's (adjacent-pair) layout, grouped-query attention, and per layer 8 SwiGLU
experts of which the router's top 2 run, weighted by the softmax of their two logits
(Mixtral). Training: next-token cross-entropy plus the Switch/Mixtral load-balancing loss
(coefficient --aux, per layer, averaged). Vocabulary trick: only tokens that occur in the
training corpus get embeddings; the others are exactly zero rows, so their logit is exactly 0,
and the loss counts them exactly as one extra logit log(n_unused) (the softmax over the full
vocabulary, computed cheaply). Batches take the same number of windows from every domain.

Determinism: one thread, torch.use_deterministic_algorithms, fixed seeds for the weights and
the batches, a fixed number of steps (never a time limit).

usage: train_demo.py --moescope BIN --corpus DIR --out MODEL.gguf [--steps N] [--seed N] ...
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "tests", "data", "vocab", "ggml-vocab-llama-spm.gguf")
DOMAINS = ["c", "python", "math", "latex", "prose"]
BOS = 1


def tokenize_corpus(moescope, corpus, cache):
    """Token ids per domain: each document as `moescope tokenize` gives it (BOS first)."""
    if os.path.exists(cache):
        z = np.load(cache)
        return {d: z[d] for d in DOMAINS}
    out = {}
    for dom in DOMAINS:
        ids = []
        with open(os.path.join(corpus, dom + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                text = json.loads(line)["text"]
                r = subprocess.run([moescope, "tokenize", "--model", VOCAB, "--file", "-"],
                                   input=text.encode(), stdout=subprocess.PIPE, check=True)
                ids.extend(int(x) for x in r.stdout.split())
        out[dom] = np.asarray(ids, dtype=np.int32)
        print(f"{dom}: {len(ids)} tokens", file=sys.stderr)
    np.savez(cache, **out)
    return out


def rope_tables(n_ctx, d_head, theta):
    # GGUF/llama.cpp "normal" RoPE: pairs (2i, 2i+1) rotated by pos * theta^(-2i/d_head)
    inv = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    ang = torch.arange(n_ctx, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope(x, cos, sin):
    # x: (B, H, T, Dh)
    T = x.shape[2]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:T], sin[:T]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Model(torch.nn.Module):
    def __init__(self, a, used):
        super().__init__()
        self.a = a
        d, ff, E, L = a.d_model, a.ff, a.experts, a.layers
        dh = d // a.heads
        g = torch.Generator().manual_seed(a.seed)

        def P(*shape, std):
            return torch.nn.Parameter(torch.randn(*shape, generator=g) * std)

        emb = torch.randn(a.vocab, d, generator=g) * a.init_std
        mask = torch.zeros(a.vocab, dtype=torch.bool)
        mask[torch.as_tensor(used, dtype=torch.long)] = True
        emb[~mask] = 0.0
        self.emb = torch.nn.Parameter(emb)
        self.register_buffer("used", torch.as_tensor(used, dtype=torch.long))
        self.n_unused = a.vocab - len(used)
        s, so = a.init_std, a.init_std / math.sqrt(2 * L)
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.attn_norm = torch.nn.Parameter(torch.ones(d))
            b.wq = P(a.heads * dh, d, std=s)
            b.wk = P(a.kv_heads * dh, d, std=s)
            b.wv = P(a.kv_heads * dh, d, std=s)
            b.wo = P(d, a.heads * dh, std=so)
            b.ffn_norm = torch.nn.Parameter(torch.ones(d))
            b.router = P(E, d, std=s)
            b.gate = P(E, ff, d, std=s)
            b.up = P(E, ff, d, std=s)
            b.down = P(E, d, ff, std=so)
            self.blocks.append(b)
        self.out_norm = torch.nn.Parameter(torch.ones(d))
        cos, sin = rope_tables(a.seq, dh, a.rope_theta)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def moe(self, b, x):
        a = self.a
        logits = x @ b.router.t()  # (N, E)
        probs = torch.softmax(logits, dim=-1)
        topv, topi = torch.topk(probs, a.k, dim=-1)
        w = topv / topv.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e in range(a.experts):
            tok, slot = torch.nonzero(topi == e, as_tuple=True)
            if tok.numel() == 0:
                continue
            xe = x[tok]
            h = F.silu(xe @ b.gate[e].t()) * (xe @ b.up[e].t())
            out.index_add_(0, tok, (h @ b.down[e].t()) * w[tok, slot, None])
        # Switch/Mixtral load balancing: E * sum_e (share of assignments) * (mean probability)
        f = torch.zeros(a.experts).index_add_(0, topi.reshape(-1),
                                              torch.ones(topi.numel())) / topi.numel()
        aux = a.experts * (f * probs.mean(0)).sum()
        return out, aux

    def forward(self, ids):
        a = self.a
        B, T = ids.shape
        d, H, Hk = a.d_model, a.heads, a.kv_heads
        dh = d // H
        x = self.emb[ids]
        mask = torch.full((T, T), float("-inf")).triu(1)
        aux = 0.0
        for b in self.blocks:
            h = rmsnorm(x, b.attn_norm, a.eps)
            q = (h @ b.wq.t()).view(B, T, H, dh).transpose(1, 2)
            k = (h @ b.wk.t()).view(B, T, Hk, dh).transpose(1, 2)
            v = (h @ b.wv.t()).view(B, T, Hk, dh).transpose(1, 2)
            q, k = rope(q, self.cos, self.sin), rope(k, self.cos, self.sin)
            k = k.repeat_interleave(H // Hk, dim=1)
            v = v.repeat_interleave(H // Hk, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, dim=-1)
            o = (att @ v).transpose(1, 2).reshape(B, T, H * dh)
            x = x + o @ b.wo.t()
            h = rmsnorm(x, b.ffn_norm, a.eps).reshape(B * T, d)
            m, al = self.moe(b, h)
            x = x + m.view(B, T, d)
            aux = aux + al
        return rmsnorm(x, self.out_norm, a.eps), aux / len(self.blocks)

    def loss(self, ids, tgt):
        """Cross-entropy over the full vocabulary: the used tokens' logits plus the unused ones,
        whose rows are zero, as a single logit log(n_unused). tgt holds indices into `used`."""
        h, aux = self.forward(ids)
        logits = h.reshape(-1, h.shape[-1]) @ self.emb[self.used].t()
        if self.n_unused:
            extra = torch.full((logits.shape[0], 1), math.log(self.n_unused))
            logits = torch.cat((logits, extra), dim=1)
        return F.cross_entropy(logits, tgt.reshape(-1)), aux


def batches(tokens, a):
    """Deterministic batches: a.batch windows of a.seq+1 tokens, the same number from each
    domain in turn, each starting at a random position of its domain's token stream."""
    rng = np.random.RandomState(a.seed + 1)
    doms = [d for d in DOMAINS if len(tokens[d]) > a.seq + 1]
    while True:
        rows = []
        for i in range(a.batch):
            t = tokens[doms[i % len(doms)]]
            s = rng.randint(0, len(t) - a.seq - 1)
            rows.append(t[s:s + a.seq + 1])
        yield torch.as_tensor(np.stack(rows).astype(np.int64))


def write_gguf(model, a, path):
    import gguf  # llama.cpp's gguf-py (PYTHONPATH)

    rd = gguf.GGUFReader(VOCAB)
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name("moescope demo (trained MoE)")
    qt = gguf.GGMLQuantizationType.Q8_0 if a.type == "Q8_0" else gguf.GGMLQuantizationType.F32
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if a.type == "Q8_0" else gguf.LlamaFileType.ALL_F32)
    if a.type == "Q8_0":
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    d = a.d_model
    w.add_vocab_size(a.vocab)
    w.add_context_length(a.ctx)
    w.add_embedding_length(d)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ff)
    w.add_rope_dimension_count(d // a.heads)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_layer_norm_rms_eps(a.eps)
    w.add_rope_freq_base(a.rope_theta)
    w.add_expert_count(a.experts)
    w.add_expert_used_count(a.k)
    for name, field in rd.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vt = field.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, field.contents(), vt, sub_type=field.types[-1])
        else:
            w.add_key_value(name, field.contents(), vt)

    def mat(name, t):
        x = t.detach().float().numpy().astype(np.float32)
        if qt == gguf.GGMLQuantizationType.Q8_0:
            w.add_tensor(name, gguf.quants.quantize(x, qt), raw_dtype=qt)
        else:
            w.add_tensor(name, x)

    def vec(name, t):
        w.add_tensor(name, t.detach().float().numpy().astype(np.float32))

    mat("token_embd.weight", model.emb)
    vec("output_norm.weight", model.out_norm)
    for i, b in enumerate(model.blocks):
        vec(f"blk.{i}.attn_norm.weight", b.attn_norm)
        mat(f"blk.{i}.attn_q.weight", b.wq)
        mat(f"blk.{i}.attn_k.weight", b.wk)
        mat(f"blk.{i}.attn_v.weight", b.wv)
        mat(f"blk.{i}.attn_output.weight", b.wo)
        vec(f"blk.{i}.ffn_norm.weight", b.ffn_norm)
        vec(f"blk.{i}.ffn_gate_inp.weight", b.router)  # the router stays F32, as convert does
        mat(f"blk.{i}.ffn_gate_exps.weight", b.gate)
        mat(f"blk.{i}.ffn_up_exps.weight", b.up)
        mat(f"blk.{i}.ffn_down_exps.weight", b.down)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--moescope", required=True)
    ap.add_argument("--corpus", required=True, help="folder written by tools/demo_corpus.py")
    ap.add_argument("--out", required=True, help="the GGUF file to write")
    ap.add_argument("--type", default="Q8_0", choices=["Q8_0", "F32"])
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--aux", type=float, default=0.01, help="load-balancing loss coefficient")
    ap.add_argument("--init-std", type=float, default=0.02)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ff", type=int, default=256)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=2048, help="context length written to the file")
    ap.add_argument("--rope-theta", type=float, default=1e6)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--save-every", type=int, default=0,
                    help="also write OUT.stepN.gguf every N steps (as --stop-after N would)")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after N of the --steps steps (the schedule stays that of --steps)")
    a = ap.parse_args()
    a.vocab = 32000

    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)

    tokens = tokenize_corpus(a.moescope, a.corpus, os.path.join(a.corpus, "tokens.npz"))
    used = np.unique(np.concatenate([tokens[d] for d in DOMAINS]))
    remap = np.full(a.vocab, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    print(f"{len(used)} of {a.vocab} tokens occur in the corpus; "
          f"{sum(len(t) for t in tokens.values())} tokens", file=sys.stderr)

    model = Model(a, used)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    keep = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": keep, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))
    remap_t = torch.as_tensor(remap)
    t0 = time.time()
    it = batches(tokens, a)
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / a.warmup)
        lr *= 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for gr in opt.param_groups:
            gr["lr"] = lr
        rows = next(it)
        ce, aux = model.loss(rows[:, :-1], remap_t[rows[:, 1:]])
        loss = ce + a.aux * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % a.log_every == 0 or step == 0:
            el = time.time() - t0
            print(f"step {step + 1}/{a.steps} ce {ce.item():.4f} aux {aux.item():.4f} lr {lr:.2e} "
                  f"{(step + 1) * a.batch * a.seq / el:.0f} tok/s {el:.0f} s", file=sys.stderr,
                  flush=True)
        if a.save_every and (step + 1) % a.save_every == 0:
            write_gguf(model, a, f"{a.out[:-5] if a.out.endswith('.gguf') else a.out}.step{step + 1}.gguf")
        if a.stop_after and step + 1 == a.stop_after:
            break
    unused = torch.ones(a.vocab, dtype=torch.bool)
    unused[model.used] = False
    assert float(model.emb.detach()[unused].abs().max()) == 0.0, "an unused row changed"
    write_gguf(model, a, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes) after {step + 1} of {a.steps} steps, "
          f"{time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
