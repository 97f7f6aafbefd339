/* dm_math.c — a deterministic generator of question/answer documents in the style of
 * DeepMind's mathematics dataset as The Pile stores it ("DM Mathematics"): one document holds
 * pairs of one module, each a question line followed by its answer line. The questions are
 * written by this project's templates (no text from the dataset); every answer is computed
 * exactly with int64 integers and reduced rationals, and numbers are kept small enough that no
 * intermediate can leave int64 (products are overflow-checked by an assert all the same).
 * Randomness is splitmix64 seeded from (seed, document index), integer-only, so document i is
 * the same for any document count and on every platform. Each expression draws at most once
 * from the generator: C leaves the order of operand and argument evaluation unspecified, and
 * two draws in one expression would make the text depend on the compiler. */
#include "corpora.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness ---------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi] up to a negligible modulo bias (spans are tiny against 2^64). */
static int64_t rng_int(rng *r, int64_t lo, int64_t hi) {
    assert(lo <= hi);
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(rng_next(r) % span);
}

static int64_t rng_nz(rng *r, int64_t lo, int64_t hi) {
    int64_t v;
    do
        v = rng_int(r, lo, hi);
    while (v == 0);
    return v;
}

static int rng_pct(rng *r, int pct) {
    return rng_int(r, 0, 99) < pct;
}

static const char *rng_pick(rng *r, const char *const *v, int n) {
    return v[rng_int(r, 0, n - 1)];
}
#define PICK(r, arr) rng_pick((r), (arr), (int)(sizeof(arr) / sizeof(arr)[0]))

/* Variable letters: e, i and o are left out (constants, and o reads as zero). */
static char rng_var(rng *r) {
    static const char letters[] = "abcdfghjklmnpqrstuvwxyz";
    return letters[rng_int(r, 0, (int64_t)sizeof letters - 2)];
}

static char rng_var_not(rng *r, char other) {
    char c;
    do
        c = rng_var(r);
    while (c == other);
    return c;
}

/* ---- growing text buffer ------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int w = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        assert(w >= 0);
        if ((size_t)w < room) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->n <= (size_t)w)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* ---- exact integers and rationals ---------------------------------------------------- */

static int64_t mul64(int64_t a, int64_t b) {
    int64_t r;
    int ovf = __builtin_mul_overflow(a, b, &r);
    assert(!ovf && "dm_math: number ranges must keep products inside int64");
    return r;
}

static int64_t add64(int64_t a, int64_t b) {
    int64_t r;
    int ovf = __builtin_add_overflow(a, b, &r);
    assert(!ovf && "dm_math: number ranges must keep sums inside int64");
    return r;
}

static int64_t abs64(int64_t a) {
    return a < 0 ? -a : a;
}

static int64_t gcd64(int64_t a, int64_t b) {
    a = abs64(a);
    b = abs64(b);
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t lcm64(int64_t a, int64_t b) {
    return mul64(abs64(a) / gcd64(a, b), abs64(b));
}

static int64_t pow10_64(int e) {
    assert(e >= 0 && e <= 18);
    int64_t p = 1;
    while (e--)
        p *= 10;
    return p;
}

typedef struct rat {
    int64_t n, d; /* d > 0, gcd(|n|, d) == 1 */
} rat;

static rat rat_make(int64_t n, int64_t d) {
    assert(d != 0);
    if (d < 0) {
        n = -n;
        d = -d;
    }
    int64_t g = gcd64(n, d);
    if (g > 1) {
        n /= g;
        d /= g;
    }
    return (rat){n, d};
}

static rat rat_add(rat a, rat b) {
    return rat_make(add64(mul64(a.n, b.d), mul64(b.n, a.d)), mul64(a.d, b.d));
}
static rat rat_neg(rat a) {
    return (rat){-a.n, a.d};
}
static rat rat_mul(rat a, rat b) {
    return rat_make(mul64(a.n, b.n), mul64(a.d, b.d));
}
static rat rat_div(rat a, rat b) {
    assert(b.n != 0);
    return rat_make(mul64(a.n, b.d), mul64(a.d, b.n));
}
static int rat_cmp(rat a, rat b) {
    int64_t x = mul64(a.n, b.d), y = mul64(b.n, a.d);
    return (x > y) - (x < y);
}

static void sb_rat(sbuf *b, rat a) {
    if (a.d == 1)
        sb_printf(b, "%" PRId64, a.n);
    else
        sb_printf(b, "%" PRId64 "/%" PRId64, a.n, a.d);
}

/* A decimal mant * 10^exp10, printed exactly without trailing zeros ("-0" never appears). */
static void sb_dec(sbuf *b, int64_t mant, int exp10) {
    while (exp10 < 0 && mant % 10 == 0 && mant != 0) {
        mant /= 10;
        exp10++;
    }
    if (mant == 0) {
        sb_printf(b, "0");
        return;
    }
    if (exp10 >= 0) {
        sb_printf(b, "%" PRId64, mul64(mant, pow10_64(exp10)));
        return;
    }
    int64_t p = pow10_64(-exp10), a = abs64(mant);
    sb_printf(b, "%s%" PRId64 ".%0*" PRId64, mant < 0 ? "-" : "", a / p, -exp10, a % p);
}

/* ---- terms and polynomials ----------------------------------------------------------- */

typedef struct term {
    int64_t c; /* coefficient, nonzero */
    char var;  /* 0 for a constant */
} term;

static void sb_coef_var(sbuf *b, int64_t c, const char *var) {
    if (!var)
        sb_printf(b, "%" PRId64, c);
    else if (c == 1)
        sb_printf(b, "%s", var);
    else if (c == -1)
        sb_printf(b, "-%s", var);
    else
        sb_printf(b, "%" PRId64 "*%s", c, var);
}

/* One signed term after the first: " + 3*x", " - x", " - 7". */
static void sb_next_term(sbuf *b, int64_t c, const char *var) {
    sb_printf(b, c < 0 ? " - " : " + ");
    sb_coef_var(b, abs64(c), var);
}

static void sb_terms(sbuf *b, const term *t, int n) {
    if (n == 0) {
        sb_printf(b, "0");
        return;
    }
    for (int i = 0; i < n; i++) {
        char v[2] = {t[i].var, 0};
        if (i == 0)
            sb_coef_var(b, t[i].c, t[i].var ? v : NULL);
        else
            sb_next_term(b, t[i].c, t[i].var ? v : NULL);
    }
}

static void shuffle_terms(rng *r, term *t, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_int(r, 0, i);
        term tmp = t[i];
        t[i] = t[j];
        t[j] = tmp;
    }
}

