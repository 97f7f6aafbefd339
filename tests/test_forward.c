/* test_forward.c — the forward pass on small in-memory models against a naive reference.
 *
 * The reference below is written independently of engine/forward.c: plain loops in double
 * precision over the same f32 weights (no BLAS, no tiling, no grouping), RoPE angles from
 * their definition, the router by sorting. Checks: logits and routes against the reference
 * (several shapes: 8 experts k=2, 16 experts k=4, GQA, sliding window, both RoPE conventions,
 * both router kinds, Q8_0 weights), the GGUF row permutation + adjacent RoPE equals HF
 * half-split RoPE, bit-identical results for 1/2/3 threads and with/without a probe,
 * routing-only windows, the router's tie rule, and input errors. */
#include "forward_int.h"
#include "kernels.h"

#include <float.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstest.h"

/* ---------------------------------------------------------------------------------------- */
/* deterministic random numbers */
static uint64_t rng_state;
static double urand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float nrand(void) { /* approx. N(0,1) */
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += urand();
    return (float)(s - 6.0);
}

/* ---------------------------------------------------------------------------------------- */
/* an in-memory model: every matrix owns an f32 array (and, for quantized tests, a packed copy) */
typedef struct tmodel {
    ms_hparams hp;
    ms_layer *layers;
    ms_mat tok_embd, out_norm, lm_head;
    /* f32 copies the reference uses (dequantized when the model is quantized) */
    float **ref; /* pointers registered for freeing */
    int n_ref, cap_ref;
} tmodel;

static void *track(tmodel *m, void *p) {
    if (m->n_ref == m->cap_ref) {
        m->cap_ref = m->cap_ref ? 2 * m->cap_ref : 64;
        m->ref = realloc(m->ref, (size_t)m->cap_ref * sizeof *m->ref);
    }
    m->ref[m->n_ref++] = p;
    return p;
}

/* A (rows, cols) matrix of N(0, scale²) values stored as `type`. */
static ms_mat make_mat(tmodel *m, int64_t rows, int64_t cols, float scale, float offset,
                       ms_type type) {
    float *f = track(m, malloc((size_t)(rows * cols) * sizeof(float)));
    for (int64_t i = 0; i < rows * cols; i++)
        f[i] = offset + scale * nrand();
    ms_mat w = {MS_TYPE_F32, rows, cols, (size_t)cols * sizeof(float), (const uint8_t *)f, "t",
                NULL,        0,    NULL};
    if (type == MS_TYPE_MXFP4_HF) {
        /* ggml's MXFP4 of the values in Hugging Face's layout, rows two apart as gpt-oss's
         * interleaved gate/up rows; the rows between hold codes and exponents that would give
         * infinities if read */
        const int64_t nb = cols / 32;
        const size_t rb = (size_t)nb * 16;
        uint8_t *q = track(m, malloc(2 * rb * (size_t)rows));
        uint8_t *e = track(m, malloc((size_t)(2 * nb * rows)));
        uint8_t *g = malloc((size_t)nb * 17);
        memset(q, 0x77, 2 * rb * (size_t)rows);
        memset(e, 255, (size_t)(2 * nb * rows));
        for (int64_t r = 0; r < rows; r++) {
            if (ms_quantize_row(MS_TYPE_MXFP4, f + r * cols, g, cols) != 0) abort();
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *o = q + (size_t)(2 * r) * rb + (size_t)b * 16;
                e[2 * r * nb + b] = g[b * 17];
                memset(o, 0, 16);
                for (int j = 0; j < 16; j++) { /* ggml byte j: elements j and j + 16 */
                    const int lo = g[b * 17 + 1 + j] & 15, hi = g[b * 17 + 1 + j] >> 4;
                    o[j / 2] |= (uint8_t)(lo << (4 * (j % 2)));
                    o[(j + 16) / 2] |= (uint8_t)(hi << (4 * (j % 2)));
                }
            }
        }
        free(g);
        w = (ms_mat){.type = type,
                     .rows = rows,
                     .cols = cols,
                     .row_bytes = 2 * rb,
                     .data = q,
                     .name = "t",
                     .scale_ld = 2 * nb,
                     .escale = e};
    } else if (type != MS_TYPE_F32) {
        size_t rb = ms_type_row_bytes(type, cols);
        uint8_t *q = track(m, malloc(rb * (size_t)rows));
        for (int64_t r = 0; r < rows; r++)
            if (ms_quantize_row(type, f + r * cols, q + (size_t)r * rb, cols) != 0) abort();
        w.type = type;
        w.row_bytes = rb;
        w.data = q;
    }
    return w;
}

typedef struct tcfg {
    int d_model, n_layer, n_head, n_head_kv, d_head, d_ff, n_expert, k, n_vocab, window;
    ms_rope_kind rope;
    ms_router_kind router;
    ms_type type;
} tcfg;

