/* forward.c — the instrumented Mixtral forward pass over one window of tokens (batched
 * prefill): embeddings, RMSNorm, RoPE, grouped-query causal attention (optionally with a
 * sliding window), the router (forward_router.c) with its probe hook, SwiGLU experts, final
 * norm and lm_head.
 *
 * Speed by design: every projection is one matrix product over the whole window. Weights are
 * never copied whole: a matrix is cut into tiles of rows of bounded size (TILE_BYTES) that a
 * worker multiplies with the window by one of gemm.c's kernels, chosen per matrix (never by
 * the number of tokens, so a token's bits do not depend on its window): the expert, router,
 * dense-FFN and lm_head products use the dot-product kernel, which dequantizes 8 rows x 512
 * columns at a time into its staging block in L1 (mm_stage); the attention projections, whose
 * products always span the whole window, use the packed kernel, dequantizing 256 columns of 32
 * rows at a time straight into its panel layout (mm_pack_tile). Tokens are grouped by expert
 * so each expert runs one product per projection per layer. Attention is two OpenBLAS GEMMs
 * per (document segment, head, block of queries).
 *
 * Determinism: the work is cut into tasks whose shapes do not depend on the thread count,
 * every task writes its own outputs, and no sum is reduced across threads. So routes and
 * logits are bit-identical whatever the thread count. The projections use gemm.c rather than
 * OpenBLAS because its rows do not depend on the batch (kernels.h): a token gets the same bits
 * whichever tokens share its window and its experts, which makes packed windows
 * (ms_forward_packed) identical to one document per pass. Attention keeps OpenBLAS
 * (single-threaded inside each task): its products are per segment, with the same shapes
 * whether the segment is alone or packed.
 *
 * Memory: all scratch is allocated at ms_engine_open for max_tokens; ms_forward allocates
 * nothing. */
#include "forward_int.h"
#include "kernels.h"
#include "msutil.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Target size of one tile of weight rows (as f32), and the row counts that bound it: a task's
 * share of a matrix. Every tile streams the window's activations through the kernel once, so
 * taller tiles read them less often (1 MiB measured 5-8% less CPU than 512 KiB with OpenBLAS,
 * issue 10); results do not depend on it. */
#define TILE_BYTES    (1024 * 1024)
#define TILE_MIN_ROWS 64
/* blocks ahead the staging prefetches weights (engine/forward.c mm_stage) */
#define PF_AHEAD      2
#define TILE_F32_ROWS 256 /* tile height for F32 weights (packed from the mapping, no copy) */
#define ATT_QCHUNK    64  /* queries per attention task */
#define THREAD_PAD    8   /* doubles between per-thread counters (no false sharing) */
#define PACK_CHUNK    256 /* columns dequantized per packing step (a K-quant super-block) */

struct ms_engine {
    ms_fwd_model m;   /* m.layers points at layers below */
    ms_layer *layers; /* [n_layer] copies of the view's layer records */
    ms_hparams hp;
    int64_t max_tokens;
    int want_logits, logits_last_only;
    int n_threads;
    ms_pool *pool;

    float *attn_norm, *ffn_norm; /* (n_layer, d_model) norm weights as f32 */
    /* optional per-layer vectors of the blocks as f32 (NULL when no layer has them) */
    float *bq, *bk, *bv;        /* (n_layer, n_head*d_head), (n_layer, n_head_kv*d_head) x2 */
    float *q_norm, *k_norm;     /* (n_layer, n_head*d_head), (n_layer, n_head_kv*d_head):
                                   the first d_head values for per-head norms */
    float *sh_inp;              /* (n_layer, d_model) shared-expert gate vectors */
    float *ysh;                 /* (T, d_model) shared-expert / dense-MLP output */
    float *sh_g;                /* (T) shared-expert gate logits */
    float attn_scale;           /* 1/sqrt(d_head) unless the family sets its own */
    float *out_norm;            /* (d_model) */
    float *rope_cos, *rope_sin; /* (max_tokens, d_head/2) */

    /* GPT-OSS blocks as f32 (NULL when no layer has them) */
    float *sinks;           /* (n_layer, n_head) attention sink logits */
    float *bo;              /* (n_layer, d_model) output projection biases */
    float *rb;              /* (n_layer, n_expert) router biases */
    float *eb_gate, *eb_up; /* (n_layer, n_expert, d_ff) expert biases */
    float *eb_down;         /* (n_layer, n_expert, d_model) */

    /* activations for a window of T <= max_tokens tokens */
    float *x;          /* (T, d_model) residual stream */
    float *xn;         /* (T, d_model) normed input of a block / block output */
    float *q;          /* (T, n_head*d_head) */
    float *k, *v;      /* (T, n_head_kv*d_head) */
    float *att;        /* (T, n_head*d_head) attention output before wo */
    float *r_logits;   /* (T, n_expert) */
    float *r_probs;    /* (T, n_expert) */
    int32_t *r_ids;    /* (T, k) */
    float *r_p;        /* (T, k) selected probabilities */
    float *r_w;        /* (T, k) applied weights */
    int64_t *e_off;    /* (n_expert + 1) first grouped row of each expert */
    int64_t *e_fill;   /* (n_expert) */
    int32_t *g_tok;    /* (T*k) token of each grouped row (expert-major, tokens ascending) */
    int64_t *slot_row; /* (T, k) grouped row of (token, slot) */
    int32_t *pos;      /* (T) position of each row in its document segment */
    int64_t *ch_base;  /* (T) attention chunks: first row of the chunk's segment */
    int64_t *ch_q0;    /* (T) first query of the chunk, relative to its segment */
    int64_t *ch_len;   /* (T) length of the chunk's segment */
    float *xe;         /* (T, d_model) gathered inputs of one expert */
    float *gate, *up;  /* (T, d_ff) */
    float *ye;         /* (T*k, d_model) expert outputs, grouped rows */

    /* per-thread scratch */
    size_t tile_elems;  /* floats per thread */
    float *tiles;       /* (n_threads, tile_elems) */
    size_t panel_elems; /* floats per thread: a tile packed for ms_gemm_packed */
    float *panels;      /* (n_threads, panel_elems) */
    float *scores;      /* (n_threads, ATT_QCHUNK * max_tokens) */
    double *t_dequant;  /* (n_threads * THREAD_PAD) seconds */
    ms_mla *mla;        /* DeepSeek latent attention's scratch (hp.mla), else NULL */

