/* test_model.c — model files (engine/model.c, safetensors.c, hfconfig.c, fixture.c).
 *
 * Writes fixtures through the library and checks that every format describes the same model:
 * F32 GGUF (stacked and per-expert experts, tied and untied) and F32 safetensors (single file,
 * shards) hold bit-identical weights once GGUF's q/k row permutation is undone (GGUF row
 * h*dh + 2i + s is HF row h*dh + s*dh/2 + i); BF16/F16 safetensors and quantized GGUF files
 * match within the storage type's error; parameter counts equal the closed formula, which
 * reproduces Mixtral 8x7B's published 46.7B / 12.9B; routing of the random weights is not
 * degenerate. Usage: test_model VOCAB_GGUF WORKDIR */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mstest.h"

static const char *vocab, *work;

static char *wpath(const char *name) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", work, name);
    return p;
}

static ms_model *open_model(const char *path) {
    ms_model *m = NULL;
    char err[512] = "";
    ms_model_opts o = {.path = path};
    int rc = ms_model_open(&m, &o, err, sizeof err);
    CHECK(rc == 0 && m, "open %s: %s", path, err);
    return m;
}

/* Row r of x dequantized into dst (with its block scales or exponents, if any). */
static void row(const ms_mat *x, int64_t r, float *dst) {
    ms_mat_dequantize_row(x, r, dst);
}

typedef struct cmp_stats {
    double err2, ref2; /* sum of squared differences and of squared reference values */
    int64_t n_diff;    /* elements not bit-identical */
} cmp_stats;

/* Compares a (possibly q/k-permuted with n_heads > 0) against b, the reference layout. */
static void cmp_mat(const ms_mat *a, const ms_mat *b, int n_heads, cmp_stats *s, const char *what) {
    if (a->rows != b->rows || a->cols != b->cols) {
        CHECK(0, "%s: shapes differ (%lld x %lld vs %lld x %lld)", what, (long long)a->rows,
              (long long)a->cols, (long long)b->rows, (long long)b->cols);
        return;
    }
    float *ra = malloc(sizeof(float) * (size_t)a->cols),
          *rb = malloc(sizeof(float) * (size_t)a->cols);
    const int64_t dh = n_heads > 0 ? a->rows / n_heads : 0;
    for (int64_t r = 0; r < a->rows; r++) {
        int64_t rb_row = r;
        if (n_heads > 0) { /* a's row h*dh + 2i + s holds b's row h*dh + s*dh/2 + i */
            int64_t h = r / dh, j = r % dh, i = j / 2, sgn = j % 2;
            rb_row = h * dh + sgn * dh / 2 + i;
        }
        row(a, r, ra);
        row(b, rb_row, rb);
        for (int64_t c = 0; c < a->cols; c++) {
            double d = (double)ra[c] - (double)rb[c];
            s->err2 += d * d;
            s->ref2 += (double)rb[c] * rb[c];
            if (memcmp(&ra[c], &rb[c], sizeof(float)) != 0) s->n_diff++;
        }
    }
    free(ra);
    free(rb);
}

/* Compares every matrix of models a and b (a may be GGUF, b the HF reference). rope_perm: a's
 * q/k rows are permuted relative to b's. Returns the relative RMS error over all weights;
 * *n_diff counts elements that are not bit-identical. */
static double cmp_models(const ms_model *a, const ms_model *b, int64_t *n_diff) {
    const ms_hparams *ha = ms_model_hparams(a), *hb = ms_model_hparams(b);
    int perm = ha->rope != hb->rope;
    cmp_stats s = {0};
    CHECK(ha->n_vocab == hb->n_vocab && ha->d_model == hb->d_model && ha->n_layer == hb->n_layer &&
              ha->n_head == hb->n_head && ha->n_head_kv == hb->n_head_kv &&
              ha->d_head == hb->d_head && ha->d_ff == hb->d_ff && ha->n_expert == hb->n_expert &&
              ha->n_expert_used == hb->n_expert_used && ha->n_ctx_train == hb->n_ctx_train &&
              ha->sliding_window == hb->sliding_window && ha->rope_theta == hb->rope_theta &&
              ha->norm_eps == hb->norm_eps && ha->tied_embeddings == hb->tied_embeddings,
          "hparams differ");
    cmp_mat(ms_model_tok_embd(a), ms_model_tok_embd(b), 0, &s, "tok_embd");
    cmp_mat(ms_model_out_norm(a), ms_model_out_norm(b), 0, &s, "out_norm");
    cmp_mat(ms_model_lm_head(a), ms_model_lm_head(b), 0, &s, "lm_head");
    for (int il = 0; il < ha->n_layer; il++) {
        const ms_layer *la = ms_model_layer(a, il), *lb = ms_model_layer(b, il);
        cmp_mat(&la->attn_norm, &lb->attn_norm, 0, &s, "attn_norm");
        cmp_mat(&la->wq, &lb->wq, perm ? ha->n_head : 0, &s, "wq");
        cmp_mat(&la->wk, &lb->wk, perm ? ha->n_head_kv : 0, &s, "wk");
        cmp_mat(&la->wv, &lb->wv, 0, &s, "wv");
        cmp_mat(&la->wo, &lb->wo, 0, &s, "wo");
        cmp_mat(&la->ffn_norm, &lb->ffn_norm, 0, &s, "ffn_norm");
        cmp_mat(&la->router, &lb->router, 0, &s, "router");
        for (int e = 0; e < ha->n_expert; e++) {
            cmp_mat(&la->w_gate[e], &lb->w_gate[e], 0, &s, "w_gate");
            cmp_mat(&la->w_up[e], &lb->w_up[e], 0, &s, "w_up");
            cmp_mat(&la->w_down[e], &lb->w_down[e], 0, &s, "w_down");
        }
    }
    if (n_diff) *n_diff = s.n_diff;
    return sqrt(s.err2 / (s.ref2 > 0 ? s.ref2 : 1));
}

