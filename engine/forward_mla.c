/* forward_mla.c — DeepSeek-V2/V3 multi-head latent attention and the DeepSeek routers for the
 * forward pass (forward.c calls in here when hparams.mla is set).
 *
 * Attention, per window of n tokens (H heads; a head's query/key is dn "nope" values then dr
 * "rope" values, its value dv values; R = kv_lora_rank):
 *     q    = wq x                  or  wq_b(rmsnorm(wq_a x))             (n, H*(dn+dr))
 *     kva  = wkv_a x                                                     (n, R+dr)
 *     c    = rmsnorm(kva[:, :R]) ; kpe = kva[:, R:]  (one rope key shared by the heads)
 *     k_h  = [kv_b_h^k c, kpe]  ;  v_h = kv_b_h^v c                      (decompressed MHA)
 *     RoPE (adjacent pairs over the dr dims, YaRN when the model has it) on q_h's last dr
 *     values and on kpe
 *     o_h  = softmax(scale · q_h k_hᵀ, causal) v_h ;  out = wo [o_1 .. o_H]
 * as llama.cpp's src/models/deepseek2.cpp computes it without the absorption (its absorbed
 * form with the split attn_k_b / attn_v_b is the same arithmetic reassociated). The split
 * tensors are used as they are stored: attn_v_b is already (H*dv, R); attn_k_b holds per head
 * the transpose (R, dn), which a task dequantizes, transposes and packs per head and call (no
 * f32 copy of the model is kept).
 *
 * Every projection runs through forward.c's tiled kernel (rows independent of the batch);
 * attention is OpenBLAS per (segment, head, query chunk) like forward.c's. */
#include "forward_int.h"
#include "kernels.h"
#include "router_v3.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ms_mla {
    int64_t T; /* window capacity */
    int n_threads;
    int H, dn, dr, dv, R, qr;
    float *q;                   /* (T, H*(dn+dr)) */
    float *qa;                  /* (T, qr) */
    float *kva;                 /* (T, R+dr) */
    float *c;                   /* (T, R) normed compressed kv */
    float *kvb;                 /* (T, H*(dn+dv)) attn_kv_b output */
    float *k;                   /* (T, H*(dn+dr)) */
    float *v;                   /* (T, H*dv) */
    float *att;                 /* (T, H*dv) */
    float *norm;                /* (max(R, qr)) a norm's weights as f32 */
    float *rope_cos, *rope_sin; /* (T, dr/2) */
    float *scores;              /* (n_threads, qchunk * T) */
    int64_t qchunk;
    float *kb_stage; /* (n_threads, R*dn): one head of attn_k_b as f32 (R, dn) */
    float *kb_t;     /* (n_threads, dn*R): its transpose */
    float *kb_panel; /* (n_threads, packed (dn, R)) */
    size_t kb_panel_elems;
    float bias[MS_MAX_EXPERTS]; /* the layer's selection bias (ms_mla_route) */
};

static void *xcalloc(size_t n, size_t size, int *fail) {
    void *p = calloc(n ? n : 1, size);
    if (!p) *fail = 1;
    return p;
}

void ms_mla_close(ms_mla *a) {
    if (!a) return;
    float *bufs[] = {a->q,        a->qa,     a->kva,      a->c,    a->kvb,
                     a->k,        a->v,      a->att,      a->norm, a->rope_cos,
                     a->rope_sin, a->scores, a->kb_stage, a->kb_t, a->kb_panel};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(a);
}