    ms_profile prof;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------------------------------
 * Tiled matrix products: Y (m, rows) = X (m, cols) · Wᵀ, W in its stored type.
 */

static int mat_direct(const ms_mat *w) {
    return w->type == MS_TYPE_F32 && ((uintptr_t)w->data % sizeof(float)) == 0 &&
           w->row_bytes == (size_t)w->cols * sizeof(float);
}

/* Tile height for a matrix: depends on the matrix only (never on the thread count). */
static int64_t tile_rows(const ms_mat *w) {
    int64_t r;
    if (mat_direct(w)) {
        r = TILE_F32_ROWS;
    } else {
        r = (int64_t)(TILE_BYTES / sizeof(float)) / w->cols;
        r = r / MS_GEMM_NR * MS_GEMM_NR;
        if (r < TILE_MIN_ROWS) r = TILE_MIN_ROWS;
    }
    return r < w->rows ? r : w->rows;
}

typedef struct mm_job {
    const ms_mat *w;
    const float *x; /* (m, w->cols), leading dimension ldx */
    int64_t ldx, m;
    float *y; /* (m, w->rows), leading dimension ldy */
    int64_t ldy;
    int64_t tile, n_tiles;
    int packed; /* the tile packed into panels for ms_gemm_packed, else the dot kernel */
} mm_job;

typedef struct mm_step {
    ms_engine *e;
    int n_jobs;
    mm_job jobs[3];
    int64_t n_tasks;
} mm_step;

static void mm_add(mm_step *s, const ms_mat *w, const float *x, int64_t ldx, int64_t m, float *y,
                   int64_t ldy) {
    assert(s->n_jobs < 3);
    mm_job *j = &s->jobs[s->n_jobs++];
    j->packed = 0;
    j->w = w;
    j->x = x;
    j->ldx = ldx;
    j->m = m;
    j->y = y;
    j->ldy = ldy;
    j->tile = tile_rows(w);
    j->n_tiles = (w->rows + j->tile - 1) / j->tile;
    s->n_tasks += j->n_tiles;
}

typedef struct mm_rows {
    const ms_mat *w;
    int64_t r0, nr; /* the tile's rows */
    double *t_dequant;
} mm_rows;

/* ms_gemm_rows_fn: nr rows of a tile, columns [k0, k0 + kc), as f32 rows of kc (copied,
 * converted or dequantized into the kernel's staging block in L1), prefetching the block the
 * next call stages: 8 interleaved rows defeat the hardware prefetcher. */
/* The block ms_gemm_dot_run stages after rows [r0, r0 + 8) x columns [k0, k0 + kc): the next
 * 8 rows of the RB-row group, then the group's next column block, then the next group. */
static void mm_next(const mm_rows *c, int64_t *r0, int64_t *k0) {
    int64_t b0 = *r0 - *r0 % MS_GEMM_DOT_RB;
    *r0 += MS_GEMM_DOT_ROWS;
    if (*r0 >= b0 + MS_GEMM_DOT_RB || *r0 >= c->nr) {
        *k0 += MS_GEMM_DOT_KC, *r0 = b0;
        if (*k0 >= c->w->cols) *k0 = 0, *r0 = b0 + MS_GEMM_DOT_RB;
    }
}

/* Prefetches the block of rows [r0, r0 + 8) and columns [k0, k0 + KC) into L2 (prefetcht1:
 * prefetched into L1 instead, the full pass at the Mixtral F16 shape ran 10% slower). */
static void mm_prefetch(const mm_rows *c, int64_t r0, int64_t k0) {
    const ms_mat *w = c->w;
    if (r0 >= c->nr) return;
    int64_t kc = w->cols - k0 < MS_GEMM_DOT_KC ? w->cols - k0 : MS_GEMM_DOT_KC;
    size_t off = ms_type_row_bytes(w->type, k0), nb = ms_type_row_bytes(w->type, kc);
    for (int64_t r = r0; r < r0 + MS_GEMM_DOT_ROWS && r < c->nr; r++) {
        const uint8_t *p = w->data + (size_t)(c->r0 + r) * w->row_bytes + off;
        for (size_t o = 0; o < nb; o += 64)
            __builtin_prefetch(p + o, 0, 2);
        if (w->type == MS_TYPE_MXFP4_HF) /* the block exponents, 1/16 of the codes */
            for (int64_t o = 0; o < kc / 32; o += 64)
                __builtin_prefetch(w->escale + (c->r0 + r) * w->scale_ld + k0 / 32 + o, 0, 2);
    }
}

/* ms_gemm_rows_fn: nr rows of a tile, columns [k0, k0 + kc), as f32 rows of kc (copied,
 * converted or dequantized into the kernel's staging block in L1), prefetching the block the
 * call after next stages (PF_AHEAD blocks ahead: 8 interleaved rows defeat the hardware
 * prefetcher, and one block of compute does not hide a DRAM miss per row). */
static void mm_stage(void *ctx, int64_t r0, int nr, int64_t k0, int64_t kc, float *dst) {
    const mm_rows *c = ctx;
    const ms_mat *w = c->w;
    size_t off = ms_type_row_bytes(w->type, k0);
    int64_t pr = r0, pk = k0;
    for (int a = 0; a < PF_AHEAD; a++) {
        mm_next(c, &pr, &pk);
        /* at a tile's start, the blocks before that one too */
        if (a == PF_AHEAD - 1 || (r0 == 0 && k0 == 0)) mm_prefetch(c, pr, pk);
    }
    /* the profile's dequantization time: every 8th block timed, counted 8 times (a clock
     * read per block cost 1.5% of a pass) */
    int timed = ((r0 / MS_GEMM_DOT_ROWS) & 7) == 0;
    double t0 = timed ? now_s() : 0.0;
    for (int r = 0; r < nr; r++) {
        const uint8_t *src = w->data + (size_t)(c->r0 + r0 + r) * w->row_bytes + off;
        ms_fwd_dequant_mat_row(w, src, c->r0 + r0 + r, k0, dst + r * kc, kc);
    }
    if (timed) *c->t_dequant += 8.0 * (now_s() - t0);
}

/* A tile packed into the thread's panel: dequantized PACK_CHUNK columns of NR rows at a time
 * into the staging area (in L1) and packed straight from there. */
static void mm_pack_tile(ms_engine *e, const ms_mat *w, int64_t r0, int64_t nr, int th,
                         float *panel) {
    if (mat_direct(w)) {
        ms_gemm_pack((const float *)(const void *)(w->data + (size_t)r0 * w->row_bytes), w->cols,
                     nr, w->cols, panel);
        return;
    }
    int64_t be = ms_type_block_elems(w->type);
    int64_t ch = w->cols % PACK_CHUNK == 0 && PACK_CHUNK % be == 0 ? PACK_CHUNK : w->cols;
    size_t ch_bytes = ms_type_row_bytes(w->type, ch);
    float *stage = e->tiles + (size_t)th * e->tile_elems; /* (NR, ch) */
    for (int64_t p0 = 0; p0 < nr; p0 += MS_GEMM_NR) {
        int64_t nc = nr - p0 < MS_GEMM_NR ? nr - p0 : MS_GEMM_NR;
        assert((size_t)(nc * ch) <= e->tile_elems);
        float *pp = panel + (size_t)(p0 / MS_GEMM_NR) * (size_t)w->cols * MS_GEMM_NR;
        for (int64_t k0 = 0; k0 < w->cols; k0 += ch) {
            for (int64_t r = 0; r < nc; r++) {
                const uint8_t *src =
                    w->data + (size_t)(r0 + p0 + r) * w->row_bytes + (size_t)(k0 / ch) * ch_bytes;
                if (k0 + ch < w->cols) /* the row's next chunk: 32 rows defeat prefetchers */
                    for (size_t o = 0; o < ch_bytes; o += 64)
                        __builtin_prefetch(src + ch_bytes + o);
                ms_fwd_dequant_mat_row(w, src, r0 + p0 + r, k0, stage + r * ch, ch);
            }
            ms_gemm_pack_part(stage, ch, nc, ch, pp + (size_t)k0 * MS_GEMM_NR);
        }
    }
}

static void mm_task(void *ctx, int64_t t, int th) {
    mm_step *s = ctx;
    ms_engine *e = s->e;
    const mm_job *j = s->jobs;
    while (t >= j->n_tiles) {
        t -= j->n_tiles;
        j++;
    }
    const ms_mat *w = j->w;
    int64_t r0 = t * j->tile;
    int64_t nr = w->rows - r0 < j->tile ? w->rows - r0 : j->tile;
    if (j->packed) {
        float *panel = e->panels + (size_t)th * e->panel_elems;
        assert(ms_gemm_packed_elems(nr, w->cols) <= e->panel_elems);
        double t0 = now_s();
        mm_pack_tile(e, w, r0, nr, th, panel);
        e->t_dequant[th * THREAD_PAD] += now_s() - t0;
        ms_gemm_packed(j->m, nr, w->cols, j->x, j->ldx, panel, j->y + r0, j->ldy);
        return;
    }
    mm_rows c = {w, r0, nr, &e->t_dequant[th * THREAD_PAD]};
    assert(ms_gemm_dot_scratch_elems() <= e->tile_elems);
    ms_gemm_dot_run(j->m, nr, w->cols, j->x, j->ldx, mm_stage, &c, j->y + r0, j->ldy,
                    e->tiles + (size_t)th * e->tile_elems);
}

static void mm_run(ms_engine *e, mm_step *s) {
    s->e = e;
    ms_pool_run(e->pool, mm_task, s, s->n_tasks);
}

/* Y (m, w->rows) = X (m, w->cols) · Wᵀ with contiguous X and Y. */
static void matmul(ms_engine *e, const ms_mat *w, const float *x, int64_t m, float *y) {
    mm_step s = {0};
    mm_add(&s, w, x, w->cols, m, y, w->rows);
    mm_run(e, &s);
}

/* An attention projection: the packed kernel (the product spans the whole window). */
void ms_fwd_matmul(ms_engine *e, const ms_mat *w, const float *x, int64_t ldx, int64_t m, float *y,
                   int64_t ldy) {
    mm_step s = {0};
    mm_add(&s, w, x, ldx, m, y, ldy);
    s.jobs[0].packed = 1;
    mm_run(e, &s);
}

ms_pool *ms_fwd_pool(ms_engine *e) {
    return e->pool;
}

/* ----------------------------------------------------------------------------------------
 * Elementwise pieces.
 */

/* y = x / sqrt(mean(x²) + eps) · w for each of n rows of d. */
static void rmsnorm(float *y, const float *x, const float *w, int64_t n, int d, float eps) {
    for (int64_t t = 0; t < n; t++) {
        const float *xr = x + t * d;
        float *yr = y + t * d;
        double ss = 0.0;
        for (int i = 0; i < d; i++)
            ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / d + (double)eps));
        for (int i = 0; i < d; i++)
            yr[i] = xr[i] * scale * w[i];
    }
}

