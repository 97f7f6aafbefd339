/* fixture.c — random-weight Mixtral-architecture checkpoints for tests, the demo and
 * benchmarks, written as GGUF (any supported weight type, stacked or per-expert tensors) or as
 * a Hugging Face folder (config.json, safetensors F32/F16/BF16, optional shards + index,
 * tokenizer.json). Both formats describe the SAME model: every tensor is generated from a seed
 * derived from the fixture seed and the tensor's logical name ("L3.E5.w1"), in Hugging Face
 * layout; the GGUF side then applies llama.cpp's q/k row permutation (convert_hf_to_gguf.py,
 * LlamaModel.permute) so that adjacent-pair RoPE on GGUF equals half-split RoPE on HF, and
 * quantizes. The vocabulary comes from a GGUF with tokenizer metadata (its tokenizer.* keys are
 * copied; tokenizer.json is written by the tokenizer module).
 *
 * Weights: matrices N(0, s^2) with s = weight_scale or 1/sqrt(fan_in) (router logits then
 * have a spread of about 1: routing is neither uniform nor one-hot); token embeddings N(0, 1);
 * norm weights 1 + 0.1 N(0, 1) so the norm scale is exercised. */
#include "arch.h"
#include "engine.h"
#include "gguf.h"
#include "msutil.h"
#include "safetensors.h"
#include "tokenizer_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------
 * Deterministic random numbers: splitmix64 + Box-Muller.
 */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t tensor_seed(uint64_t seed, const char *lname) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the logical name */
    for (const char *p = lname; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    uint64_t s = seed ^ h;
    return splitmix64(&s);
}

/* n normal samples with the given mean and std into dst. */
static void gen_normal(float *dst, int64_t n, uint64_t seed, float mean, float std) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((double)(splitmix64(&s) >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
        double u2 = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        dst[i] = mean + std * (float)(r * cos(2.0 * M_PI * u2));
        if (i + 1 < n) dst[i + 1] = mean + std * (float)(r * sin(2.0 * M_PI * u2));
    }
}

/* ---------------------------------------------------------------------------------------
 * The model's tensors, format-independent.
 */

/* Tensor roles are the registry's (arch.h): names come from the family's table. */
typedef ms_role role;
#define R_EMBD      MS_R_TOK_EMBD
#define R_OUT_NORM  MS_R_OUT_NORM
#define R_LM_HEAD   MS_R_OUTPUT
#define R_ATTN_NORM MS_R_ATTN_NORM
#define R_WQ        MS_R_Q
#define R_WK        MS_R_K
#define R_WV        MS_R_V
#define R_WO        MS_R_O
#define R_FFN_NORM  MS_R_FFN_NORM
#define R_ROUTER    MS_R_ROUTER
#define R_W1        MS_R_EXP_GATE
#define R_W3        MS_R_EXP_UP
#define R_W2        MS_R_EXP_DOWN

typedef struct ltensor {
    role r;
    int layer, expert;
    int64_t rows, cols; /* HF layout: (out, in) */
} ltensor;

typedef struct fixture {
    ms_fixture_opts o;
    const ms_arch *a; /* the family */
    int n_vocab, d_head;
    ltensor *t; /* [n] in Hugging Face file order */
    int n;
    gguf_file *vocab;
} fixture;

static int is_norm(role r) {
    return r == R_OUT_NORM || r == R_ATTN_NORM || r == R_FFN_NORM || r == MS_R_Q_NORM ||
           r == MS_R_K_NORM || r == MS_R_Q_A_NORM || r == MS_R_KV_A_NORM;
}

/* GPT-OSS's stacked expert biases: (n_expert, width) matrices, stored F32 */
static int is_exp_bias(role r) {
    return r == MS_R_EXPS_GATE_BIAS || r == MS_R_EXPS_UP_BIAS || r == MS_R_EXPS_DOWN_BIAS;
}

static int is_bias(role r) {
    return r == MS_R_Q_BIAS || r == MS_R_K_BIAS || r == MS_R_V_BIAS || r == MS_R_O_BIAS ||
           r == MS_R_ROUTER_BIAS || r == MS_R_SINKS || is_exp_bias(r);
}

/* Stored as a 1-D tensor (GGUF always; HF too except the shared-expert gate, a (1, d) Linear) */
static int is_vec(role r) {
    return is_norm(r) || (is_bias(r) && !is_exp_bias(r)) || r == MS_R_SH_INP ||
           r == MS_R_EXP_PROBS_B;
}

static int is_expert(role r) {
    return r == R_W1 || r == R_W2 || r == R_W3;
}

static char *path_join_alloc(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Logical names seed each tensor's random numbers: the same in every format (Mixtral's are
 * those of the first fixtures, so their weights never change). */
static void lname(const ltensor *t, char *buf, size_t n) {
    static const char *const names[MS_R_COUNT] = {[R_EMBD] = "tok_embd",
                                                  [R_OUT_NORM] = "out_norm",
                                                  [R_LM_HEAD] = "lm_head",
                                                  [R_ATTN_NORM] = "attn_norm",
                                                  [R_WQ] = "wq",
                                                  [R_WK] = "wk",
                                                  [R_WV] = "wv",
                                                  [R_WO] = "wo",
                                                  [R_FFN_NORM] = "ffn_norm",
                                                  [R_ROUTER] = "router",
                                                  [R_W1] = "w1",
                                                  [R_W3] = "w3",
                                                  [R_W2] = "w2",
                                                  [MS_R_Q_BIAS] = "bq",
                                                  [MS_R_K_BIAS] = "bk",
                                                  [MS_R_V_BIAS] = "bv",
                                                  [MS_R_Q_NORM] = "q_norm",
                                                  [MS_R_K_NORM] = "k_norm",
                                                  [MS_R_SH_INP] = "sh_inp",
                                                  [MS_R_SH_GATE] = "sh_w1",
                                                  [MS_R_SH_UP] = "sh_w3",
                                                  [MS_R_SH_DOWN] = "sh_w2",
                                                  [MS_R_FFN_GATE] = "ffn_w1",
                                                  [MS_R_FFN_UP] = "ffn_w3",
                                                  [MS_R_FFN_DOWN] = "ffn_w2",
                                                  [MS_R_Q_A] = "wq_a",
                                                  [MS_R_Q_A_NORM] = "q_a_norm",
                                                  [MS_R_Q_B] = "wq_b",
                                                  [MS_R_KV_A] = "wkv_a",
                                                  [MS_R_KV_A_NORM] = "kv_a_norm",
                                                  [MS_R_KV_B] = "wkv_b",
                                                  [MS_R_EXP_PROBS_B] = "exp_probs_b",
                                                  [MS_R_SINKS] = "sinks",
                                                  [MS_R_O_BIAS] = "bo",
                                                  [MS_R_ROUTER_BIAS] = "router_b",
                                                  [MS_R_EXPS_GATE_BIAS] = "w1_b",
                                                  [MS_R_EXPS_UP_BIAS] = "w3_b",
                                                  [MS_R_EXPS_DOWN_BIAS] = "w2_b"};
    const char *nm = names[t->r] ? names[t->r] : "?";
    if (t->layer < 0)
        snprintf(buf, n, "%s", nm);
    else if (is_expert(t->r))
        snprintf(buf, n, "L%d.E%d.%s", t->layer, t->expert, nm);
    else
        snprintf(buf, n, "L%d.%s", t->layer, nm);
}

static void hf_name(const fixture *f, const ltensor *t, char *buf, size_t n) {
    ms_tensor_name(f->a, 1, t->r, t->layer, t->expert, buf, n);
}

/* Generates tensor t (rows*cols floats, HF layout) into dst. */
static void gen(const fixture *f, const ltensor *t, float *dst) {
    char ln[64];
    lname(t, ln, sizeof ln);
    uint64_t s = tensor_seed(f->o.seed, ln);
    int64_t n = t->rows * t->cols;
    if (is_norm(t->r))
        gen_normal(dst, n, s, 1.0f, 0.1f);
    else if (t->r == R_EMBD)
        gen_normal(dst, n, s, 0.0f, 1.0f);
    else if (is_bias(t->r))
        gen_normal(dst, n, s, 0.0f, 0.5f);
    else if (t->r == MS_R_EXP_PROBS_B) /* of the order of the sigmoid scores' spread */
        gen_normal(dst, n, s, 0.0f, 0.05f);
    else {
        float std = f->o.weight_scale > 0 ? f->o.weight_scale : 1.0f / sqrtf((float)t->cols);
        /* gpt-oss: gate/up pre-activations of std ~4, so the SwiGLU's clamps at +-7 bite */
        if (f->a->oai && (t->r == R_W1 || t->r == R_W3)) std *= 4.0f;
        gen_normal(dst, n, s, 0.0f, std);
    }
}