enum { POLY_MAX = 8 };
typedef struct poly {
    int64_t c[POLY_MAX + 1]; /* c[k] is the coefficient of var^k */
} poly;

static int poly_deg(const poly *p) {
    for (int k = POLY_MAX; k >= 0; k--)
        if (p->c[k]) return k;
    return -1;
}

/* Descending powers (the canonical answer form) or ascending (a question's factor). */
static void sb_poly(sbuf *b, const poly *p, char var, int ascending) {
    int first = 1;
    for (int i = 0; i <= POLY_MAX; i++) {
        int k = ascending ? i : POLY_MAX - i;
        if (!p->c[k]) continue;
        char v[16];
        if (k == 0)
            v[0] = 0;
        else if (k == 1)
            snprintf(v, sizeof v, "%c", var);
        else
            snprintf(v, sizeof v, "%c**%d", var, k);
        if (first)
            sb_coef_var(b, p->c[k], k ? v : NULL);
        else
            sb_next_term(b, p->c[k], k ? v : NULL);
        first = 0;
    }
    if (first) sb_printf(b, "0");
}

static poly poly_mul(const poly *a, const poly *b) {
    poly r = {{0}};
    for (int i = 0; i <= POLY_MAX; i++)
        for (int j = 0; i + j <= POLY_MAX; j++)
            if (a->c[i] && b->c[j]) r.c[i + j] = add64(r.c[i + j], mul64(a->c[i], b->c[j]));
    assert(poly_deg(a) + poly_deg(b) <= POLY_MAX);
    return r;
}

static poly poly_diff(const poly *a) {
    poly r = {{0}};
    for (int k = 1; k <= POLY_MAX; k++)
        r.c[k - 1] = mul64(a->c[k], k);
    return r;
}

static int64_t poly_eval(const poly *a, int64_t x) {
    int64_t v = 0;
    for (int k = POLY_MAX; k >= 0; k--)
        v = add64(mul64(v, x), a->c[k]);
    return v;
}

/* A polynomial of degree deg with n_terms nonzero terms (the leading one included). */
static poly poly_random(rng *r, int deg, int n_terms, int64_t cmax) {
    poly p = {{0}};
    p.c[deg] = rng_nz(r, -cmax, cmax);
    for (int t = 1; t < n_terms && t <= deg; t++) {
        int k;
        do
            k = (int)rng_int(r, 0, deg - 1);
        while (p.c[k]);
        p.c[k] = rng_nz(r, -cmax, cmax);
    }
    return p;
}

/* ---- modules: each appends one "question\nanswer\n" pair -------------------------------- */