static void model_build(tmodel *m, const tcfg *c, uint64_t seed) {
    memset(m, 0, sizeof *m);
    rng_state = seed;
    ms_hparams *hp = &m->hp;
    snprintf(hp->arch, sizeof hp->arch, "mixtral");
    hp->n_vocab = c->n_vocab;
    hp->d_model = c->d_model;
    hp->n_layer = c->n_layer;
    hp->n_head = c->n_head;
    hp->n_head_kv = c->n_head_kv;
    hp->d_head = c->d_head;
    hp->d_ff = c->d_ff;
    hp->n_expert = c->n_expert;
    hp->n_expert_used = c->k;
    hp->sliding_window = c->window;
    hp->rope_theta = 10000.0f;
    hp->norm_eps = 1e-5f;
    hp->rope = c->rope;
    hp->router = c->router;
    int64_t d = c->d_model, qd = (int64_t)c->n_head * c->d_head;
    int64_t kvd = (int64_t)c->n_head_kv * c->d_head;
    float sd = 1.0f / sqrtf((float)d);
    m->tok_embd = make_mat(m, c->n_vocab, d, 1.0f, 0.0f, c->type);
    m->out_norm = make_mat(m, 1, d, 0.1f, 1.0f, MS_TYPE_F32);
    m->lm_head = make_mat(m, c->n_vocab, d, sd, 0.0f, c->type);
    m->layers = track(m, calloc((size_t)c->n_layer, sizeof *m->layers));
    for (int il = 0; il < c->n_layer; il++) {
        ms_layer *L = &m->layers[il];
        L->attn_norm = make_mat(m, 1, d, 0.1f, 1.0f, MS_TYPE_F32);
        L->wq = make_mat(m, qd, d, 2.0f * sd, 0.0f, c->type); /* peaky enough attention */
        L->wk = make_mat(m, kvd, d, 2.0f * sd, 0.0f, c->type);
        L->wv = make_mat(m, kvd, d, sd, 0.0f, c->type);
        L->wo = make_mat(m, d, qd, 1.0f / sqrtf((float)qd), 0.0f, c->type);
        L->ffn_norm = make_mat(m, 1, d, 0.1f, 1.0f, MS_TYPE_F32);
        L->router = make_mat(m, c->n_expert, d, sd, 0.0f, MS_TYPE_F32);
        L->w_gate = track(m, calloc((size_t)c->n_expert, sizeof(ms_mat)));
        L->w_up = track(m, calloc((size_t)c->n_expert, sizeof(ms_mat)));
        L->w_down = track(m, calloc((size_t)c->n_expert, sizeof(ms_mat)));
        for (int x = 0; x < c->n_expert; x++) {
            L->w_gate[x] = make_mat(m, c->d_ff, d, sd, 0.0f, c->type);
            L->w_up[x] = make_mat(m, c->d_ff, d, sd, 0.0f, c->type);
            L->w_down[x] = make_mat(m, d, c->d_ff, 1.0f / sqrtf((float)c->d_ff), 0.0f, c->type);
        }
    }
}

static void model_free(tmodel *m) {
    for (int i = 0; i < m->n_ref; i++)
        free(m->ref[i]);
    free(m->ref);
}

static ms_fwd_model model_view(const tmodel *m) {
    ms_fwd_model v = {m->hp, m->layers, &m->tok_embd, &m->out_norm, &m->lm_head, NULL};
    return v;
}

/* ---------------------------------------------------------------------------------------- */
/* naive reference (double precision) */

static double *mat_f64(const ms_mat *w) { /* (rows, cols) */
    double *o = malloc((size_t)(w->rows * w->cols) * sizeof(double));
    float *row = malloc((size_t)w->cols * sizeof(float));
    for (int64_t r = 0; r < w->rows; r++) {
        ms_mat_dequantize_row(w, r, row);
        for (int64_t c = 0; c < w->cols; c++)
            o[r * w->cols + c] = row[c];
    }
    free(row);
    return o;
}

/* y[rows] = W x */
static void ref_mv(const ms_mat *w, const double *x, double *y) {
    double *W = mat_f64(w);
    for (int64_t r = 0; r < w->rows; r++) {
        double s = 0;
        for (int64_t c = 0; c < w->cols; c++)
            s += W[r * w->cols + c] * x[c];
        y[r] = s;
    }
    free(W);
}

static void ref_norm(const double *x, const ms_mat *w, int d, double eps, double *y) {
    double ss = 0;
    for (int i = 0; i < d; i++)
        ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / d + eps);
    const float *wf = (const float *)(const void *)w->data;
    for (int i = 0; i < d; i++)
        y[i] = x[i] * s * wf[i];
}

static void ref_rope(double *v, int dh, int64_t pos, double theta, ms_rope_kind kind) {
    for (int i = 0; i < dh / 2; i++) {
        double ang = (double)pos / pow(theta, (2.0 * i) / dh);
        int a = kind == MS_ROPE_ADJACENT ? 2 * i : i;
        int b = kind == MS_ROPE_ADJACENT ? 2 * i + 1 : i + dh / 2;
        double x0 = v[a], x1 = v[b];
        v[a] = x0 * cos(ang) - x1 * sin(ang);
        v[b] = x0 * sin(ang) + x1 * cos(ang);
    }
}

typedef struct ref_out {
    double *logits;   /* (n, n_vocab) */
    double *r_logits; /* (n_layer, n, E) */
    double *probs;    /* (n_layer, n, E) */
    int *ids;         /* (n_layer, n, k) */
    double *w;        /* (n_layer, n, k) */
} ref_out;

