/* run.c — the streaming pass of `moescope analyze`: reads a route store chunk by chunk,
 * accumulates per layer × domain × expert counts, repetition pairs, co-activation and
 * vocabulary counts, and the per-document Poisson-bootstrap replicate sums; then turns them
 * into the ms_analysis result (docs/ANALYSIS.md has the exact definitions).
 *
 * Memory (all bounded by the store's shape, never by its token count):
 *   counts        (L, n_dom, 4E + 3) int64 + co-activation (L, E, E)
 *   replicates    (B, n_dom, L, 4E + 3) double + (B, n_dom) tokens
 *   document      (n_documents) int32 domain table
 *   vocabulary    (L, vcap, E) uint32, vcap grown to the largest token id seen
 *   chunk         (chunk_rows, L_stored, k) int32 ids + 3 × chunk_rows int32 */
#include "analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BOOTSTRAP 200
#define DEFAULT_TOP_N     10
#define DEFAULT_CHUNK     65536
#define MAX_VOCAB         (1 << 24) /* token ids beyond this are treated as corrupt */

void ms_analysis_opts_default(ms_analysis_opts *o) {
    memset(o, 0, sizeof *o);
    o->bootstrap = DEFAULT_BOOTSTRAP;
    o->seed = 1;
    o->top_n = DEFAULT_TOP_N;
    o->vocabulary = 1;
    o->chunk_rows = DEFAULT_CHUNK;
}

/* Layout of one (layer, domain) count vector; also of the per-document and replicate sums. */
enum { Q_ASSIGN = 0 }; /* + e; Q_FIRST = E, Q_SECOND = 2E, Q_CONTAINS = 3E */
#define Q_FIRST(E)    (E)
#define Q_SECOND(E)   (2 * (E))
#define Q_CONTAINS(E) (3 * (E))
#define Q_PAIRS(E)    (4 * (E))
#define Q_FEQ(E)      (4 * (E) + 1)
#define Q_TINT(E)     (4 * (E) + 2)
#define NQ(E)         (4 * (E) + 3)

typedef struct acc {
    const ms_routes_info *info;
    int E, k, L, n_dom, B, Ls;
    int *slot;           /* [L] stored-layer slot of each analysed layer */
    int64_t *cnt;        /* (L, n_dom, NQ) */
    int64_t *dom_tokens; /* [n_dom] */
    int64_t *dom_docs;   /* [n_dom] */
    int64_t *co_pair;    /* (L, E, E) */
    int64_t *co_tokens;  /* (L, E) */
    int32_t *doc_domain; /* [n_documents] */
    /* bootstrap */
    double *local; /* (L, NQ) counts of the current document */
    int64_t local_tokens;
    int64_t cur_doc;    /* -1: none */
    double *rep;        /* (B, n_dom, L, NQ) */
    double *rep_tokens; /* (B, n_dom) */
    /* vocabulary */
    int vocab_on;
    int64_t vcap;
    uint32_t **vocab; /* [L] -> (vcap, E) */
    int64_t *occ;     /* [vcap] */
    /* repetition across chunk boundaries */
    int have_prev;
    int32_t prev_doc, prev_pos;
    int32_t *prev_ids; /* (L, k) */
    int64_t row0;      /* row index of the current chunk's first row (for messages) */
} acc;

static void acc_free(acc *a) {
    free(a->slot), free(a->cnt), free(a->dom_tokens), free(a->dom_docs), free(a->co_pair);
    free(a->co_tokens), free(a->doc_domain), free(a->local), free(a->rep), free(a->rep_tokens);
    if (a->vocab)
        for (int l = 0; l < a->L; l++)
            free(a->vocab[l]);
    free(a->vocab), free(a->occ), free(a->prev_ids);
}

static void *xcalloc(int64_t n, size_t sz) {
    if (n < 0 || (n > 0 && (uint64_t)n > SIZE_MAX / sz)) return NULL;
    return calloc(n ? (size_t)n : 1, sz);
}

/* Adds the current document's counts to its domain's replicate sums with weight w_bd. */
static void flush_doc(acc *a, uint64_t seed) {
    if (a->cur_doc < 0) return;
    int d = a->doc_domain[a->cur_doc];
    int64_t nq = NQ(a->E), per = (int64_t)a->L * nq;
    if (a->B > 0 && a->local_tokens > 0) {
        for (int b = 0; b < a->B; b++) {
            int w = ms_bootstrap_weight(seed, b, a->cur_doc);
            if (!w) continue;
            double *dst = a->rep + ((int64_t)b * a->n_dom + d) * per;
            for (int64_t i = 0; i < per; i++)
                dst[i] += w * a->local[i];
            a->rep_tokens[(int64_t)b * a->n_dom + d] += w * (double)a->local_tokens;
        }
    }
    if (a->B > 0) memset(a->local, 0, sizeof *a->local * (size_t)per);
    a->local_tokens = 0;
    a->cur_doc = -1;
}