static int push(fixture *f, role r, int layer, int expert, int64_t rows, int64_t cols) {
    ltensor *t = realloc(f->t, sizeof *t * (size_t)(f->n + 1));
    if (!t) return MS_ERR_RUNTIME;
    f->t = t;
    f->t[f->n++] = (ltensor){r, layer, expert, rows, cols};
    return 0;
}

static void fixture_free(fixture *f) {
    free(f->t);
    if (f->vocab) gguf_close(f->vocab);
}

static int fixture_init(fixture *f, const ms_fixture_opts *o, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->o = *o;
    ms_fixture_opts *p = &f->o;
    if (p->rope_theta <= 0) p->rope_theta = 1e6f;
    if (p->norm_eps <= 0) p->norm_eps = 1e-5f;
    if (p->n_ctx <= 0) p->n_ctx = 4096;
    if (p->n_head_kv <= 0) p->n_head_kv = p->n_head;
    f->a = ms_arch_by_name(p->arch ? p->arch : "mixtral");
    if (!f->a) {
        st_errf(err, errlen, "fixture: unknown architecture (known: %s)", ms_arch_list());
        return MS_ERR_INPUT;
    }
    if (p->d_ff_shared <= 0) p->d_ff_shared = p->d_ff;
    const int ds = f->a->shared_nogate; /* DeepSeek: n shared experts of the experts' width */
    if (ds) {
        if (p->n_shared <= 0) p->n_shared = 2;
        if (p->expert_weights_scale <= 0) p->expert_weights_scale = 1.5f;
        p->d_ff_shared = p->n_shared * p->d_ff;
    }
    const int mla = f->a->mla;
    if (mla) {
        if (p->kv_lora_rank <= 0) p->kv_lora_rank = 32;
        if (p->d_head_rope <= 0) p->d_head_rope = 16;
        if (p->d_head_v <= 0) p->d_head_v = p->d_head > 0 ? p->d_head : p->d_model / p->n_head;
        p->n_head_kv = p->n_head;
    }
    const char *bad = NULL;
    if (!mla &&
        (p->q_lora_rank || p->kv_lora_rank || p->d_head_rope || p->d_head_v || p->mla_kv_b_fused ||
         p->router_sigmoid || p->n_group || p->topk_group || p->expert_weights_norm))
        bad = "latent attention and the V3 router options are for deepseek2";
    else if (mla && (p->q_lora_rank < 0 || p->q_lora_rank > 4096 || p->kv_lora_rank > 4096 ||
                     p->d_head_rope % 2 || p->d_head_rope > 1024 || p->d_head_v > 4096))
        bad = "latent attention sizes out of range (q/kv lora <= 4096, even rope dims <= 1024)";
    else if (mla && p->n_group > 1 &&
             (p->n_expert % p->n_group || p->topk_group < 1 || p->topk_group >= p->n_group ||
              p->n_expert / p->n_group < 2 ||
              p->topk_group * (p->n_expert / p->n_group) < p->n_expert_used))
        bad = "expert groups must divide the experts, topk_group in [1, groups) holding >= k";
    else if (p->d_model <= 0 || p->d_model > (1 << 16))
        bad = "d_model must be in [1, 65536]";
    else if (p->n_layer <= 0 || p->n_layer > 1024)
        bad = "n_layer must be in [1, 1024]";
    else if (p->n_head <= 0 || (p->d_head <= 0 && p->d_model % p->n_head))
        bad = "n_head must divide d_model (or give the head size)";
    else if (p->n_head % p->n_head_kv)
        bad = "n_head_kv must divide n_head";
    else if (p->d_head < 0 || p->d_head > 4096 ||
             (p->d_head ? p->d_head : p->d_model / p->n_head) % 2)
        bad = "the head size must be even (and at most 4096)";
    else if (p->d_head > 0 && p->d_head != p->d_model / p->n_head && !strcmp(f->a->name, "mixtral"))
        bad = "mixtral fixtures have head size d_model/n_head";
    else if (p->expert_layout != 0 && !f->a->per_expert_gguf)
        bad = "one tensor per expert is a Mixtral GGUF layout only";
    else if (p->tied_embeddings && !f->a->output_optional)
        bad = "this family's GGUF files always have an output matrix (no --tied)";
    else if (p->d_ff <= 0 || p->d_ff > (1 << 20))
        bad = "d_ff must be in [1, 1048576]";
    else if (p->n_expert <= 0 || p->n_expert > MS_MAX_EXPERTS)
        bad = "n_expert must be in [1, 256]";
    else if (p->n_expert_used <= 0 || p->n_expert_used > p->n_expert ||
             p->n_expert_used > MS_MAX_TOPK)
        bad = "n_expert_used must be in [1, min(n_expert, 16)]";
    else if (p->sliding_window < 0)
        bad = "sliding_window must be >= 0";
    else if (!p->vocab_gguf)
        bad = "no vocabulary GGUF given";
    else if (p->n_dense_lead < 0 || p->n_dense_lead >= p->n_layer ||
             (p->n_dense_lead && !f->a->gguf_keys[MS_K_DENSE_LEAD]))
        bad = "leading dense layers: deepseek only, and fewer than n_layer";
    else if (!ds && p->n_shared)
        bad = "--shared-experts is for deepseek";
    else if (ds && (p->n_shared > 64 || (int64_t)p->n_shared * p->d_ff > (1 << 24)))
        bad = "too many shared experts";
    if (bad) {
        st_errf(err, errlen, "fixture: %s", bad);
        return MS_ERR_INPUT;
    }
    f->d_head = p->d_head > 0 ? p->d_head : p->d_model / p->n_head;
    int rc = gguf_open(&f->vocab, p->vocab_gguf, err, errlen);
    if (rc) return rc;
    gguf_vtype et;
    uint64_t nv = 0;
    if (gguf_get_arr(f->vocab, "tokenizer.ggml.tokens", &et, &nv) != 0 || et != GGUF_T_STRING ||
        nv == 0 || nv > (1u << 22)) {
        st_errf(err, errlen, "%s: no tokenizer.ggml.tokens string array", p->vocab_gguf);
        fixture_free(f);
        return MS_ERR_INPUT;
    }
    f->n_vocab = (int)nv;

    const int64_t d = p->d_model, q = (int64_t)p->n_head * f->d_head,
                  kv = (int64_t)p->n_head_kv * f->d_head, ff = p->d_ff;
    rc = push(f, R_EMBD, -1, -1, f->n_vocab, d);
    for (int il = 0; il < p->n_layer && !rc; il++) {
        rc |= push(f, R_ATTN_NORM, il, -1, 1, d);
        if (mla) { /* latent attention (HF order: q, kv_a, its norm, kv_b, o) */
            const int64_t H = p->n_head, dn = f->d_head, dr = p->d_head_rope, dv = p->d_head_v;
            const int64_t R = p->kv_lora_rank, qr = p->q_lora_rank;
            if (qr > 0) {
                rc |= push(f, MS_R_Q_A, il, -1, qr, d);
                rc |= push(f, MS_R_Q_A_NORM, il, -1, 1, qr);
                rc |= push(f, MS_R_Q_B, il, -1, H * (dn + dr), qr);
            } else {
                rc |= push(f, R_WQ, il, -1, H * (dn + dr), d);
            }
            rc |= push(f, MS_R_KV_A, il, -1, R + dr, d);
            rc |= push(f, MS_R_KV_A_NORM, il, -1, 1, R);
            rc |= push(f, MS_R_KV_B, il, -1, H * (dn + dv), R);
            rc |= push(f, R_WO, il, -1, d, H * dv);
        } else {
            rc |= push(f, R_WQ, il, -1, q, d);
            rc |= push(f, R_WK, il, -1, kv, d);
            rc |= push(f, R_WV, il, -1, kv, d);
            rc |= push(f, R_WO, il, -1, d, q);
        }
        if (f->a->qkv_bias) {
            rc |= push(f, MS_R_Q_BIAS, il, -1, 1, q);
            rc |= push(f, MS_R_K_BIAS, il, -1, 1, kv);
            rc |= push(f, MS_R_V_BIAS, il, -1, 1, kv);
        }
        if (f->a->oai) {
            rc |= push(f, MS_R_O_BIAS, il, -1, 1, d);
            rc |= push(f, MS_R_SINKS, il, -1, 1, p->n_head);
        }
        if (f->a->qk_norm != MS_QK_NORM_NONE) {
            int full = f->a->qk_norm == MS_QK_NORM_FULL;
            rc |= push(f, MS_R_Q_NORM, il, -1, 1, full ? q : f->d_head);
            rc |= push(f, MS_R_K_NORM, il, -1, 1, full ? kv : f->d_head);
        }
        rc |= push(f, R_FFN_NORM, il, -1, 1, d);
        if (il < p->n_dense_lead) { /* dense MLP of width k x d_ff */
            const int64_t fd = ff * p->n_expert_used;
            rc |= push(f, MS_R_FFN_GATE, il, -1, fd, d);
            rc |= push(f, MS_R_FFN_UP, il, -1, fd, d);
            rc |= push(f, MS_R_FFN_DOWN, il, -1, d, fd);
            continue;
        }
        rc |= push(f, R_ROUTER, il, -1, p->n_expert, d);
        if (mla && p->router_sigmoid) rc |= push(f, MS_R_EXP_PROBS_B, il, -1, 1, p->n_expert);
        if (f->a->oai) {
            rc |= push(f, MS_R_ROUTER_BIAS, il, -1, 1, p->n_expert);
            rc |= push(f, MS_R_EXPS_GATE_BIAS, il, -1, p->n_expert, ff);
            rc |= push(f, MS_R_EXPS_UP_BIAS, il, -1, p->n_expert, ff);
            rc |= push(f, MS_R_EXPS_DOWN_BIAS, il, -1, p->n_expert, d);
        }
        for (int e = 0; e < p->n_expert; e++) {
            rc |= push(f, R_W1, il, e, ff, d);
            rc |= push(f, R_W2, il, e, d, ff);
            rc |= push(f, R_W3, il, e, ff, d);
        }
        if (f->a->shared_expert) {
            const int64_t fs = p->d_ff_shared;
            rc |= push(f, MS_R_SH_GATE, il, -1, fs, d);
            rc |= push(f, MS_R_SH_UP, il, -1, fs, d);
            rc |= push(f, MS_R_SH_DOWN, il, -1, d, fs);
            if (!ds) rc |= push(f, MS_R_SH_INP, il, -1, 1, d);
        }
    }
    rc |= push(f, R_OUT_NORM, -1, -1, 1, d);
    if (!p->tied_embeddings) rc |= push(f, R_LM_HEAD, -1, -1, f->n_vocab, d);
    if (rc) {
        st_errf(err, errlen, "fixture: out of memory");
        fixture_free(f);
        return MS_ERR_RUNTIME;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * GGUF.
 */

/* llama.cpp's LlamaModel.permute: within each head of size dh, GGUF row 2i+s holds HF row
 * s*dh/2 + i (s in {0, 1}). src and dst are (rows, cols). */
static void permute_rows(const float *src, float *dst, int64_t rows, int64_t cols, int n_heads) {
    const int64_t dh = rows / n_heads;
    for (int h = 0; h < n_heads; h++)
        for (int64_t i = 0; i < dh / 2; i++)
            for (int s = 0; s < 2; s++)
                memcpy(dst + (h * dh + 2 * i + s) * cols, src + (h * dh + s * dh / 2 + i) * cols,
                       sizeof(float) * (size_t)cols);
}

/* llama.cpp's use_more_bits (llama-quant.cpp): the layers Q4_K_M keeps at Q6_K. */
static int use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Storage type of a tensor in a GGUF fixture of base type `type` (see engine.h). */
static ms_type gguf_type_for(const fixture *f, int type, const ltensor *t) {
    if (is_vec(t->r) || is_bias(t->r) || t->r == R_ROUTER) return MS_TYPE_F32;
    /* MXFP4: routed experts only, the rest F32 (gpt-oss as released keeps its experts in
     * MXFP4; llama.cpp's MXFP4_MOE file type) */
    if (type == MS_TYPE_MXFP4 && !is_expert(t->r)) return MS_TYPE_F32;
    ms_type want = type == MS_FIXTURE_Q4_K_M ? MS_TYPE_Q4_K : (ms_type)type;
    if (type == MS_FIXTURE_Q4_K_M && (t->r == R_LM_HEAD || ((t->r == R_WV || t->r == R_W2) &&
                                                            use_more_bits(t->layer, f->o.n_layer))))
        want = MS_TYPE_Q6_K;
    if (t->cols % ms_type_block_elems(want) == 0) return want;
    /* rows too short for the block: Q8_0 for quantized types (as llama.cpp's fallbacks go to
     * 32-element blocks), else F16 */
    if (ms_type_block_elems(want) > 32 && t->cols % 32 == 0) return MS_TYPE_Q8_0;
    return MS_TYPE_F16;
}

static int file_type_of(int type) {
    switch (type) {
    case MS_TYPE_F32:
        return 0;
    case MS_TYPE_F16:
        return 1;
    case MS_TYPE_Q4_0:
        return 2;
    case MS_TYPE_Q4_1:
        return 3;
    case MS_TYPE_Q8_0:
        return 7;
    case MS_TYPE_Q5_0:
        return 8;
    case MS_TYPE_Q5_1:
        return 9;
    case MS_TYPE_Q2_K:
        return 10;
    case MS_TYPE_Q3_K:
        return 12;
    case MS_TYPE_Q4_K:
        return 14;
    case MS_FIXTURE_Q4_K_M:
        return 15;
    case MS_TYPE_Q5_K:
        return 16;
    case MS_TYPE_Q6_K:
        return 18;
    case MS_TYPE_BF16:
        return 32;
    case MS_TYPE_MXFP4:
        return 38; /* LLAMA_FTYPE_MOSTLY_MXFP4_MOE */
    default:
        return -1;
    }
}

/* Quantizes rows (rows, cols) of src into dst (rows * row_bytes). */
static int quantize(ms_type type, const float *src, uint8_t *dst, int64_t rows, int64_t cols) {
    size_t rb = ms_type_row_bytes(type, cols);
    for (int64_t r = 0; r < rows; r++) {
        if (type == MS_TYPE_F32)
            memcpy(dst + (size_t)r * rb, src + r * cols, rb);
        else if (ms_quantize_row(type, src + r * cols, dst + (size_t)r * rb, cols))
            return MS_ERR_INPUT;
    }
    return 0;
}

/* Stacked GGUF role of an expert role. */
static role stacked_role(role r) {
    return r == R_W1 ? MS_R_EXPS_GATE : r == R_W3 ? MS_R_EXPS_UP : MS_R_EXPS_DOWN;
}

/* Granite fixture multipliers: values of the order of granite-3.1-3b-a800m's (embedding 12,
 * attention 1/64, residual 0.22, logits 6), fixed so the fixture exercises each. */
#define GRANITE_EMBD_SCALE     12.0f
#define GRANITE_ATTN_SCALE     0.015625f
#define GRANITE_RESIDUAL_SCALE 0.22f
#define GRANITE_LOGIT_SCALE    6.0f

/* deepseek2's attn_kv_b (H*(dn+dv), R) as the split tensors llama.cpp's converter writes:
 * attn_k_b {dn, R, H} (each head's key rows transposed) and attn_v_b {R, dv, H}. tmp and q
 * hold the matrix's size in floats. */
static int write_kv_b_split(const fixture *f, int type, gguf_writer *w, const ltensor *t,
                            const float *kvb, float *tmp, uint8_t *q) {
    const ms_fixture_opts *p = &f->o;
    const int64_t H = p->n_head, dn = f->d_head, dv = p->d_head_v, R = p->kv_lora_rank;
    char nb[96];
    for (int part = 0; part < 2; part++) {                        /* 0: k_b, 1: v_b */
        const int64_t rows = part ? dv : R, cols = part ? R : dn; /* per head */
        for (int64_t h = 0; h < H; h++)
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++)
                    tmp[(h * rows + r) * cols + c] = part ? kvb[(h * (dn + dv) + dn + r) * R + c]
                                                          : kvb[(h * (dn + dv) + c) * R + r];
        ltensor pt = *t;
        pt.rows = H * rows;
        pt.cols = cols;
        ms_type tt = gguf_type_for(f, type, &pt);
        if (quantize(tt, tmp, q, pt.rows, cols)) return MS_ERR_INPUT;
        ms_tensor_name(f->a, 0, part ? MS_R_V_B : MS_R_K_B, t->layer, 0, nb, sizeof nb);
        int64_t ne[3] = {cols, rows, H};
        gguf_w_tensor(w, nb, tt, 3, ne, q, ms_type_row_bytes(tt, cols) * (size_t)pt.rows);
    }
    return 0;
}

int ms_fixture_write_gguf(const ms_fixture_opts *o, ms_type type, const char *path, char *err,
                          size_t errlen) {
    if (file_type_of((int)type) < 0 ||
        ((int)type != MS_FIXTURE_Q4_K_M && !ms_type_supported((int)type))) {
        st_errf(err, errlen, "%s: fixture weight type %s is not supported", path,
                ms_type_name((int)type));
        return MS_ERR_INPUT;
    }
    fixture f;
    int rc = fixture_init(&f, o, err, errlen);
    if (rc) return rc;
    const ms_fixture_opts *p = &f.o;
    gguf_writer *w = gguf_writer_new();
    float *buf = NULL, *perm = NULL;
    uint8_t *qbuf = NULL;
    rc = MS_ERR_RUNTIME;
    if (!w) goto oom;

    const ms_arch *a = f.a;
    char kb[96];
#define KW(suffix) (snprintf(kb, sizeof kb, "%s.%s", a->gguf_arch, (suffix)), kb)
    gguf_w_str(w, "general.architecture", a->gguf_arch);
    gguf_w_str(w, "general.name", "moescope fixture");
    gguf_w_u32(w, "general.file_type", (uint32_t)file_type_of((int)type));
    if (type != MS_TYPE_F32 && type != MS_TYPE_F16 && type != MS_TYPE_BF16)
        gguf_w_u32(w, "general.quantization_version", 2);
    gguf_w_u32(w, KW("vocab_size"), (uint32_t)f.n_vocab);
    gguf_w_u32(w, KW("context_length"), (uint32_t)p->n_ctx);
    gguf_w_u32(w, KW("embedding_length"), (uint32_t)p->d_model);
    gguf_w_u32(w, KW("block_count"), (uint32_t)p->n_layer);
    /* feed_forward_length: the experts' width, or for the Qwen families (whose experts have
     * their own key) the dense width: the shared expert's, or k experts' */
    const char *eff = a->gguf_keys[MS_K_EXPERT_FF];
    int is_ff = !strcmp(eff, "feed_forward_length");
    gguf_w_u32(w, KW("feed_forward_length"),
               (uint32_t)(is_ff                                   ? p->d_ff
                          : a->shared_expert && !a->shared_nogate ? p->d_ff_shared
                                                                  : p->d_ff * p->n_expert_used));
    if (!is_ff) gguf_w_u32(w, KW(eff), (uint32_t)p->d_ff);
    if (a->shared_expert && a->gguf_keys[MS_K_SHARED_FF])
        gguf_w_u32(w, KW(a->gguf_keys[MS_K_SHARED_FF]), (uint32_t)p->d_ff_shared);
    if (a->gguf_keys[MS_K_SHARED_COUNT]) {
        gguf_w_u32(w, KW(a->gguf_keys[MS_K_SHARED_COUNT]), (uint32_t)p->n_shared);
        gguf_w_u32(w, KW(a->gguf_keys[MS_K_DENSE_LEAD]), (uint32_t)p->n_dense_lead);
        gguf_w_f32(w, KW(a->gguf_keys[MS_K_WEIGHTS_SCALE]), p->expert_weights_scale);
    }
    if (a->mla) { /* as llama.cpp's DeepseekV2Model converter writes them */
        const uint32_t dk = (uint32_t)(f.d_head + p->d_head_rope), R = (uint32_t)p->kv_lora_rank;
        gguf_w_u32(w, KW("rope.dimension_count"), (uint32_t)p->d_head_rope);
        gguf_w_u32(w, KW("attention.head_count"), (uint32_t)p->n_head);
        gguf_w_u32(w, KW("attention.head_count_kv"), p->mla_kv_b_fused ? (uint32_t)p->n_head : 1);
        gguf_w_u32(w, KW("attention.q_lora_rank"), (uint32_t)p->q_lora_rank);
        gguf_w_u32(w, KW("attention.kv_lora_rank"), R);
        gguf_w_u32(w, KW("attention.key_length"),
                   p->mla_kv_b_fused ? dk : R + (uint32_t)p->d_head_rope);
        gguf_w_u32(w, KW("attention.value_length"), p->mla_kv_b_fused ? (uint32_t)p->d_head_v : R);
        if (!p->mla_kv_b_fused) {
            gguf_w_u32(w, KW("attention.key_length_mla"), dk);
            gguf_w_u32(w, KW("attention.value_length_mla"), (uint32_t)p->d_head_v);
        }
        gguf_w_u32(w, KW(a->gguf_keys[MS_K_GATING]), p->router_sigmoid ? 2 : 1);
        if (p->expert_weights_norm) gguf_w_bool(w, KW(a->gguf_keys[MS_K_WEIGHTS_NORM]), 1);
        if (p->n_group > 1) {
            gguf_w_u32(w, KW(a->gguf_keys[MS_K_GROUP_COUNT]), (uint32_t)p->n_group);
            gguf_w_u32(w, KW(a->gguf_keys[MS_K_GROUP_USED]), (uint32_t)p->topk_group);
        }
    } else {
        gguf_w_u32(w, KW("rope.dimension_count"), (uint32_t)f.d_head);
        gguf_w_u32(w, KW("attention.head_count"), (uint32_t)p->n_head);
        gguf_w_u32(w, KW("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    }
    if (f.d_head != p->d_model / p->n_head && !a->mla) {
        gguf_w_u32(w, KW("attention.key_length"), (uint32_t)f.d_head);
        gguf_w_u32(w, KW("attention.value_length"), (uint32_t)f.d_head);
    }
    gguf_w_f32(w, KW("attention.layer_norm_rms_epsilon"), p->norm_eps);
    gguf_w_f32(w, KW("rope.freq_base"), p->rope_theta);
    if (p->yarn_factor > 0) {
        gguf_w_str(w, KW("rope.scaling.type"), "yarn");
        gguf_w_f32(w, KW("rope.scaling.factor"), p->yarn_factor);
        gguf_w_u32(w, KW("rope.scaling.original_context_length"), (uint32_t)p->n_ctx);
        /* DeepSeek-V2-Lite's mscale_all_dim 0.707, as the converter writes it (x 0.1) */
        if (a->mla) gguf_w_f32(w, KW("rope.scaling.yarn_log_multiplier"), 0.1f * 0.707f);
    }
    gguf_w_u32(w, KW(a->gguf_keys[MS_K_EXPERT_COUNT]), (uint32_t)p->n_expert);
    gguf_w_u32(w, KW(a->gguf_keys[MS_K_EXPERT_USED]), (uint32_t)p->n_expert_used);
    if (p->sliding_window > 0 || a->oai) /* gpt-oss: required; the release's 128 by default */
        gguf_w_u32(w, KW("attention.sliding_window"),
                   (uint32_t)(p->sliding_window > 0 ? p->sliding_window : 128));
    if (a->multipliers) {
        gguf_w_f32(w, KW(a->gguf_keys[MS_K_EMBD_SCALE]), GRANITE_EMBD_SCALE);
        gguf_w_f32(w, KW(a->gguf_keys[MS_K_ATTN_SCALE]), GRANITE_ATTN_SCALE);
        gguf_w_f32(w, KW(a->gguf_keys[MS_K_RESIDUAL_SCALE]), GRANITE_RESIDUAL_SCALE);
        gguf_w_f32(w, KW(a->gguf_keys[MS_K_LOGIT_SCALE]), GRANITE_LOGIT_SCALE);
    }
#undef KW
    for (int64_t i = 0; i < gguf_n_kv(f.vocab); i++) {
        gguf_str k = gguf_key_name(f.vocab, i);
        if (k.n > 10 && memcmp(k.p, "tokenizer.", 10) == 0) gguf_w_copy_kv(w, f.vocab, i);
    }

    /* largest matrix, and largest stored tensor (a stacked expert tensor holds n_expert
     * matrices; F32 is the widest storage). Not max matrix x E: with 128 experts and a
     * 32000-row embedding that product was tens of GB. */
    int64_t max_elems = 0, max_stored = 0;
    for (int i = 0; i < f.n; i++) {
        int64_t el = f.t[i].rows * f.t[i].cols;
        int64_t st = is_expert(f.t[i].r) && p->expert_layout == 0 ? el * p->n_expert : el;
        if (el > max_elems) max_elems = el;
        if (st > max_stored) max_stored = st;
    }
    buf = malloc(sizeof(float) * (size_t)max_elems);
    perm = malloc(sizeof(float) * (size_t)max_elems);
    qbuf = malloc(sizeof(float) * (size_t)max_stored);
    if (!buf || !perm || !qbuf) goto oom;

    /* llama.cpp's order: token_embd, output_norm, output, then the blocks */
    int order[3] = {0, f.n - (p->tied_embeddings ? 1 : 2), p->tied_embeddings ? -1 : f.n - 1};
    for (int oi = 0; oi < 3; oi++) {
        if (order[oi] < 0) continue;
        const ltensor *t = &f.t[order[oi]];
        ms_type tt = gguf_type_for(&f, (int)type, t);
        gen(&f, t, buf);
        if (quantize(tt, buf, qbuf, t->rows, t->cols)) goto noquant;
        const char *nm = ms_gguf_name(t->r);
        int64_t ne[2] = {t->cols, t->rows};
        gguf_w_tensor(w, nm, tt, is_vec(t->r) ? 1 : 2, ne, qbuf,
                      ms_type_row_bytes(tt, t->cols) * (size_t)t->rows);
    }
    char nb[96];
    for (int i = 0; i < f.n; i++) {
        const ltensor *t = &f.t[i];
        if (t->layer < 0) continue;
        ms_type tt = gguf_type_for(&f, (int)type, t);
        size_t rb = ms_type_row_bytes(tt, t->cols);
        size_t mat_bytes = rb * (size_t)t->rows;
        int is_exp = is_expert(t->r);
        if (is_exp && p->expert_layout == 0) {
            /* stacked: emitted once per (layer, w) when its expert 0 comes by, in the order
             * gate, down, up of llama.cpp's converter */
            if (t->expert != 0) continue;
            for (int e = 0; e < p->n_expert; e++) {
                ltensor te = *t;
                te.expert = e;
                gen(&f, &te, buf);
                if (quantize(tt, buf, qbuf + (size_t)e * mat_bytes, t->rows, t->cols)) goto noquant;
            }
            ms_tensor_name(a, 0, stacked_role(t->r), t->layer, 0, nb, sizeof nb);
            int64_t ne[3] = {t->cols, t->rows, p->n_expert};
            gguf_w_tensor(w, nb, tt, 3, ne, qbuf, mat_bytes * (size_t)p->n_expert);
            continue;
        }
        gen(&f, t, buf);
        const float *src = buf;
        if (t->r == MS_R_KV_B && !p->mla_kv_b_fused) {
            if (write_kv_b_split(&f, (int)type, w, t, buf, perm, qbuf)) goto noquant;
            continue;
        }
        if ((t->r == R_WQ || t->r == R_WK) && a->gguf_rope == MS_ROPE_ADJACENT && !a->mla) {
            permute_rows(buf, perm, t->rows, t->cols, t->r == R_WQ ? p->n_head : p->n_head_kv);
            src = perm;
        }
        if (quantize(tt, src, qbuf, t->rows, t->cols)) goto noquant;
        ms_tensor_name(a, 0, t->r, t->layer, t->expert, nb, sizeof nb);
        int64_t ne[2] = {t->cols, t->rows};
        gguf_w_tensor(w, nb, tt, is_vec(t->r) ? 1 : 2, ne, qbuf, mat_bytes);
    }
    rc = gguf_writer_write(w, path, err, errlen);
    goto done;
noquant:
    st_errf(err, errlen, "%s: no quantizer for weight type %s", path, ms_type_name((int)type));
    rc = MS_ERR_INPUT;
    goto done;
oom:
    st_errf(err, errlen, "%s: out of memory", path);
done:
    free(buf);
    free(perm);
    free(qbuf);
    gguf_writer_free(w);
    fixture_free(&f);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Hugging Face folder.
 */

static int write_all(FILE *fp, const void *p, size_t n) {
    return fwrite(p, 1, n, fp) == n ? 0 : -1;
}

/* A float as the shortest decimal that reads back as the same float ("1e-05", not
 * "9.99999974737875e-06"). */
static double short_double(float v) {
    char b[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, (double)v);
        if (strtof(b, NULL) == v) break;
    }
    return strtod(b, NULL);
}

/* Every fixture file goes through ms_outfile: a temporary name renamed into place, never
 * onto a registered input (ms_protect_input, e.g. make-model's --vocab). */
static int write_text(const char *path, const char *text, char *err, size_t errlen) {
    ms_outfile o;
    int rc = ms_outfile_open(&o, path, err, errlen);
    if (rc) return rc;
    fputs(text, o.f); /* errors are caught by commit (flag + flush) */
    return ms_outfile_commit(&o, err, errlen);
}

/* DeepseekV2Config / DeepseekV3Config fields of a deepseek2 fixture (hfconfig.c reads them). */
static void write_config_mla(const fixture *f, cJSON *c) {
    const ms_fixture_opts *p = &f->o;
    const ms_arch *fa = f->a;
    if (p->q_lora_rank > 0)
        cJSON_AddNumberToObject(c, "q_lora_rank", p->q_lora_rank);
    else
        cJSON_AddNullToObject(c, "q_lora_rank");
    cJSON_AddNumberToObject(c, "kv_lora_rank", p->kv_lora_rank);
    cJSON_AddNumberToObject(c, "qk_nope_head_dim", f->d_head);
    cJSON_AddNumberToObject(c, "qk_rope_head_dim", p->d_head_rope);
    cJSON_AddNumberToObject(c, "v_head_dim", p->d_head_v);
    cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_SHARED_COUNT], p->n_shared);
    cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_DENSE_LEAD], p->n_dense_lead);
    cJSON_AddNumberToObject(c, "moe_layer_freq", 1);
    cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_WEIGHTS_SCALE],
                            short_double(p->expert_weights_scale));
    cJSON_AddBoolToObject(c, fa->hf_keys[MS_K_WEIGHTS_NORM], p->expert_weights_norm);
    cJSON_AddStringToObject(c, fa->hf_keys[MS_K_GATING], p->router_sigmoid ? "sigmoid" : "softmax");
    /* noaux_tc: the top-2-sum group score llama.cpp uses for every grouped router */
    cJSON_AddStringToObject(c, "topk_method",
                            p->router_sigmoid || p->n_group > 1 ? "noaux_tc" : "greedy");
    cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_GROUP_COUNT], p->n_group > 1 ? p->n_group : 1);
    cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_GROUP_USED], p->n_group > 1 ? p->topk_group : 1);
}

