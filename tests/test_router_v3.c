/* test_router_v3.c — engine/router_v3.c against hand-computed references: sigmoid and softmax
 * scores, the selection bias changing the choice but not the weights, group-limited selection
 * with top-2-sum and max group scores, norm_topk_prob (and its clamp), routed_scaling_factor,
 * the tie rule, and refused configurations. */
#include "router_v3.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mstest.h"

/* routes and compares ids exactly and weights within 1e-5 (relative to max(1, |w|)) */
static void expect(const char *name, const ms_router_v3 *r, const float *logits,
                   const int *want_ids, const double *want_w) {
    char err[128];
    int32_t ids[64];
    float w[64], sc[64];
    CHECK(ms_router_v3_check(r, err, sizeof err) == 0, "%s: check failed: %s", name, err);
    ms_router_v3_route(r, logits, sc, ids, w);
    for (int j = 0; j < r->k; j++) {
        CHECK(ids[j] == want_ids[j], "%s: rank %d: expert %d, want %d", name, j, ids[j],
              want_ids[j]);
        double tol = 1e-5 * (fabs(want_w[j]) > 1 ? fabs(want_w[j]) : 1);
        CHECK(fabs(w[j] - want_w[j]) <= tol, "%s: rank %d: weight %.7g, want %.7g", name, j, w[j],
              want_w[j]);
    }
}

static double sig(double x) {
    return 1.0 / (1.0 + exp(-x));
}

int main(void) {
    /* 1. sigmoid, top-2, then renormalised and scaled */
    const float l1[4] = {0, 1, -1, 2};
    ms_router_v3 r = {.n_expert = 4, .k = 2, .sigmoid = 1};
    expect("sigmoid", &r, l1, (int[]){3, 1}, (double[]){sig(2), sig(1)});
    r.norm_topk_prob = 1;
    double s = sig(2) + sig(1);
    expect("sigmoid norm", &r, l1, (int[]){3, 1}, (double[]){sig(2) / s, sig(1) / s});
    r.routed_scaling_factor = 2.5f;
    expect("sigmoid norm scale", &r, l1, (int[]){3, 1},
           (double[]){2.5 * sig(2) / s, 2.5 * sig(1) / s});

    /* 2. the bias changes the choice (expert 2: 0.269 + 0.7 = 0.969 ranks first) but the
     * weights stay the unbiased sigmoid scores; the reported scores are the biased ones */
    const float bias[4] = {0, 0, 0.7f, 0};
    ms_router_v3 rb = {.n_expert = 4, .k = 2, .sigmoid = 1, .bias = bias};
    expect("bias", &rb, l1, (int[]){2, 3}, (double[]){sig(-1), sig(2)});
    float sc[4], w[2];
    int32_t ids[2];
    ms_router_v3_route(&rb, l1, sc, ids, w);
    CHECK(fabs(sc[2] - (sig(-1) + 0.7)) < 1e-6 && fabs(sc[0] - 0.5) < 1e-6, "biased scores %g %g",
          sc[2], sc[0]);

    /* 3. groups: E 8 in 4 groups of 2, keep 2 groups, k 2. Scores: g0 {s(3), s(-2)},
     * g1 {s(2), s(2)}, g2 {s(0), s(0)}, g3 {s(2.5), s(-5)}. Top-2 sums 1.072, 1.762, 1.0,
     * 0.931: groups 1 and 0 -> experts 0, then 2 (tie with 3: lower id). Without groups:
     * 0 and 6. With max group scores 0.953, 0.881, 0.5, 0.924: groups 0 and 3 -> 0, 6. */
    const float l3[8] = {3, -2, 2, 2, 0, 0, 2.5f, -5};
    ms_router_v3 rg = {.n_expert = 8, .k = 2, .sigmoid = 1};
    expect("no groups", &rg, l3, (int[]){0, 6}, (double[]){sig(3), sig(2.5)});
    rg.n_group = 4, rg.topk_group = 2;
    expect("groups top2", &rg, l3, (int[]){0, 2}, (double[]){sig(3), sig(2)});
    float sg[8];
    int32_t ig[2];
    float wg[2];
    ms_router_v3_route(&rg, l3, sg, ig, wg);
    CHECK(isinf(sg[4]) && sg[4] < 0 && isinf(sg[7]) && sg[7] < 0 && isfinite(sg[1]),
          "masked groups' scores are -inf");
    rg.group_score = MS_GROUP_MAX;
    expect("groups max", &rg, l3, (int[]){0, 6}, (double[]){sig(3), sig(2.5)});
    /* a bias on group 2 lifts it into the kept groups (0.5 + 0.6 twice = 2.2) */
    const float b3[8] = {0, 0, 0, 0, 0.6f, 0.6f, 0, 0};
    rg.group_score = MS_GROUP_TOP2_SUM, rg.bias = b3;
    expect("groups bias", &rg, l3, (int[]){4, 5}, (double[]){0.5, 0.5});

    /* 4. softmax (V2): no renormalisation, scaled by 16 */
    const float l4[3] = {1, 2, 3};
    double z = exp(1) + exp(2) + exp(3);
    ms_router_v3 rs = {.n_expert = 3, .k = 2, .routed_scaling_factor = 16};
    expect("softmax scale", &rs, l4, (int[]){2, 1}, (double[]){16 * exp(3) / z, 16 * exp(2) / z});

    /* 5. ties: the lower id first */
    const float l5[5] = {1, 1, 1, 1, 1};
    ms_router_v3 rt = {.n_expert = 5, .k = 3, .sigmoid = 1};
    expect("ties", &rt, l5, (int[]){0, 1, 2}, (double[]){sig(1), sig(1), sig(1)});

    /* 6. the renormalisation's clamp (llama.cpp: sum >= 2^-14) */
    const float l6[2] = {-30, -31};
    ms_router_v3 rc = {.n_expert = 2, .k = 2, .sigmoid = 1, .norm_topk_prob = 1};
    expect("clamp", &rc, l6, (int[]){0, 1},
           (double[]){sig(-30) / 6.103515625e-5, sig(-31) / 6.103515625e-5});

    /* 7. refused configurations */
    char err[128];
    const float nanb[8] = {0, NAN, 0, 0, 0, 0, 0, 0};
    const ms_router_v3 bad[] = {
        {.n_expert = 0, .k = 1},
        {.n_expert = 4, .k = 5},
        {.n_expert = 8, .k = 2, .n_group = 3, .topk_group = 1},
        {.n_expert = 8, .k = 2, .n_group = 4, .topk_group = 0},
        {.n_expert = 8, .k = 2, .n_group = 4, .topk_group = 5},
        {.n_expert = 8, .k = 3, .n_group = 4, .topk_group = 1},
        {.n_expert = 8, .k = 2, .n_group = 8, .topk_group = 2},
        {.n_expert = 8, .k = 2, .bias = nanb},
        {.n_expert = 8, .k = 2, .routed_scaling_factor = -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(ms_router_v3_check(&bad[i], err, sizeof err) == -1 && !strncmp(err, "router: ", 8) &&
                  !strchr(err, '\n'),
              "bad config %zu accepted or bad message '%s'", i, err);
    }
    ms_router_v3 ok = {
        .n_expert = 8, .k = 2, .n_group = 8, .topk_group = 2, .group_score = MS_GROUP_MAX};
    CHECK(ms_router_v3_check(&ok, err, sizeof err) == 0, "groups of one with max scores: %s", err);

    return mstest_result("router_v3: all checks passed");
}