void ms_fwd_rmsnorm(float *y, const float *x, const float *w, int64_t n, int d, float eps) {
    rmsnorm(y, x, w, n, d, eps);
}

/* YaRN's correction dimension: the pair index whose wavelength makes n_turns turns over the
 * original context (ggml_rope_yarn_corr_dim). */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double n_turns, double base) {
    return n_dims * log(n_ctx_orig / (n_turns * 2 * 3.14159265358979323846)) / (2 * log(base));
}

void ms_rope_cos_sin(const ms_hparams *hp, int64_t pos, float *cos_out, float *sin_out) {
    int nr = hp->n_rot > 0 ? hp->n_rot : hp->d_head, half = nr / 2;
    double fs = hp->rope_freq_scale > 0.0f ? (double)hp->rope_freq_scale : 1.0;
    double ext = hp->rope_yarn ? (double)hp->yarn_ext_factor : 0.0;
    double mscale = hp->rope_yarn ? (double)hp->yarn_attn_factor : 1.0;
    double lo = 0, hi = 0;
    if (ext != 0.0) {
        /* ggml_rope_yarn_corr_dims: pairs below lo extrapolate, above hi interpolate */
        int orig = hp->rope_orig_ctx > 0 ? hp->rope_orig_ctx : hp->n_ctx_train;
        lo = yarn_corr_dim(nr, orig, hp->yarn_beta_fast, hp->rope_theta);
        hi = yarn_corr_dim(nr, orig, hp->yarn_beta_slow, hp->rope_theta);
        if (!hp->yarn_no_truncate) {
            lo = floor(lo);
            hi = ceil(hi);
        }
        lo = lo > 0 ? lo : 0;
        hi = hi < nr - 1 ? hi : nr - 1;
        mscale *= 1.0 + 0.1 * log(1.0 / fs);
    }
    for (int i = 0; i < half; i++) {
        /* the unscaled angle p·θ^(-2i/n_rot), in double as before scaling existed */
        double extrap = (double)pos * pow((double)hp->rope_theta, -2.0 * (double)i / (double)nr);
        double ang = fs == 1.0 ? extrap : fs * extrap;
        if (ext != 0.0) {
            double y = (i - lo) / (hi - lo > 0.001 ? hi - lo : 0.001);
            double mix = (1.0 - (y < 0 ? 0 : y > 1 ? 1 : y)) * ext;
            ang = ang * (1.0 - mix) + extrap * mix;
        }
        cos_out[i] = (float)(cos(ang) * mscale);
        sin_out[i] = (float)(sin(ang) * mscale);
    }
}

/* Rotates n_heads heads of d_head in each of n rows (stride ld), row t at position pos[t]. */
static void rope(const ms_engine *e, float *x, int64_t n, int64_t ld, int n_heads) {
    int dh = e->hp.d_head, half = (e->hp.n_rot > 0 ? e->hp.n_rot : dh) / 2;
    for (int64_t t = 0; t < n; t++) {
        const float *c = e->rope_cos + (int64_t)e->pos[t] * half;
        const float *s = e->rope_sin + (int64_t)e->pos[t] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + t * ld + (int64_t)h * dh;
            for (int i = 0; i < half; i++) {
                int a, b;
                if (e->hp.rope == MS_ROPE_ADJACENT) {
                    a = 2 * i;
                    b = 2 * i + 1;
                } else {
                    a = i;
                    b = i + half;
                }
                float x0 = v[a], x1 = v[b];
                v[a] = x0 * c[i] - x1 * s[i];
                v[b] = x0 * s[i] + x1 * c[i];
            }
        }
    }
}

/* ----------------------------------------------------------------------------------------
 * Attention: one task per (head, block of ATT_QCHUNK queries): S = Q Kᵀ/√d over the visible
 * keys, masked softmax, O = S V. Key j is visible to query i when j <= i and, with a sliding
 * window W, i - j < W.
 */

typedef struct attn_ctx {
    ms_engine *e;
    int64_t window;     /* the layer's sliding window (0: none) */
    const float *sinks; /* (n_head) sink logits of the layer, or NULL */
} attn_ctx;

/* y[i] = exp(y[i] - mx) for y[i] <= mx: the attention softmax's exponentials, n_layer·n_head·T²/2
 * of them for a window of T tokens. Cephes' expf: n = round(x·log2 e), r = x - n·ln 2 in two
 * parts, a degree-6 polynomial, times 2^n; within 1 ulp of glibc expf (every 16th float of
 * [-90, 0] checked), and 0 below -87.3 where expf
 * underflows. Measured on the 0.8B bench model, one 2048-token window, 1 thread: attention
 * 3.1-3.8 s -> 2.6-2.9 s of an 11-12.5 s pass. Every element takes the same arithmetic (the
 * tail runs the same vector code), so results depend only on the values, never on where a row
 * starts or which thread runs it. */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.33654f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(x, lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    p = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, p);
}

static void exp_shifted(float *y, int64_t n, float mx) {
    const __m256 m = _mm256_set1_ps(mx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(y + i), m)));
    if (i < n) {
        float t[8] = {0};
        for (int64_t j = i; j < n; j++)
            t[j - i] = y[j] - mx;
        _mm256_storeu_ps(t, exp8(_mm256_loadu_ps(t)));
        for (int64_t j = i; j < n; j++)
            y[j] = t[j - i];
    }
}
#else
static void exp_shifted(float *y, int64_t n, float mx) {
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(y[i] - mx);
}
#endif

void ms_fwd_exp_shifted(float *y, int64_t n, float mx) {
    exp_shifted(y, n, mx);
}

static void attn_task(void *ctx, int64_t t, int th) {
    attn_ctx *a = ctx;
    ms_engine *e = a->e;
    const ms_hparams *hp = &e->hp;
    int h = (int)(t % hp->n_head);
    int64_t c = t / hp->n_head, seg_n = e->ch_len[c];
    int64_t q0 = e->ch_q0[c];
    int64_t q1 = q0 + ATT_QCHUNK < seg_n ? q0 + ATT_QCHUNK : seg_n;
    int64_t W = a->window;
    int64_t k0 = (W > 0 && q0 - W + 1 > 0) ? q0 - W + 1 : 0;
    int64_t nq = q1 - q0, nk = q1 - k0;
    int dh = hp->d_head;
    int kvh = h / (hp->n_head / hp->n_head_kv);
    int64_t ldq = (int64_t)hp->n_head * dh, ldk = (int64_t)hp->n_head_kv * dh;
    float *S = e->scores + (size_t)th * ATT_QCHUNK * (size_t)e->max_tokens; /* (nq, nk) */
    /* the chunk's document segment, rows [base, base + seg_n) of the window: everything below
     * is relative to it, so a segment computes exactly what it would alone in a window */
    const float *Q = e->q + e->ch_base[c] * ldq, *Kr = e->k + e->ch_base[c] * ldk;
    const float *V = e->v + e->ch_base[c] * ldk;
    float *O = e->att + e->ch_base[c] * ldq;

    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, dh, e->attn_scale,
                Q + q0 * ldq + (int64_t)h * dh, (int)ldq, Kr + k0 * ldk + (int64_t)kvh * dh,
                (int)ldk, 0.0f, S, (int)nk);
    for (int64_t i = 0; i < nq; i++) {
        int64_t pos = q0 + i;
        int64_t lo = (W > 0 && pos - W + 1 > k0) ? pos - W + 1 : k0; /* first visible key */
        float *row = S + i * nk;
        int64_t jlo = lo - k0, jhi = pos - k0; /* visible: [jlo, jhi] */
        float mx = -INFINITY;
        for (int64_t j = jlo; j <= jhi; j++)
            if (row[j] > mx) mx = row[j];
        /* a sink joins the softmax as one more logit (not scaled) and is then dropped */
        if (a->sinks && a->sinks[h] > mx) mx = a->sinks[h];
        for (int64_t j = 0; j < jlo; j++)
            row[j] = 0.0f;
        for (int64_t j = jhi + 1; j < nk; j++)
            row[j] = 0.0f;
        exp_shifted(row + jlo, jhi - jlo + 1, mx);
        double sum = 0.0;
        for (int64_t j = jlo; j <= jhi; j++)
            sum += row[j];
        if (a->sinks) sum += (double)expf(a->sinks[h] - mx);
        float inv = (float)(1.0 / sum);
        for (int64_t j = jlo; j <= jhi; j++)
            row[j] *= inv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, dh, (int)nk, 1.0f, S, (int)nk,
                V + k0 * ldk + (int64_t)kvh * dh, (int)ldk, 0.0f, O + q0 * ldq + (int64_t)h * dh,
                (int)ldq);
}