static int write_config(const fixture *f, ms_type dtype, const char *dir, char *err,
                        size_t errlen) {
    const ms_fixture_opts *p = &f->o;
    cJSON *c = cJSON_CreateObject();
    const ms_arch *fa = f->a;
    int mix = !strcmp(fa->name, "mixtral");
    cJSON *a = cJSON_AddArrayToObject(c, "architectures");
    /* V3-router fixtures are DeepseekV3ForCausalLM */
    const int v3 = fa->mla && p->router_sigmoid;
    cJSON_AddItemToArray(a, cJSON_CreateString(v3 ? fa->hf_arch_alt : fa->hf_arch));
    cJSON_AddNumberToObject(c, "attention_dropout", 0.0);
    cJSON_AddNumberToObject(c, "bos_token_id", 1);
    cJSON_AddNumberToObject(c, "eos_token_id", 2);
    cJSON_AddNumberToObject(c, "head_dim", f->d_head);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddNumberToObject(c, "hidden_size", p->d_model);
    cJSON_AddNumberToObject(c, "initializer_range", 0.02);
    /* intermediate_size: the experts' width, or (families whose experts have their own key)
     * the dense width, as the GGUF writer's feed_forward_length */
    const char *eff = fa->hf_keys[MS_K_EXPERT_FF];
    int is_ff = !strcmp(eff, "intermediate_size");
    cJSON_AddNumberToObject(c, "intermediate_size",
                            is_ff                                     ? p->d_ff
                            : fa->shared_expert && !fa->shared_nogate ? p->d_ff_shared
                                                                      : p->d_ff * p->n_expert_used);
    cJSON_AddNumberToObject(c, "max_position_embeddings", p->n_ctx);
    cJSON_AddStringToObject(c, "model_type", v3 ? fa->hf_model_type_alt : fa->hf_model_type);
    cJSON_AddNumberToObject(c, "num_attention_heads", p->n_head);
    cJSON_AddNumberToObject(c, "num_experts_per_tok", p->n_expert_used);
    cJSON_AddNumberToObject(c, "num_hidden_layers", p->n_layer);
    cJSON_AddNumberToObject(c, "num_key_value_heads", p->n_head_kv);
    cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_EXPERT_COUNT], p->n_expert);
    cJSON_AddBoolToObject(c, "output_router_logits", 0);
    cJSON_AddNumberToObject(c, "rms_norm_eps", short_double(p->norm_eps));
    cJSON_AddNumberToObject(c, "rope_theta", short_double(p->rope_theta));
    if (p->yarn_factor > 0) {
        cJSON *rs = cJSON_AddObjectToObject(c, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "yarn");
        cJSON_AddNumberToObject(rs, "factor", short_double(p->yarn_factor));
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", p->n_ctx);
        if (fa->mla) { /* DeepSeek-V2-Lite's */
            cJSON_AddNumberToObject(rs, "mscale", 0.707);
            cJSON_AddNumberToObject(rs, "mscale_all_dim", 0.707);
        }
    }
    cJSON_AddNumberToObject(c, "router_aux_loss_coef", 0.02);
    if (p->sliding_window > 0 || fa->oai)
        cJSON_AddNumberToObject(c, "sliding_window",
                                p->sliding_window > 0 ? p->sliding_window : 128);
    else
        cJSON_AddNullToObject(c, "sliding_window");
    if (fa->oai) { /* GptOssConfig: layer types as llama.cpp's pattern, the SwiGLU limit */
        cJSON *lt = cJSON_AddArrayToObject(c, "layer_types");
        for (int il = 0; il < p->n_layer; il++)
            cJSON_AddItemToArray(
                lt, cJSON_CreateString(il % 2 ? "full_attention" : "sliding_attention"));
        cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_SWIGLU_LIMIT], 7.0);
        cJSON_AddNumberToObject(c, "experts_per_token", p->n_expert_used);
        if (dtype == MS_TYPE_MXFP4) {
            cJSON *q = cJSON_AddObjectToObject(c, "quantization_config");
            cJSON_AddStringToObject(q, "quant_method", "mxfp4");
        }
    }
    cJSON_AddBoolToObject(c, "tie_word_embeddings", p->tied_embeddings);
    cJSON_AddStringToObject(c, "torch_dtype",
                            dtype == MS_TYPE_BF16  ? "bfloat16"
                            : dtype == MS_TYPE_F16 ? "float16"
                                                   : "float32");
    cJSON_AddStringToObject(c, "transformers_version", "4.46.0");
    cJSON_AddBoolToObject(c, "use_cache", 1);
    cJSON_AddNumberToObject(c, "vocab_size", f->n_vocab);
    if (!mix) { /* what the other families add (hfconfig.c reads them) */
        if (!is_ff) cJSON_AddNumberToObject(c, eff, p->d_ff);
        if (fa->shared_expert && fa->hf_keys[MS_K_SHARED_FF])
            cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_SHARED_FF], p->d_ff_shared);
        if (fa->mla)
            write_config_mla(f, c);
        else if (fa->router != MS_ROUTER_TOPK_SOFTMAX) /* as llama.cpp hard-codes it per family */
            cJSON_AddBoolToObject(c, "norm_topk_prob", fa->router == MS_ROUTER_SOFTMAX_TOPK_RENORM);
        if (fa->hf_keys[MS_K_DENSE_FF] && !fa->mla) {
            cJSON_AddNumberToObject(c, "decoder_sparse_step", 1);
            cJSON_AddArrayToObject(c, "mlp_only_layers");
        }
        cJSON_AddBoolToObject(c, "attention_bias", fa->qkv_bias);
        if (fa->multipliers) {
            cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_EMBD_SCALE],
                                    short_double(GRANITE_EMBD_SCALE));
            cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_ATTN_SCALE],
                                    short_double(GRANITE_ATTN_SCALE));
            cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_RESIDUAL_SCALE],
                                    short_double(GRANITE_RESIDUAL_SCALE));
            cJSON_AddNumberToObject(c, fa->hf_keys[MS_K_LOGIT_SCALE],
                                    short_double(GRANITE_LOGIT_SCALE));
        }
    }
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    char *path = path_join_alloc(dir, "config.json");
    int rc = MS_ERR_RUNTIME;
    if (text && path)
        rc = write_text(path, text, err, errlen);
    else
        st_errf(err, errlen, "%s: out of memory", dir);
    free(text);
    free(path);
    return rc;
}