static void mod_linear_1d(rng *r, sbuf *b) {
    char v = rng_var(r);
    int64_t x = rng_int(r, -15, 15);
    term L[5], R[3];
    int nl, nr;
    int64_t net;
    do {
        nl = nr = 0;
        int nvl = (int)rng_int(r, 1, 2), nvr = (int)rng_int(r, 0, 1), ncl = (int)rng_int(r, 0, 2);
        for (int i = 0; i < nvl; i++)
            L[nl++] = (term){rng_nz(r, -60, 60), v};
        for (int i = 0; i < ncl; i++)
            L[nl++] = (term){rng_nz(r, -200, 200), 0};
        for (int i = 0; i < nvr; i++)
            R[nr++] = (term){rng_nz(r, -60, 60), v};
        net = 0;
        for (int i = 0; i < nl; i++)
            if (L[i].var) net += L[i].c;
        for (int i = 0; i < nr; i++)
            net -= R[i].c;
    } while (net == 0);
    int64_t k = 0; /* the right side's constant that makes x the solution */
    for (int i = 0; i < nl; i++)
        k += L[i].var ? L[i].c * x : L[i].c;
    for (int i = 0; i < nr; i++)
        k -= R[i].c * x;
    if (k) R[nr++] = (term){k, 0};
    shuffle_terms(r, L, nl);
    if (rng_pct(r, 50)) shuffle_terms(r, R, nr);
    sb_printf(b, "Solve ");
    if (rng_pct(r, 25)) { /* everything on one side */
        term S[8];
        int ns = 0;
        for (int i = 0; i < nl; i++)
            S[ns++] = L[i];
        for (int i = 0; i < nr; i++)
            S[ns++] = (term){-R[i].c, R[i].var};
        if (rng_pct(r, 50)) {
            sb_printf(b, "0 = ");
            sb_terms(b, S, ns);
        } else {
            sb_terms(b, S, ns);
            sb_printf(b, " = 0");
        }
    } else {
        sb_terms(b, L, nl);
        sb_printf(b, " = ");
        sb_terms(b, R, nr);
    }
    sb_printf(b, " for %c.\n%" PRId64 "\n", v, x);
}

static void mod_linear_2d(rng *r, sbuf *b) {
    char u = rng_var(r), w = rng_var_not(r, u);
    int64_t x = rng_int(r, -10, 10), y = rng_int(r, -10, 10);
    int64_t a, c, d, e;
    do {
        a = rng_nz(r, -40, 40);
        c = rng_nz(r, -40, 40);
        d = rng_nz(r, -40, 40);
        e = rng_nz(r, -40, 40);
    } while (a * e - c * d == 0);
    int64_t f1 = a * x + c * y, f2 = d * x + e * y;
    sb_printf(b, "Solve ");
    for (int q = 0; q < 2; q++) {
        int64_t cu = q ? d : a, cw = q ? e : c, f = q ? f2 : f1;
        if (q) sb_printf(b, rng_pct(r, 50) ? " and " : ", ");
        int form = (int)rng_int(r, 0, 2);
        if (form == 0) { /* a*u + c*w = f */
            term t[2] = {{cu, u}, {cw, w}};
            if (rng_pct(r, 30)) shuffle_terms(r, t, 2);
            sb_terms(b, t, 2);
            sb_printf(b, " = %" PRId64, f);
        } else if (form == 1) { /* a*u = -c*w + f */
            term lt[1] = {{cu, u}}, rt[2] = {{-cw, w}, {f, 0}};
            sb_terms(b, lt, 1);
            sb_printf(b, " = ");
            sb_terms(b, rt, f ? 2 : 1);
        } else { /* a*u + c*w - f = 0, or 0 = ... */
            term t[3] = {{cu, u}, {cw, w}, {-f, 0}};
            int nt = f ? 3 : 2;
            shuffle_terms(r, t, nt);
            if (rng_pct(r, 50)) {
                sb_printf(b, "0 = ");
                sb_terms(b, t, nt);
            } else {
                sb_terms(b, t, nt);
                sb_printf(b, " = 0");
            }
        }
    }
    int ask_u = rng_pct(r, 50);
    sb_printf(b, " for %c.\n%" PRId64 "\n", ask_u ? u : w, ask_u ? x : y);
}

/* A fraction operand as written: "3/4", "-5/6", "(-5)/6", "5/(-6)". */
static rat frac_operand(rng *r, sbuf *b, int leading) {
    int64_t p = rng_nz(r, -24, 24), q = rng_int(r, 2, 15);
    int style = (int)rng_int(r, 0, 3);
    if (style == 3 && p > 0)
        sb_printf(b, "%" PRId64 "/(-%" PRId64 ")", p, q), q = -q;
    else if (p < 0 && !leading && style >= 1)
        sb_printf(b, "(%" PRId64 ")/%" PRId64, p, q);
    else
        sb_printf(b, "%" PRId64 "/%" PRId64, p, q);
    return rat_make(p, q);
}