/* ----------------------------------------------------------------------------------------
 * Open / close.
 */

static int check_mat(const ms_mat *w, int64_t rows, int64_t cols, const char *what, char *err,
                     size_t errlen) {
    const char *name = w && w->name ? w->name : what;
    if (!w || !w->data) {
        snprintf(err, errlen, "forward: missing tensor %s", what);
        return MS_ERR_INPUT;
    }
    if (w->rows != rows || w->cols != cols) {
        snprintf(err, errlen, "forward: %s has shape (%lld, %lld), expected (%lld, %lld)", name,
                 (long long)w->rows, (long long)w->cols, (long long)rows, (long long)cols);
        return MS_ERR_INPUT;
    }
    int64_t be = ms_type_block_elems(w->type);
    /* MXFP4_HF views may have rows further apart (interleaved gate/up) and need exponents */
    int hf4 = w->type == MS_TYPE_MXFP4_HF;
    if (!ms_type_supported(w->type) || be <= 0 || cols % be != 0 ||
        (hf4 ? w->row_bytes < ms_type_row_bytes(w->type, cols) || !w->escale ||
                   w->scale_ld < cols / be
             : w->row_bytes != ms_type_row_bytes(w->type, cols))) {
        snprintf(err, errlen, "forward: %s: unsupported type %s for rows of %lld", name,
                 ms_type_name(w->type), (long long)cols);
        return MS_ERR_INPUT;
    }
    return 0;
}

static int check_model(const ms_fwd_model *m, char *err, size_t errlen) {
    const ms_hparams *hp = &m->hp;
    if (hp->n_vocab < 1 || hp->d_model < 1 || hp->n_layer < 1 || hp->n_head < 1 ||
        hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv != 0 || hp->d_head < 2 ||
        hp->d_head % 2 != 0 || hp->d_ff < 1 || hp->n_expert < 1 || hp->n_expert > MS_MAX_EXPERTS ||
        hp->n_expert_used < 1 || hp->n_expert_used > hp->n_expert ||
        hp->n_expert_used > MS_MAX_TOPK || hp->sliding_window < 0 || !(hp->rope_theta > 0.0f) ||
        !(hp->norm_eps >= 0.0f) || hp->n_rot < 0 || hp->n_rot > hp->d_head || hp->n_rot % 2 ||
        !(hp->rope_freq_scale >= 0.0f) ||
        (hp->rope_yarn && (!(hp->yarn_attn_factor > 0.0f) || !(hp->yarn_beta_fast > 0.0f) ||
                           !(hp->yarn_beta_slow > 0.0f) || !isfinite(hp->yarn_ext_factor))) ||
        hp->d_ff_shared < 0 || hp->d_ff_dense < 0 || (int)hp->router < 0 ||
        hp->router > MS_ROUTER_DS_SIGMOID || (hp->router >= MS_ROUTER_DS_SOFTMAX && !hp->mla) ||
        !(hp->embd_scale >= 0.0f) || !(hp->attn_scale >= 0.0f) || !(hp->residual_scale >= 0.0f) ||
        !(hp->logit_scale >= 0.0f)) {
        snprintf(err, errlen, "forward: inconsistent hyper-parameters");
        return MS_ERR_INPUT;
    }
    int64_t d = hp->d_model, qd = (int64_t)hp->n_head * hp->d_head;
    int64_t kvd = (int64_t)hp->n_head_kv * hp->d_head;
    int rc;
    if ((rc = check_mat(m->tok_embd, hp->n_vocab, d, "token_embd", err, errlen)) ||
        (rc = check_mat(m->out_norm, 1, d, "output_norm", err, errlen)) ||
        (rc = check_mat(m->lm_head, hp->n_vocab, d, "output", err, errlen)))
        return rc;
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_layer *L = &m->layers[il];
        if ((rc = check_mat(&L->attn_norm, 1, d, "attn_norm", err, errlen)) ||
            (hp->mla && (rc = ms_mla_check_layer(hp, L, il, err, errlen))) ||
            (!hp->mla && (rc = check_mat(&L->wq, qd, d, "attn_q", err, errlen))) ||
            (!hp->mla && (rc = check_mat(&L->wk, kvd, d, "attn_k", err, errlen))) ||
            (!hp->mla && (rc = check_mat(&L->wv, kvd, d, "attn_v", err, errlen))) ||
            (!hp->mla && (rc = check_mat(&L->wo, d, qd, "attn_output", err, errlen))) ||
            (rc = check_mat(&L->ffn_norm, 1, d, "ffn_norm", err, errlen)))
            return rc;
        const ms_block *b = &L->blk;
        if (b->qkv_bias && ((rc = check_mat(&L->bq, 1, qd, "attn_q.bias", err, errlen)) ||
                            (rc = check_mat(&L->bk, 1, kvd, "attn_k.bias", err, errlen)) ||
                            (rc = check_mat(&L->bv, 1, kvd, "attn_v.bias", err, errlen))))
            return rc;
        if (b->qk_norm != MS_QK_NORM_NONE) {
            int full = b->qk_norm == MS_QK_NORM_FULL;
            if ((rc = check_mat(&L->q_norm, 1, full ? qd : hp->d_head, "attn_q_norm", err,
                                errlen)) ||
                (rc =
                     check_mat(&L->k_norm, 1, full ? kvd : hp->d_head, "attn_k_norm", err, errlen)))
                return rc;
        }
        if ((b->attn_sinks &&
             (rc = check_mat(&L->sinks, 1, hp->n_head, "attn_sinks", err, errlen))) ||
            (b->o_bias && (rc = check_mat(&L->bo, 1, d, "attn_output.bias", err, errlen))))
            return rc;
        if (b->ffn == MS_FFN_DENSE) {
            if (hp->d_ff_dense < 1) {
                snprintf(err, errlen, "forward: layer %d is dense but d_ff_dense is %d", il,
                         hp->d_ff_dense);
                return MS_ERR_INPUT;
            }
            if ((rc = check_mat(&L->ffn_gate, hp->d_ff_dense, d, "ffn_gate", err, errlen)) ||
                (rc = check_mat(&L->ffn_up, hp->d_ff_dense, d, "ffn_up", err, errlen)) ||
                (rc = check_mat(&L->ffn_down, d, hp->d_ff_dense, "ffn_down", err, errlen)))
                return rc;
            continue;
        }
        if (b->shared_expert) {
            if (hp->d_ff_shared < 1) {
                snprintf(err, errlen, "forward: layer %d has a shared expert but d_ff_shared is %d",
                         il, hp->d_ff_shared);
                return MS_ERR_INPUT;
            }
            if ((!b->shared_nogate &&
                 (rc = check_mat(&L->sh_inp, 1, d, "ffn_gate_inp_shexp", err, errlen))) ||
                (rc = check_mat(&L->sh_gate, hp->d_ff_shared, d, "ffn_gate_shexp", err, errlen)) ||
                (rc = check_mat(&L->sh_up, hp->d_ff_shared, d, "ffn_up_shexp", err, errlen)) ||
                (rc = check_mat(&L->sh_down, d, hp->d_ff_shared, "ffn_down_shexp", err, errlen)))
                return rc;
        }
        if ((rc = check_mat(&L->router, hp->n_expert, d, "ffn_gate_inp", err, errlen))) return rc;
        if (b->router_bias &&
            (rc = check_mat(&L->router_b, 1, hp->n_expert, "ffn_gate_inp.bias", err, errlen)))
            return rc;
        if (b->expert_bias &&
            ((rc = check_mat(&L->b_gate, hp->n_expert, hp->d_ff, "ffn_gate_exps.bias", err,
                             errlen)) ||
             (rc = check_mat(&L->b_up, hp->n_expert, hp->d_ff, "ffn_up_exps.bias", err, errlen)) ||
             (rc = check_mat(&L->b_down, hp->n_expert, d, "ffn_down_exps.bias", err, errlen))))
            return rc;
        if (b->expert_bias && !(hp->swiglu_limit > 0.0f && hp->swiglu_alpha > 0.0f)) {
            snprintf(err, errlen, "forward: layer %d has expert biases but no SwiGLU limit", il);
            return MS_ERR_INPUT;
        }
        if (!L->w_gate || !L->w_up || !L->w_down) {
            snprintf(err, errlen, "forward: layer %d has no experts", il);
            return MS_ERR_INPUT;
        }
        for (int x = 0; x < hp->n_expert; x++)
            if ((rc = check_mat(&L->w_gate[x], hp->d_ff, d, "ffn_gate", err, errlen)) ||
                (rc = check_mat(&L->w_up[x], hp->d_ff, d, "ffn_up", err, errlen)) ||
                (rc = check_mat(&L->w_down[x], d, hp->d_ff, "ffn_down", err, errlen)))
                return rc;
    }
    return 0;
}