static void ref_forward(const tmodel *m, const int32_t *tok, int64_t n, ref_out *o) {
    const ms_hparams *hp = &m->hp;
    int d = hp->d_model, dh = hp->d_head, H = hp->n_head, Hk = hp->n_head_kv, E = hp->n_expert;
    int k = hp->n_expert_used, F = hp->d_ff, V = hp->n_vocab;
    double *x = calloc((size_t)(n * d), sizeof(double));
    double *xn = calloc((size_t)d, sizeof(double));
    double *q = calloc((size_t)(n * H * dh), sizeof(double));
    double *kk = calloc((size_t)(n * Hk * dh), sizeof(double));
    double *vv = calloc((size_t)(n * Hk * dh), sizeof(double));
    double *att = calloc((size_t)(H * dh), sizeof(double));
    double *tmp = calloc((size_t)(d > F ? d : F) * 2 + 8, sizeof(double));
    double *g = calloc((size_t)F, sizeof(double)), *u = calloc((size_t)F, sizeof(double));
    double *sc = calloc((size_t)n, sizeof(double));
    double *xa = calloc((size_t)(n * d), sizeof(double));
    double *emb = mat_f64(&m->tok_embd);
    o->logits = calloc((size_t)(n * V), sizeof(double));
    o->r_logits = calloc((size_t)(hp->n_layer * n * E), sizeof(double));
    o->probs = calloc((size_t)(hp->n_layer * n * E), sizeof(double));
    o->ids = calloc((size_t)(hp->n_layer * n * k), sizeof(int));
    o->w = calloc((size_t)(hp->n_layer * n * k), sizeof(double));
    for (int64_t t = 0; t < n; t++)
        for (int i = 0; i < d; i++)
            x[t * d + i] = emb[(int64_t)tok[t] * d + i];
    free(emb);
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_layer *L = &m->layers[il];
        for (int64_t t = 0; t < n; t++) {
            ref_norm(x + t * d, &L->attn_norm, d, hp->norm_eps, xn);
            ref_mv(&L->wq, xn, q + t * H * dh);
            ref_mv(&L->wk, xn, kk + t * Hk * dh);
            ref_mv(&L->wv, xn, vv + t * Hk * dh);
            for (int h = 0; h < H; h++)
                ref_rope(q + t * H * dh + h * dh, dh, t, hp->rope_theta, hp->rope);
            for (int h = 0; h < Hk; h++)
                ref_rope(kk + t * Hk * dh + h * dh, dh, t, hp->rope_theta, hp->rope);
        }
        for (int64_t t = 0; t < n; t++) {
            for (int h = 0; h < H; h++) {
                int hk = h / (H / Hk);
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j <= t; j++) {
                    if (hp->sliding_window > 0 && t - j >= hp->sliding_window) {
                        sc[j] = -1e300;
                        continue;
                    }
                    double s = 0;
                    for (int i = 0; i < dh; i++)
                        s += q[t * H * dh + h * dh + i] * kk[j * Hk * dh + hk * dh + i];
                    sc[j] = s / sqrt((double)dh);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int64_t j = 0; j <= t; j++) {
                    sc[j] = sc[j] <= -1e299 ? 0 : exp(sc[j] - mx);
                    sum += sc[j];
                }
                for (int i = 0; i < dh; i++) {
                    double s = 0;
                    for (int64_t j = 0; j <= t; j++)
                        s += sc[j] / sum * vv[j * Hk * dh + hk * dh + i];
                    att[h * dh + i] = s;
                }
            }
            ref_mv(&L->wo, att, tmp);
            for (int i = 0; i < d; i++)
                xa[t * d + i] = x[t * d + i] + tmp[i];
        }
        for (int64_t t = 0; t < n; t++) {
            double *xr = xa + t * d;
            ref_norm(xr, &L->ffn_norm, d, hp->norm_eps, xn);
            double *rl = o->r_logits + (il * n + t) * E, *pr = o->probs + (il * n + t) * E;
            ref_mv(&L->router, xn, rl);
            double mx = -1e300, sum = 0;
            for (int e = 0; e < E; e++)
                if (rl[e] > mx) mx = rl[e];
            for (int e = 0; e < E; e++)
                sum += exp(rl[e] - mx);
            for (int e = 0; e < E; e++)
                pr[e] = exp(rl[e] - mx) / sum;
            /* order experts by probability (insertion sort, ties by id) */
            int order[MS_MAX_EXPERTS];
            for (int e = 0; e < E; e++) {
                int j = e;
                while (j > 0 && pr[order[j - 1]] < pr[e]) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = e;
            }
            int *ids = o->ids + (il * n + t) * k;
            double *w = o->w + (il * n + t) * k, ws = 0;
            for (int r = 0; r < k; r++) {
                ids[r] = order[r];
                ws += pr[order[r]];
            }
            for (int r = 0; r < k; r++)
                w[r] = hp->router == MS_ROUTER_SOFTMAX_TOPK_RENORM ? pr[ids[r]] / ws : pr[ids[r]];
            for (int i = 0; i < d; i++)
                x[t * d + i] = xr[i];
            for (int r = 0; r < k; r++) {
                ref_mv(&L->w_gate[ids[r]], xn, g);
                ref_mv(&L->w_up[ids[r]], xn, u);
                for (int i = 0; i < F; i++)
                    g[i] = g[i] / (1 + exp(-g[i])) * u[i];
                ref_mv(&L->w_down[ids[r]], g, tmp);
                for (int i = 0; i < d; i++)
                    x[t * d + i] += w[r] * tmp[i];
            }
        }
    }
    for (int64_t t = 0; t < n; t++) {
        ref_norm(x + t * d, &m->out_norm, d, hp->norm_eps, xn);
        ref_mv(&m->lm_head, xn, o->logits + t * V);
    }
    free(x), free(xn), free(q), free(kk), free(vv), free(att), free(tmp), free(g), free(u);
    free(sc), free(xa);
}

