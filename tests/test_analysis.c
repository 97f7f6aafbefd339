/* test_analysis.c — every measure of `moescope analyze` on small hand-built route stores
 * (written by tests/test_analysis_stores.py with h5py), checked against values worked out by
 * hand in the comments below; plus chunk-size invariance, bootstrap determinism and the
 * degenerate-interval case, --layers, corrupt input, JSON/CSV output and diff.
 *
 * usage: test_analysis DIR   (DIR holds the stores of test_analysis_stores.py) */
#include "analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstest.h"

#define EQ(got, want)                                                                              \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ != w_) {                                                                            \
            fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_);    \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static const char *dir;
static char *at(const char *name) {
    return mstest_path(dir, name);
}

static ms_analysis *run(const char *name, int bootstrap, uint64_t seed, int64_t chunk,
                        const int *layers, int n_layers) {
    ms_analysis_opts o;
    ms_analysis_opts_default(&o);
    o.bootstrap = bootstrap, o.seed = seed, o.chunk_rows = chunk, o.top_n = 4;
    o.layers = layers, o.n_layers = n_layers;
    ms_analysis *a = NULL;
    char err[256];
    int rc = ms_analysis_run(&a, at(name), &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "analysis of %s failed: %s\n", name, err);
        failures++;
    }
    return a;
}