/* HF experts stored fused (Granite): -1 an ordinary tensor, 1 the (W1, expert 0) tensor that
 * stands for input_linear (E, 2*ff, d), 2 the (W2, expert 0) one for output_linear
 * (E, d, ff), 0 an expert matrix already written as part of those. */
static int fused_part(const fixture *f, const ltensor *t) {
    if (!f->a->hf_fused_experts || !is_expert(t->r)) return -1;
    if (t->expert != 0 || t->r == R_W3) return 0;
    return t->r == R_W1 ? 1 : 2;
}

/* F8_E4M3 folders (DeepSeek-V3's FP8 checkpoints): the linear weights are FP8 with 128 x 128
 * block scales `<name>_scale_inv` (amax / 448 per block, so W ≈ f8 x scale); embeddings,
 * lm_head, the router, norms and biases are BF16. */
static int f8_tensor(ms_type dtype, const ltensor *t) {
    return dtype == MS_TYPE_F8_E4M3 && !is_vec(t->r) && t->r != R_EMBD && t->r != R_LM_HEAD &&
           t->r != R_ROUTER;
}

/* Quantizes w (rows, cols) into q (bytes) and scales (ceil(rows/128), ceil(cols/128)). */
static void f8_quantize(const float *w, int64_t rows, int64_t cols, uint8_t *q, float *scales) {
    const int64_t sc = (cols + 127) / 128;
    for (int64_t br = 0; br < rows; br += 128)
        for (int64_t bc = 0; bc < cols; bc += 128) {
            float amax = 0.0f;
            for (int64_t r = br; r < rows && r < br + 128; r++)
                for (int64_t c = bc; c < cols && c < bc + 128; c++)
                    amax = fmaxf(amax, fabsf(w[r * cols + c]));
            const float s = amax > 0.0f ? amax / 448.0f : 1.0f;
            scales[(br / 128) * sc + bc / 128] = s;
            for (int64_t r = br; r < rows && r < br + 128; r++)
                for (int64_t c = bc; c < cols && c < bc + 128; c++)
                    q[r * cols + c] = ms_f32_to_f8e4m3(w[r * cols + c] / s);
        }
}