static void ref_free(ref_out *o) {
    free(o->logits), free(o->r_logits), free(o->probs), free(o->ids), free(o->w);
}

/* ---------------------------------------------------------------------------------------- */
/* engine runs, with a probe that records everything */

typedef struct capture {
    int n_layer, E, k;
    int64_t n;
    float *logits; /* (n_layer, n, E) */
    int32_t *ids;  /* (n_layer, n, k) */
    float *w;      /* (n_layer, n, k) */
    int calls, stop_at;
} capture;

static int probe(void *user, const ms_route_event *ev) {
    capture *c = user;
    c->calls++;
    if (ev->n_tokens != c->n || ev->n_expert != c->E || ev->k != c->k || ev->pos0 != 0 ||
        ev->layer < 0 || ev->layer >= c->n_layer)
        return -1;
    size_t o = (size_t)ev->layer * (size_t)c->n;
    memcpy(c->logits + o * c->E, ev->logits, (size_t)(c->n * c->E) * sizeof(float));
    memcpy(c->ids + o * c->k, ev->ids, (size_t)(c->n * c->k) * sizeof(int32_t));
    memcpy(c->w + o * c->k, ev->weights, (size_t)(c->n * c->k) * sizeof(float));
    return ev->layer == c->stop_at ? 1 : 0;
}

static void cap_init(capture *c, const ms_hparams *hp, int64_t n) {
    memset(c, 0, sizeof *c);
    c->n_layer = hp->n_layer;
    c->E = hp->n_expert;
    c->k = hp->n_expert_used;
    c->n = n;
    c->stop_at = -1;
    c->logits = calloc((size_t)(hp->n_layer * n * hp->n_expert), sizeof(float));
    c->ids = calloc((size_t)(hp->n_layer * n * hp->n_expert_used), sizeof(int32_t));
    c->w = calloc((size_t)(hp->n_layer * n * hp->n_expert_used), sizeof(float));
}
static void cap_free(capture *c) {
    free(c->logits), free(c->ids), free(c->w);
}

static int run(const tmodel *m, int threads, const int32_t *tok, int64_t n, capture *cap,
               float *logits) {
    ms_fwd_model v = model_view(m);
    ms_engine_opts o = {threads, 64, 1};
    ms_engine *e;
    char err[256];
    int rc = ms_engine_open_view(&e, &v, &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "open: %s\n", err);
        return rc;
    }
    rc = ms_forward(e, tok, n, cap ? probe : NULL, cap, logits, err, sizeof err);
    if (rc) fprintf(stderr, "forward: %s\n", err);
    ms_engine_close(e);
    return rc;
}

/* Compares engine and reference; tol on logits (absolute, logits are O(1)). */
static void compare(const char *what, const tmodel *m, const int32_t *tok, int64_t n, double tol,
                    double wtol) {
    const ms_hparams *hp = &m->hp;
    ref_out ref;
    ref_forward(m, tok, n, &ref);
    capture cap;
    cap_init(&cap, hp, n);
    float *lg = calloc((size_t)(n * hp->n_vocab), sizeof(float));
    CHECK(run(m, 2, tok, n, &cap, lg) == 0, "%s: run", what);
    double maxd = 0, maxl = 0;
    for (int64_t i = 0; i < n * hp->n_vocab; i++) {
        double dd = fabs(lg[i] - ref.logits[i]);
        if (dd > maxd) maxd = dd;
        if (fabs(ref.logits[i]) > maxl) maxl = fabs(ref.logits[i]);
    }
    CHECK(maxd <= tol, "%s: logits differ by %g (tolerance %g)", what, maxd, tol);
    CHECK(maxl > 0.1, "%s: degenerate logits (max |logit| %g)", what, maxl);
    int k = hp->n_expert_used, E = hp->n_expert, mism = 0, near = 0;
    double maxrl = 0, maxw = 0;
    for (int64_t i = 0; i < hp->n_layer * n; i++) {
        for (int e = 0; e < E; e++) {
            double dd = fabs(cap.logits[i * E + e] - ref.r_logits[i * E + e]);
            if (dd > maxrl) maxrl = dd;
        }
        /* an exact tie at the k-th place within rounding would make the test ill-posed */
        const double *pr = ref.probs + i * E;
        double kth = pr[ref.ids[i * k + k - 1]], next = -1;
        for (int e = 0; e < E; e++) {
            int in = 0;
            for (int r = 0; r < k; r++)
                in |= ref.ids[i * k + r] == e;
            if (!in && pr[e] > next) next = pr[e];
        }
        if (kth - next < 1e-5) {
            near++;
            continue;
        }
        for (int r = 0; r < k; r++) {
            if (cap.ids[i * k + r] != ref.ids[i * k + r]) mism++;
            double dd = fabs(cap.w[i * k + r] - ref.w[i * k + r]);
            if (dd > maxw) maxw = dd;
        }
    }
    CHECK(mism == 0, "%s: %d route ids differ from the reference", what, mism);
    CHECK(maxrl <= tol, "%s: router logits differ by %g", what, maxrl);
    CHECK(maxw <= wtol, "%s: route weights differ by %g", what, maxw);
    CHECK(cap.calls == hp->n_layer, "%s: hook called %d times", what, cap.calls);
    printf("%-34s n=%-3lld logits maxdiff %.2e  router %.2e  weights %.2e  (near ties %d)\n", what,
           (long long)n, maxd, maxrl, maxw, near);
    free(lg);
    cap_free(&cap);
    ref_free(&ref);
}