static ms_fixture_opts base_opts(int d, int ff) {
    ms_fixture_opts o = {.seed = 42,
                         .d_model = d,
                         .n_layer = 2,
                         .n_head = 4,
                         .n_head_kv = 2,
                         .d_ff = ff,
                         .n_expert = 4,
                         .n_expert_used = 2,
                         .n_ctx = 512,
                         .sliding_window = 0,
                         .rope_theta = 10000.0f,
                         .norm_eps = 1e-5f,
                         .vocab_gguf = vocab};
    return o;
}

static void write_gguf(const ms_fixture_opts *o, int type, const char *name) {
    char err[512] = "";
    int rc = ms_fixture_write_gguf(o, (ms_type)type, wpath(name), err, sizeof err);
    CHECK(rc == 0, "write %s: %s", name, err);
}

static void write_hf(const ms_fixture_opts *o, ms_type t, const char *name, uint64_t shard) {
    char err[512] = "";
    int rc = ms_fixture_write_hf(o, t, wpath(name), shard, err, sizeof err);
    CHECK(rc == 0, "write %s: %s", name, err);
}

static void test_param_formula(void) {
    /* Mixtral-8x7B-v0.1 config.json; 46,702,792,704 total and 12,879,925,248 active are the
     * published counts (model card / paper: 47B and 13B). */
    ms_hparams hp = {.n_vocab = 32000,
                     .d_model = 4096,
                     .n_layer = 32,
                     .n_head = 32,
                     .n_head_kv = 8,
                     .d_head = 128,
                     .d_ff = 14336,
                     .n_expert = 8,
                     .n_expert_used = 2};
    int64_t t, a;
    ms_hparams_param_counts(&hp, &t, &a);
    CHECK(t == 46702792704LL, "Mixtral 8x7B total %lld", (long long)t);
    CHECK(a == 12879925248LL, "Mixtral 8x7B active %lld", (long long)a);
}

static void check_counts(const ms_model *m) {
    int64_t t1, a1, t2, a2;
    ms_model_param_counts(m, &t1, &a1);
    ms_hparams_param_counts(ms_model_hparams(m), &t2, &a2);
    CHECK(t1 == t2 && a1 == a2, "param counts %lld/%lld vs formula %lld/%lld", (long long)t1,
          (long long)a1, (long long)t2, (long long)a2);
}

/* Layer-0 routing of single tokens (router · rmsnorm(embedding)): spread logits and several
 * experts chosen first. */