/* Writes one safetensors file holding tensors first..last-1 of those with shard_of == s. */
static int write_shard(const fixture *f, ms_type dtype, const int *shard_of, int s,
                       const char *path, float *buf, uint8_t *obuf, char *err, size_t errlen) {
    const size_t es = dtype == MS_TYPE_F32 ? 4 : 2;
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    const char *dn = dtype == MS_TYPE_F32 ? "F32" : dtype == MS_TYPE_F16 ? "F16" : "BF16";
    uint64_t off = 0;
    char nm[128];
    for (int i = 0; i < f->n; i++) {
        if (shard_of[i] != s) continue;
        const ltensor *t = &f->t[i];
        int fused = fused_part(f, t); /* Granite: 0 skip, 1 input_linear, 2 output_linear */
        if (fused == 0) continue;
        if (fused > 0) {
            ms_tensor_name(f->a, 1, fused == 1 ? MS_R_EXPS_GATE : MS_R_EXPS_DOWN, t->layer, 0, nm,
                           sizeof nm);
        } else
            hf_name(f, t, nm, sizeof nm);
        cJSON *e = cJSON_AddObjectToObject(h, nm);
        const int f8 = f8_tensor(dtype, t);
        cJSON_AddStringToObject(e, "dtype",
                                f8                         ? "F8_E4M3"
                                : dtype == MS_TYPE_F8_E4M3 ? "BF16"
                                                           : dn);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        int64_t rows = t->rows, mats = 1;
        if (fused > 0) {
            mats = f->o.n_expert;
            if (fused == 1) rows *= 2;
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)mats));
        }
        if (!(is_norm(t->r) || is_bias(t->r) || t->r == MS_R_EXP_PROBS_B))
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)rows));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->cols));
        uint64_t nb = (uint64_t)(mats * rows * t->cols) * (f8 ? 1 : es);
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
        if (f8) { /* its block scales follow it */
            char sn[160];
            snprintf(sn, sizeof sn, "%s_scale_inv", nm);
            cJSON *se = cJSON_AddObjectToObject(h, sn);
            cJSON_AddStringToObject(se, "dtype", "F32");
            cJSON *ss = cJSON_AddArrayToObject(se, "shape");
            const int64_t sr = (rows + 127) / 128, sc = (t->cols + 127) / 128;
            cJSON_AddItemToArray(ss, cJSON_CreateNumber((double)sr));
            cJSON_AddItemToArray(ss, cJSON_CreateNumber((double)sc));
            cJSON *so = cJSON_AddArrayToObject(se, "data_offsets");
            cJSON_AddItemToArray(so, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(so, cJSON_CreateNumber((double)(off + 4 * (uint64_t)(sr * sc))));
            off += 4 * (uint64_t)(sr * sc);
        }
    }
    char *text = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!text) {
        st_errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    size_t tl = strlen(text), padded = (tl + 7) / 8 * 8; /* data section 8-byte aligned */
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    ms_outfile of;
    int orc = ms_outfile_open(&of, path, err, errlen);
    if (orc) {
        free(text);
        return orc;
    }
    FILE *fp = of.f;
    int bad = 0;
    if (!bad)
        bad = write_all(fp, len8, 8) || write_all(fp, text, tl) ||
              write_all(fp, "        ", padded - tl);
    free(text);
    for (int i = 0; i < f->n && !bad; i++) {
        if (shard_of[i] != s) continue;
        const ltensor *t = &f->t[i];
        int fused = fused_part(f, t);
        if (fused == 0) continue;
        /* a fused tensor is its experts' matrices in order (input_linear: gate then up) */
        int n_parts = fused < 0 ? 1 : fused == 1 ? 2 * f->o.n_expert : f->o.n_expert;
        for (int part = 0; part < n_parts && !bad; part++) {
            ltensor tp = *t;
            if (fused > 0) {
                tp.expert = fused == 1 ? part / 2 : part;
                if (fused == 1) tp.r = part % 2 ? R_W3 : R_W1;
            }
            int64_t n = tp.rows * tp.cols;
            gen(f, &tp, buf);
            if (f8_tensor(dtype, &tp)) {
                const int64_t ns = ((tp.rows + 127) / 128) * ((tp.cols + 127) / 128);
                float *sc = malloc(sizeof *sc * (size_t)ns);
                if (!sc) {
                    bad = 1;
                    errno = ENOMEM;
                    break;
                }
                f8_quantize(buf, tp.rows, tp.cols, obuf, sc);
                bad = write_all(fp, obuf, (size_t)n) || write_all(fp, sc, (size_t)ns * 4);
                free(sc);
                continue;
            }
            if (dtype == MS_TYPE_F32) {
                bad = write_all(fp, buf, (size_t)n * 4); /* little-endian host */
                continue;
            }
            uint16_t *o16 = (uint16_t *)obuf;
            for (int64_t k = 0; k < n; k++)
                o16[k] = dtype != MS_TYPE_F16 ? ms_f32_to_bf16(buf[k]) : ms_f32_to_f16(buf[k]);
            bad = write_all(fp, obuf, (size_t)n * 2);
        }
    }
    if (bad) {
        st_errf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        ms_outfile_abort(&of);
        return MS_ERR_RUNTIME;
    }
    return ms_outfile_commit(&of, err, errlen);
}