static int vocab_grow(acc *a, int64_t tok, char *err, size_t errlen, const char *path) {
    int64_t ncap = a->vcap ? a->vcap : 1024;
    while (ncap <= tok)
        ncap *= 2;
    if (ncap > MAX_VOCAB) ncap = MAX_VOCAB;
    for (int l = 0; l < a->L; l++) {
        uint32_t *p = realloc(a->vocab[l], sizeof *p * (size_t)(ncap * a->E));
        if (!p) goto oom;
        memset(p + a->vcap * a->E, 0, sizeof *p * (size_t)((ncap - a->vcap) * a->E));
        a->vocab[l] = p;
    }
    int64_t *o = realloc(a->occ, sizeof *o * (size_t)ncap);
    if (!o) goto oom;
    memset(o + a->vcap, 0, sizeof *o * (size_t)(ncap - a->vcap));
    a->occ = o;
    a->vcap = ncap;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory for vocabulary counts (%lld ids)", path,
             (long long)ncap);
    return MS_ERR_RUNTIME;
}

/* Accumulates rows [0, n) of one chunk. ids is (n, Ls, k). */
static int acc_rows(acc *a, int64_t n, const int32_t *tok, const int32_t *doc, const int32_t *pos,
                    const int32_t *ids, uint64_t seed, const char *path, char *err, size_t errlen) {
    const int E = a->E, k = a->k, L = a->L;
    const int64_t nq = NQ(E);
    for (int64_t t = 0; t < n; t++) {
        int64_t row = a->row0 + t;
        if (doc[t] < 0 || doc[t] >= a->info->n_documents) {
            snprintf(err, errlen, "%s: /tokens/doc[%lld] = %d is not a document index", path,
                     (long long)row, doc[t]);
            return MS_ERR_INPUT;
        }
        if (pos[t] < 0) {
            snprintf(err, errlen, "%s: /tokens/pos[%lld] = %d is negative", path, (long long)row,
                     pos[t]);
            return MS_ERR_INPUT;
        }
        if (a->vocab_on && (tok[t] < 0 || tok[t] >= MAX_VOCAB)) {
            snprintf(err, errlen, "%s: /tokens/id[%lld] = %d is out of range", path, (long long)row,
                     tok[t]);
            return MS_ERR_INPUT;
        }
        if (doc[t] != a->cur_doc) {
            flush_doc(a, seed);
            a->cur_doc = doc[t];
        }
        int d = a->doc_domain[doc[t]];
        a->dom_tokens[d]++;
        a->local_tokens++;
        int pair = a->have_prev && a->prev_doc == doc[t] && pos[t] == (int64_t)a->prev_pos + 1;
        if (a->vocab_on) {
            if (tok[t] >= a->vcap) {
                int rc = vocab_grow(a, tok[t], err, errlen, path);
                if (rc) return rc;
            }
            a->occ[tok[t]]++;
        }
        for (int l = 0; l < L; l++) {
            const int32_t *id = ids + (t * a->Ls + a->slot[l]) * k; /* [k] */
            int64_t *c = a->cnt + ((int64_t)l * a->n_dom + d) * nq;
            double *loc = a->B > 0 ? a->local + (int64_t)l * nq : NULL;
            for (int r = 0; r < k; r++)
                if (id[r] < 0 || id[r] >= E) {
                    snprintf(err, errlen, "%s: /routing/expert[%lld, %d, %d] = %d is not < %d",
                             path, (long long)row, a->slot[l], r, id[r], E);
                    return MS_ERR_INPUT;
                }
            for (int r = 0; r < k; r++) {
                c[Q_ASSIGN + id[r]]++;
                if (loc) loc[Q_ASSIGN + id[r]] += 1;
                int dup = 0;
                for (int q = 0; q < r; q++)
                    dup |= id[q] == id[r];
                if (dup) continue; /* contains / co-activation / vocabulary count sets */
                c[Q_CONTAINS(E) + id[r]]++;
                if (loc) loc[Q_CONTAINS(E) + id[r]] += 1;
                a->co_tokens[(int64_t)l * E + id[r]]++;
                int64_t *cp = a->co_pair + (int64_t)l * E * E;
                for (int q = 0; q < r; q++) {
                    int dq = 0;
                    for (int s = 0; s < q; s++)
                        dq |= id[s] == id[q];
                    if (dq) continue;
                    cp[(int64_t)id[r] * E + id[q]]++;
                    cp[(int64_t)id[q] * E + id[r]]++;
                }
                if (a->vocab_on) a->vocab[l][(int64_t)tok[t] * E + id[r]]++;
            }
            c[Q_FIRST(E) + id[0]]++;
            if (loc) loc[Q_FIRST(E) + id[0]] += 1;
            if (k >= 2) {
                c[Q_SECOND(E) + id[1]]++;
                if (loc) loc[Q_SECOND(E) + id[1]] += 1;
            }
            if (pair) {
                const int32_t *pv = a->prev_ids + (int64_t)l * k;
                int feq = pv[0] == id[0], inter = 0;
                for (int r = 0; r < k && !inter; r++)
                    for (int q = 0; q < k; q++)
                        if (pv[r] == id[q]) {
                            inter = 1;
                            break;
                        }
                c[Q_PAIRS(E)]++, c[Q_FEQ(E)] += feq, c[Q_TINT(E)] += inter;
                if (loc) loc[Q_PAIRS(E)] += 1, loc[Q_FEQ(E)] += feq, loc[Q_TINT(E)] += inter;
            }
            memcpy(a->prev_ids + (int64_t)l * k, id, sizeof *id * (size_t)k);
        }
        a->have_prev = 1;
        a->prev_doc = doc[t];
        a->prev_pos = pos[t];
    }
    return 0;
}