static void check_routing(const ms_model *m) {
    const ms_hparams *hp = ms_model_hparams(m);
    const ms_layer *L = ms_model_layer(m, 0);
    float *x = malloc(sizeof(float) * (size_t)hp->d_model),
          *g = malloc(sizeof(float) * (size_t)hp->d_model),
          *w = malloc(sizeof(float) * (size_t)hp->d_model);
    int counts[MS_MAX_EXPERTS] = {0};
    double sum = 0, sum2 = 0;
    int64_t n = 0;
    row(&L->attn_norm, 0, g); /* not the ffn norm: no attention here, just a stand-in */
    for (int tok = 100; tok < 600; tok++) {
        row(ms_model_tok_embd(m), tok, x);
        double ms = 0;
        for (int i = 0; i < hp->d_model; i++)
            ms += (double)x[i] * x[i];
        float sc = (float)(1.0 / sqrt(ms / hp->d_model + hp->norm_eps));
        for (int i = 0; i < hp->d_model; i++)
            x[i] *= sc * g[i];
        int best = 0;
        double bv = -1e30;
        for (int e = 0; e < hp->n_expert; e++) {
            row(&L->router, e, w);
            double l = 0;
            for (int i = 0; i < hp->d_model; i++)
                l += (double)w[i] * x[i];
            if (l > bv) bv = l, best = e;
            sum += l, sum2 += l * l, n++;
        }
        counts[best]++;
    }
    double sd = sqrt(sum2 / n - (sum / n) * (sum / n));
    int used = 0;
    for (int e = 0; e < hp->n_expert; e++)
        used += counts[e] > 0;
    CHECK(sd > 0.5 && sd < 3, "router logit std %.3f out of [0.5, 3]", sd);
    CHECK(used == hp->n_expert, "only %d of %d experts chosen first", used, hp->n_expert);
    for (int e = 0; e < hp->n_expert; e++)
        CHECK(counts[e] < 500 * 0.6, "expert %d chosen first for %d of 500 tokens", e, counts[e]);
    free(x);
    free(g);
    free(w);
}

static void test_f32_identity(void) {
    ms_fixture_opts o = base_opts(64, 128);
    write_hf(&o, MS_TYPE_F32, "hf_f32", 0);
    write_hf(&o, MS_TYPE_F32, "hf_f32_sharded", 200000);
    write_hf(&o, MS_TYPE_BF16, "hf_bf16", 0);
    write_gguf(&o, MS_TYPE_F32, "f32.gguf");
    o.expert_layout = 1;
    write_gguf(&o, MS_TYPE_F32, "f32_pe.gguf");
    o.expert_layout = 0;
    o.tied_embeddings = 1;
    write_gguf(&o, MS_TYPE_F32, "f32_tied.gguf");
    write_hf(&o, MS_TYPE_F32, "hf_f32_tied", 0);

    ms_model *hf = open_model(wpath("hf_f32"));
    ms_model *hfs = open_model(wpath("hf_f32_sharded/model.safetensors.index.json"));
    ms_model *hfb = open_model(wpath("hf_bf16/model.safetensors"));
    ms_model *g = open_model(wpath("f32.gguf"));
    ms_model *gp = open_model(wpath("f32_pe.gguf"));
    ms_model *gt = open_model(wpath("f32_tied.gguf"));
    ms_model *hft = open_model(wpath("hf_f32_tied"));
    if (!hf || !hfs || !hfb || !g || !gp || !gt || !hft) goto out;

    CHECK(ms_model_hparams(g)->rope == MS_ROPE_ADJACENT, "GGUF rope kind");
    CHECK(ms_model_hparams(hf)->rope == MS_ROPE_HALF, "HF rope kind");
    CHECK(ms_model_stacked_experts(g) == 1 && ms_model_stacked_experts(gp) == 0, "expert layout");
    CHECK(ms_model_n_files(hfs) >= 5, "sharded: %d files (shards + config + index + tokenizer)",
          ms_model_n_files(hfs));
    int64_t nd;
    double e = cmp_models(g, hf, &nd);
    CHECK(nd == 0, "F32 GGUF vs F32 safetensors: %lld elements differ (rel err %g)", (long long)nd,
          e);
    e = cmp_models(gp, hf, &nd);
    CHECK(nd == 0, "F32 per-expert GGUF vs safetensors: %lld elements differ", (long long)nd);
    e = cmp_models(hfs, hf, &nd);
    CHECK(nd == 0, "sharded vs single safetensors: %lld elements differ", (long long)nd);
    e = cmp_models(gt, hft, &nd);
    CHECK(nd == 0, "tied GGUF vs tied safetensors: %lld elements differ", (long long)nd);
    CHECK(ms_model_hparams(gt)->tied_embeddings &&
              ms_model_lm_head(gt)->data == ms_model_tok_embd(gt)->data,
          "tied GGUF: lm_head is tok_embd");
    /* BF16 keeps 8 significant bits: relative error about 2^-9 */
    e = cmp_models(hfb, hf, &nd);
    CHECK(e > 1e-4 && e < 4e-3, "BF16 vs F32 relative error %g", e);
    printf("F32 GGUF == F32 safetensors (stacked, per-expert, sharded, tied); BF16 rel err %.2e\n",
           e);
    check_counts(g);
    check_counts(hf);
    check_counts(gt);
    check_routing(hf);
    int64_t t, a;
    ms_model_param_counts(g, &t, &a);
    printf("params total %lld active %lld\n", (long long)t, (long long)a);
    char *js = ms_model_describe_json(g);
    CHECK(js && strstr(js, "\"arch\":\"mixtral\"") && strstr(js, "\"n_expert\":4"),
          "describe json: %s", js ? js : "(null)");
    free(js);
out:
    ms_model_close(hf);
    ms_model_close(hfs);
    ms_model_close(hfb);
    ms_model_close(g);
    ms_model_close(gp);
    ms_model_close(gt);
    ms_model_close(hft);
}