/* ---------------------------------------------------------------------------------------
 * GPT-OSS as transformers stores it (GptOssForCausalLM): per layer one gate_up_proj (E, d,
 * 2*ff) with gate and up interleaved along the last axis and one down_proj (E, ff, d), both
 * transposed against nn.Linear; gate_up_proj_bias (E, 2*ff) interleaved; down_proj_bias
 * (E, d). With MXFP4 (the release): *_blocks (E, out, in/32, 16) and *_scales (E, out, in/32)
 * uint8, rows not transposed, gate/up rows interleaved, element 2i in the low nibble of byte
 * i; quantized by ggml's reference quantizer, so the GGUF fixture holds the same codes.
 * Everything else as the other families, in dtype (F32 with MXFP4 experts).
 */

typedef struct st_ent {
    char name[160];
    const char *dtype;
    int nd;
    int64_t shape[4];
    uint8_t *data;
    size_t nbytes;
} st_ent;

static int st_push(st_ent **v, int *n, const char *name, const char *dtype, int nd,
                   const int64_t *shape, uint8_t *data, size_t nbytes) {
    st_ent *t = realloc(*v, sizeof *t * (size_t)(*n + 1));
    if (!t || !data) {
        free(data);
        if (t) *v = t;
        return MS_ERR_RUNTIME;
    }
    *v = t;
    st_ent *e = &t[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->dtype = dtype;
    e->nd = nd;
    memcpy(e->shape, shape, sizeof(int64_t) * (size_t)nd);
    e->data = data;
    e->nbytes = nbytes;
    return 0;
}

/* n floats as dtype (F32, F16, BF16) into a new buffer. */
static uint8_t *to_dtype(const float *x, int64_t n, ms_type dtype) {
    size_t es = dtype == MS_TYPE_F32 ? 4 : 2;
    uint8_t *o = malloc(es * (size_t)n);
    if (!o) return NULL;
    if (dtype == MS_TYPE_F32)
        memcpy(o, x, 4 * (size_t)n);
    else
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = dtype == MS_TYPE_BF16 ? ms_f32_to_bf16(x[i]) : ms_f32_to_f16(x[i]);
            memcpy(o + 2 * i, &h, 2);
        }
    return o;
}

