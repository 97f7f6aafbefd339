/* test_forward_packed.c — documents packed into one window (ms_forward_packed) give routes,
 * router logits, weights and lm_head logits bit-identical to each document alone in its own
 * window (ms_forward), on F32, F16, Q8_0 and Q4_K_M fixtures, with and without a sliding window,
 * with 1, 2 and 3 threads; and bad segment lists are refused.
 *
 * Documents have lengths that cross the attention chunk (64) and the kernel's register block (8)
 * boundaries, a one-token document, and a document filling most of the window.
 *
 * usage: test_forward_packed VOCAB.gguf WORK_DIR */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstest.h"

#define MAX_T 200

/* What the hook saw, token-major per layer: (n_layer, n, E) logits, (n_layer, n, k) ids and
 * weights, for n tokens starting at row `at` of the buffers. */
typedef struct seen {
    int n_layer, E, k;
    int64_t cap, at;
    float *r_logits;
    int32_t *ids;
    float *w;
} seen;

static int keep(void *user, const ms_route_event *ev) {
    seen *s = user;
    size_t base = (size_t)ev->layer * (size_t)s->cap + (size_t)s->at;
    memcpy(s->r_logits + base * s->E, ev->logits, (size_t)(ev->n_tokens * s->E) * sizeof(float));
    memcpy(s->ids + base * s->k, ev->ids, (size_t)(ev->n_tokens * s->k) * sizeof(int32_t));
    memcpy(s->w + base * s->k, ev->weights, (size_t)(ev->n_tokens * s->k) * sizeof(float));
    return 0;
}

static void seen_init(seen *s, const ms_hparams *hp, int64_t cap) {
    s->n_layer = hp->n_layer;
    s->E = hp->n_expert;
    s->k = hp->n_expert_used;
    s->cap = cap;
    s->at = 0;
    s->r_logits = calloc((size_t)(hp->n_layer * cap * s->E), sizeof(float));
    s->ids = calloc((size_t)(hp->n_layer * cap * s->k), sizeof(int32_t));
    s->w = calloc((size_t)(hp->n_layer * cap * s->k), sizeof(float));
}