static void mod_fractions(rng *r, sbuf *b) {
    static const char *const stems[][2] = {{"Calculate ", "."}, {"What is ", "?"},
                                           {"Evaluate ", "."},  {"What is the value of ", "?"},
                                           {"Compute ", "."},   {"Work out ", "."}};
    int s = (int)rng_int(r, 0, 5);
    sb_printf(b, "%s", stems[s][0]);
    rat v;
    int kind = (int)rng_int(r, 0, 2), n = (int)rng_int(r, 2, 3);
    if (kind == 0) { /* sums of fractions */
        v = frac_operand(r, b, 1);
        for (int i = 1; i < n; i++) {
            int minus = rng_pct(r, 50);
            sb_printf(b, minus ? " - " : " + ");
            rat t = frac_operand(r, b, 0);
            v = rat_add(v, minus ? rat_neg(t) : t);
        }
    } else if (kind == 1) { /* a chain of integers under * and /, evaluated left to right */
        int64_t a = rng_nz(r, -40, 40);
        sb_printf(b, a < 0 && rng_pct(r, 50) ? "(%" PRId64 ")" : "%" PRId64, a);
        v = rat_make(a, 1);
        for (int i = 1; i < n + 1; i++) {
            int64_t t = rng_nz(r, -40, 40);
            int divide = i == 1 || rng_pct(r, 50);
            sb_printf(b, divide ? "/" : "*");
            sb_printf(b, t < 0 ? "(%" PRId64 ")" : "%" PRId64, t);
            v = divide ? rat_div(v, rat_make(t, 1)) : rat_mul(v, rat_make(t, 1));
        }
    } else { /* a product or quotient of two fractions */
        sb_printf(b, "(");
        v = frac_operand(r, b, 1);
        int divide = rng_pct(r, 50);
        sb_printf(b, divide ? ")/(" : ")*(");
        rat t = frac_operand(r, b, 1);
        sb_printf(b, ")");
        v = divide ? rat_div(v, t) : rat_mul(v, t);
    }
    sb_printf(b, "%s\n", stems[s][1]);
    sb_rat(b, v);
    sb_printf(b, "\n");
}

static void mod_poly_evaluate(rng *r, sbuf *b) {
    char f = rng_var(r), v = rng_var_not(r, f);
    int deg = (int)rng_int(r, 1, 3);
    poly p = poly_random(r, deg, (int)rng_int(r, 2, deg + 1), 12);
    int64_t x = rng_int(r, -7, 7);
    sb_printf(b, "Let %c(%c) = ", f, v);
    sb_poly(b, &p, v, 0);
    sb_printf(b, ". ");
    switch (rng_int(r, 0, 4)) {
    case 0:
        sb_printf(b, "What is %c(%" PRId64 ")?", f, x);
        break;
    case 1:
        sb_printf(b, "Calculate %c(%" PRId64 ").", f, x);
        break;
    case 2:
        sb_printf(b, "Determine %c(%" PRId64 ").", f, x);
        break;
    case 3:
        sb_printf(b, "Give %c(%" PRId64 ").", f, x);
        break;
    default:
        sb_printf(b, "What is the value of %c(%" PRId64 ")?", f, x);
        break;
    }
    sb_printf(b, "\n%" PRId64 "\n", poly_eval(&p, x));
}

static void mod_poly_expand(rng *r, sbuf *b) {
    char v = rng_var(r);
    int nf = rng_pct(r, 25) ? 3 : 2;
    poly prod = {{0}};
    prod.c[0] = 1;
    sb_printf(b, "Expand ");
    for (int i = 0; i < nf; i++) {
        poly f;
        if (i == 2)
            f = poly_random(r, 1, 1, 5); /* a monomial factor: (3*x) */
        else {
            int deg = i == 1 && rng_pct(r, 40) ? 2 : 1;
            f = poly_random(r, deg, 2, 7);
        }
        if (!f.c[0] && poly_deg(&f) < 2) f.c[0] = rng_nz(r, -9, 9); /* keep binomials */
        if (i == 2) f.c[0] = 0;
        sb_printf(b, i ? "*(" : "(");
        sb_poly(b, &f, v, rng_pct(r, 30));
        sb_printf(b, ")");
        prod = poly_mul(&prod, &f);
    }
    sb_printf(b, ".\n");
    sb_poly(b, &prod, v, 0);
    sb_printf(b, "\n");
}

static void mod_differentiate(rng *r, sbuf *b) {
    char v = rng_var(r);
    int deg = (int)rng_int(r, 2, 6);
    poly p = poly_random(r, deg, (int)rng_int(r, 2, 4), 40);
    int order = rng_pct(r, 30) ? 2 : 1;
    if (order == 2 && rng_pct(r, 25) && deg >= 4) order = 3;
    static const char *const ord[] = {"", "first", "second", "third"};
    switch (order == 1 ? rng_int(r, 0, 3) : rng_int(r, 4, 6)) {
    case 0:
        sb_printf(b, "Differentiate ");
        sb_poly(b, &p, v, 0);
        sb_printf(b, " with respect to %c.", v);
        break;
    case 1:
        sb_printf(b, "Differentiate ");
        sb_poly(b, &p, v, 0);
        sb_printf(b, " wrt %c.", v);
        break;
    case 2:
        sb_printf(b, "What is the derivative of ");
        sb_poly(b, &p, v, 0);
        sb_printf(b, "?");
        break;
    case 3:
        sb_printf(b, "Find the first derivative of ");
        sb_poly(b, &p, v, 0);
        sb_printf(b, " wrt %c.", v);
        break;
    case 4:
        sb_printf(b, "What is the %s derivative of ", ord[order]);
        sb_poly(b, &p, v, 0);
        sb_printf(b, " wrt %c?", v);
        break;
    case 5:
        sb_printf(b, "Find the %s derivative of ", ord[order]);
        sb_poly(b, &p, v, 0);
        sb_printf(b, ".");
        break;
    default:
        sb_printf(b, "Differentiate ");
        sb_poly(b, &p, v, 0);
        sb_printf(b, " %s times wrt %c.", order == 2 ? "two" : "three", v);
        break;
    }
    for (int i = 0; i < order; i++)
        p = poly_diff(&p);
    sb_printf(b, "\n");
    sb_poly(b, &p, v, 0);
    sb_printf(b, "\n");
}