/* ---------------------------------------------------------------------------------------- */

static void test_router(void) {
    float lg[5] = {0.0f, logf(3.0f), logf(3.0f), logf(3.0f), 0.0f};
    float pr[5], p[3], w[3];
    int32_t ids[3];
    ms_router_probs(lg, 5, pr);
    /* exp: 1, 3, 3, 3, 1 over 11 */
    CHECK(fabsf(pr[0] - 1.0f / 11) < 1e-6f && fabsf(pr[1] - 3.0f / 11) < 1e-6f, "softmax");
    ms_router_topk(pr, 5, 3, ids, p);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 3, "tie order %d %d %d", ids[0], ids[1], ids[2]);
    float eq[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    ms_router_topk(eq, 4, 2, ids, p);
    CHECK(ids[0] == 0 && ids[1] == 1, "all-equal ties %d %d", ids[0], ids[1]);
    float pr2[4] = {0.1f, 0.2f, 0.6f, 0.1f};
    ms_router_topk(pr2, 4, 2, ids, p);
    CHECK(ids[0] == 2 && ids[1] == 1, "rank order %d %d", ids[0], ids[1]);
    ms_router_weights(MS_ROUTER_SOFTMAX_TOPK_RENORM, p, 2, w);
    CHECK(fabsf(w[0] - 0.75f) < 1e-6f && fabsf(w[1] - 0.25f) < 1e-6f, "renorm %g %g", w[0], w[1]);
    ms_router_weights(MS_ROUTER_SOFTMAX_TOPK, p, 2, w);
    CHECK(w[0] == 0.6f && w[1] == 0.2f, "no renorm");
}

/* The forward pass's own dequantization equals ms_dequantize_row bit for bit, for every
 * type the engine reads: rows quantized from random floats (several magnitudes, zeros) and
 * rows of random bytes with finite f16 scales. */
static void test_dequant(void) {
    static const ms_type types[] = {MS_TYPE_F32,  MS_TYPE_F16,  MS_TYPE_BF16, MS_TYPE_Q4_0,
                                    MS_TYPE_Q4_1, MS_TYPE_Q5_0, MS_TYPE_Q5_1, MS_TYPE_Q8_0,
                                    MS_TYPE_Q2_K, MS_TYPE_Q3_K, MS_TYPE_Q4_K, MS_TYPE_Q5_K,
                                    MS_TYPE_Q6_K, MS_TYPE_MXFP4};
    enum { N = 1024 };
    float src[N], a[N], b[N];
    uint8_t q[N * 4 + 64];
    rng_state = 77;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        ms_type t = types[ti];
        size_t rb = ms_type_row_bytes(t, N);
        int bad = 0;
        for (int rep = 0; rep < 40; rep++) {
            if (rep < 20) {
                float mag = rep % 4 == 0 ? 1e-3f : rep % 4 == 1 ? 1.0f : 50.0f;
                for (int i = 0; i < N; i++)
                    src[i] = rep % 5 == 4 && i % 3 ? 0.0f : mag * nrand();
                if (ms_quantize_row(t, src, q, N) != 0) continue;
            } else {
                for (size_t i = 0; i < rb; i++)
                    q[i] = (uint8_t)(urand() * 256);
                /* keep f16 scale fields finite: clear the top exponent bit of every byte pair
                 * that could be a scale (harmless for the quant payload) */
                if (t != MS_TYPE_F32 && t != MS_TYPE_BF16)
                    for (size_t i = 1; i < rb; i += 2)
                        q[i] &= 0xBF;
                if (t == MS_TYPE_F32 || t == MS_TYPE_BF16)
                    for (size_t i = 3; i < rb; i += 4)
                        q[i] &= 0xBF;
            }
            ms_dequantize_row(t, q, a, N);
            ms_fwd_dequant_row(t, q, b, N);
            if (memcmp(a, b, sizeof a) != 0) bad++;
        }
        CHECK(bad == 0, "fast dequantization of %s differs in %d rows", ms_type_name(t), bad);
    }
}