int ms_mla_open(ms_mla **out, const ms_hparams *hp, int64_t T, int64_t qchunk, int n_threads) {
    *out = NULL;
    ms_mla *a = calloc(1, sizeof *a);
    if (!a) return MS_ERR_RUNTIME;
    a->T = T;
    a->n_threads = n_threads;
    a->qchunk = qchunk;
    a->H = hp->n_head;
    a->dn = hp->d_head_nope;
    a->dr = hp->d_head_rope;
    a->dv = hp->d_head_v;
    a->R = hp->kv_lora_rank;
    a->qr = hp->q_lora_rank;
    const size_t t = (size_t)T, H = (size_t)a->H, dk = (size_t)(a->dn + a->dr);
    const size_t dv = (size_t)a->dv, R = (size_t)a->R, half = (size_t)a->dr / 2;
    const size_t nth = (size_t)n_threads;
    int fail = 0;
    a->q = xcalloc(t * H * dk, sizeof(float), &fail);
    a->qa = xcalloc(t * (size_t)a->qr, sizeof(float), &fail);
    a->kva = xcalloc(t * (R + (size_t)a->dr), sizeof(float), &fail);
    a->c = xcalloc(t * R, sizeof(float), &fail);
    a->kvb = xcalloc(t * H * ((size_t)a->dn + dv), sizeof(float), &fail);
    a->k = xcalloc(t * H * dk, sizeof(float), &fail);
    a->v = xcalloc(t * H * dv, sizeof(float), &fail);
    a->att = xcalloc(t * H * dv, sizeof(float), &fail);
    a->norm = xcalloc(R > (size_t)a->qr ? R : (size_t)a->qr, sizeof(float), &fail);
    a->rope_cos = xcalloc(t * half, sizeof(float), &fail);
    a->rope_sin = xcalloc(t * half, sizeof(float), &fail);
    a->scores = xcalloc(nth * (size_t)qchunk * t, sizeof(float), &fail);
    a->kb_stage = xcalloc(nth * R * (size_t)a->dn, sizeof(float), &fail);
    a->kb_t = xcalloc(nth * R * (size_t)a->dn, sizeof(float), &fail);
    a->kb_panel_elems = ms_gemm_packed_elems(a->dn, a->R);
    a->kb_panel = xcalloc(nth * a->kb_panel_elems, sizeof(float), &fail);
    if (fail) {
        ms_mla_close(a);
        return MS_ERR_RUNTIME;
    }
    /* RoPE over the dr rope dims (n_rot), with the model's scaling */
    ms_hparams rh = *hp;
    rh.n_rot = a->dr;
    for (size_t p = 0; p < t; p++)
        ms_rope_cos_sin(&rh, (int64_t)p, a->rope_cos + p * half, a->rope_sin + p * half);
    *out = a;
    return 0;
}

static int mla_mat(const ms_mat *w, int64_t rows, int64_t cols, const char *what, int il, char *err,
                   size_t errlen) {
    if (!w->data) {
        snprintf(err, errlen, "forward: layer %d: missing tensor %s", il, what);
        return MS_ERR_INPUT;
    }
    int64_t be = ms_type_block_elems(w->type);
    if (w->rows != rows || w->cols != cols || !ms_type_supported(w->type) || be <= 0 ||
        cols % be != 0 || w->row_bytes != ms_type_row_bytes(w->type, cols)) {
        snprintf(err, errlen, "forward: %s has shape (%lld, %lld) of %s, expected (%lld, %lld)",
                 w->name ? w->name : what, (long long)w->rows, (long long)w->cols,
                 ms_type_name(w->type), (long long)rows, (long long)cols);
        return MS_ERR_INPUT;
    }
    return 0;
}

int ms_mla_check_layer(const ms_hparams *hp, const ms_layer *L, int il, char *err, size_t errlen) {
    const int64_t d = hp->d_model, H = hp->n_head, R = hp->kv_lora_rank;
    const int64_t dn = hp->d_head_nope, dr = hp->d_head_rope, dv = hp->d_head_v;
    const int64_t qr = hp->q_lora_rank;
    if (dn < 1 || dr < 2 || dr % 2 || dv < 1 || R < 1 || qr < 0 || hp->d_head != dn + dr ||
        hp->n_head_kv != hp->n_head) {
        snprintf(err, errlen, "forward: inconsistent latent attention sizes");
        return MS_ERR_INPUT;
    }
    int rc;
    if (qr > 0) {
        if ((rc = mla_mat(&L->wq_a, qr, d, "attn_q_a", il, err, errlen)) ||
            (rc = mla_mat(&L->q_a_norm, 1, qr, "attn_q_a_norm", il, err, errlen)) ||
            (rc = mla_mat(&L->wq_b, H * (dn + dr), qr, "attn_q_b", il, err, errlen)))
            return rc;
    } else if ((rc = mla_mat(&L->wq, H * (dn + dr), d, "attn_q", il, err, errlen)))
        return rc;
    if ((rc = mla_mat(&L->wkv_a, R + dr, d, "attn_kv_a_mqa", il, err, errlen)) ||
        (rc = mla_mat(&L->kv_a_norm, 1, R, "attn_kv_a_norm", il, err, errlen)) ||
        (rc = mla_mat(&L->wo, d, H * dv, "attn_output", il, err, errlen)))
        return rc;
    if (L->wkv_b.data) {
        if ((rc = mla_mat(&L->wkv_b, H * (dn + dv), R, "attn_kv_b", il, err, errlen))) return rc;
    } else if ((rc = mla_mat(&L->wk_b, H * R, dn, "attn_k_b", il, err, errlen)) ||
               (rc = mla_mat(&L->wv_b, H * dv, R, "attn_v_b", il, err, errlen)))
        return rc;
    if (L->exp_probs_b.data &&
        (rc = mla_mat(&L->exp_probs_b, 1, hp->n_expert, "exp_probs_b", il, err, errlen)))
        return rc;
    return 0;
}