static void mod_remainder(rng *r, sbuf *b) {
    int64_t q = rng_int(r, 3, 400);
    int64_t a = rng_int(r, q + 1, rng_pct(r, 50) ? 9999 : 999999);
    if (rng_pct(r, 50))
        sb_printf(b, "What is the remainder when %" PRId64 " is divided by %" PRId64 "?", a, q);
    else
        sb_printf(b, "Calculate the remainder when %" PRId64 " is divided by %" PRId64 ".", a, q);
    sb_printf(b, "\n%" PRId64 "\n", a % q);
}

static void mod_gcd(rng *r, sbuf *b) {
    int64_t g = rng_int(r, 2, 150), a = g * rng_int(r, 1, 80), c = g * rng_int(r, 1, 80);
    if (a == c) c += g;
    static const char *const names[] = {"greatest common divisor", "highest common factor",
                                        "greatest common factor", "highest common divisor"};
    const char *nm = PICK(r, names);
    if (rng_pct(r, 50))
        sb_printf(b, "What is the %s of %" PRId64 " and %" PRId64 "?", nm, a, c);
    else
        sb_printf(b, "Calculate the %s of %" PRId64 " and %" PRId64 ".", nm, a, c);
    sb_printf(b, "\n%" PRId64 "\n", gcd64(a, c));
}

static void mod_lcm(rng *r, sbuf *b) {
    int64_t g = rng_int(r, 1, 40), a = g * rng_int(r, 2, 60), c = g * rng_int(r, 2, 60);
    if (a == c) c += g;
    int form = (int)rng_int(r, 0, 3);
    if (form == 3) { /* common denominator of two reduced fractions */
        int64_t p, q;
        do
            p = rng_nz(r, -99, 99);
        while (gcd64(p, a) != 1);
        do
            q = rng_nz(r, -99, 99);
        while (gcd64(q, c) != 1);
        sb_printf(b,
                  "Find the common denominator of %" PRId64 "/%" PRId64 " and %" PRId64 "/%" PRId64
                  ".",
                  p, a, q, c);
    } else {
        static const char *const names[] = {"least common multiple", "smallest common multiple",
                                            "lowest common multiple"};
        if (rng_pct(r, 50))
            sb_printf(b, "What is the %s of %" PRId64 " and %" PRId64 "?", names[form], a, c);
        else
            sb_printf(b, "Calculate the %s of %" PRId64 " and %" PRId64 ".", names[form], a, c);
    }
    sb_printf(b, "\n%" PRId64 "\n", lcm64(a, c));
}

static int is_prime(int64_t n) {
    if (n < 2) return 0;
    for (int64_t d = 2; d * d <= n; d++)
        if (n % d == 0) return 0;
    return 1;
}

static void mod_is_prime(rng *r, sbuf *b) {
    int64_t n;
    if (rng_pct(r, 50)) {
        n = rng_int(r, 100, 60000);
        while (!is_prime(n))
            n++;
    } else {
        int64_t f1 = rng_int(r, 7, 180); /* one draw per statement: operand order is unspecified */
        n = f1 * rng_int(r, 11, 400);
        if (n % 2 == 0 && rng_pct(r, 70)) n++; /* odd composites are the harder ones */
    }
    int prime = is_prime(n);
    switch (rng_int(r, 0, 3)) {
    case 0:
        sb_printf(b, "Is %" PRId64 " a prime number?\n%s\n", n, prime ? "True" : "False");
        break;
    case 1:
        sb_printf(b, "Is %" PRId64 " prime?\n%s\n", n, prime ? "True" : "False");
        break;
    case 2:
        sb_printf(b, "Is %" PRId64 " composite?\n%s\n", n, prime ? "False" : "True");
        break;
    default:
        sb_printf(b, "Is %" PRId64 " a composite number?\n%s\n", n, prime ? "False" : "True");
        break;
    }
}

typedef struct unit {
    const char *name;
    int exp10; /* the unit is 10^exp10 of the group's base unit */
} unit;

