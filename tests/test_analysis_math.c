/* test_analysis_math.c — the analysis numerics against closed forms and hand-computed values:
 * regularized incomplete gamma / chi-square survival (tabulated critical values, the Poisson
 * and erfc closed forms), entropy, Jensen–Shannon divergence, the chi-square independence
 * test, the Table 5 random baselines, the bootstrap weights and quantiles. */
#include "analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mstest.h"

/* Q(n, x) for integer n: the Poisson tail e^-x Σ_{j<n} x^j / j!. */
static double q_integer(int n, double x) {
    double term = exp(-x), s = 0;
    for (int j = 0; j < n; j++) {
        s += term;
        term *= x / (j + 1);
    }
    return s;
}

static void test_gamma(void) {
    /* a = 1: P = 1 - e^-x */
    for (double x = 0.01; x < 50; x *= 1.7)
        NEAR(ms_gamma_p(1, x), -expm1(-x), 1e-13);
    /* integer a, both branches (x < a+1 series, x >= a+1 continued fraction) */
    int as[] = {2, 3, 7, 20, 50};
    double xs[] = {0.1, 1.5, 2.5, 6.0, 19.0, 25.0, 49.0, 70.0};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 8; j++) {
            NEAR(ms_gamma_q(as[i], xs[j]), q_integer(as[i], xs[j]), 1e-12);
            NEAR(ms_gamma_p(as[i], xs[j]) + ms_gamma_q(as[i], xs[j]), 1.0, 1e-14);
        }
    /* a = 1/2: Q = erfc(sqrt(x)) */
    for (double x = 0.001; x < 30; x *= 2.3)
        NEAR(ms_gamma_q(0.5, x), erfc(sqrt(x)), 1e-12);
    /* a = 3/2: Q = erfc(sqrt x) + 2 sqrt(x/pi) e^-x */
    for (double x = 0.01; x < 30; x *= 2.1)
        NEAR(ms_gamma_q(1.5, x), erfc(sqrt(x)) + 2 * sqrt(x / M_PI) * exp(-x), 1e-12);
    CHECK_TRUE(isnan(ms_gamma_q(0, 1)) && isnan(ms_gamma_p(-1, 1)) && isnan(ms_gamma_q(1, -1)));
    NEAR(ms_gamma_q(3, 0), 1.0, 0);
    NEAR(ms_gamma_p(3, INFINITY), 1.0, 0);
}

static void test_chi2(void) {
    /* Tabulated upper critical values (NIST/SEMATECH e-Handbook, table 1.3.6.7.4). */
    NEAR(ms_chi2_sf(3.841, 1), 0.05, 2e-4);
    NEAR(ms_chi2_sf(5.991, 2), 0.05, 2e-4);
    NEAR(ms_chi2_sf(18.307, 10), 0.05, 2e-4);
    NEAR(ms_chi2_sf(6.635, 1), 0.01, 2e-4);
    NEAR(ms_chi2_sf(124.342, 100), 0.05, 2e-4);
    NEAR(ms_chi2_sf(3.940, 10), 0.95, 2e-4);
    NEAR(ms_chi2_sf(0.103, 2), 0.95, 2e-4);
    /* dof 2: sf = e^{-x/2} exactly */
    NEAR(ms_chi2_sf(7.3, 2), exp(-3.65), 1e-13);
    NEAR(ms_chi2_sf(0, 4), 1.0, 0);
    /* far tail: dof 4, x = 200: e^-100 (1 + 100) */
    NEAR(ms_chi2_sf(200, 4), exp(-100) * 101, 1e-10);
}

static void test_entropy_jsd(void) {
    double u[8] = {1, 1, 1, 1, 1, 1, 1, 1}, h[4] = {0.5, 0.5, 0, 0};
    NEAR(ms_entropy_bits(u, 8), 3.0, 1e-15);
    NEAR(ms_entropy_bits(h, 4), 1.0, 1e-15);
    double p[2] = {1, 0}, q[2] = {0.5, 0.5}, r[2] = {0, 1};
    NEAR(ms_js_divergence_bits(p, r, 2), 1.0, 1e-15);
    NEAR(ms_js_divergence_bits(p, p, 2), 0.0, 1e-15);
    /* by hand: M = (0.75, 0.25); KL(P||M) = log2(4/3); KL(Q||M) = (log2(2/3) + 1)/2 */
    double want = 0.5 * log2(4.0 / 3) + 0.25 * (log2(2.0 / 3) + 1);
    NEAR(ms_js_divergence_bits(p, q, 2), want, 1e-15);
    NEAR(want, 0.31127812445913283, 1e-15);
    NEAR(ms_js_divergence_bits(q, p, 2), want, 1e-15);
    /* unnormalised inputs are normalised */
    double p2[2] = {4, 0}, q2[2] = {3, 3};
    NEAR(ms_js_divergence_bits(p2, q2, 2), want, 1e-15);
}