/* Quantized GGUF vs F32 safetensors: relative RMS error within the type's precision. The
 * bounds are ~2x the errors of ggml's reference quantizers on Gaussian data. */
static void test_quantized(void) {
    ms_fixture_opts o = base_opts(256, 256);
    o.n_layer = 1;
    write_hf(&o, MS_TYPE_F32, "hf256", 0);
    ms_model *hf = open_model(wpath("hf256"));
    static const struct {
        int type;
        const char *name;
        double lo, hi;
    } cases[] = {{MS_TYPE_F16, "F16", 1e-5, 1e-3},   {MS_TYPE_Q8_0, "Q8_0", 1e-3, 1e-2},
                 {MS_TYPE_Q4_0, "Q4_0", 0.04, 0.15}, {MS_TYPE_Q4_K, "Q4_K", 0.03, 0.12},
                 {MS_TYPE_Q6_K, "Q6_K", 4e-3, 0.03}, {MS_FIXTURE_Q4_K_M, "Q4_K_M", 0.02, 0.12}};
    for (size_t i = 0; hf && i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "q_%s.gguf", cases[i].name);
        write_gguf(&o, cases[i].type, name);
        ms_model *g = open_model(wpath(name));
        if (!g) continue;
        double e = cmp_models(g, hf, NULL);
        printf("%-7s relative RMS error vs F32: %.4g\n", cases[i].name, e);
        CHECK(e >= cases[i].lo && e <= cases[i].hi, "%s: relative error %g outside [%g, %g]",
              cases[i].name, e, cases[i].lo, cases[i].hi);
        const ms_layer *L = ms_model_layer(g, 0);
        if (cases[i].type == MS_FIXTURE_Q4_K_M)
            CHECK(L->wv.type == MS_TYPE_Q6_K && L->wq.type == MS_TYPE_Q4_K &&
                      L->w_down[0].type == MS_TYPE_Q6_K &&
                      ms_model_lm_head(g)->type == MS_TYPE_Q6_K,
                  "Q4_K_M mix types");
        else if (cases[i].type != MS_TYPE_F16)
            CHECK(L->wq.type == (ms_type)cases[i].type, "%s: wq type %s", cases[i].name,
                  ms_type_name(L->wq.type));
        CHECK(L->router.type == MS_TYPE_F32 && L->attn_norm.type == MS_TYPE_F32,
              "norms and router stay F32");
        ms_model_close(g);
    }
    ms_model_close(hf);
    /* rows shorter than a K block fall back to Q8_0 */
    ms_fixture_opts s = base_opts(64, 128);
    write_gguf(&s, MS_TYPE_Q4_K, "q4k_small.gguf");
    ms_model *g = open_model(wpath("q4k_small.gguf"));
    if (g) {
        CHECK(ms_model_layer(g, 0)->wq.type == MS_TYPE_Q8_0, "Q4_K fallback for 64-wide rows: %s",
              ms_type_name(ms_model_layer(g, 0)->wq.type));
        ms_model_close(g);
    }
}

/* Same seed, same weights; different seed, different weights. */
static void test_determinism(void) {
    ms_fixture_opts o = base_opts(64, 128);
    o.n_layer = 1;
    write_gguf(&o, MS_TYPE_F32, "det_a.gguf");
    write_gguf(&o, MS_TYPE_F32, "det_b.gguf");
    o.seed = 43;
    write_gguf(&o, MS_TYPE_F32, "det_c.gguf");
    ms_model *a = open_model(wpath("det_a.gguf")), *b = open_model(wpath("det_b.gguf")),
             *c = open_model(wpath("det_c.gguf"));
    if (a && b && c) {
        int64_t nd;
        cmp_models(a, b, &nd);
        CHECK(nd == 0, "same seed: %lld elements differ", (long long)nd);
        cmp_models(a, c, &nd);
        CHECK(nd > 1000, "different seed: only %lld elements differ", (long long)nd);
    }
    ms_model_close(a);
    ms_model_close(b);
    ms_model_close(c);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_model VOCAB_GGUF WORKDIR\n");
        return 2;
    }
    vocab = argv[1];
    work = argv[2];
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", work);
    for (char *q = parent + 1; *q; q++)
        if (*q == '/') {
            *q = 0;
            mkdir(parent, 0777);
            *q = '/';
        }
    mkdir(work, 0777);
    test_param_formula();
    test_f32_identity();
    test_quantized();
    test_determinism();
    return mstest_result("ok");
}