/* Row r of matrix w as f32 into dst (w->cols values), with its scales if it has them. */
static void rows_to_f32(const ms_mat *w, int64_t r, float *dst) {
    const uint8_t *src = w->data + (size_t)r * w->row_bytes;
    ms_fwd_dequant_mat_row(w, src, r, 0, dst, w->cols);
}

static void vec_to_f32(const ms_mat *w, float *dst) {
    rows_to_f32(w, 0, dst);
}

/* Scratch of a packed-kernel (attention) matrix, per thread: its tile's panel, and the staging
 * of mm_pack_tile (NR rows of PACK_CHUNK columns, or of all columns when they do not divide). */
static size_t panel_need(const ms_mat *w) {
    return w->data ? ms_gemm_packed_elems(tile_rows(w), w->cols) : 0;
}

static size_t pack_stage_need(const ms_mat *w) {
    return (size_t)MS_GEMM_NR * (size_t)(w->data && w->cols % PACK_CHUNK ? w->cols : PACK_CHUNK);
}

void ms_engine_close(ms_engine *e) {
    if (!e) return;
    ms_pool_free(e->pool);
    ms_mla_close(e->mla);
    free(e->layers);
    float *bufs[] = {e->attn_norm, e->ffn_norm, e->out_norm, e->rope_cos, e->rope_sin, e->x,
                     e->xn,        e->q,        e->k,        e->v,        e->att,      e->r_logits,
                     e->r_probs,   e->r_p,      e->r_w,      e->xe,       e->gate,     e->up,
                     e->ye,        e->tiles,    e->scores,   e->panels};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(e->r_ids);
    free(e->e_off);
    free(e->e_fill);
    free(e->g_tok);
    free(e->slot_row);
    float *opt[] = {e->bq, e->bk, e->bv, e->q_norm, e->k_norm, e->sh_inp, e->ysh, e->sh_g};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
        free(opt[i]);
    float *oai[] = {e->sinks, e->bo, e->rb, e->eb_gate, e->eb_up, e->eb_down};
    for (size_t i = 0; i < sizeof oai / sizeof oai[0]; i++)
        free(oai[i]);
    free(e->pos);
    free(e->ch_base);
    free(e->ch_q0);
    free(e->ch_len);
    free(e->t_dequant);
    free(e);
}

static void *xcalloc(size_t n, size_t size, int *fail) {
    if (n == 0) n = 1;
    void *p = calloc(n, size);
    if (!p) *fail = 1;
    return p;
}