/* MXFP4 as Hugging Face stores it (MS_TYPE_MXFP4_HF, gpt-oss's *_blocks / *_scales) read in
 * place equals ggml's MXFP4 of the same codes and exponents bit for bit: random code bytes,
 * every exponent byte 0..255 (0 and 1 give subnormal scales, 255 overflows to inf), through
 * views of interleaved gate/up rows (twice the row stride) and plain rows, dequantized in
 * column chunks as the kernel stages them (the forward pass's path) and whole (the scalar
 * reference), against the rows repacked to ggml's block_mxfp4 {e; qs[16]: element j | element
 * j+16 << 4} and ms_dequantize_row (itself checked against ggml's code by quant_oracle). */
static void test_dequant_mxfp4_hf(void) {
    enum { R = 24, N = 1088, NB = N / 32 }; /* 2R rows of NB blocks: 1632 exponents */
    static uint8_t codes[2 * R][NB * 16], expo[2 * R][NB], ggml_row[NB * 17];
    static float a[N], b[N], c[N];
    rng_state = 4242;
    for (int r = 0; r < 2 * R; r++)
        for (int k = 0; k < NB * 16; k++)
            codes[r][k] = (uint8_t)(urand() * 256);
    for (int i = 0; i < 2 * R * NB; i++) /* every byte value, more than six times, shuffled */
        expo[i / NB][i % NB] = (uint8_t)((i * 167) % 256);
    int bad_chunk = 0, bad_whole = 0, n_inf = 0, n_sub = 0;
    for (int view = 0; view < 3; view++) { /* gate (even rows), up (odd rows), all rows */
        const int stride = view < 2 ? 2 : 1, first = view == 1;
        const ms_mat w = {MS_TYPE_MXFP4_HF,
                          view < 2 ? R : 2 * R,
                          N,
                          (size_t)stride * NB * 16,
                          codes[first],
                          "blocks",
                          NULL,
                          (int64_t)stride * NB,
                          expo[first]};
        for (int64_t r = 0; r < w.rows; r++) {
            const uint8_t *q = codes[first + stride * r], *e = expo[first + stride * r];
            for (int bl = 0; bl < NB; bl++) {
                uint8_t *o = ggml_row + bl * 17;
                o[0] = e[bl];
                for (int j = 0; j < 16; j++) {
                    const int k0 = j, k1 = j + 16; /* elements j and j + 16 of the block */
                    const int c0 = (q[bl * 16 + k0 / 2] >> (4 * (k0 % 2))) & 15;
                    const int c1 = (q[bl * 16 + k1 / 2] >> (4 * (k1 % 2))) & 15;
                    o[1 + j] = (uint8_t)(c0 | c1 << 4);
                }
            }
            ms_dequantize_row(MS_TYPE_MXFP4, ggml_row, a, N);
            for (int64_t k0 = 0; k0 < N; k0 += MS_GEMM_DOT_KC) {
                const int64_t kc = N - k0 < MS_GEMM_DOT_KC ? N - k0 : MS_GEMM_DOT_KC;
                ms_fwd_dequant_mat_row(&w, w.data + (size_t)r * w.row_bytes + k0 / 2, r, k0, b + k0,
                                       kc);
            }
            ms_mat_dequantize_row(&w, r, c);
            bad_chunk += memcmp(a, b, sizeof a) != 0;
            bad_whole += memcmp(a, c, sizeof a) != 0;
            for (int i = 0; i < N; i++) {
                n_inf += isinf(a[i]) != 0;
                n_sub += a[i] != 0 && fabsf(a[i]) < FLT_MIN;
            }
        }
    }
    CHECK(bad_chunk == 0, "MXFP4_HF: the forward pass's rows differ from ggml's in %d rows",
          bad_chunk);
    CHECK(bad_whole == 0, "MXFP4_HF: ms_mat_dequantize_row differs from ggml's in %d rows",
          bad_whole);
    CHECK(n_inf > 0 && n_sub > 0, "MXFP4_HF: %d infinite and %d subnormal values seen", n_inf,
          n_sub);
    /* without exponents, codes at scale 1: E2M1 0.5 is code 1, -6 code 15 */
    const uint8_t blk[16] = {0xF1};
    ms_dequantize_row(MS_TYPE_MXFP4_HF, blk, a, 32);
    CHECK(a[0] == 0.5f && a[1] == -6.0f && a[2] == 0.0f, "MXFP4_HF at scale 1: %g %g", a[0], a[1]);
    CHECK(ms_type_block_elems(MS_TYPE_MXFP4_HF) == 32 &&
              ms_type_block_bytes(MS_TYPE_MXFP4_HF) == 16 &&
              !strcmp(ms_type_name(MS_TYPE_MXFP4_HF), "MXFP4_HF"),
          "MXFP4_HF geometry");
    CHECK(ms_quantize_row(MS_TYPE_MXFP4_HF, a, ggml_row, 32) == MS_ERR_INPUT,
          "MXFP4_HF has no quantizer");
}

static tcfg base_cfg(void) {
    tcfg c = {32,         3, 4, 2, 8, 48, 8, 2, 96, 0, MS_ROPE_HALF, MS_ROUTER_SOFTMAX_TOPK_RENORM,
              MS_TYPE_F32};
    return c;
}

static void make_tokens(int32_t *tok, int64_t n, int V, uint64_t seed) {
    rng_state = seed;
    for (int64_t i = 0; i < n; i++)
        tok[i] = (int32_t)(urand() * V);
}