static void vec_f32(const ms_mat *w, float *dst) {
    ms_fwd_dequant_mat_row(w, w->data, 0, 0, dst, w->cols);
}

/* ----------------------------------------------------------------------------------------
 * Split attn_k_b: per head, k_nope (n, dn) = c (n, R) · kb_h (R, dn).
 */
typedef struct kb_ctx {
    ms_mla *a;
    const ms_mat *kb;
    int64_t n;
} kb_ctx;

static void kb_task(void *ctx, int64_t h, int th) {
    kb_ctx *c = ctx;
    ms_mla *a = c->a;
    const int64_t R = a->R, dn = a->dn, dk = a->dn + a->dr;
    float *stage = a->kb_stage + (size_t)th * (size_t)(R * dn);
    float *tr = a->kb_t + (size_t)th * (size_t)(R * dn);
    float *panel = a->kb_panel + (size_t)th * a->kb_panel_elems;
    for (int64_t r = 0; r < R; r++) {
        const uint8_t *src = c->kb->data + (size_t)(h * R + r) * c->kb->row_bytes;
        ms_fwd_dequant_mat_row(c->kb, src, h * R + r, 0, stage + r * dn, dn);
    }
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < dn; i++)
            tr[i * R + r] = stage[r * dn + i];
    ms_gemm_pack(tr, R, dn, R, panel);
    ms_gemm_packed(c->n, dn, R, a->c, R, panel, a->k + h * dk, (int64_t)a->H * dk);
}

/* ----------------------------------------------------------------------------------------
 * Attention: one task per (query chunk, head), as forward.c's attn_task with the key width
 * dn+dr and the value width dv.
 */
typedef struct mla_attn_ctx {
    ms_mla *a;
    const ms_mla_window *w;
    float scale;
} mla_attn_ctx;

static void mla_attn_task(void *ctx, int64_t t, int th) {
    mla_attn_ctx *ac = ctx;
    ms_mla *a = ac->a;
    const ms_mla_window *w = ac->w;
    const int H = a->H;
    const int h = (int)(t % H);
    const int64_t c = t / H, seg_n = w->ch_len[c], q0 = w->ch_q0[c];
    const int64_t q1 = q0 + a->qchunk < seg_n ? q0 + a->qchunk : seg_n;
    const int64_t nq = q1 - q0, nk = q1;
    const int dk = a->dn + a->dr, dv = a->dv;
    const int64_t ldq = (int64_t)H * dk, ldv = (int64_t)H * dv;
    float *S = a->scores + (size_t)th * (size_t)a->qchunk * (size_t)a->T; /* (nq, nk) */
    const float *Q = a->q + w->ch_base[c] * ldq, *K = a->k + w->ch_base[c] * ldq;
    const float *V = a->v + w->ch_base[c] * ldv;
    float *O = a->att + w->ch_base[c] * ldv;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, dk, ac->scale,
                Q + q0 * ldq + (int64_t)h * dk, (int)ldq, K + (int64_t)h * dk, (int)ldq, 0.0f, S,
                (int)nk);
    for (int64_t i = 0; i < nq; i++) {
        const int64_t jhi = q0 + i; /* keys [0, jhi] are visible */
        float *row = S + i * nk;
        float mx = -INFINITY;
        for (int64_t j = 0; j <= jhi; j++)
            if (row[j] > mx) mx = row[j];
        for (int64_t j = jhi + 1; j < nk; j++)
            row[j] = 0.0f;
        ms_fwd_exp_shifted(row, jhi + 1, mx);
        double sum = 0.0;
        for (int64_t j = 0; j <= jhi; j++)
            sum += row[j];
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j <= jhi; j++)
            row[j] *= inv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, dv, (int)nk, 1.0f, S, (int)nk,
                V + (int64_t)h * dv, (int)ldv, 0.0f, O + q0 * ldv + (int64_t)h * dv, (int)ldv);
}