int ms_engine_open_view(ms_engine **out, const ms_fwd_model *m, const ms_engine_opts *opts,
                        char *err, size_t errlen) {
    *out = NULL;
    int rc = check_model(m, err, errlen);
    if (rc) return rc;
    int64_t T = opts && opts->max_tokens > 0 ? opts->max_tokens : 2048;
    if (T > (int64_t)1 << 24) {
        snprintf(err, errlen, "forward: max_tokens %lld is too large", (long long)T);
        return MS_ERR_INPUT;
    }
    int nth = opts ? opts->n_threads : 0;
    if (nth <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        nth = nc > 0 ? (int)nc : 1;
    }
    if (nth > 256) nth = 256;

    ms_engine *e = calloc(1, sizeof *e);
    if (!e) goto oom;
    const ms_hparams *hp = &m->hp;
    e->hp = *hp;
    e->m = *m;
    e->max_tokens = T;
    e->want_logits = opts ? opts->want_logits : 0;
    e->logits_last_only = e->want_logits == MS_LOGITS_LAST;
    e->n_threads = nth;
    int fail = 0;
    size_t d = (size_t)hp->d_model, L = (size_t)hp->n_layer, E = (size_t)hp->n_expert;
    size_t K = (size_t)hp->n_expert_used, F = (size_t)hp->d_ff, t = (size_t)T;
    const size_t F0 = (size_t)hp->d_ff; /* the experts' width (F may grow below) */
    if ((size_t)hp->d_ff_shared > F) F = (size_t)hp->d_ff_shared; /* gate/up scratch serves */
    if ((size_t)hp->d_ff_dense > F) F = (size_t)hp->d_ff_dense;   /* every FFN of the model */
    size_t qd = (size_t)hp->n_head * (size_t)hp->d_head;
    size_t kvd = (size_t)hp->n_head_kv * (size_t)hp->d_head,
           half = (size_t)(hp->n_rot > 0 ? hp->n_rot : hp->d_head) / 2;

    e->layers = xcalloc(L, sizeof *e->layers, &fail);
    e->attn_norm = xcalloc(L * d, sizeof(float), &fail);
    e->ffn_norm = xcalloc(L * d, sizeof(float), &fail);
    e->out_norm = xcalloc(d, sizeof(float), &fail);
    e->rope_cos = xcalloc(t * half, sizeof(float), &fail);
    e->rope_sin = xcalloc(t * half, sizeof(float), &fail);
    e->x = xcalloc(t * d, sizeof(float), &fail);
    e->xn = xcalloc(t * d, sizeof(float), &fail);
    e->q = xcalloc(t * qd, sizeof(float), &fail);
    e->k = xcalloc(t * kvd, sizeof(float), &fail);
    e->v = xcalloc(t * kvd, sizeof(float), &fail);
    e->att = xcalloc(t * qd, sizeof(float), &fail);
    e->r_logits = xcalloc(t * E, sizeof(float), &fail);
    e->r_probs = xcalloc(t * E, sizeof(float), &fail);
    e->r_ids = xcalloc(t * K, sizeof(int32_t), &fail);
    e->r_p = xcalloc(t * K, sizeof(float), &fail);
    e->r_w = xcalloc(t * K, sizeof(float), &fail);
    e->e_off = xcalloc(E + 1, sizeof(int64_t), &fail);
    e->e_fill = xcalloc(E, sizeof(int64_t), &fail);
    e->g_tok = xcalloc(t * K, sizeof(int32_t), &fail);
    e->slot_row = xcalloc(t * K, sizeof(int64_t), &fail);
    e->pos = xcalloc(t, sizeof(int32_t), &fail);
    e->ch_base = xcalloc(t, sizeof(int64_t), &fail);
    e->ch_q0 = xcalloc(t, sizeof(int64_t), &fail);
    e->ch_len = xcalloc(t, sizeof(int64_t), &fail);
    e->xe = xcalloc(t * d, sizeof(float), &fail);
    e->gate = xcalloc(t * F, sizeof(float), &fail);
    e->up = xcalloc(t * F, sizeof(float), &fail);
    e->ye = xcalloc(t * K * d, sizeof(float), &fail);
    e->t_dequant = xcalloc((size_t)nth * THREAD_PAD, sizeof(double), &fail);
    e->scores = xcalloc((size_t)nth * ATT_QCHUNK * t, sizeof(float), &fail);
    e->attn_scale =
        hp->attn_scale > 0.0f ? hp->attn_scale : (float)(1.0 / sqrt((double)hp->d_head));
    int any_bias = 0, any_qkn = 0, any_sh = 0, any_dense = 0, any_oai = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_block *b = &m->layers[il].blk;
        any_bias |= b->qkv_bias;
        any_qkn |= b->qk_norm != MS_QK_NORM_NONE;
        any_sh |= b->ffn == MS_FFN_MOE && b->shared_expert;
        any_dense |= b->ffn == MS_FFN_DENSE;
        any_oai |= b->attn_sinks | b->o_bias | b->router_bias | b->expert_bias;
    }
    if (any_oai) {
        e->sinks = xcalloc(L * (size_t)hp->n_head, sizeof(float), &fail);
        e->bo = xcalloc(L * d, sizeof(float), &fail);
        e->rb = xcalloc(L * E, sizeof(float), &fail);
        e->eb_gate = xcalloc(L * E * (size_t)hp->d_ff, sizeof(float), &fail);
        e->eb_up = xcalloc(L * E * (size_t)hp->d_ff, sizeof(float), &fail);
        e->eb_down = xcalloc(L * E * d, sizeof(float), &fail);
    }
    if (any_bias) {
        e->bq = xcalloc(L * qd, sizeof(float), &fail);
        e->bk = xcalloc(L * kvd, sizeof(float), &fail);
        e->bv = xcalloc(L * kvd, sizeof(float), &fail);
    }
    if (any_qkn) {
        e->q_norm = xcalloc(L * qd, sizeof(float), &fail);
        e->k_norm = xcalloc(L * kvd, sizeof(float), &fail);
    }
    if (any_sh) {
        e->sh_inp = xcalloc(L * d, sizeof(float), &fail);
        e->sh_g = xcalloc(t, sizeof(float), &fail);
    }
    if (any_sh || any_dense) e->ysh = xcalloc(t * d, sizeof(float), &fail);
    if (fail) goto oom;

    /* the dot kernel's scratch (the same for every matrix), and the attention matrices' */
    size_t need = ms_gemm_dot_scratch_elems(), pneed = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_layer *ly = &m->layers[il];
        e->layers[il] = *ly;
        vec_to_f32(&ly->attn_norm, e->attn_norm + il * d);
        vec_to_f32(&ly->ffn_norm, e->ffn_norm + il * d);
        const ms_block *b = &ly->blk;
        if (b->qkv_bias) {
            vec_to_f32(&ly->bq, e->bq + il * qd);
            vec_to_f32(&ly->bk, e->bk + il * kvd);
            vec_to_f32(&ly->bv, e->bv + il * kvd);
        }
        if (b->qk_norm != MS_QK_NORM_NONE) {
            vec_to_f32(&ly->q_norm, e->q_norm + il * qd);
            vec_to_f32(&ly->k_norm, e->k_norm + il * kvd);
        }
        if (b->ffn == MS_FFN_MOE && b->shared_expert && !b->shared_nogate)
            vec_to_f32(&ly->sh_inp, e->sh_inp + il * d);
        if (b->attn_sinks) vec_to_f32(&ly->sinks, e->sinks + il * (size_t)hp->n_head);
        if (b->o_bias) vec_to_f32(&ly->bo, e->bo + il * d);
        if (b->ffn == MS_FFN_MOE && b->router_bias) vec_to_f32(&ly->router_b, e->rb + il * E);
        if (b->ffn == MS_FFN_MOE && b->expert_bias)
            for (size_t x = 0; x < E; x++) {
                rows_to_f32(&ly->b_gate, (int64_t)x, e->eb_gate + (il * E + x) * F0);
                rows_to_f32(&ly->b_up, (int64_t)x, e->eb_up + (il * E + x) * F0);
                rows_to_f32(&ly->b_down, (int64_t)x, e->eb_down + (il * E + x) * d);
            }
        const ms_mat *attn[] = {&ly->wq,   &ly->wk,    &ly->wv,    &ly->wo,  &ly->wq_a,
                                &ly->wq_b, &ly->wkv_a, &ly->wkv_b, &ly->wv_b};
        for (size_t i = 0; i < sizeof attn / sizeof attn[0]; i++) {
            if (pack_stage_need(attn[i]) > need) need = pack_stage_need(attn[i]);
            if (panel_need(attn[i]) > pneed) pneed = panel_need(attn[i]);
        }
    }
    vec_to_f32(m->out_norm, e->out_norm);
    e->m.layers = e->layers;
    /* A router holding NaN/Inf would route every token to experts 0, 1 with NaN weights:
     * refuse the model here, naming the tensor (E x d values per layer: cheap). */
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_mat *r = &m->layers[il].router;
        for (int64_t x = 0; x < r->rows; x++) {
            rows_to_f32(r, x, e->xn);
            double sum = 0.0;
            for (size_t i = 0; i < d; i++)
                sum += (double)e->xn[i];
            if (!isfinite(sum)) {
                snprintf(err, errlen,
                         "%s: layer %d: router tensor %s holds NaN/Inf (row of expert %lld)",
                         m->source ? m->source : "forward", il, r->name ? r->name : "ffn_gate_inp",
                         (long long)x);
                ms_text_safe_inplace(err, errlen); /* the name comes from the file */
                ms_engine_close(e);
                return MS_ERR_INPUT;
            }
        }
    }
    e->tile_elems = need;
    e->tiles = xcalloc((size_t)nth * need, sizeof(float), &fail);
    e->panel_elems = pneed;
    e->panels = xcalloc((size_t)nth * pneed, sizeof(float), &fail);
    if (fail) goto oom;

    /* RoPE table over the rotated pairs of each position */
    for (size_t p = 0; p < t; p++)
        ms_rope_cos_sin(hp, (int64_t)p, e->rope_cos + p * half, e->rope_sin + p * half);

    /* Our own tasks run sgemm: one OpenBLAS thread each keeps results independent of the
     * thread count (OpenBLAS's own splitting would not) and avoids oversubscription. */
    openblas_set_num_threads(1);
    if (ms_pool_create(&e->pool, nth) != 0) goto oom;
    if (hp->mla && ms_mla_open(&e->mla, hp, T, ATT_QCHUNK, nth) != 0) goto oom;
    *out = e;
    return 0;
oom:
    ms_engine_close(e);
    snprintf(err, errlen, "forward: out of memory for a window of %lld tokens", (long long)T);
    return MS_ERR_RUNTIME;
}

/* ----------------------------------------------------------------------------------------
 * The pass.
 */

/* gate = silu(gate) * up, elementwise over (cnt, d_ff), in chunks of SWIGLU_CHUNK. */
#define SWIGLU_CHUNK 16384
typedef struct swiglu_ctx {
    float *gate;
    const float *up;
    int64_t n;
} swiglu_ctx;

static void swiglu_task(void *ctx, int64_t t, int th) {
    swiglu_ctx *c = ctx;
    int64_t i0 = t * SWIGLU_CHUNK, i1 = i0 + SWIGLU_CHUNK < c->n ? i0 + SWIGLU_CHUNK : c->n;
    for (int64_t i = i0; i < i1; i++) {
        float g = c->gate[i];
        c->gate[i] = g / (1.0f + expf(-g)) * c->up[i];
    }
}

/* y (n, d_model) = down(silu(gate x) * up x) for x (n, d_model): a dense MLP layer or a
 * shared expert, over the whole window. */
static void mlp(ms_engine *e, const ms_mat *wg, const ms_mat *wu, const ms_mat *wd, const float *x,
                int64_t n, float *y) {
    int64_t d = e->hp.d_model, F = wg->rows;
    mm_step s = {0};
    mm_add(&s, wg, x, d, n, e->gate, F);
    mm_add(&s, wu, x, d, n, e->up, F);
    mm_run(e, &s);
    swiglu_ctx sc = {e->gate, e->up, n * F};
    ms_pool_run(e->pool, swiglu_task, &sc, (n * F + SWIGLU_CHUNK - 1) / SWIGLU_CHUNK);
    matmul(e, wd, e->gate, n, y);
}

/* x += s * y over n rows of d (s = 0: plain add, the families without a residual multiplier,
 * bit-identical to before multipliers existed). */
static void residual_add(float *x, const float *y, int64_t nd, float s) {
    if (s > 0.0f)
        for (int64_t i = 0; i < nd; i++)
            x[i] += s * y[i];
    else
        for (int64_t i = 0; i < nd; i++)
            x[i] += y[i];
}

/* x (n, d) += b (d) on every row. */
static void add_rows(float *x, const float *b, int64_t n, int64_t d) {
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < d; i++)
            x[t * d + i] += b[i];
}

/* GPT-OSS experts: gate += bg, up += bu, then ggml's swiglu_oai elementwise:
 * gate = min(gate, limit) / (1 + exp(-alpha min(gate, limit))) * (clamp(up, ±limit) + 1). */
typedef struct swiglu_oai_ctx {
    float *gate;
    float *up;
    int64_t n, F;
    const float *bg, *bu; /* (F) the expert's biases */
    float limit, alpha;
} swiglu_oai_ctx;