static void mod_units(rng *r, sbuf *b) {
    static const unit length[] = {{"kilometers", 3},   {"meters", 0},       {"centimeters", -2},
                                  {"millimeters", -3}, {"micrometers", -6}, {"nanometers", -9}};
    static const unit mass[] = {{"tonnes", 6},      {"kilograms", 3},   {"grams", 0},
                                {"milligrams", -3}, {"micrograms", -6}, {"nanograms", -9}};
    static const unit volume[] = {{"litres", 0}, {"millilitres", -3}, {"kilolitres", 3}};
    static const unit time_[] = {
        {"seconds", 0}, {"milliseconds", -3}, {"microseconds", -6}, {"nanoseconds", -9}};
    /* Non-decimal conversions, always from the larger unit to the smaller. */
    static const struct {
        const char *big, *small;
        int64_t factor;
    } mixed[] = {{"minutes", "seconds", 60},  {"hours", "minutes", 60},
                 {"days", "hours", 24},       {"weeks", "days", 7},
                 {"years", "months", 12},     {"decades", "years", 10},
                 {"centuries", "years", 100}, {"millennia", "decades", 100}};
    int64_t mant = rng_int(r, 1, rng_pct(r, 50) ? 99 : 99999);
    int dp = (int)rng_int(r, 0, 3);
    const char *from, *to;
    int64_t amant; /* answer = amant * 10^aexp */
    int aexp;
    int g = (int)rng_int(r, 0, 4);
    if (g < 4) {
        const unit *u = g == 0 ? length : g == 1 ? mass : g == 2 ? volume : time_;
        int n = g == 0 ? 6 : g == 1 ? 6 : g == 2 ? 3 : 4;
        int i, j;
        do {
            i = (int)rng_int(r, 0, n - 1);
            j = (int)rng_int(r, 0, n - 1);
        } while (i == j || abs(u[i].exp10 - u[j].exp10) > 6);
        from = u[i].name;
        to = u[j].name;
        amant = mant;
        aexp = u[i].exp10 - u[j].exp10 - dp;
    } else {
        int i = (int)rng_int(r, 0, (int)(sizeof mixed / sizeof mixed[0]) - 1);
        from = mixed[i].big;
        to = mixed[i].small;
        dp = dp > 2 ? 2 : dp;
        amant = mant * mixed[i].factor;
        aexp = -dp;
    }
    switch (rng_int(r, 0, 2)) {
    case 0:
        sb_printf(b, "How many %s are there in ", to);
        sb_dec(b, mant, -dp);
        sb_printf(b, " %s?", from);
        break;
    case 1:
        sb_printf(b, "What is ");
        sb_dec(b, mant, -dp);
        sb_printf(b, " %s in %s?", from, to);
        break;
    default:
        sb_printf(b, "Convert ");
        sb_dec(b, mant, -dp);
        sb_printf(b, " %s to %s.", from, to);
        break;
    }
    sb_printf(b, "\n");
    sb_dec(b, amant, aexp);
    sb_printf(b, "\n");
}

static void mod_probability(rng *r, sbuf *b) {
    int nl = (int)rng_int(r, 2, 3), k = (int)rng_int(r, 2, 3);
    char let[3];
    int cnt[3], total = 0;
    let[0] = rng_var(r);
    let[1] = rng_var_not(r, let[0]);
    do
        let[2] = rng_var_not(r, let[0]);
    while (let[2] == let[1]);
    for (int i = 0; i < nl; i++)
        total += cnt[i] = (int)rng_int(r, 1, 6);
    if (total < k) cnt[0] += k - total, total = k;
    /* The bag as a shuffled string or as counts. */
    char bag[32];
    {
        int n = 0;
        for (int i = 0; i < nl; i++)
            for (int j = 0; j < cnt[i]; j++)
                bag[n++] = let[i];
        for (int i = n - 1; i > 0; i--) {
            int j = (int)rng_int(r, 0, i);
            char t = bag[i];
            bag[i] = bag[j];
            bag[j] = t;
        }
        bag[n] = 0;
    }
    sbuf bagtxt = {0};
    if (rng_pct(r, 50))
        sb_printf(&bagtxt, "%s", bag);
    else {
        sb_printf(&bagtxt, "{");
        for (int i = 0; i < nl; i++)
            sb_printf(&bagtxt, "%s%c: %d", i ? ", " : "", let[i], cnt[i]);
        sb_printf(&bagtxt, "}");
    }
    if (bagtxt.oom) {
        b->oom = 1;
        return;
    }
    const char *kw = k == 2 ? "Two" : "Three", *kl = k == 2 ? "two" : "three";
    rat p = {1, 1};
    if (rng_pct(r, 60)) { /* an ordered sequence */
        char seq[4];
        int left[3] = {cnt[0], cnt[1], cnt[2]}, tot = total;
        for (int i = 0; i < k; i++) {
            int li = (int)rng_int(r, 0, nl - 1);
            seq[i] = let[li];
            p = rat_mul(p, rat_make(left[li] > 0 ? left[li] : 0, tot));
            if (left[li] > 0) left[li]--;
            tot--;
        }
        seq[k] = 0;
        if (rng_pct(r, 50))
            sb_printf(b,
                      "%s letters picked without replacement from %s. What is prob of sequence %s?",
                      kw, bagtxt.p, seq);
        else
            sb_printf(b,
                      "Calculate prob of sequence %s when %s letters picked without replacement "
                      "from %s.",
                      seq, kl, bagtxt.p);
    } else { /* an unordered multiset: prod C(cnt, m) / C(total, k) */
        int m[3] = {0, 0, 0};
        for (int i = 0; i < k; i++)
            m[rng_int(r, 0, nl - 1)]++;
        int64_t num = 1, den = 1;
        for (int i = 0; i < nl; i++) { /* C(cnt, m) for m <= 3 */
            int64_t c = 1;
            for (int j = 0; j < m[i]; j++)
                c = c * (cnt[i] - j) / (j + 1);
            num *= cnt[i] >= m[i] ? c : 0;
        }
        for (int j = 0; j < k; j++)
            den = den * (total - j) / (j + 1);
        p = rat_make(num, den);
        sbuf what = {0};
        int first = 1;
        for (int i = 0; i < nl; i++) {
            if (!m[i]) continue;
            sb_printf(&what, "%s%d %c", first ? "" : " and ", m[i], let[i]);
            first = 0;
        }
        if (what.oom) {
            free(bagtxt.p);
            b->oom = 1;
            return;
        }
        if (rng_pct(r, 50))
            sb_printf(b,
                      "What is prob of picking %s when %s letters picked without replacement "
                      "from %s?",
                      what.p, kl, bagtxt.p);
        else
            sb_printf(b, "%s letters picked without replacement from %s. Give prob of picking %s.",
                      kw, bagtxt.p, what.p);
        free(what.p);
    }
    free(bagtxt.p);
    sb_printf(b, "\n");
    sb_rat(b, p);
    sb_printf(b, "\n");
}