/* One row of n values quantized by ggml's MXFP4 reference quantizer, as the release's blocks
 * (n/2 bytes) and scales (n/32 bytes). */
static void mxfp4_row_hf(const float *x, int64_t n, uint8_t *blk, uint8_t *scl, uint8_t *tmp) {
    ms_quantize_row(MS_TYPE_MXFP4, x, tmp, n);
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *g = tmp + b * 17; /* e, then qs[j] = code(j) | code(j + 16) << 4 */
        scl[b] = g[0];
        for (int i = 0; i < 16; i++) {
            int k0 = 2 * i, k1 = 2 * i + 1;
            uint8_t c0 = k0 < 16 ? g[1 + k0] & 15 : g[1 + k0 - 16] >> 4;
            uint8_t c1 = k1 < 16 ? g[1 + k1] & 15 : g[1 + k1 - 16] >> 4;
            blk[b * 16 + i] = (uint8_t)(c0 | c1 << 4);
        }
    }
}

/* The experts of layer il: gate_up_proj and down_proj (or their MXFP4 blocks and scales). */
static int oai_hf_experts(const fixture *f, int il, ms_type dtype, st_ent **v, int *n) {
    const int64_t E = f->o.n_expert, d = f->o.d_model, ff = f->o.d_ff;
    const int mx = dtype == MS_TYPE_MXFP4;
    char gu[160], dn[160], nm[176];
    ms_tensor_name(f->a, 1, MS_R_EXPS_GATE, il, 0, gu, sizeof gu);
    ms_tensor_name(f->a, 1, MS_R_EXPS_DOWN, il, 0, dn, sizeof dn);
    float *w = malloc(sizeof(float) * (size_t)(ff * d)),
          *w3 = malloc(sizeof(float) * (size_t)(ff * d));
    float *all = malloc(sizeof(float) * (size_t)(E * 2 * ff * d)); /* HF layout, f32 */
    uint8_t *tmp = malloc((size_t)(2 * ff > d ? 2 * ff : d) / 32 * 17 + 17);
    int rc = MS_ERR_RUNTIME;
    if (!w || !w3 || !all || !tmp) goto out;
    for (int part = 0; part < 2; part++) { /* 0: gate_up, 1: down */
        const int64_t no = part ? d : 2 * ff, ni = part ? ff : d;
        for (int64_t e = 0; e < E; e++) {
            ltensor t = {part ? R_W2 : R_W1, il, (int)e, part ? d : ff, part ? ff : d};
            gen(f, &t, w); /* (out, in) */
            if (!part) {
                ltensor t3 = {R_W3, il, (int)e, ff, d};
                gen(f, &t3, w3);
            }
            float *a = all + e * no * ni;
            for (int64_t r = 0; r < no; r++) /* (out, in) rows of expert e, interleaved */
                for (int64_t i = 0; i < ni; i++)
                    a[r * ni + i] = part ? w[r * ni + i] : (r % 2 ? w3 : w)[(r / 2) * ni + i];
        }
        if (mx) {
            const int64_t nb = ni / 32;
            uint8_t *blk = malloc((size_t)(E * no * nb * 16)), *scl = malloc((size_t)(E * no * nb));
            if (!blk || !scl) {
                free(blk);
                free(scl);
                goto out;
            }
            for (int64_t r = 0; r < E * no; r++)
                mxfp4_row_hf(all + r * ni, ni, blk + r * nb * 16, scl + r * nb, tmp);
            const int64_t sb[4] = {E, no, nb, 16}, ss[3] = {E, no, nb};
            snprintf(nm, sizeof nm, "%s_blocks", part ? dn : gu);
            if (st_push(v, n, nm, "U8", 4, sb, blk, (size_t)(E * no * nb * 16))) {
                free(scl);
                goto out;
            }
            snprintf(nm, sizeof nm, "%s_scales", part ? dn : gu);
            if (st_push(v, n, nm, "U8", 3, ss, scl, (size_t)(E * no * nb))) goto out;
            continue;
        }
        float *tr = malloc(sizeof(float) * (size_t)(E * no * ni)); /* (E, in, out) */
        if (!tr) goto out;
        for (int64_t e = 0; e < E; e++)
            for (int64_t r = 0; r < no; r++)
                for (int64_t i = 0; i < ni; i++)
                    tr[(e * ni + i) * no + r] = all[(e * no + r) * ni + i];
        const int64_t sh[3] = {E, ni, no};
        uint8_t *data = to_dtype(tr, E * no * ni, dtype);
        free(tr);
        if (st_push(v, n, part ? dn : gu,
                    dtype == MS_TYPE_F32   ? "F32"
                    : dtype == MS_TYPE_F16 ? "F16"
                                           : "BF16",
                    3, sh, data, (size_t)(E * no * ni) * (dtype == MS_TYPE_F32 ? 4 : 2)))
            goto out;
    }
    rc = 0;
out:
    free(w);
    free(w3);
    free(all);
    free(tmp);
    return rc;
}