/* GGUF stores q/k rows permuted for the adjacent-pair rotation: GGUF row h·dh + 2i + j is HF
 * row h·dh + j·dh/2 + i (llama.cpp convert_hf_to_gguf.py, permute). */
static void permute_rows(tmodel *m, ms_mat *w, int n_heads, int dh) {
    float *src = (float *)(uintptr_t)w->data;
    float *dst = track(m, malloc((size_t)(w->rows * w->cols) * sizeof(float)));
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < dh / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(dst + (int64_t)(h * dh + 2 * i + j) * w->cols,
                       src + (int64_t)(h * dh + j * dh / 2 + i) * w->cols,
                       (size_t)w->cols * sizeof(float));
    w->data = (const uint8_t *)dst;
}

int main(void) {
    test_router();
    test_dequant();
    test_dequant_mxfp4_hf();
    int32_t tok[64];

    /* against the reference */
    tcfg c = base_cfg();
    tmodel m;
    model_build(&m, &c, 1);
    make_tokens(tok, 40, c.n_vocab, 7);
    compare("E8 k2 GQA half-rope", &m, tok, 40, 2e-4, 2e-5);
    compare("E8 k2 single token", &m, tok, 1, 2e-4, 2e-5);
    model_free(&m);

    c = base_cfg();
    c.n_expert = 16;
    c.k = 4;
    c.rope = MS_ROPE_ADJACENT;
    c.n_head_kv = 4;
    model_build(&m, &c, 2);
    make_tokens(tok, 64, c.n_vocab, 8);
    compare("E16 k4 MHA adjacent-rope", &m, tok, 64, 2e-4, 2e-5);
    model_free(&m);

    c = base_cfg();
    c.window = 5;
    c.n_head_kv = 1;
    c.router = MS_ROUTER_SOFTMAX_TOPK;
    model_build(&m, &c, 3);
    make_tokens(tok, 50, c.n_vocab, 9);
    compare("window 5, MQA, no renorm", &m, tok, 50, 2e-4, 2e-5);
    model_free(&m);

    c = base_cfg();
    c.type = MS_TYPE_Q8_0;
    c.d_ff = 64; /* rows of w_down must be whole Q8_0 blocks */
    model_build(&m, &c, 4);
    make_tokens(tok, 33, c.n_vocab, 10);
    compare("Q8_0 weights (tiles dequantized)", &m, tok, 33, 2e-4, 2e-5);
    model_free(&m);

    /* every matrix but norms and router in Hugging Face's MXFP4 layout, rows two apart */
    c.type = MS_TYPE_MXFP4_HF;
    model_build(&m, &c, 12);
    make_tokens(tok, 33, c.n_vocab, 13);
    compare("MXFP4_HF weights (strided views)", &m, tok, 33, 2e-4, 2e-5);
    /* without its exponents such a matrix is refused */
    {
        ms_fwd_model v = model_view(&m);
        ms_engine *e = NULL;
        ms_engine_opts o = {1, 8, 0};
        char err[256] = "";
        m.layers[2].w_up[3].escale = NULL;
        CHECK(ms_engine_open_view(&e, &v, &o, err, sizeof err) == MS_ERR_INPUT && !e &&
                  strstr(err, "MXFP4_HF"),
              "MXFP4_HF without exponents accepted (%s)", err);
    }
    model_free(&m);

    /* HF half-split RoPE == GGUF permuted rows + adjacent RoPE */
    {
        c = base_cfg();
        tmodel hf, gg;
        model_build(&hf, &c, 5);
        model_build(&gg, &c, 5);
        gg.hp.rope = MS_ROPE_ADJACENT;
        for (int il = 0; il < c.n_layer; il++) {
            permute_rows(&gg, &gg.layers[il].wq, c.n_head, c.d_head);
            permute_rows(&gg, &gg.layers[il].wk, c.n_head_kv, c.d_head);
        }
        make_tokens(tok, 48, c.n_vocab, 11);
        capture a, b;
        cap_init(&a, &hf.hp, 48);
        cap_init(&b, &gg.hp, 48);
        float *la = calloc(48 * 96, sizeof(float)), *lb = calloc(48 * 96, sizeof(float));
        CHECK(run(&hf, 1, tok, 48, &a, la) == 0 && run(&gg, 1, tok, 48, &b, lb) == 0, "runs");
        double maxd = 0;
        for (int i = 0; i < 48 * 96; i++)
            if (fabs(la[i] - lb[i]) > maxd) maxd = fabs(la[i] - lb[i]);
        CHECK(maxd < 1e-4, "rope conventions differ by %g", maxd);
        CHECK(memcmp(a.ids, b.ids, (size_t)(3 * 48 * 2) * sizeof(int32_t)) == 0,
              "rope conventions route differently");
        printf("half vs permuted adjacent rope: logits maxdiff %.2e\n", maxd);
        free(la), free(lb);
        cap_free(&a), cap_free(&b);
        model_free(&hf), model_free(&gg);
    }

    /* determinism across thread counts; probes only observe; routing-only windows */
    {
        c = base_cfg();
        c.n_expert = 16;
        c.k = 4;
        c.d_model = 64;
        c.d_ff = 320; /* several tiles per matrix */
        c.type = MS_TYPE_Q8_0;
        model_build(&m, &c, 6);
        make_tokens(tok, 64, c.n_vocab, 12);
        size_t nl = 64 * (size_t)c.n_vocab;
        float *l1 = calloc(nl, sizeof(float)), *l2 = calloc(nl, sizeof(float));
        float *l3 = calloc(nl, sizeof(float)), *l0 = calloc(nl, sizeof(float));
        capture c1, c2, c3, cr;
        cap_init(&c1, &m.hp, 64), cap_init(&c2, &m.hp, 64), cap_init(&c3, &m.hp, 64);
        cap_init(&cr, &m.hp, 64);
        CHECK(run(&m, 1, tok, 64, &c1, l1) == 0, "1 thread");
        CHECK(run(&m, 2, tok, 64, &c2, l2) == 0, "2 threads");
        CHECK(run(&m, 3, tok, 64, &c3, l3) == 0, "3 threads");
        CHECK(run(&m, 2, tok, 64, NULL, l0) == 0, "no probe");
        size_t nr = (size_t)(c.n_layer * 64);
        CHECK(memcmp(l1, l2, nl * sizeof(float)) == 0 && memcmp(l1, l3, nl * sizeof(float)) == 0,
              "logits depend on the thread count");
        CHECK(memcmp(c1.logits, c2.logits, nr * 16 * sizeof(float)) == 0 &&
                  memcmp(c1.logits, c3.logits, nr * 16 * sizeof(float)) == 0 &&
                  memcmp(c1.ids, c3.ids, nr * 4 * sizeof(int32_t)) == 0 &&
                  memcmp(c1.w, c3.w, nr * 4 * sizeof(float)) == 0,
              "routes depend on the thread count");
        CHECK(memcmp(l0, l2, nl * sizeof(float)) == 0, "a probe changed the logits");

        /* routing-only (no logits): same routes, every layer reported */
        ms_fwd_model v = model_view(&m);
        ms_engine_opts o = {2, 64, 0};
        ms_engine *e;
        char err[256];
        CHECK(ms_engine_open_view(&e, &v, &o, err, sizeof err) == 0, "open: %s", err);
        CHECK(ms_forward(e, tok, 64, probe, &cr, NULL, err, sizeof err) == 0, "%s", err);
        CHECK(cr.calls == c.n_layer, "routing-only hook calls %d", cr.calls);
        CHECK(memcmp(cr.ids, c1.ids, nr * 4 * sizeof(int32_t)) == 0 &&
                  memcmp(cr.logits, c1.logits, nr * 16 * sizeof(float)) == 0,
              "routing-only routes differ");
        /* a probe can stop the pass; input errors */
        cr.stop_at = 1;
        cr.calls = 0;
        CHECK(ms_forward(e, tok, 64, probe, &cr, NULL, err, sizeof err) == MS_ERR_RUNTIME &&
                  cr.calls == 2,
              "stop from the hook");
        CHECK(ms_forward(e, tok, 65, NULL, NULL, NULL, err, sizeof err) == MS_ERR_INPUT,
              "window too large");
        CHECK(ms_forward(e, tok, 0, NULL, NULL, NULL, err, sizeof err) == MS_ERR_INPUT,
              "empty window");
        int32_t bad[2] = {1, 96};
        CHECK(ms_forward(e, bad, 2, NULL, NULL, NULL, err, sizeof err) == MS_ERR_INPUT,
              "token out of range");
        CHECK(ms_forward(e, tok, 4, NULL, NULL, l0, err, sizeof err) == MS_ERR_INPUT,
              "logits without want_logits");
        ms_engine_close(e);

        /* MS_LOGITS_LAST: the last row only, equal to the full run's last row */
        ms_engine_opts ol = {2, 64, MS_LOGITS_LAST};
        CHECK(ms_engine_open_view(&e, &v, &ol, err, sizeof err) == 0, "open: %s", err);
        float *last = calloc((size_t)c.n_vocab, sizeof(float));
        CHECK(ms_forward(e, tok, 64, NULL, NULL, last, err, sizeof err) == 0, "%s", err);
        double md = 0;
        for (int i = 0; i < c.n_vocab; i++)
            if (fabs(last[i] - l1[63 * c.n_vocab + i]) > md)
                md = fabs(last[i] - l1[63 * c.n_vocab + i]);
        CHECK(md < 1e-5, "last-only logits differ by %g", md);
        free(last);
        ms_profile p;
        ms_engine_profile(e, &p);
        CHECK(p.tokens == 64 && p.router > 0 && p.dequant > 0 && p.lm_head > 0, "profile");
        ms_engine_close(e);

        /* a bad shape is an input error naming the tensor */
        m.layers[1].wk.rows = 3;
        v = model_view(&m);
        CHECK(ms_engine_open_view(&e, &v, &o, err, sizeof err) == MS_ERR_INPUT && !e &&
                  strstr(err, "shape"),
              "bad shape accepted (%s)", err);
        free(l0), free(l1), free(l2), free(l3);
        cap_free(&c1), cap_free(&c2), cap_free(&c3), cap_free(&cr);
        model_free(&m);
    }

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("all forward tests passed\n");
    return 0;
}