static void swiglu_oai_task(void *ctx, int64_t t, int th) {
    swiglu_oai_ctx *c = ctx;
    (void)th;
    int64_t i0 = t * SWIGLU_CHUNK, i1 = i0 + SWIGLU_CHUNK < c->n ? i0 + SWIGLU_CHUNK : c->n;
    const float lim = c->limit;
    for (int64_t i = i0; i < i1; i++) {
        int64_t j = i % c->F;
        float g = c->gate[i] + c->bg[j], u = c->up[i] + c->bu[j];
        float x = g < lim ? g : lim;
        float y = u < -lim ? -lim : u > lim ? lim : u;
        float glu = x / (1.f + expf(c->alpha * (-x)));
        c->gate[i] = glu * (y + 1.f);
    }
}

/* Dense MLP layer: the residual gets mlp(xn). */
static void dense_ffn(ms_engine *e, const ms_layer *ly, int64_t n) {
    int64_t d = e->hp.d_model;
    mlp(e, &ly->ffn_gate, &ly->ffn_up, &ly->ffn_down, e->xn, n, e->ysh);
    residual_add(e->x, e->ysh, n * d, e->hp.residual_scale);
}

/* Experts of one layer over the grouped tokens; adds the weighted sum (plus the shared
 * expert's gated output, when the block has one) to the residual. */
static void moe_ffn(ms_engine *e, const ms_layer *ly, int il, int64_t n) {
    const ms_hparams *hp = &e->hp;
    int E = hp->n_expert, K = hp->n_expert_used;
    int64_t d = hp->d_model, F = hp->d_ff;

    /* group (token, slot) pairs by expert; tokens ascending inside each expert */
    for (int x = 0; x <= E; x++)
        e->e_off[x] = 0;
    for (int64_t t = 0; t < n * K; t++)
        e->e_off[e->r_ids[t] + 1]++;
    for (int x = 0; x < E; x++) {
        e->e_off[x + 1] += e->e_off[x];
        e->e_fill[x] = e->e_off[x];
    }
    for (int64_t t = 0; t < n; t++)
        for (int s = 0; s < K; s++) {
            int x = e->r_ids[t * K + s];
            int64_t row = e->e_fill[x]++;
            e->g_tok[row] = (int32_t)t;
            e->slot_row[t * K + s] = row;
        }

    for (int x = 0; x < E; x++) {
        int64_t r0 = e->e_off[x], cnt = e->e_off[x + 1] - r0;
        if (cnt == 0) continue;
        for (int64_t i = 0; i < cnt; i++)
            memcpy(e->xe + i * d, e->xn + (int64_t)e->g_tok[r0 + i] * d, (size_t)d * sizeof(float));
        mm_step s = {0};
        mm_add(&s, &ly->w_gate[x], e->xe, d, cnt, e->gate, F);
        mm_add(&s, &ly->w_up[x], e->xe, d, cnt, e->up, F);
        mm_run(e, &s);
        if (ly->blk.expert_bias) {
            const int64_t eo = (int64_t)il * E + x;
            swiglu_oai_ctx oc = {e->gate,
                                 e->up,
                                 cnt * F,
                                 F,
                                 e->eb_gate + eo * F,
                                 e->eb_up + eo * F,
                                 hp->swiglu_limit,
                                 hp->swiglu_alpha};
            ms_pool_run(e->pool, swiglu_oai_task, &oc, (cnt * F + SWIGLU_CHUNK - 1) / SWIGLU_CHUNK);
            matmul(e, &ly->w_down[x], e->gate, cnt, e->ye + r0 * d);
            add_rows(e->ye + r0 * d, e->eb_down + eo * d, cnt, d);
            continue;
        }
        swiglu_ctx sc = {e->gate, e->up, cnt * F};
        ms_pool_run(e->pool, swiglu_task, &sc, (cnt * F + SWIGLU_CHUNK - 1) / SWIGLU_CHUNK);
        matmul(e, &ly->w_down[x], e->gate, cnt, e->ye + r0 * d);
    }

    /* shared expert: sigmoid(sh_inp . x) * mlp(x), on the normed input (still in xn);
     * DeepSeek's shared experts have no gate (weight 1) */
    int shared = ly->blk.shared_expert;
    if (shared) {
        mlp(e, &ly->sh_gate, &ly->sh_up, &ly->sh_down, e->xn, n, e->ysh);
        const float *g = e->sh_inp + (int64_t)il * d;
        for (int64_t t = 0; t < n && ly->blk.shared_nogate; t++)
            e->sh_g[t] = 1.0f;
        for (int64_t t = 0; t < n && !ly->blk.shared_nogate; t++) {
            const float *xr = e->xn + t * d;
            double dot = 0.0;
            for (int64_t i = 0; i < d; i++)
                dot += (double)g[i] * xr[i];
            e->sh_g[t] = 1.0f / (1.0f + expf(-(float)dot));
        }
    }

    /* weighted sum in rank order, then the residual */
    for (int64_t t = 0; t < n; t++) {
        float *xr = e->x + t * d, *acc = e->xn + t * d;
        const float *w = e->r_w + t * K;
        const float *y0 = e->ye + e->slot_row[t * K] * d;
        for (int64_t i = 0; i < d; i++)
            acc[i] = w[0] * y0[i];
        for (int s = 1; s < K; s++) {
            const float *ys = e->ye + e->slot_row[t * K + s] * d;
            for (int64_t i = 0; i < d; i++)
                acc[i] += w[s] * ys[i];
        }
        if (shared) {
            const float sg = e->sh_g[t], *ysh = e->ysh + t * d;
            for (int64_t i = 0; i < d; i++)
                acc[i] += sg * ysh[i];
        }
        residual_add(xr, acc, d, hp->residual_scale);
    }
}

/* Biases and QK-norm of a block on q (n, qd) and k (n, kvd), before RoPE. */
static void qk_prepare(ms_engine *e, const ms_layer *ly, int il, int64_t n) {
    const ms_hparams *hp = &e->hp;
    int64_t qd = (int64_t)hp->n_head * hp->d_head, kvd = (int64_t)hp->n_head_kv * hp->d_head;
    const ms_block *b = &ly->blk;
    if (b->qkv_bias) {
        const float *bq = e->bq + il * qd, *bk = e->bk + il * kvd, *bv = e->bv + il * kvd;
        for (int64_t t = 0; t < n; t++) {
            for (int64_t i = 0; i < qd; i++)
                e->q[t * qd + i] += bq[i];
            for (int64_t i = 0; i < kvd; i++) {
                e->k[t * kvd + i] += bk[i];
                e->v[t * kvd + i] += bv[i];
            }
        }
    }
    if (b->qk_norm == MS_QK_NORM_FULL) {
        rmsnorm(e->q, e->q, e->q_norm + il * qd, n, (int)qd, hp->norm_eps);
        rmsnorm(e->k, e->k, e->k_norm + il * kvd, n, (int)kvd, hp->norm_eps);
    } else if (b->qk_norm == MS_QK_NORM_HEAD) {
        /* every head of every row is a row of d_head */
        rmsnorm(e->q, e->q, e->q_norm + il * qd, n * hp->n_head, hp->d_head, hp->norm_eps);
        rmsnorm(e->k, e->k, e->k_norm + il * kvd, n * hp->n_head_kv, hp->d_head, hp->norm_eps);
    }
}

/* 1 when all n values are finite: one double sum (a NaN or Inf anywhere makes it non-finite;
 * finite floats cannot overflow a double), n = window * E, once per layer. */
static int logits_finite(const float *v, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)v[i];
    return isfinite(sum);
}

int ms_forward(ms_engine *e, const int32_t *tokens, int64_t n, ms_route_hook hook, void *user,
               float *logits, char *err, size_t errlen) {
    return ms_forward_packed(e, tokens, &n, 1, hook, user, logits, err, errlen);
}