/* Rotates the dr values at x[0..dr) (adjacent pairs) for position p. */
static void rope_part(const ms_mla *a, float *x, int32_t p) {
    const int half = a->dr / 2;
    const float *cs = a->rope_cos + (int64_t)p * half, *sn = a->rope_sin + (int64_t)p * half;
    for (int i = 0; i < half; i++) {
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * cs[i] - x1 * sn[i];
        x[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
    }
}

void ms_mla_attention(ms_mla *a, ms_engine *e, const ms_layer *ly, const ms_hparams *hp, float *xn,
                      int64_t n, const ms_mla_window *w) {
    const int64_t d = hp->d_model, H = a->H, R = a->R, dn = a->dn, dr = a->dr, dv = a->dv;
    const int64_t dk = dn + dr;
    assert(n <= a->T);
    /* queries */
    if (a->qr > 0) {
        ms_fwd_matmul(e, &ly->wq_a, xn, d, n, a->qa, a->qr);
        vec_f32(&ly->q_a_norm, a->norm);
        ms_fwd_rmsnorm(a->qa, a->qa, a->norm, n, a->qr, hp->norm_eps);
        ms_fwd_matmul(e, &ly->wq_b, a->qa, a->qr, n, a->q, H * dk);
    } else {
        ms_fwd_matmul(e, &ly->wq, xn, d, n, a->q, H * dk);
    }
    /* compressed kv and the shared rope key */
    ms_fwd_matmul(e, &ly->wkv_a, xn, d, n, a->kva, R + dr);
    for (int64_t t = 0; t < n; t++)
        memcpy(a->c + t * R, a->kva + t * (R + dr), (size_t)R * sizeof(float));
    vec_f32(&ly->kv_a_norm, a->norm);
    ms_fwd_rmsnorm(a->c, a->c, a->norm, n, (int)R, hp->norm_eps);
    for (int64_t t = 0; t < n; t++) {
        float *kpe = a->kva + t * (R + dr) + R;
        rope_part(a, kpe, w->pos[t]);
        for (int64_t h = 0; h < H; h++) {
            rope_part(a, a->q + (t * H + h) * dk + dn, w->pos[t]);
            memcpy(a->k + (t * H + h) * dk + dn, kpe, (size_t)dr * sizeof(float));
        }
    }
    /* decompressed keys (nope part) and values */
    if (ly->wkv_b.data) {
        ms_fwd_matmul(e, &ly->wkv_b, a->c, R, n, a->kvb, H * (dn + dv));
        for (int64_t t = 0; t < n; t++)
            for (int64_t h = 0; h < H; h++) {
                const float *src = a->kvb + (t * H + h) * (dn + dv);
                memcpy(a->k + (t * H + h) * dk, src, (size_t)dn * sizeof(float));
                memcpy(a->v + (t * H + h) * dv, src + dn, (size_t)dv * sizeof(float));
            }
    } else {
        kb_ctx kc = {a, &ly->wk_b, n};
        ms_pool_run(ms_fwd_pool(e), kb_task, &kc, H);
        ms_fwd_matmul(e, &ly->wv_b, a->c, R, n, a->v, H * dv);
    }
    mla_attn_ctx ac = {a, w, hp->attn_scale > 0.0f ? hp->attn_scale : 1.0f / sqrtf((float)dk)};
    ms_pool_run(ms_fwd_pool(e), mla_attn_task, &ac, H * w->n_chunks);
    ms_fwd_matmul(e, &ly->wo, a->att, H * dv, n, xn, d);
}

/* ----------------------------------------------------------------------------------------
 * DeepSeek routers (MS_ROUTER_DS_*): router_v3.c per token.
 */
int ms_mla_route(ms_mla *a, const ms_hparams *hp, const ms_layer *ly, const float *logits,
                 int64_t n, float *scores, int32_t *ids, float *weights) {
    const int E = hp->n_expert, K = hp->n_expert_used;
    if (ly->exp_probs_b.data) vec_f32(&ly->exp_probs_b, a->bias);
    ms_router_v3 r = {
        .n_expert = E,
        .k = K,
        .sigmoid = hp->router == MS_ROUTER_DS_SIGMOID,
        .bias = ly->exp_probs_b.data ? a->bias : NULL,
        .n_group = hp->n_group,
        .topk_group = hp->topk_group,
        .group_score = hp->group_score_max ? MS_GROUP_MAX : MS_GROUP_TOP2_SUM,
        .norm_topk_prob = hp->expert_weights_norm,
        .routed_scaling_factor = 0.0f, /* forward.c applies expert_weights_scale after */
    };
    char err[128];
    if (ms_router_v3_check(&r, err, sizeof err)) return MS_ERR_INPUT;
    for (int64_t t = 0; t < n; t++)
        ms_router_v3_route(&r, logits + t * E, scores + t * E, ids + t * K, weights + t * K);
    return 0;
}