static void mod_sequence(rng *r, sbuf *b) {
    int deg = (int)rng_int(r, 1, 3);
    static const int64_t cmax[] = {400, 80, 15, 4};
    poly p = {{0}};
    for (int k = 0; k <= deg; k++)
        p.c[k] = k == deg ? rng_nz(r, -cmax[k], cmax[k]) : rng_int(r, -cmax[k], cmax[k]);
    int shown = deg + 3;
    switch (rng_int(r, 0, 2)) {
    case 0:
        sb_printf(b, "What is next in ");
        break;
    case 1:
        sb_printf(b, "What comes next: ");
        break;
    default:
        sb_printf(b, "What is the next term in ");
        break;
    }
    for (int n = 1; n <= shown; n++)
        sb_printf(b, "%s%" PRId64, n > 1 ? ", " : "", poly_eval(&p, n));
    sb_printf(b, "?\n%" PRId64 "\n", poly_eval(&p, shown + 1));
}

/* A number written as an integer, a fraction or a decimal; *v is its exact value. */
static void number_operand(rng *r, sbuf *b, rat *v) {
    switch (rng_int(r, 0, 2)) {
    case 0: {
        int64_t n = rng_int(r, -12, 12);
        *v = rat_make(n, 1);
        sb_printf(b, "%" PRId64, n);
        break;
    }
    case 1: {
        rat q;
        do {
            int64_t num = rng_nz(r, -40, 40);
            q = rat_make(num, rng_int(r, 2, 13));
        } while (q.d == 1);
        *v = q;
        sb_rat(b, q);
        break;
    }
    default: {
        int dp = (int)rng_int(r, 1, 2);
        int64_t m = rng_int(r, -500, 500);
        if (dp == 1) m /= 10;
        if (m % 10 == 0) m += m < 0 ? -1 : 1; /* keep the decimal visible */
        *v = rat_make(m, pow10_64(dp));
        sb_dec(b, m, -dp);
        break;
    }
    }
}

static void mod_comparison(rng *r, sbuf *b) {
    sbuf x = {0}, y = {0};
    rat vx, vy;
    do {
        x.n = y.n = 0;
        number_operand(r, &x, &vx);
        number_operand(r, &y, &vy);
    } while (!x.oom && !y.oom && (rat_cmp(vx, vy) == 0 || !strcmp(x.p, y.p)));
    if (x.oom || y.oom) {
        free(x.p);
        free(y.p);
        b->oom = 1;
        return;
    }
    int c = rat_cmp(vx, vy);
    switch (rng_int(r, 0, 6)) {
    case 0:
        sb_printf(b, "Which is bigger: %s or %s?\n%s\n", x.p, y.p, c > 0 ? x.p : y.p);
        break;
    case 1:
        sb_printf(b, "Which is greater: %s or %s?\n%s\n", x.p, y.p, c > 0 ? x.p : y.p);
        break;
    case 2:
        sb_printf(b, "Which is smaller: %s or %s?\n%s\n", x.p, y.p, c < 0 ? x.p : y.p);
        break;
    case 3:
        sb_printf(b, "Is %s less than %s?\n%s\n", x.p, y.p, c < 0 ? "True" : "False");
        break;
    case 4:
        sb_printf(b, "Is %s greater than %s?\n%s\n", x.p, y.p, c > 0 ? "True" : "False");
        break;
    case 5:
        sb_printf(b, "Is %s bigger than %s?\n%s\n", x.p, y.p, c > 0 ? "True" : "False");
        break;
    default:
        sb_printf(b, "Is %s smaller than %s?\n%s\n", x.p, y.p, c < 0 ? "True" : "False");
        break;
    }
    free(x.p);
    free(y.p);
}