static void eq_counts(const int64_t *got, const int64_t *want, int n, const char *what, int line) {
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            fprintf(stderr, "line %d: %s[%d] = %lld, want %lld\n", line, what, i, (long long)got[i],
                    (long long)want[i]);
            failures++;
        }
}
#define COUNTS(got, ...)                                                                           \
    do {                                                                                           \
        const int64_t w_[] = {__VA_ARGS__};                                                        \
        eq_counts(got, w_, (int)(sizeof w_ / sizeof w_[0]), #got, __LINE__);                       \
    } while (0)

/* hand.h5: E = 4, k = 2, stored layers [0, 3], domains A, B.
 * rows  doc dom pos tok  layer0   layer3
 *  t0    0   A   0   5   (0,1)    (1,2)
 *  t1    0   A   1   6   (0,2)    (1,2)
 *  t2    0   A   2   5   (1,0)    (2,1)
 *  t3    0   A   3   7   (3,2)    (0,3)
 *  t4    1   A   0   5   (0,1)    (3,0)
 *  t5    1   A   1   8   (2,3)    (3,0)
 *  t6    1   A   0   6   (2,0)    (1,2)   <- new window: (t5, t6) is not a pair
 *  t7    2   B   0   9   (3,2)    (0,1)
 *  t8    2   B   1   9   (3,1)    (1,0)
 *  t9    2   B   2   5   (1,3)    (2,3) */
static void test_hand(void) {
    ms_analysis *a = run("hand.h5", 0, 1, 3, NULL, 0); /* chunk of 3 rows: pairs cross chunks */
    if (!a) return;
    EQ(a->n_expert, 4);
    EQ(a->k, 2);
    EQ(a->n_layers, 2);
    EQ(a->n_domains, 2);
    EQ(a->n_tokens, 10);
    EQ(a->n_documents, 3);
    EQ(a->layers[0].layer, 0);
    EQ(a->layers[1].layer, 3);
    CHECK_TRUE(!strcmp(a->domains[0], "A") && !strcmp(a->domains[1], "B"));
    NEAR(a->baseline_repeat_first, 0.25, 0);
    NEAR(a->baseline_repeat_topk, 1 - 1.0 / 6, 1e-15); /* C(2,2)/C(4,2) = 1/6 */

    const ms_layer_stats *l0 = &a->layers[0];
    const ms_domain_stats *A = &l0->domains[0], *B = &l0->domains[1], *all = &l0->all;
    /* layer 0, domain A (N = 7): first 0,0,1,3,0,2,2; second 1,2,0,2,1,3,0 */
    EQ(A->n_tokens, 7);
    EQ(A->n_documents, 2);
    COUNTS(A->first_count, 3, 1, 2, 1);
    COUNTS(A->second_count, 2, 2, 2, 1);
    COUNTS(A->assign_count, 5, 3, 4, 2);
    COUNTS(A->contains_count, 5, 3, 4, 2);
    NEAR(A->share[0], 5.0 / 14, 1e-15);
    NEAR(A->share[3], 2.0 / 14, 1e-15);
    NEAR(A->first_share[0], 3.0 / 7, 1e-15);
    NEAR(A->second_share[3], 1.0 / 7, 1e-15);
    NEAR(A->contains_share[2], 4.0 / 7, 1e-15);
    /* pairs (t0,t1) (t1,t2) (t2,t3) (t4,t5): first equal only (t0,t1); sets intersect (t0,t1),
     * (t1,t2) */
    EQ(A->n_pairs, 4);
    EQ(A->first_equal, 1);
    EQ(A->topk_intersect, 2);
    NEAR(A->first_equal_rate, 0.25, 0);
    NEAR(A->topk_intersect_rate, 0.5, 0);
    /* entropy of (5,3,4,2)/14 */
    double hA =
        -(5 * log2(5 / 14.) + 3 * log2(3 / 14.) + 4 * log2(4 / 14.) + 2 * log2(2 / 14.)) / 14;
    NEAR(A->entropy_bits, hA, 1e-14);
    NEAR(A->entropy_normalized, hA / 2, 1e-14);
    /* load: mean 3.5, max 5; population variance (2.25 + .25 + .25 + 2.25)/4 = 1.25 */
    NEAR(A->load_max_over_mean, 5 / 3.5, 1e-15);
    NEAR(A->load_cv, sqrt(1.25) / 3.5, 1e-14);
    /* domain B (N = 3): first 3,3,1; second 2,1,3; pairs (t7,t8): equal, intersect;
     * (t8,t9): not equal, intersect */
    EQ(B->n_tokens, 3);
    EQ(B->n_documents, 1);
    COUNTS(B->first_count, 0, 1, 0, 2);
    COUNTS(B->second_count, 0, 1, 1, 1);
    COUNTS(B->assign_count, 0, 2, 1, 3);
    EQ(B->n_pairs, 2);
    EQ(B->first_equal, 1);
    EQ(B->topk_intersect, 2);
    /* pooled: each expert has 5 of the 20 assignments → uniform */
    COUNTS(all->assign_count, 5, 5, 5, 5);
    COUNTS(all->first_count, 3, 2, 2, 3);
    NEAR(all->share[1], 0.25, 0);
    NEAR(all->entropy_bits, 2.0, 1e-15);
    NEAR(all->load_max_over_mean, 1.0, 0);
    NEAR(all->load_cv, 0.0, 0);
    EQ(all->n_pairs, 6);
    EQ(all->first_equal, 2);
    EQ(all->topk_intersect, 4);
    EQ(all->n_tokens, 10);
    EQ(all->n_documents, 3);
    /* JSD between (5,3,4,2)/14 and (0,2,1,3)/6, written out */
    {
        double p[4] = {5 / 14., 3 / 14., 4 / 14., 2 / 14.}, q[4] = {0, 2 / 6., 1 / 6., 3 / 6.};
        double js = 0;
        for (int e = 0; e < 4; e++) {
            double m = (p[e] + q[e]) / 2;
            if (p[e] > 0) js += 0.5 * p[e] * log2(p[e] / m);
            if (q[e] > 0) js += 0.5 * q[e] * log2(q[e] / m);
        }
        NEAR(l0->js_bits[1], js, 1e-14);
        NEAR(l0->js_bits[2], js, 1e-14);
        NEAR(l0->js_bits[0], 0, 0);
    }
    /* χ² on first counts A (3,1,2,1), B (0,1,0,2): expected A 2.1,1.4,1.4,2.1, B .9,.6,.6,.9
     * χ² = .81/2.1 + .16/1.4 + .36/1.4 + 1.21/2.1 + .81/.9 + .16/.6 + .36/.6 + 1.21/.9
     *    = 40/9; dof 3; sf for dof 3 = erfc(sqrt(x/2)) + sqrt(2x/π) e^{-x/2} */
    NEAR(l0->chi2, 40.0 / 9, 1e-13);
    EQ(l0->chi2_dof, 3);
    double x = 40.0 / 9;
    NEAR(l0->chi2_p, erfc(sqrt(x / 2)) + sqrt(2 * x / M_PI) * exp(-x / 2), 1e-12);
    /* co-activation: sets {0,1}×3 (t0,t2,t4) {0,2}×2 (t1,t6) {2,3}×3 (t3,t5,t7) {1,3}×2 */
    COUNTS(l0->co_tokens, 5, 5, 5, 5);
    COUNTS(l0->co_pair, 0, 3, 2, 0, /**/ 3, 0, 0, 2, /**/ 2, 0, 0, 3, /**/ 0, 2, 3, 0);
    NEAR(l0->co_ratio[0 * 4 + 1], 0.6, 1e-15);
    NEAR(l0->co_ratio[3 * 4 + 2], 0.6, 1e-15);
    NEAR(l0->co_ratio[1 * 4 + 3], 0.4, 1e-15);
    NEAR(l0->co_ratio[0], 0, 0);
    /* vocabulary at layer 0: occurrences 5:4, 6:2, 7:1, 8:1, 9:2.
     * expert 0 ∈ top-k at t0(5) t1(6) t2(5) t4(5) t6(6) → 5: 3/4, 6: 2/2
     * expert 3 at t3(7) t5(8) t7(9) t8(9) t9(5) → 9: 2/2, then ties by id 5: 1/4, 7: 1/1, 8: 1/1 */
    CHECK_TRUE(l0->vocab_n != NULL);
    if (l0->vocab_n) {
        const int T = a->top_n;
        EQ(l0->vocab_n[0], 2);
        EQ(l0->vocab[0].token, 5);
        EQ(l0->vocab[0].count, 3);
        EQ(l0->vocab[0].occurrences, 4);
        NEAR(l0->vocab[0].share, 0.75, 0);
        EQ(l0->vocab[1].token, 6);
        EQ(l0->vocab[1].count, 2);
        NEAR(l0->vocab[1].share, 1.0, 0);
        EQ(l0->vocab_n[3], 4);
        const ms_vocab_entry *v3 = l0->vocab + 3 * T;
        EQ(v3[0].token, 9);
        EQ(v3[0].count, 2);
        NEAR(v3[0].share, 1.0, 0);
        EQ(v3[1].token, 5);
        EQ(v3[1].count, 1);
        NEAR(v3[1].share, 0.25, 0);
        EQ(v3[2].token, 7);
        EQ(v3[3].token, 8);
        /* expert 1: t0(5) t2(5) t4(5) t8(9) t9(5) → 5: 4/4, 9: 1/2 */
        const ms_vocab_entry *v1 = l0->vocab + 1 * T;
        EQ(l0->vocab_n[1], 2);
        EQ(v1[0].token, 5);
        EQ(v1[0].count, 4);
        NEAR(v1[0].share, 1, 0);
        EQ(v1[1].token, 9);
        NEAR(v1[1].share, 0.5, 0);
    }

    /* layer 3, domain A: first 1,1,2,0,3,3,1 → (1,3,1,2); pairs (t0,t1) eq+int, (t1,t2) int,
     * (t2,t3) neither, (t4,t5) eq+int. Domain B: first 0,1,2; (t7,t8) int only; (t8,t9) none */
    const ms_layer_stats *l3 = &a->layers[1];
    COUNTS(l3->domains[0].first_count, 1, 3, 1, 2);
    EQ(l3->domains[0].first_equal, 2);
    EQ(l3->domains[0].topk_intersect, 3);
    EQ(l3->domains[0].n_pairs, 4);
    COUNTS(l3->domains[1].first_count, 1, 1, 1, 0);
    EQ(l3->domains[1].first_equal, 0);
    EQ(l3->domains[1].topk_intersect, 1);
    /* no bootstrap → no intervals */
    CHECK_TRUE(isnan(A->share_ci[0].lo) && isnan(A->first_equal_ci.hi));

    /* --layers 3 gives layer 3 alone, identical numbers */
    int only3[1] = {3};
    ms_analysis *b = run("hand.h5", 0, 1, 0, only3, 1);
    if (b) {
        EQ(b->n_layers, 1);
        EQ(b->layers[0].layer, 3);
        COUNTS(b->layers[0].domains[0].first_count, 1, 3, 1, 2);
        EQ(b->layers[0].domains[0].topk_intersect, 3);
        ms_analysis_free(b);
    }
    ms_analysis_free(a);
}

/* Bootstrap: chunk-size invariance, seed determinism, and the interval recomputed here from
 * the public weight function over the 2 documents of domain A (layer 0, first share of e0:
 * doc0 has 2 of 4 tokens, doc1 1 of 3). */
static int cmpd(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void test_bootstrap(void) {
    const int B = 300;
    ms_analysis *a = run("hand.h5", B, 9, 0, NULL, 0), *b = run("hand.h5", B, 9, 2, NULL, 0);
    ms_analysis *c = run("random.h5", 50, 10, 0, NULL, 0),
                *c2 = run("random.h5", 50, 11, 0, NULL, 0);
    if (!a || !b || !c || !c2) goto out;
    const ms_domain_stats *A = &a->layers[0].domains[0];
    double v[300];
    int n = 0;
    for (int r = 0; r < B; r++) {
        int w0 = ms_bootstrap_weight(9, r, 0), w1 = ms_bootstrap_weight(9, r, 1);
        if (w0 * 4 + w1 * 3 > 0) v[n++] = (double)(w0 * 2 + w1 * 1) / (w0 * 4 + w1 * 3);
    }
    qsort(v, (size_t)n, sizeof *v, cmpd);
    double h = (n - 1) * 0.025, lo = v[(int)h] + (h - (int)h) * (v[(int)h + 1] - v[(int)h]);
    h = (n - 1) * 0.975;
    double hi = v[(int)h] + (h - (int)h) * (v[(int)h + 1] - v[(int)h]);
    NEAR(A->first_share_ci[0].lo, lo, 1e-14);
    NEAR(A->first_share_ci[0].hi, hi, 1e-14);
    CHECK_TRUE(lo <= 3.0 / 7 && 3.0 / 7 <= hi && lo < hi);
    /* pooled intervals use the same weights over all 3 documents: the repetition of domain B
     * (1 document, 2 pairs, 1 equal) is 0.5 in every replicate where the document is drawn */
    NEAR(a->layers[0].domains[1].first_equal_ci.lo, 0.5, 0);
    NEAR(a->layers[0].domains[1].first_equal_ci.hi, 0.5, 0);
    /* chunking does not change anything */
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++)
            for (int e = 0; e < 4; e++) {
                const ms_domain_stats *x = &a->layers[l].domains[d], *y = &b->layers[l].domains[d];
                CHECK_TRUE(x->share_ci[e].lo == y->share_ci[e].lo);
                CHECK_TRUE(x->second_share_ci[e].hi == y->second_share_ci[e].hi);
                CHECK_TRUE(x->topk_intersect_ci.lo == y->topk_intersect_ci.lo);
            }
    /* another seed gives other intervals somewhere */
    int differ = 0;
    for (int e = 0; e < 4; e++)
        differ += c2->layers[0].all.share_ci[e].lo != c->layers[0].all.share_ci[e].lo ||
                  c2->layers[0].all.share_ci[e].hi != c->layers[0].all.share_ci[e].hi;
    CHECK_TRUE(differ > 0);
out:
    ms_analysis_free(a);
    ms_analysis_free(b);
    ms_analysis_free(c);
    ms_analysis_free(c2);

    /* same.h5: 3 identical documents → every replicate equals the estimate */
    ms_analysis *s = run("same.h5", B, 3, 0, NULL, 0);
    if (!s) return;
    const ms_domain_stats *d = &s->layers[0].domains[0];
    /* tokens (0,1) (2,0) ×3: share 0: 6/12, first share 0: 1/2, pairs 3 (one per doc), none
     * equal, all intersect */
    NEAR(d->share[0], 0.5, 0);
    NEAR(d->share_ci[0].lo, 0.5, 1e-15);
    NEAR(d->share_ci[0].hi, 0.5, 1e-15);
    NEAR(d->first_share_ci[2].lo, 0.5, 1e-15);
    NEAR(d->first_share_ci[2].hi, 0.5, 1e-15);
    EQ(d->n_pairs, 3);
    EQ(d->first_equal, 0);
    EQ(d->topk_intersect, 3);
    NEAR(d->topk_intersect_ci.lo, 1, 0);
    NEAR(d->topk_intersect_ci.hi, 1, 0);
    EQ(s->layers[0].layer, 7);
    EQ(s->layers[0].chi2_dof, 0); /* one domain: no test */
    ms_analysis_free(s);
}

static void test_errors(void) {
    ms_analysis *a = NULL;
    char err[256] = "";
    int rc = ms_analysis_run(&a, at("bad_expert.h5"), NULL, err, sizeof err);
    CHECK_TRUE(rc == MS_ERR_INPUT && a == NULL && strstr(err, "bad_expert.h5") &&
               strstr(err, "expert"));
    int nine[1] = {9};
    ms_analysis_opts o;
    ms_analysis_opts_default(&o);
    o.layers = nine, o.n_layers = 1;
    rc = ms_analysis_run(&a, at("hand.h5"), &o, err, sizeof err);
    CHECK_TRUE(rc == MS_ERR_INPUT && a == NULL && strstr(err, "layer 9"));
    rc = ms_analysis_run(&a, at("missing.h5"), NULL, err, sizeof err);
    CHECK_TRUE(rc != 0 && a == NULL);
}

static void test_outputs(void) {
    ms_analysis *a = run("random.h5", 20, 1, 0, NULL, 0);
    if (!a) return;
    char err[256];
    char *s = ms_analysis_json_string(a);
    CHECK_TRUE(s && strstr(s, "\"schema\":\t\"moescope-analysis\"") &&
               strstr(s, "\"version\":\t1"));
    free(s);
    CHECK_TRUE(ms_analysis_write_json(a, at("random.json"), err, sizeof err) == 0);
    CHECK_TRUE(ms_analysis_write_csv(a, at("random_csv"), err, sizeof err) == 0);
    FILE *f = fopen(at("random_csv/experts.csv"), "r");
    char line[512];
    int rows = 0, quoted = 0;
    while (f && fgets(line, sizeof line, f))
        rows++, quoted += strstr(line, "\"wiki, en\"") != 0;
    if (f) fclose(f);
    /* header + layers × (domains + all) × E × 4 measures */
    EQ(rows, 1 + 4 * 4 * 8 * 4);
    EQ(quoted, 4 * 8 * 4);
    ms_analysis_free(a);
}

static void test_diff(void) {
    ms_diff *d = NULL;
    char err[256];
    int rc = ms_routes_diff(&d, at("random.h5"), at("random.h5"), NULL, 0, 100, err, sizeof err);
    CHECK_TRUE(rc == 0);
    if (d) {
        EQ(d->n_layers, 4);
        for (int l = 0; l < d->n_layers; l++) {
            NEAR(d->layers[l].first_agree_rate, 1, 0);
            NEAR(d->layers[l].topk_set_agree_rate, 1, 0);
            NEAR(d->layers[l].topk_overlap_mean, 1, 0);
        }
        ms_diff_free(d);
    }
    rc = ms_routes_diff(&d, at("random.h5"), at("other_tok.h5"), NULL, 0, 100, err, sizeof err);
    CHECK_TRUE(rc == MS_ERR_INPUT && d == NULL && strstr(err, "differs"));
    rc = ms_routes_diff(&d, at("random.h5"), at("hand.h5"), NULL, 0, 0, err, sizeof err);
    CHECK_TRUE(rc == MS_ERR_INPUT && d == NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_analysis DIR\n");
        return 2;
    }
    dir = argv[1];
    test_hand();
    test_bootstrap();
    test_errors();
    test_outputs();
    test_diff();
    return mstest_result("analysis on hand-built stores: all checks passed");
}
