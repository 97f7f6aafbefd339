/* special.c — the numerics of the analysis that do not touch a store: regularized incomplete
 * gamma functions (for the chi-square survival function), entropy, Jensen–Shannon divergence,
 * the chi-square independence test, the exact random repetition baselines of Mixtral Table 5,
 * the counter-based Poisson(1) bootstrap weights and percentile quantiles.
 * Tests compare these against values from tables / scipy-independent closed forms. */
#include "analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* P(a, x) by its power series: x^a e^-x / Γ(a+1) · Σ x^n / ((a+1)…(a+n)). Converges fast
 * for x < a + 1. */
static double gamma_p_series(double a, double x) {
    double ap = a, term = 1.0 / a, sum = term;
    for (int n = 0; n < 100000; n++) {
        ap += 1.0;
        term *= x / ap;
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-17) break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a, x) by the Legendre continued fraction (modified Lentz), for x >= a + 1. */
static double gamma_q_cf(double a, double x) {
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16) break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double ms_gamma_p(double a, double x) {
    if (!(a > 0) || !(x >= 0) || isinf(a)) return NAN;
    if (x == 0) return 0.0;
    if (isinf(x)) return 1.0;
    if (x < a + 1.0) return gamma_p_series(a, x);
    return 1.0 - gamma_q_cf(a, x);
}

double ms_gamma_q(double a, double x) {
    if (!(a > 0) || !(x >= 0) || isinf(a)) return NAN;
    if (x == 0) return 1.0;
    if (isinf(x)) return 0.0;
    if (x < a + 1.0) return 1.0 - gamma_p_series(a, x);
    return gamma_q_cf(a, x);
}

double ms_chi2_sf(double x, double dof) {
    if (!(dof > 0)) return NAN;
    if (x <= 0) return 1.0;
    return ms_gamma_q(dof / 2.0, x / 2.0);
}

double ms_entropy_bits(const double *p, int n) {
    double s = 0, h = 0;
    for (int i = 0; i < n; i++)
        s += p[i] > 0 ? p[i] : 0;
    if (!(s > 0)) return 0.0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) h -= (p[i] / s) * log2(p[i] / s);
    return h;
}

double ms_js_divergence_bits(const double *p, const double *q, int n) {
    double sp = 0, sq = 0, js = 0;
    for (int i = 0; i < n; i++) {
        sp += p[i] > 0 ? p[i] : 0;
        sq += q[i] > 0 ? q[i] : 0;
    }
    if (!(sp > 0) || !(sq > 0)) return NAN;
    for (int i = 0; i < n; i++) {
        double a = p[i] > 0 ? p[i] / sp : 0, b = q[i] > 0 ? q[i] / sq : 0, m = 0.5 * (a + b);
        if (a > 0) js += 0.5 * a * log2(a / m);
        if (b > 0) js += 0.5 * b * log2(b / m);
    }
    return js < 0 ? 0 : js; /* rounding can give -1e-17 */
}

void ms_chi2_independence(const int64_t *table, int rows, int cols, double *stat, int *dof,
                          double *p) {
    double *rs = calloc((size_t)rows + 1, sizeof *rs), *cs = calloc((size_t)cols + 1, sizeof *cs);
    double total = 0, x2 = 0;
    int r_used = 0, c_used = 0;
    *stat = 0, *dof = 0, *p = 1.0;
    if (!rs || !cs) goto done;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double v = (double)table[(size_t)i * cols + j];
            rs[i] += v, cs[j] += v, total += v;
        }
    for (int i = 0; i < rows; i++)
        r_used += rs[i] > 0;
    for (int j = 0; j < cols; j++)
        c_used += cs[j] > 0;
    if (r_used < 2 || c_used < 2) goto done;
    for (int i = 0; i < rows; i++) {
        if (!(rs[i] > 0)) continue;
        for (int j = 0; j < cols; j++) {
            if (!(cs[j] > 0)) continue;
            double expct = rs[i] * cs[j] / total, d = (double)table[(size_t)i * cols + j] - expct;
            x2 += d * d / expct;
        }
    }
    *stat = x2;
    *dof = (r_used - 1) * (c_used - 1);
    *p = ms_chi2_sf(x2, *dof);
done:
    free(rs);
    free(cs);
}

double ms_baseline_repeat_first(int n_expert) {
    return n_expert > 0 ? 1.0 / n_expert : NAN;
}

/* 1 − C(E−k, k)/C(E, k): the chance that two independent uniform k-subsets of E intersect.
 * C(E−k, k)/C(E, k) = Π_{i<k} (E−k−i)/(E−i), computed as a product to stay exact enough. */
double ms_baseline_repeat_topk(int n_expert, int k) {
    if (n_expert <= 0 || k <= 0 || k > n_expert) return NAN;
    if (2 * k > n_expert) return 1.0;
    double disjoint = 1.0;
    for (int i = 0; i < k; i++)
        disjoint *= (double)(n_expert - k - i) / (double)(n_expert - i);
    return 1.0 - disjoint;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int ms_bootstrap_weight(uint64_t seed, int b, int64_t doc) {
    uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ (uint64_t)(uint32_t)b) ^ (uint64_t)doc);
    double u = (double)(h >> 11) * 0x1.0p-53; /* uniform [0, 1) */
    /* Inversion of the Poisson(1) CDF: P(K = j) = e^-1 / j!. */
    double pj = exp(-1.0), cdf = pj;
    int j = 0;
    while (u >= cdf && j < 30) {
        j++;
        pj /= j;
        cdf += pj;
    }
    return j;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ms_quantile_sorted_inplace(double *v, int n, double q) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double h = (n - 1) * q;
    int lo = (int)floor(h);
    if (lo >= n - 1) return v[n - 1];
    if (lo < 0) return v[0];
    return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}