static void mod_rounding(rng *r, sbuf *b) {
    static const char *const words[] = {"zero", "one", "two", "three", "four", "five", "six"};
    static const char *const nearest[] = {
        "",           "ten", "one hundred", "one thousand", "ten thousand", "one hundred thousand",
        "one million"};
    for (;;) {
        int64_t mant;
        int scale, t; /* value = mant * 10^-scale, rounded to a multiple of 10^t */
        int places = rng_pct(r, 50);
        if (places) {
            scale = (int)rng_int(r, 3, 8);
            mant = rng_nz(r, -99999999, 99999999);
            mant /= pow10_64((int)rng_int(r, 0, 4));
            t = -(int)rng_int(r, 1, scale - 1 < 6 ? scale - 1 : 6);
        } else {
            scale = (int)rng_int(r, 0, 2);
            mant = rng_nz(r, -9999999, 9999999);
            t = (int)rng_int(r, 1, 6);
        }
        if (mant == 0) continue;
        int64_t step = pow10_64(t + scale), rem = mant % step;
        if (2 * abs64(rem) == step) continue; /* no ties: the rounding rule stays moot */
        int64_t down = mant - rem;            /* toward zero */
        int64_t res = 2 * abs64(rem) > step ? down + (mant < 0 ? -step : step) : down;
        if (abs64(mant) < step / 10) continue; /* rounding must leave a nonzero digit's work */
        if (places) {
            int p = -t;
            switch (rng_int(r, 0, 2)) {
            case 0:
                sb_printf(b, "Round ");
                sb_dec(b, mant, -scale);
                sb_printf(b, " to %s decimal place%s.", words[p], p > 1 ? "s" : "");
                break;
            case 1:
                sb_printf(b, "What is ");
                sb_dec(b, mant, -scale);
                sb_printf(b, " rounded to %d dp%s?", p, p > 1 ? "s" : "");
                break;
            default:
                sb_printf(b, "Round ");
                sb_dec(b, mant, -scale);
                sb_printf(b, " to %d decimal place%s.", p, p > 1 ? "s" : "");
                break;
            }
        } else if (rng_pct(r, 50)) {
            sb_printf(b, "Round ");
            sb_dec(b, mant, -scale);
            sb_printf(b, " to the nearest %s.", nearest[t]);
        } else {
            sb_printf(b, "What is ");
            sb_dec(b, mant, -scale);
            sb_printf(b, " rounded to the nearest %" PRId64 "?", pow10_64(t));
        }
        sb_printf(b, "\n");
        sb_dec(b, res, -scale);
        sb_printf(b, "\n");
        return;
    }
}

static void mod_place_value(rng *r, sbuf *b) {
    static const char *const names[] = {
        "units", "tens", "hundreds", "thousands", "ten thousands", "hundred thousands", "millions"};
    int digits = (int)rng_int(r, 2, 8);
    int64_t n = rng_int(r, pow10_64(digits - 1), pow10_64(digits) - 1);
    int pos = (int)rng_int(r, 0, digits - 1 < 6 ? digits - 1 : 6);
    sb_printf(b, "What is the %s digit of %" PRId64 "?\n%" PRId64 "\n", names[pos], n,
              n / pow10_64(pos) % 10);
}

typedef void (*module_fn)(rng *, sbuf *);
static const struct {
    const char *name;
    module_fn fn;
} modules[] = {
    {"algebra__linear_1d", mod_linear_1d},
    {"algebra__linear_2d", mod_linear_2d},
    {"arithmetic__fractions", mod_fractions},
    {"polynomials__evaluate", mod_poly_evaluate},
    {"polynomials__expand", mod_poly_expand},
    {"calculus__differentiate", mod_differentiate},
    {"numbers__div_remainder", mod_remainder},
    {"numbers__gcd", mod_gcd},
    {"numbers__lcm", mod_lcm},
    {"numbers__is_prime", mod_is_prime},
    {"measurement__conversion", mod_units},
    {"probability__swr", mod_probability},
    {"algebra__sequence_next_term", mod_sequence},
    {"comparison__pair", mod_comparison},
    {"arithmetic__round_number", mod_rounding},
    {"numbers__place_value", mod_place_value},
};
enum { N_MODULES = (int)(sizeof modules / sizeof modules[0]) };

int ms_dm_math_n_modules(void) {
    return N_MODULES;
}

const char *ms_dm_math_module_name(int i) {
    return i >= 0 && i < N_MODULES ? modules[i].name : NULL;
}

int ms_dm_math_doc(uint64_t seed, int64_t index, char **text, size_t *len, char *err,
                   size_t errlen) {
    *text = NULL;
    *len = 0;
    if (index < 0) {
        snprintf(err, errlen, "dm_math: document index %" PRId64 " is negative", index);
        return MS_ERR_INPUT;
    }
    rng r = {seed};
    r.s = rng_next(&r) ^ ((uint64_t)index * 0xD1B54A32D192ED03ull);
    (void)rng_next(&r);
    int m = (int)(index % N_MODULES);
    int pairs = (int)rng_int(&r, 10, 18);
    sbuf b = {0};
    for (int i = 0; i < pairs && !b.oom; i++)
        modules[m].fn(&r, &b);
    if (b.oom) {
        free(b.p);
        snprintf(err, errlen, "dm_math: out of memory");
        return MS_ERR_RUNTIME;
    }
    *text = b.p;
    *len = b.n;
    return 0;
}