static void test_independence(void) {
    /* [[10, 20], [30, 40]]: expected 12, 18, 28, 42 → χ² = 4/12 + 4/18 + 4/28 + 4/42 */
    int64_t t[4] = {10, 20, 30, 40};
    double stat, p;
    int dof;
    ms_chi2_independence(t, 2, 2, &stat, &dof, &p);
    double want = 4.0 / 12 + 4.0 / 18 + 4.0 / 28 + 4.0 / 42;
    NEAR(stat, want, 1e-14);
    CHECK_TRUE(dof == 1);
    NEAR(p, erfc(sqrt(want / 2)), 1e-12);
    /* zero row and column are dropped: same answer from a 3×3 table */
    int64_t t3[9] = {10, 0, 20, 0, 0, 0, 30, 0, 40};
    ms_chi2_independence(t3, 3, 3, &stat, &dof, &p);
    NEAR(stat, want, 1e-14);
    CHECK_TRUE(dof == 1);
    int64_t one[3] = {5, 6, 7};
    ms_chi2_independence(one, 1, 3, &stat, &dof, &p);
    CHECK_TRUE(dof == 0 && stat == 0 && p == 1);
}

static void test_baselines(void) {
    NEAR(ms_baseline_repeat_first(8), 0.125, 0);
    NEAR(ms_baseline_repeat_topk(8, 2), 1 - 15.0 / 28, 1e-15); /* C(6,2)/C(8,2) */
    NEAR(ms_baseline_repeat_topk(8, 2), 0.4642857142857143, 1e-15);
    /* OLMoE E=64 k=8: 1 − C(56,8)/C(64,8), via lgamma */
    double lc = lgamma(57) - lgamma(9) - lgamma(49) - (lgamma(65) - lgamma(9) - lgamma(57));
    NEAR(ms_baseline_repeat_topk(64, 8), 1 - exp(lc), 1e-12);
    NEAR(ms_baseline_repeat_topk(4, 1), 0.25, 1e-15);
    NEAR(ms_baseline_repeat_topk(4, 3), 1.0, 0); /* 2k > E: always intersect */
    /* exhaustive count for E = 6, k = 2: pairs of 2-subsets that intersect */
    int n = 0, hit = 0;
    for (int a = 0; a < 64; a++)
        for (int b = 0; b < 64; b++)
            if (__builtin_popcount(a) == 2 && __builtin_popcount(b) == 2 && a < 64 && b < 64)
                n++, hit += (a & b) != 0;
    NEAR(ms_baseline_repeat_topk(6, 2), (double)hit / n, 1e-15);
}

static void test_bootstrap(void) {
    /* deterministic and a function of (seed, b, doc) only */
    CHECK_TRUE(ms_bootstrap_weight(1, 3, 77) == ms_bootstrap_weight(1, 3, 77));
    int diff = 0;
    for (int d = 0; d < 100; d++)
        diff += ms_bootstrap_weight(1, 0, d) != ms_bootstrap_weight(2, 0, d);
    CHECK_TRUE(diff > 20);
    /* Poisson(1): mean 1, variance 1, P(0) = e^-1 (n = 200000, tolerances ~5 sigma) */
    double s = 0, s2 = 0;
    int zeros = 0, n = 200000;
    for (int i = 0; i < n; i++) {
        int w = ms_bootstrap_weight(42, i % 200, i / 200);
        s += w, s2 += (double)w * w, zeros += w == 0;
        CHECK_TRUE(w >= 0 && w <= 30);
    }
    double mean = s / n, var = s2 / n - mean * mean;
    NEAR(mean, 1.0, 0.012);
    NEAR(var, 1.0, 0.03);
    NEAR((double)zeros / n, exp(-1.0), 0.006);
    /* quantiles, type 7 */
    double v[5] = {5, 1, 4, 2, 3};
    NEAR(ms_quantile_sorted_inplace(v, 5, 0.25), 2.0, 0);
    NEAR(ms_quantile_sorted_inplace(v, 5, 0.5), 3.0, 0);
    NEAR(ms_quantile_sorted_inplace(v, 5, 0.975), 4.9, 1e-15);
    NEAR(ms_quantile_sorted_inplace(v, 5, 0.0), 1.0, 0);
}

int main(void) {
    test_gamma();
    test_chi2();
    test_entropy_jsd();
    test_independence();
    test_baselines();
    test_bootstrap();
    return mstest_result("analysis math: all checks passed");
}