int ms_forward_packed(ms_engine *e, const int32_t *tokens, const int64_t *seg_len, int64_t n_seg,
                      ms_route_hook hook, void *user, float *logits, char *err, size_t errlen) {
    const ms_hparams *hp = &e->hp;
    int64_t n = 0, n_chunks = 0;
    for (int64_t sg = 0; sg < n_seg; sg++) {
        if (seg_len[sg] < 1 || seg_len[sg] > e->max_tokens - n) {
            snprintf(err, errlen,
                     "forward: segment %lld of %lld tokens does not fit a window of %lld tokens "
                     "after %lld",
                     (long long)sg, (long long)seg_len[sg], (long long)e->max_tokens, (long long)n);
            return MS_ERR_INPUT;
        }
        for (int64_t i = 0; i < seg_len[sg]; i++)
            e->pos[n + i] = (int32_t)i;
        for (int64_t q0 = 0; q0 < seg_len[sg]; q0 += ATT_QCHUNK) {
            e->ch_base[n_chunks] = n;
            e->ch_q0[n_chunks] = q0;
            e->ch_len[n_chunks] = seg_len[sg];
            n_chunks++;
        }
        n += seg_len[sg];
    }
    if (n_seg < 1 || n < 1 || n > e->max_tokens) {
        snprintf(err, errlen, "forward: window of %lld tokens (capacity %lld)", (long long)n,
                 (long long)e->max_tokens);
        return MS_ERR_INPUT;
    }
    if (logits && !e->want_logits) {
        snprintf(err, errlen, "forward: logits asked for but the engine was opened without them");
        return MS_ERR_INPUT;
    }
    for (int64_t t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab) {
            snprintf(err, errlen, "forward: token %lld has id %d outside the vocabulary (%d)",
                     (long long)t, (int)tokens[t], hp->n_vocab);
            return MS_ERR_INPUT;
        }
    int64_t d = hp->d_model, qd = (int64_t)hp->n_head * hp->d_head;
    int64_t kvd = (int64_t)hp->n_head_kv * hp->d_head;
    int E = hp->n_expert, K = hp->n_expert_used;
    double t0 = now_s(), t1;
    /* OpenBLAS's thread count is process-wide: someone may have raised it since open. With
     * more than one, its results change with the count (measured on 0.3.21: thousands of
     * elements differ between 1 and 2 threads) and our tasks would oversubscribe. */
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);

    const ms_mat *emb = e->m.tok_embd;
    for (int64_t t = 0; t < n; t++) {
        rows_to_f32(emb, tokens[t], e->x + t * d);
    }
    if (hp->embd_scale > 0.0f)
        for (int64_t i = 0; i < n * d; i++)
            e->x[i] *= hp->embd_scale;
    t1 = now_s();
    e->prof.other += t1 - t0;
    t0 = t1;

    for (int il = 0; il < hp->n_layer; il++) {
        const ms_layer *ly = &e->layers[il];
        int last = il == hp->n_layer - 1;

        /* attention block */
        rmsnorm(e->xn, e->x, e->attn_norm + il * d, n, (int)d, hp->norm_eps);
        if (hp->mla) { /* DeepSeek latent attention: xn in, the block's output in xn */
            ms_mla_window win = {e->pos, e->ch_base, e->ch_q0, e->ch_len, n_chunks};
            ms_mla_attention(e->mla, e, ly, hp, e->xn, n, &win);
            goto attn_residual;
        }
        mm_step s = {0};
        mm_add(&s, &ly->wq, e->xn, d, n, e->q, qd);
        mm_add(&s, &ly->wk, e->xn, d, n, e->k, kvd);
        mm_add(&s, &ly->wv, e->xn, d, n, e->v, kvd);
        for (int i = 0; i < s.n_jobs; i++)
            s.jobs[i].packed = 1;
        mm_run(e, &s);
        qk_prepare(e, ly, il, n);
        rope(e, e->q, n, qd, hp->n_head);
        rope(e, e->k, n, kvd, hp->n_head_kv);
        attn_ctx ac = {e, ly->blk.full_attn ? 0 : hp->sliding_window,
                       ly->blk.attn_sinks ? e->sinks + (int64_t)il * hp->n_head : NULL};
        ms_pool_run(e->pool, attn_task, &ac, (int64_t)hp->n_head * n_chunks);
        ms_fwd_matmul(e, &ly->wo, e->att, qd, n, e->xn, d);
        if (ly->blk.o_bias) add_rows(e->xn, e->bo + il * d, n, d);
    attn_residual:
        residual_add(e->x, e->xn, n * d, hp->residual_scale);
        t1 = now_s();
        e->prof.attention += t1 - t0;
        t0 = t1;

        /* router */
        rmsnorm(e->xn, e->x, e->ffn_norm + il * d, n, (int)d, hp->norm_eps);
        if (ly->blk.ffn == MS_FFN_DENSE) { /* no router: the hook does not see this layer */
            if (last && !logits) break;
            dense_ffn(e, ly, n);
            t1 = now_s();
            e->prof.experts += t1 - t0;
            t0 = t1;
            continue;
        }
        matmul(e, &ly->router, e->xn, n, e->r_logits);
        if (ly->blk.router_bias) add_rows(e->r_logits, e->rb + (int64_t)il * E, n, E);
        if (!logits_finite(e->r_logits, n * E)) {
            int64_t bad = 0;
            while (bad < n * E && isfinite(e->r_logits[bad]))
                bad++;
            int64_t row = bad / E, seg = 0; /* the row's segment and its position there */
            for (int64_t r = 1; r <= row && r < n; r++)
                seg += e->pos[r] == 0;
            char where[64] = "";
            if (n_seg > 1) snprintf(where, sizeof where, " of segment %lld", (long long)seg);
            snprintf(err, errlen,
                     "%s: layer %d: router logits are not finite at window position %lld%s "
                     "(NaN/Inf in %s or in the hidden state)",
                     e->m.source ? e->m.source : "forward", il,
                     (long long)(row < n ? e->pos[row] : row), where,
                     ly->router.name ? ly->router.name : "ffn_gate_inp");
            ms_text_safe_inplace(err, errlen);
            return MS_ERR_INPUT;
        }
        const int ds_router = hp->router >= MS_ROUTER_DS_SOFTMAX;
        if (ds_router &&
            ms_mla_route(e->mla, hp, ly, e->r_logits, n, e->r_probs, e->r_ids, e->r_w)) {
            snprintf(err, errlen, "%s: layer %d: inconsistent DeepSeek router configuration",
                     e->m.source ? e->m.source : "forward", il);
            ms_text_safe_inplace(err, errlen);
            return MS_ERR_INPUT;
        }
        for (int64_t t = 0; t < n && !ds_router; t++) {
            ms_router_probs(e->r_logits + t * E, E, e->r_probs + t * E);
            ms_router_topk(e->r_probs + t * E, E, K, e->r_ids + t * K, e->r_p + t * K);
            ms_router_weights(hp->router, e->r_p + t * K, K, e->r_w + t * K);
        }
        /* llama.cpp: weights *= expert_weights_scale unless it is 0 or 1 */
        if (hp->expert_weights_scale != 0.0f && hp->expert_weights_scale != 1.0f)
            for (int64_t i = 0; i < n * K; i++)
                e->r_w[i] *= hp->expert_weights_scale;
        t1 = now_s();
        e->prof.router += t1 - t0;
        t0 = t1;
        if (hook) {
            ms_route_event ev = {
                il, n, 0, E, K, e->r_logits, e->r_ids, e->r_w, ds_router ? e->r_probs : NULL};
            int hr = hook(user, &ev);
            t1 = now_s();
            e->prof.other += t1 - t0;
            t0 = t1;
            if (hr != 0) {
                snprintf(err, errlen, "forward: the route hook stopped the pass at layer %d", il);
                return MS_ERR_RUNTIME;
            }
        }

        /* experts (routing-only windows skip the last layer's) */
        if (last && !logits) break;
        moe_ffn(e, ly, il, n);
        t1 = now_s();
        e->prof.experts += t1 - t0;
        t0 = t1;
    }

    if (logits) {
        int64_t r0 = e->logits_last_only ? n - 1 : 0; /* rows [r0, n) get logits */
        rmsnorm(e->xn + r0 * d, e->x + r0 * d, e->out_norm, n - r0, (int)d, hp->norm_eps);
        matmul(e, e->m.lm_head, e->xn + r0 * d, n - r0, logits);
        if (hp->logit_scale > 0.0f && hp->logit_scale != 1.0f) {
            const float inv = 1.0f / hp->logit_scale;
            for (int64_t i = 0; i < (n - r0) * hp->n_vocab; i++)
                logits[i] *= inv;
        }
        t1 = now_s();
        e->prof.lm_head += t1 - t0;
    }
    e->prof.tokens += n;
    return 0;
}

void ms_engine_profile(const ms_engine *e, ms_profile *p) {
    *p = e->prof;
    p->dequant = 0.0;
    for (int i = 0; i < e->n_threads; i++)
        p->dequant += e->t_dequant[i * THREAD_PAD];
}