static void seen_free(seen *s) {
    free(s->r_logits), free(s->ids), free(s->w);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* Packs docs (lengths len[0..nd)) greedily into windows of at most MAX_T tokens, runs them
 * packed and alone, compares everything bit for bit. */
static void compare(const char *path, const char *what, int threads, const int32_t *tok,
                    const int64_t *len, int nd) {
    char err[512];
    ms_model *m;
    ms_model_opts mo = {path};
    if (ms_model_open(&m, &mo, err, sizeof err) != 0) {
        CHECK(0, "open %s: %s", path, err);
        return;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    int64_t total = 0;
    for (int i = 0; i < nd; i++)
        total += len[i];
    seen a, b;
    seen_init(&a, hp, total);
    seen_init(&b, hp, total);
    float *la = calloc((size_t)(total * hp->n_vocab), sizeof(float));
    float *lb = calloc((size_t)(total * hp->n_vocab), sizeof(float));
    ms_engine_opts eo = {threads, MAX_T, MS_LOGITS_ALL};
    ms_engine *e = NULL;
    int rc = ms_engine_open(&e, m, &eo, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    int64_t t0 = 0;
    for (int i = 0; rc == 0 && i < nd; t0 += len[i], i++) { /* one document per pass */
        a.at = t0;
        rc = ms_forward(e, tok + t0, len[i], keep, &a, la + t0 * hp->n_vocab, err, sizeof err);
        CHECK(rc == 0, "%s: alone: %s", what, err);
    }
    int windows = 0;
    t0 = 0;
    for (int i = 0; rc == 0 && i < nd;) { /* packed */
        int j = i;
        int64_t n = 0;
        while (j < nd && n + len[j] <= MAX_T)
            n += len[j++];
        b.at = t0;
        rc = ms_forward_packed(e, tok + t0, len + i, j - i, keep, &b, lb + t0 * hp->n_vocab, err,
                               sizeof err);
        CHECK(rc == 0, "%s: packed: %s", what, err);
        windows++;
        t0 += n;
        i = j;
    }
    CHECK(windows < nd, "%s: nothing was packed (%d windows for %d documents)", what, windows, nd);
    if (rc == 0) {
        size_t nl = (size_t)hp->n_layer * (size_t)total;
        int64_t bad_ids = 0, bad_w = 0, bad_rl = 0, bad_l = 0;
        for (size_t i = 0; i < nl * (size_t)a.k; i++) {
            bad_ids += a.ids[i] != b.ids[i];
            bad_w += memcmp(&a.w[i], &b.w[i], sizeof(float)) != 0;
        }
        for (size_t i = 0; i < nl * (size_t)a.E; i++)
            bad_rl += memcmp(&a.r_logits[i], &b.r_logits[i], sizeof(float)) != 0;
        for (int64_t i = 0; i < total * hp->n_vocab; i++)
            bad_l += memcmp(&la[i], &lb[i], sizeof(float)) != 0;
        CHECK(bad_ids == 0 && bad_w == 0 && bad_rl == 0 && bad_l == 0,
              "%s, %d threads: packed differs from one document per pass: %lld expert ids, %lld "
              "weights, %lld router logits, %lld logits",
              what, threads, (long long)bad_ids, (long long)bad_w, (long long)bad_rl,
              (long long)bad_l);
        /* the comparison can fail: a shifted segment boundary must change something */
        if (threads == 1) {
            int64_t l2[2] = {len[0] - 1, len[1] + 1};
            b.at = 0;
            rc = ms_forward_packed(e, tok, l2, 2, keep, &b, lb, err, sizeof err);
            CHECK(rc == 0 && memcmp(la, lb, (size_t)((len[0] + len[1]) * hp->n_vocab) * 4) != 0,
                  "%s: moving a document boundary changed nothing", what);
        }
    }
    if (threads == 1 && e) { /* refusals */
        int64_t z[2] = {3, 0}, big[2] = {MAX_T, 1}, one = 1;
        CHECK(ms_forward_packed(e, tok, z, 2, NULL, NULL, NULL, err, sizeof err) == MS_ERR_INPUT,
              "empty segment accepted");
        CHECK(ms_forward_packed(e, tok, big, 2, NULL, NULL, NULL, err, sizeof err) == MS_ERR_INPUT,
              "segments over the window accepted");
        CHECK(ms_forward_packed(e, tok, &one, 0, NULL, NULL, NULL, err, sizeof err) == MS_ERR_INPUT,
              "zero segments accepted");
    }
    ms_engine_close(e);
    seen_free(&a);
    seen_free(&b);
    free(la);
    free(lb);
    ms_model_close(m);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_forward_packed VOCAB.gguf WORK_DIR\n");
        return 2;
    }
    const int64_t len[] = {37, 1, 70, 9, 64, 65, 5, 150, 17, 8, 100, 23, 3, 130, 2};
    const int nd = (int)(sizeof len / sizeof len[0]);
    int64_t total = 0;
    for (int i = 0; i < nd; i++)
        total += len[i];
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)total);
    for (int64_t i = 0; i < total; i++)
        tok[i] = 1 + (int32_t)(rnd() % 31000);
    struct {
        ms_type type;
        const char *name;
        int window;
    } cases[] = {{MS_TYPE_F32, "F32", 0},
                 {MS_TYPE_F16, "F16", 0},
                 {MS_TYPE_Q8_0, "Q8_0", 48},
                 {(ms_type)MS_FIXTURE_Q4_K_M, "Q4_K_M", 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/packed_%s.gguf", argv[2], cases[c].name);
        ms_fixture_opts o;
        memset(&o, 0, sizeof o);
        o.seed = 7 + c;
        o.d_model = 256;
        o.n_layer = 2;
        o.n_head = 4;
        o.n_head_kv = 2;
        o.d_ff = 256;
        o.n_expert = 8;
        o.n_expert_used = 2;
        o.n_ctx = 4096;
        o.sliding_window = cases[c].window;
        o.rope_theta = 10000.0f;
        o.norm_eps = 1e-5f;
        o.vocab_gguf = argv[1];
        if (ms_fixture_write_gguf(&o, cases[c].type, path, err, sizeof err) != 0) {
            CHECK(0, "%s", err);
            continue;
        }
        for (int th = 1; th <= 3; th++)
            compare(path, cases[c].name, th, tok, len, nd);
    }
    free(tok);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("forward_packed: packed windows bit-identical to one document per pass\n");
    return 0;
}