static int write_oai_hf(const fixture *f, ms_type dtype, const char *path, char *err,
                        size_t errlen) {
    const ms_type fd = dtype == MS_TYPE_MXFP4 ? MS_TYPE_F32 : dtype; /* everything else */
    const char *dn = fd == MS_TYPE_F32 ? "F32" : fd == MS_TYPE_F16 ? "F16" : "BF16";
    const size_t es = fd == MS_TYPE_F32 ? 4 : 2;
    st_ent *v = NULL;
    int n = 0, rc = 0;
    char nm[160];
    for (int i = 0; i < f->n && !rc; i++) {
        const ltensor *t = &f->t[i];
        if (is_expert(t->r)) {
            if (t->r == R_W1 && t->expert == 0) rc = oai_hf_experts(f, t->layer, dtype, &v, &n);
            continue;
        }
        if (t->r == MS_R_EXPS_UP_BIAS) continue; /* in gate_up_proj_bias */
        float *buf = malloc(sizeof(float) * (size_t)(t->rows * t->cols * 2));
        if (!buf) {
            rc = MS_ERR_RUNTIME;
            break;
        }
        gen(f, t, buf);
        int64_t sh[2] = {t->rows, t->cols};
        int nd = is_vec(t->r) ? 1 : 2;
        if (nd == 1) sh[0] = t->cols;
        if (t->r == MS_R_EXPS_GATE_BIAS) { /* (E, 2ff): gate and up interleaved */
            ltensor tu = *t;
            tu.r = MS_R_EXPS_UP_BIAS;
            float *up = buf + t->rows * t->cols,
                  *il = malloc(sizeof(float) * (size_t)(2 * t->rows * t->cols));
            if (!il) {
                free(buf);
                rc = MS_ERR_RUNTIME;
                break;
            }
            gen(f, &tu, up);
            for (int64_t e = 0; e < t->rows; e++)
                for (int64_t j = 0; j < t->cols; j++) {
                    il[e * 2 * t->cols + 2 * j] = buf[e * t->cols + j];
                    il[e * 2 * t->cols + 2 * j + 1] = up[e * t->cols + j];
                }
            memcpy(buf, il, sizeof(float) * (size_t)(2 * t->rows * t->cols));
            free(il);
            sh[1] *= 2;
        }
        ms_tensor_name(f->a, 1, t->r, t->layer, t->expert, nm, sizeof nm);
        int64_t ne = nd == 1 ? sh[0] : sh[0] * sh[1];
        rc = st_push(&v, &n, nm, dn, nd, sh, to_dtype(buf, ne, fd), (size_t)ne * es);
        free(buf);
    }
    if (!rc) { /* header, then the data in order (offsets as they come) */
        cJSON *h = cJSON_CreateObject();
        cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
        cJSON_AddStringToObject(meta, "format", "pt");
        uint64_t off = 0;
        for (int i = 0; i < n; i++) {
            cJSON *e = cJSON_AddObjectToObject(h, v[i].name);
            cJSON_AddStringToObject(e, "dtype", v[i].dtype);
            cJSON *shape = cJSON_AddArrayToObject(e, "shape");
            for (int k = 0; k < v[i].nd; k++)
                cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)v[i].shape[k]));
            cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + v[i].nbytes)));
            off += v[i].nbytes;
        }
        char *text = cJSON_PrintUnformatted(h);
        cJSON_Delete(h);
        ms_outfile of;
        rc = text ? ms_outfile_open(&of, path, err, errlen) : MS_ERR_RUNTIME;
        if (!rc) {
            size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
            uint8_t len8[8];
            for (int i = 0; i < 8; i++)
                len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
            int bad = write_all(of.f, len8, 8) || write_all(of.f, text, tl) ||
                      write_all(of.f, "        ", padded - tl);
            for (int i = 0; i < n && !bad; i++)
                bad = write_all(of.f, v[i].data, v[i].nbytes);
            if (bad) {
                st_errf(err, errlen, "%s: write failed: %s", path, strerror(errno));
                ms_outfile_abort(&of);
                rc = MS_ERR_RUNTIME;
            } else
                rc = ms_outfile_commit(&of, err, errlen);
        }
        free(text);
    }
    if (rc == MS_ERR_RUNTIME && !err[0]) st_errf(err, errlen, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        free(v[i].data);
    free(v);
    return rc;
}

int ms_fixture_write_hf(const ms_fixture_opts *o, ms_type dtype, const char *dir,
                        uint64_t shard_bytes, char *err, size_t errlen) {
    const ms_arch *ha = ms_arch_by_name(o->arch ? o->arch : "mixtral");
    if (ha && !ha->hf_keys[MS_K_EXPERT_COUNT]) {
        st_errf(err, errlen, "%s: %s fixtures are GGUF only (no Hugging Face layout yet)", dir,
                ha->name);
        return MS_ERR_INPUT;
    }
    if (ha && ha->oai && shard_bytes > 0) {
        st_errf(err, errlen, "%s: gpt-oss fixtures are written as one safetensors file", dir);
        return MS_ERR_INPUT;
    }
    if (dtype != MS_TYPE_F32 && dtype != MS_TYPE_F16 && dtype != MS_TYPE_BF16 &&
        dtype != MS_TYPE_F8_E4M3 && !(ha && ha->oai && dtype == MS_TYPE_MXFP4)) {
        st_errf(err, errlen, "%s: safetensors fixtures are F32, F16, BF16 or F8_E4M3 (not %s)", dir,
                ms_type_name((int)dtype));
        return MS_ERR_INPUT;
    }
    if (dtype == MS_TYPE_F8_E4M3 && (shard_bytes > 0 || (ha && ha->hf_fused_experts))) {
        st_errf(err, errlen, "%s: F8_E4M3 fixtures are one unsharded file of unfused tensors", dir);
        return MS_ERR_INPUT;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        int e = errno; /* a missing parent or no permission is the user's path: bad input */
        st_errf(err, errlen, "%s: cannot create folder: %s", dir, strerror(e));
        return e == ENOSPC || e == EIO || e == EDQUOT ? MS_ERR_RUNTIME : MS_ERR_INPUT;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        st_errf(err, errlen, "%s: not a folder", dir);
        return MS_ERR_INPUT;
    }
    fixture f;
    int rc = fixture_init(&f, o, err, errlen);
    if (rc) return rc;
    const size_t es = dtype == MS_TYPE_F32 ? 4 : 2;
    int *shard_of = malloc(sizeof *shard_of * (size_t)f.n);
    float *buf = NULL;
    uint8_t *obuf = NULL;
    char *path = NULL;
    ms_tokenizer *tok = NULL;
    cJSON *index = NULL;
    rc = MS_ERR_RUNTIME;
    if (!shard_of) goto oom;
    int64_t max_elems = 0;
    uint64_t cur = 0, total = 0;
    int ns = 0;
    for (int i = 0; i < f.n; i++) {
        int64_t n = f.t[i].rows * f.t[i].cols;
        uint64_t nb = (uint64_t)n * es;
        if (n > max_elems) max_elems = n;
        if (shard_bytes > 0 && cur > 0 && cur + nb > shard_bytes) {
            ns++;
            cur = 0;
        }
        shard_of[i] = ns;
        cur += nb;
        total += nb;
    }
    const int n_shards = ns + 1;
    buf = malloc(sizeof(float) * (size_t)max_elems);
    obuf = malloc(2 * (size_t)max_elems);
    if (!buf || !obuf) goto oom;
    if (shard_bytes > 0) {
        index = cJSON_CreateObject();
        cJSON *meta = cJSON_AddObjectToObject(index, "metadata");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        cJSON *wm = cJSON_AddObjectToObject(index, "weight_map");
        char nm[128], fn[64];
        for (int i = 0; i < f.n; i++) {
            int fused = fused_part(&f, &f.t[i]);
            if (fused == 0) continue;
            if (fused > 0)
                ms_tensor_name(f.a, 1, fused == 1 ? MS_R_EXPS_GATE : MS_R_EXPS_DOWN, f.t[i].layer,
                               0, nm, sizeof nm);
            else
                hf_name(&f, &f.t[i], nm, sizeof nm);
            snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", shard_of[i] + 1, n_shards);
            cJSON_AddStringToObject(wm, nm, fn);
        }
    }
    for (int s = 0; s < n_shards && f.a->oai; s++) { /* one file, the release's layout */
        if (!(path = path_join_alloc(dir, "model.safetensors"))) goto oom;
        if ((rc = write_oai_hf(&f, dtype, path, err, errlen))) goto done;
        break;
    }
    for (int s = 0; s < n_shards && !f.a->oai; s++) {
        char fn[64];
        if (shard_bytes > 0)
            snprintf(fn, sizeof fn, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        else
            snprintf(fn, sizeof fn, "model.safetensors");
        free(path);
        if (!(path = path_join_alloc(dir, fn))) goto oom;
        if ((rc = write_shard(&f, dtype, shard_of, s, path, buf, obuf, err, errlen))) goto done;
    }
    if (index) {
        char *text = cJSON_Print(index);
        free(path);
        path = path_join_alloc(dir, "model.safetensors.index.json");
        if (!text || !path) {
            free(text);
            goto oom;
        }
        rc = write_text(path, text, err, errlen);
        free(text);
        if (rc) goto done;
    }
    if ((rc = write_config(&f, dtype, dir, err, errlen))) goto done;
    if ((rc = ms_tokenizer_from_gguf(&tok, f.vocab, err, errlen))) goto done;
    free(path);
    if (!(path = path_join_alloc(dir, "tokenizer.json"))) goto oom;
    rc = ms_tokenizer_write_json(tok, path, err, errlen);
    goto done;
oom:
    rc = MS_ERR_RUNTIME;
    st_errf(err, errlen, "%s: out of memory", dir);
done:
    cJSON_Delete(index);
    ms_tokenizer_free(tok);
    free(path);
    free(buf);
    free(obuf);
    free(shard_of);
    fixture_free(&f);
    return rc;
}