/* Sums the parts' accumulators (ms_analysis_opts.reduce). Every sum is of integers (the
 * replicate sums too: integer weights times integer counts, exact in double), so the result
 * does not depend on how the documents were split. Vocabulary tables first agree on the
 * largest capacity (every part grows along the same 1024 * 2^j sequence). */
static int reduce_parts(acc *a, const ms_analysis_opts *o, const char *path, char *err,
                        size_t errlen) {
    const int64_t L = a->L, D = a->n_dom, E = a->E, nq = NQ(a->E);
    void *u = o->reduce_user;
    int rc = 0;
    rc = rc ? rc : o->reduce(u, a->cnt, L * D * nq, MS_REDUCE_SUM_I64);
    rc = rc ? rc : o->reduce(u, a->dom_tokens, D, MS_REDUCE_SUM_I64);
    rc = rc ? rc : o->reduce(u, a->dom_docs, D, MS_REDUCE_SUM_I64);
    rc = rc ? rc : o->reduce(u, a->co_pair, L * E * E, MS_REDUCE_SUM_I64);
    rc = rc ? rc : o->reduce(u, a->co_tokens, L * E, MS_REDUCE_SUM_I64);
    rc = rc ? rc : o->reduce(u, a->rep, (int64_t)a->B * D * L * nq, MS_REDUCE_SUM_F64);
    rc = rc ? rc : o->reduce(u, a->rep_tokens, (int64_t)a->B * D, MS_REDUCE_SUM_F64);
    if (!rc && a->vocab_on) {
        int64_t cap = a->vcap;
        rc = o->reduce(u, &cap, 1, MS_REDUCE_MAX_I64);
        if (!rc && cap > a->vcap) rc = vocab_grow(a, cap - 1, err, errlen, path);
        if (rc) return rc;
        if (a->vcap != cap) {
            snprintf(err, errlen, "%s: vocabulary tables of the parts differ (%lld, %lld)", path,
                     (long long)a->vcap, (long long)cap);
            return MS_ERR_RUNTIME;
        }
        for (int64_t l = 0; l < L && !rc && cap > 0; l++)
            rc = o->reduce(u, a->vocab[l], cap * E, MS_REDUCE_SUM_U32);
        if (!rc && cap > 0) rc = o->reduce(u, a->occ, cap, MS_REDUCE_SUM_I64);
    }
    if (rc) snprintf(err, errlen, "%s: cannot combine the counts of the parts", path);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Results.
 */
static int ds_alloc(ms_domain_stats *s, int E) {
    memset(s, 0, sizeof *s);
    s->assign_count = calloc((size_t)E, sizeof(int64_t));
    s->first_count = calloc((size_t)E, sizeof(int64_t));
    s->second_count = calloc((size_t)E, sizeof(int64_t));
    s->contains_count = calloc((size_t)E, sizeof(int64_t));
    s->share = calloc((size_t)E, sizeof(double));
    s->first_share = calloc((size_t)E, sizeof(double));
    s->second_share = calloc((size_t)E, sizeof(double));
    s->contains_share = calloc((size_t)E, sizeof(double));
    s->share_ci = calloc((size_t)E, sizeof(ms_ci));
    s->first_share_ci = calloc((size_t)E, sizeof(ms_ci));
    s->second_share_ci = calloc((size_t)E, sizeof(ms_ci));
    s->contains_share_ci = calloc((size_t)E, sizeof(ms_ci));
    return s->assign_count && s->first_count && s->second_count && s->contains_count && s->share &&
                   s->first_share && s->second_share && s->contains_share && s->share_ci &&
                   s->first_share_ci && s->second_share_ci && s->contains_share_ci
               ? 0
               : -1;
}

static void ds_free(ms_domain_stats *s) {
    free(s->assign_count), free(s->first_count), free(s->second_count), free(s->contains_count);
    free(s->share), free(s->first_share), free(s->second_share), free(s->contains_share);
    free(s->share_ci), free(s->first_share_ci), free(s->second_share_ci);
    free(s->contains_share_ci);
}

void ms_analysis_free(ms_analysis *a) {
    if (!a) return;
    if (a->layers)
        for (int l = 0; l < a->n_layers; l++) {
            ms_layer_stats *ls = &a->layers[l];
            if (ls->domains)
                for (int d = 0; d < a->n_domains; d++)
                    ds_free(&ls->domains[d]);
            free(ls->domains);
            ds_free(&ls->all);
            free(ls->js_bits), free(ls->co_tokens), free(ls->co_pair), free(ls->co_ratio);
            free(ls->vocab), free(ls->vocab_n);
        }
    free(a->layers);
    if (a->domains)
        for (int d = 0; d < a->n_domains; d++)
            free(a->domains[d]);
    free(a->domains), free(a->stored_layers), free(a->path);
    free(a->model_json), free(a->tokenizer_json), free(a->manifest_json);
    free(a->store_command_line), free(a->store_tool_version), free(a->store_created);
    free(a->command_line);
    free(a);
}

static char *dupstr(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Percentile interval of ratio num/den over replicates whose denominator is positive. */
static ms_ci ci_of(double *tmp, const double *num, const double *den, int B, int64_t stride) {
    ms_ci ci = {NAN, NAN};
    int n = 0;
    for (int b = 0; b < B; b++) {
        double dv = den[(int64_t)b * stride];
        if (dv > 0) tmp[n++] = num[(int64_t)b * stride] / dv;
    }
    if (n == 0) return ci;
    ci.lo = ms_quantile_sorted_inplace(tmp, n, 0.025);
    ci.hi = ms_quantile_sorted_inplace(tmp, n, 0.975);
    return ci;
}

/* Fills s from counts c[NQ] and tokens n; rep/rep_tok are this cell's replicate sums
 * ([B] vectors of NQ and of 1, consecutive) or NULL. */
static void ds_fill(ms_domain_stats *s, const int64_t *c, int64_t n, int E, int k,
                    const double *rep, const double *rep_tok, int B, double *tmp, double *num,
                    double *den) {
    s->n_tokens = n;
    double kn = (double)k * (double)n;
    for (int e = 0; e < E; e++) {
        s->assign_count[e] = c[Q_ASSIGN + e];
        s->first_count[e] = c[Q_FIRST(E) + e];
        s->second_count[e] = c[Q_SECOND(E) + e];
        s->contains_count[e] = c[Q_CONTAINS(E) + e];
        s->share[e] = n ? (double)c[Q_ASSIGN + e] / kn : 0;
        s->first_share[e] = n ? (double)c[Q_FIRST(E) + e] / (double)n : 0;
        s->second_share[e] = n && k >= 2 ? (double)c[Q_SECOND(E) + e] / (double)n : 0;
        s->contains_share[e] = n ? (double)c[Q_CONTAINS(E) + e] / (double)n : 0;
    }
    s->n_pairs = c[Q_PAIRS(E)];
    s->first_equal = c[Q_FEQ(E)];
    s->topk_intersect = c[Q_TINT(E)];
    s->first_equal_rate = s->n_pairs ? (double)s->first_equal / (double)s->n_pairs : 0;
    s->topk_intersect_rate = s->n_pairs ? (double)s->topk_intersect / (double)s->n_pairs : 0;
    s->entropy_bits = ms_entropy_bits(s->share, E);
    s->entropy_normalized = E > 1 ? s->entropy_bits / log2((double)E) : 0;
    double mean = 0, var = 0, mx = 0;
    for (int e = 0; e < E; e++) {
        mean += (double)s->assign_count[e] / E;
        if ((double)s->assign_count[e] > mx) mx = (double)s->assign_count[e];
    }
    for (int e = 0; e < E; e++)
        var += pow((double)s->assign_count[e] - mean, 2) / E;
    s->load_max_over_mean = mean > 0 ? mx / mean : 0;
    s->load_cv = mean > 0 ? sqrt(var) / mean : 0;

    ms_ci none = {NAN, NAN};
    s->first_equal_ci = s->topk_intersect_ci = none;
    for (int e = 0; e < E; e++)
        s->share_ci[e] = s->first_share_ci[e] = s->second_share_ci[e] = s->contains_share_ci[e] =
            none;
    if (!rep || B <= 0 || n == 0) return;
    /* num/den: scratch [B]; ratios per replicate from the weighted sums */
    int nq = NQ(E);
    for (int b = 0; b < B; b++)
        den[b] = rep_tok[b];
    for (int e = 0; e < E; e++) {
        for (int b = 0; b < B; b++)
            num[b] = rep[(int64_t)b * nq + Q_ASSIGN + e] / k;
        s->share_ci[e] = ci_of(tmp, num, den, B, 1);
        for (int b = 0; b < B; b++)
            num[b] = rep[(int64_t)b * nq + Q_FIRST(E) + e];
        s->first_share_ci[e] = ci_of(tmp, num, den, B, 1);
        if (k >= 2) {
            for (int b = 0; b < B; b++)
                num[b] = rep[(int64_t)b * nq + Q_SECOND(E) + e];
            s->second_share_ci[e] = ci_of(tmp, num, den, B, 1);
        }
        for (int b = 0; b < B; b++)
            num[b] = rep[(int64_t)b * nq + Q_CONTAINS(E) + e];
        s->contains_share_ci[e] = ci_of(tmp, num, den, B, 1);
    }
    if (s->n_pairs) {
        for (int b = 0; b < B; b++)
            den[b] = rep[(int64_t)b * nq + Q_PAIRS(E)];
        for (int b = 0; b < B; b++)
            num[b] = rep[(int64_t)b * nq + Q_FEQ(E)];
        s->first_equal_ci = ci_of(tmp, num, den, B, 1);
        for (int b = 0; b < B; b++)
            num[b] = rep[(int64_t)b * nq + Q_TINT(E)];
        s->topk_intersect_ci = ci_of(tmp, num, den, B, 1);
    }
}

typedef struct vtop {
    int32_t tok;
    uint32_t cnt;
} vtop;

/* Top-n tokens of expert e by count (ties: smaller id), by insertion into a sorted list. */
static int vocab_top(const acc *a, int l, int e, int top_n, ms_vocab_entry *out) {
    int m = 0;
    const uint32_t *v = a->vocab[l];
    vtop *lst = calloc((size_t)top_n, sizeof *lst);
    if (!lst) return -1;
    for (int64_t x = 0; x < a->vcap; x++) {
        uint32_t c = v[x * a->E + e];
        if (!c || (m == top_n && c <= lst[m - 1].cnt)) continue;
        int i = m < top_n ? m++ : m - 1;
        while (i > 0 && lst[i - 1].cnt < c) {
            lst[i] = lst[i - 1];
            i--;
        }
        lst[i].tok = (int32_t)x, lst[i].cnt = c;
    }
    for (int i = 0; i < m; i++) {
        out[i].token = lst[i].tok;
        out[i].count = lst[i].cnt;
        out[i].occurrences = a->occ[lst[i].tok];
        out[i].share = out[i].occurrences ? (double)out[i].count / (double)out[i].occurrences : 0;
    }
    free(lst);
    return m;
}

static int build_result(ms_analysis *res, acc *a, char *err, size_t errlen) {
    const int E = a->E, k = a->k, D = a->n_dom, B = a->B;
    const int64_t nq = NQ(E), per = (int64_t)a->L * nq;
    double *tmp = xcalloc(B + 1, sizeof(double)), *num = xcalloc(B + 1, sizeof(double));
    double *den = xcalloc(B + 1, sizeof(double));
    int64_t *pooled = xcalloc(nq, sizeof(int64_t)), *table = xcalloc((int64_t)D * E, 8);
    /* replicate sums of one (layer, domain) cell, gathered contiguous: (B, NQ) and [B] */
    double *cell = xcalloc((int64_t)B * nq + 1, sizeof(double));
    double *cell_tok = xcalloc(B + 1, sizeof(double));
    int rc = MS_ERR_RUNTIME;
    res->layers = calloc((size_t)a->L, sizeof *res->layers);
    if (!tmp || !num || !den || !pooled || !table || !cell || !cell_tok || !res->layers) goto oom;
    int64_t n_all = 0;
    for (int d = 0; d < D; d++)
        n_all += a->dom_tokens[d];
    for (int l = 0; l < a->L; l++) {
        ms_layer_stats *ls = &res->layers[l];
        ls->layer = a->info->layers[a->slot[l]];
        ls->domains = calloc((size_t)D, sizeof *ls->domains);
        if (!ls->domains) goto oom;
        memset(pooled, 0, sizeof *pooled * (size_t)nq);
        for (int d = 0; d < D; d++) {
            const int64_t *c = a->cnt + ((int64_t)l * D + d) * nq;
            if (ds_alloc(&ls->domains[d], E)) goto oom;
            for (int64_t q = 0; q < nq; q++)
                pooled[q] += c[q];
            for (int b = 0; b < B; b++) {
                memcpy(cell + (int64_t)b * nq, a->rep + ((int64_t)b * D + d) * per + l * nq,
                       sizeof *cell * (size_t)nq);
                cell_tok[b] = a->rep_tokens[(int64_t)b * D + d];
            }
            ds_fill(&ls->domains[d], c, a->dom_tokens[d], E, k, B ? cell : NULL, cell_tok, B, tmp,
                    num, den);
            ls->domains[d].n_documents = a->dom_docs[d];
            for (int e = 0; e < E; e++)
                table[(int64_t)d * E + e] = c[Q_FIRST(E) + e];
        }
        if (ds_alloc(&ls->all, E)) goto oom;
        memset(cell, 0, sizeof *cell * (size_t)((int64_t)B * nq + 1));
        memset(cell_tok, 0, sizeof *cell_tok * (size_t)(B + 1));
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                const double *src = a->rep + ((int64_t)b * D + d) * per + l * nq;
                for (int64_t q = 0; q < nq; q++)
                    cell[(int64_t)b * nq + q] += src[q];
                cell_tok[b] += a->rep_tokens[(int64_t)b * D + d];
            }
        ds_fill(&ls->all, pooled, n_all, E, k, B ? cell : NULL, cell_tok, B, tmp, num, den);
        ls->all.n_documents = a->info->n_documents;

        ls->js_bits = xcalloc((int64_t)D * D, sizeof(double));
        if (!ls->js_bits) goto oom;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                ls->js_bits[(int64_t)i * D + j] =
                    i == j ? (ls->domains[i].n_tokens ? 0 : NAN)
                           : ms_js_divergence_bits(ls->domains[i].share, ls->domains[j].share, E);
        ms_chi2_independence(table, D, E, &ls->chi2, &ls->chi2_dof, &ls->chi2_p);

        ls->co_tokens = xcalloc(E, sizeof(int64_t));
        ls->co_pair = xcalloc((int64_t)E * E, sizeof(int64_t));
        ls->co_ratio = xcalloc((int64_t)E * E, sizeof(double));
        if (!ls->co_tokens || !ls->co_pair || !ls->co_ratio) goto oom;
        memcpy(ls->co_tokens, a->co_tokens + (int64_t)l * E, sizeof(int64_t) * (size_t)E);
        memcpy(ls->co_pair, a->co_pair + (int64_t)l * E * E, sizeof(int64_t) * (size_t)E * E);
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++)
                ls->co_ratio[(int64_t)i * E + j] =
                    ls->co_tokens[i]
                        ? (double)ls->co_pair[(int64_t)i * E + j] / (double)ls->co_tokens[i]
                        : 0;
        if (a->vocab_on) {
            ls->vocab = xcalloc((int64_t)E * res->top_n, sizeof *ls->vocab);
            ls->vocab_n = xcalloc(E, sizeof(int));
            if (!ls->vocab || !ls->vocab_n) goto oom;
            for (int e = 0; e < E; e++) {
                int m = vocab_top(a, l, e, res->top_n, ls->vocab + (int64_t)e * res->top_n);
                if (m < 0) goto oom;
                ls->vocab_n[e] = m;
            }
        }
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory building the analysis result", res->path);
done:
    free(tmp), free(num), free(den), free(pooled), free(table), free(cell), free(cell_tok);
    return rc;
}

/* Expert ids not in rank order: which expert was first choice is unknown, so every figure
 * that depends on it is NaN (null in JSON, empty in CSV) rather than a wrong number. */
static void blank_ds(ms_domain_stats *s, int E) {
    for (int e = 0; e < E; e++) {
        s->first_share[e] = s->second_share[e] = NAN;
        s->first_share_ci[e].lo = s->first_share_ci[e].hi = NAN;
        s->second_share_ci[e].lo = s->second_share_ci[e].hi = NAN;
    }
    s->first_equal_rate = NAN;
    s->first_equal_ci.lo = s->first_equal_ci.hi = NAN;
}

static void blank_first_choice(ms_analysis *res) {
    for (int l = 0; l < res->n_layers; l++) {
        ms_layer_stats *ls = &res->layers[l];
        for (int d = 0; d < res->n_domains; d++)
            blank_ds(&ls->domains[d], res->n_expert);
        blank_ds(&ls->all, res->n_expert);
        ls->chi2 = ls->chi2_p = NAN;
        ls->chi2_dof = 0;
    }
    res->baseline_repeat_first = NAN;
}

int ms_analysis_run_routes(ms_analysis **out, ms_routes *r, const char *path,
                           const ms_analysis_opts *opts, char *err, size_t errlen) {
    *out = NULL;
    ms_analysis_opts defo;
    ms_analysis_opts_default(&defo);
    const ms_analysis_opts *o = opts ? opts : &defo;
    const ms_routes_info *info = ms_routes_info_get(r);
    acc a = {0};
    int32_t *tok = NULL, *doc = NULL, *pos = NULL, *ids = NULL;
    int rc = MS_ERR_RUNTIME;
    ms_analysis *res = calloc(1, sizeof *res);
    if (!res) {
        snprintf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    res->path = strdup(path);
    if (info->n_expert < 1 || info->k < 1 || info->k > info->n_expert || info->n_layers < 1 ||
        info->n_domains < 1 || info->n_tokens < 0 || info->n_documents < 0 ||
        info->n_documents > INT32_MAX) {
        snprintf(err, errlen, "%s: store shape E=%d k=%d layers=%d domains=%d is not analysable",
                 path, info->n_expert, info->k, info->n_layers, info->n_domains);
        rc = MS_ERR_INPUT;
        goto fail;
    }
    /* A store with no documents is valid (a capture over an empty corpus, or stopped before
     * its first commit), but every share would be 0/0: say so rather than print NaNs. */
    if (info->n_documents == 0) {
        snprintf(err, errlen, "%s: the store holds no documents: nothing to analyse", path);
        rc = MS_ERR_INPUT;
        goto fail;
    }
    a.info = info;
    a.E = info->n_expert, a.k = info->k, a.n_dom = info->n_domains, a.Ls = info->n_layers;
    a.B = o->bootstrap < 0 ? DEFAULT_BOOTSTRAP : o->bootstrap;
    a.vocab_on = o->vocabulary != 0;
    a.cur_doc = -1;
    res->top_n = o->top_n > 0 ? o->top_n : DEFAULT_TOP_N;
    int64_t chunk = o->chunk_rows > 0 ? o->chunk_rows : DEFAULT_CHUNK;
    if (chunk > info->n_tokens) chunk = info->n_tokens > 0 ? info->n_tokens : 1;

    /* analysed layers → stored slots */
    a.L = o->layers ? o->n_layers : info->n_layers;
    a.slot = xcalloc(a.L, sizeof(int));
    if (!a.slot || a.L < 1) {
        snprintf(err, errlen, "%s: no layers to analyse", path);
        rc = a.L < 1 ? MS_ERR_INPUT : MS_ERR_RUNTIME;
        goto fail;
    }
    for (int l = 0; l < a.L; l++) {
        if (!o->layers) {
            a.slot[l] = l;
            continue;
        }
        a.slot[l] = -1;
        for (int s = 0; s < info->n_layers; s++)
            if (info->layers[s] == o->layers[l]) a.slot[l] = s;
        if (a.slot[l] < 0) {
            if (ms_routes_layer_dense(info, o->layers[l]))
                snprintf(err, errlen,
                         "%s: layer %d is a dense layer of the model (no router, never stored)",
                         path, o->layers[l]);
            else
                snprintf(err, errlen, "%s: layer %d is not stored (stored: %d layers)", path,
                         o->layers[l], info->n_layers);
            rc = MS_ERR_INPUT;
            goto fail;
        }
    }
    const int E = a.E, D = a.n_dom, L = a.L;
    int64_t nq = NQ(E);
    a.cnt = xcalloc((int64_t)L * D * nq, sizeof(int64_t));
    a.dom_tokens = xcalloc(D, sizeof(int64_t));
    a.dom_docs = xcalloc(D, sizeof(int64_t));
    a.co_pair = xcalloc((int64_t)L * E * E, sizeof(int64_t));
    a.co_tokens = xcalloc((int64_t)L * E, sizeof(int64_t));
    a.doc_domain = xcalloc(info->n_documents, sizeof(int32_t));
    a.local = xcalloc((int64_t)L * nq, sizeof(double));
    a.rep = xcalloc((int64_t)a.B * D * L * nq, sizeof(double));
    a.rep_tokens = xcalloc((int64_t)a.B * D, sizeof(double));
    a.vocab = xcalloc(L, sizeof(uint32_t *));
    a.prev_ids = xcalloc((int64_t)L * a.k, sizeof(int32_t));
    tok = xcalloc(chunk, sizeof(int32_t));
    doc = xcalloc(chunk, sizeof(int32_t));
    pos = xcalloc(chunk, sizeof(int32_t));
    ids = xcalloc(chunk * a.Ls * a.k, sizeof(int32_t));
    if (!a.cnt || !a.dom_tokens || !a.dom_docs || !a.co_pair || !a.co_tokens || !a.doc_domain ||
        !a.local || !a.rep || !a.rep_tokens || !a.vocab || !a.prev_ids || !tok || !doc || !pos ||
        !ids) {
        snprintf(err, errlen, "%s: out of memory for the analysis state (bootstrap %d)", path, a.B);
        goto fail;
    }
    /* This part's documents [d_lo, d_hi) and rows [t_lo, t_hi): part p starts at the first
     * document whose first row r has r * n_parts >= p * n_tokens (whole store when serial). */
    const int parts = o->n_parts > 1 ? o->n_parts : 1, part = parts > 1 ? o->part : 0;
    if (part < 0 || part >= parts || (parts > 1 && !o->reduce)) {
        snprintf(err, errlen, "%s: part %d of %d without a reduction", path, part, parts);
        rc = MS_ERR_INPUT;
        goto fail;
    }
    int64_t d_lo = parts > 1 ? -1 : 0, d_hi = parts > 1 ? -1 : info->n_documents;
    int64_t t_lo = 0, t_hi = info->n_tokens;
    for (int64_t d = 0; d <= info->n_documents; d++) {
        int64_t f = info->n_tokens;
        if (d < info->n_documents && ms_routes_document(r, d, NULL, &f, NULL, NULL)) f = -1;
        if (d_lo < 0 && (d == info->n_documents || f * parts >= (int64_t)part * info->n_tokens))
            d_lo = d, t_lo = f;
        if (d_hi < 0 && (d == info->n_documents ||
                         (part + 1 < parts && f * parts >= (int64_t)(part + 1) * info->n_tokens)))
            d_hi = d, t_hi = f;
    }
    if (t_lo < 0 || t_hi < t_lo || d_hi < d_lo) {
        snprintf(err, errlen, "%s: cannot read the document table", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    rc = 0; /* a part may have no rows to read */
    for (int64_t d = 0; d < info->n_documents; d++) {
        int dom;
        int64_t first, nt;
        const char *src;
        rc = ms_routes_document(r, d, &dom, &first, &nt, &src);
        if (rc) {
            snprintf(err, errlen, "%s: cannot read document %lld", path, (long long)d);
            goto fail;
        }
        if (dom < 0 || dom >= D) {
            snprintf(err, errlen, "%s: /documents/domain[%lld] = %d is not < %d", path,
                     (long long)d, dom, D);
            rc = MS_ERR_INPUT;
            goto fail;
        }
        a.doc_domain[d] = dom;
        if (d >= d_lo && d < d_hi) a.dom_docs[dom]++;
    }
    for (int64_t t0 = t_lo; t0 < t_hi; t0 += chunk) {
        int64_t n = t_hi - t0 < chunk ? t_hi - t0 : chunk;
        rc = ms_routes_read(r, t0, n, tok, doc, pos, ids, NULL, NULL, err, errlen);
        if (rc) break;
        a.row0 = t0;
        rc = acc_rows(&a, n, tok, doc, pos, ids, o->seed, path, err, errlen);
        if (rc) break;
        if (o->progress) o->progress(o->progress_user, t0 + n - t_lo, t_hi - t_lo);
    }
    if (parts > 1) { /* every part reaches this point: agree on failure before reducing */
        int64_t worst = rc;
        if (o->reduce(o->reduce_user, &worst, 1, MS_REDUCE_MAX_I64)) worst = MS_ERR_RUNTIME;
        if (worst && !rc) {
            snprintf(err, errlen, "%s: another part of the distributed analysis failed", path);
            rc = (int)worst;
        }
    }
    if (rc) goto fail;
    flush_doc(&a, o->seed);
    if (parts > 1 && (rc = reduce_parts(&a, o, path, err, errlen))) goto fail;

    res->n_expert = E, res->k = a.k, res->n_domains = D, res->n_layers = L;
    res->n_tokens = info->n_tokens, res->n_documents = info->n_documents;
    res->has_logits = info->has_logits;
    res->bootstrap = a.B, res->seed = o->seed;
    res->baseline_share = 1.0 / E;
    res->baseline_contains = (double)a.k / E;
    res->baseline_repeat_first = ms_baseline_repeat_first(E);
    res->baseline_repeat_topk = ms_baseline_repeat_topk(E, a.k);
    res->domains = calloc((size_t)D, sizeof(char *));
    res->stored_layers = calloc((size_t)info->n_layers, sizeof(int));
    if (!res->domains || !res->stored_layers) goto oom;
    for (int d = 0; d < D; d++)
        if (!(res->domains[d] = strdup(info->domains[d] ? info->domains[d] : ""))) goto oom;
    memcpy(res->stored_layers, info->layers, sizeof(int) * (size_t)info->n_layers);
    res->n_stored_layers = info->n_layers;
    res->model_json = dupstr(info->model_json);
    res->tokenizer_json = dupstr(info->tokenizer_json);
    res->manifest_json = dupstr(info->manifest_json);
    res->store_command_line = dupstr(info->command_line);
    res->store_tool_version = dupstr(info->tool_version);
    res->store_created = dupstr(info->created);
    res->command_line = dupstr(o->command_line);
    res->rank_order = info->rank_order;
    rc = build_result(res, &a, err, errlen);
    if (rc) goto fail;
    if (!res->rank_order) blank_first_choice(res);
    acc_free(&a);
    free(tok), free(doc), free(pos), free(ids);
    *out = res;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
    rc = MS_ERR_RUNTIME;
fail:
    acc_free(&a);
    free(tok), free(doc), free(pos), free(ids);
    ms_analysis_free(res);
    return rc;
}

int ms_analysis_run(ms_analysis **out, const char *path, const ms_analysis_opts *o, char *err,
                    size_t errlen) {
    ms_routes *r = NULL;
    *out = NULL;
    int rc = ms_routes_open(&r, path, err, errlen);
    if (rc) return rc;
    rc = ms_analysis_run_routes(out, r, path, o, err, errlen);
    ms_routes_close(r);
    return rc;
}
