/* csv.c — the analysis result as tidy CSV tables (one row per layer / domain / expert /
 * measure), the file set and columns documented in docs/ANALYSIS.md. Domain names are quoted
 * per RFC 4180 when they contain a comma, quote or newline; absent values are empty. */
#include "analysis.h"
#include "msutil.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void put_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.17g", v);
}

/* Each table is written under a temporary name and renamed into DIR once complete; a table
 * that would land on the analysed store (a store named shares.csv in DIR) is refused. */
typedef struct csv_out {
    const char *dir;
    ms_outfile o;
    FILE *f;
} csv_out;

static int csv_open(csv_out *c, const char *dir, const char *name, const char *header,
                    const char *input, char *err, size_t errlen) {
    c->dir = dir;
    c->f = NULL;
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return MS_ERR_RUNTIME;
    }
    int rc = ms_check_output(path, &input, 1, err, errlen);
    if (!rc) rc = ms_outfile_open(&c->o, path, err, errlen);
    free(path);
    if (rc) return rc;
    c->f = c->o.f;
    fputs(header, c->f);
    fputc('\n', c->f);
    return 0;
}

static int csv_close(csv_out *c, char *err, size_t errlen) {
    c->f = NULL;
    return ms_outfile_commit(&c->o, err, errlen);
}

static void expert_rows(FILE *f, int layer, const char *dom, const ms_domain_stats *s, int E, int k,
                        int ranked) {
    static const char *names[] = {"share", "first_share", "second_share", "contains_share"};
    for (int e = 0; e < E; e++)
        for (int m = 0; m < 4; m++) {
            if (m == 2 && k < 2) continue;
            if ((m == 1 || m == 2) && !ranked) continue; /* ids not in rank order */
            const int64_t *cnt = m == 0   ? s->assign_count
                                 : m == 1 ? s->first_count
                                 : m == 2 ? s->second_count
                                          : s->contains_count;
            const double *val = m == 0   ? s->share
                                : m == 1 ? s->first_share
                                : m == 2 ? s->second_share
                                         : s->contains_share;
            const ms_ci *ci = m == 0   ? s->share_ci
                              : m == 1 ? s->first_share_ci
                              : m == 2 ? s->second_share_ci
                                       : s->contains_share_ci;
            fprintf(f, "%d,", layer);
            put_str(f, dom);
            fprintf(f, ",%d,%s,%lld,", e, names[m], (long long)cnt[e]);
            put_num(f, val[e]);
            fputc(',', f);
            put_num(f, ci[e].lo);
            fputc(',', f);
            put_num(f, ci[e].hi);
            fputc('\n', f);
        }
}

static void repetition_rows(FILE *f, int layer, const char *dom, const ms_domain_stats *s,
                            const ms_analysis *a) {
    for (int m = a->rank_order ? 0 : 1; m < 2; m++) { /* first_equal needs rank order */
        fprintf(f, "%d,", layer);
        put_str(f, dom);
        fprintf(f, ",%s,%lld,%lld,", m ? "topk_intersect" : "first_equal", (long long)s->n_pairs,
                (long long)(m ? s->topk_intersect : s->first_equal));
        put_num(f, m ? s->topk_intersect_rate : s->first_equal_rate);
        ms_ci ci = m ? s->topk_intersect_ci : s->first_equal_ci;
        fputc(',', f);
        put_num(f, ci.lo);
        fputc(',', f);
        put_num(f, ci.hi);
        fputc(',', f);
        put_num(f, m ? a->baseline_repeat_topk : a->baseline_repeat_first);
        fputc('\n', f);
    }
}

static void layer_rows(FILE *f, int layer, const char *dom, const ms_domain_stats *s) {
    const char *names[] = {"entropy_bits", "entropy_normalized", "load_max_over_mean", "load_cv",
                           "n_tokens"};
    double v[] = {s->entropy_bits, s->entropy_normalized, s->load_max_over_mean, s->load_cv,
                  (double)s->n_tokens};
    for (int m = 0; m < 5; m++) {
        fprintf(f, "%d,", layer);
        put_str(f, dom);
        fprintf(f, ",%s,", names[m]);
        put_num(f, v[m]);
        fputc('\n', f);
    }
}

int ms_analysis_write_csv(const ms_analysis *a, const char *dir, char *err, size_t errlen) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot create directory (%s)", dir, strerror(e));
        return e == ENOSPC || e == EIO || e == EDQUOT ? MS_ERR_RUNTIME : MS_ERR_INPUT;
    }
    const int E = a->n_expert, D = a->n_domains;
    csv_out c;
    int rc;

    if ((rc =
             csv_open(&c, dir, "experts.csv", "layer,domain,expert,measure,count,value,ci_lo,ci_hi",
                      a->path, err, errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        for (int d = 0; d < D; d++)
            expert_rows(c.f, ls->layer, a->domains[d], &ls->domains[d], E, a->k, a->rank_order);
        expert_rows(c.f, ls->layer, "all", &ls->all, E, a->k, a->rank_order);
    }
    if ((rc = csv_close(&c, err, errlen))) return rc;

    if ((rc = csv_open(&c, dir, "repetition.csv",
                       "layer,domain,measure,n_pairs,count,value,ci_lo,ci_hi,baseline", a->path,
                       err, errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        for (int d = 0; d < D; d++)
            repetition_rows(c.f, ls->layer, a->domains[d], &ls->domains[d], a);
        repetition_rows(c.f, ls->layer, "all", &ls->all, a);
    }
    if ((rc = csv_close(&c, err, errlen))) return rc;

    if ((rc = csv_open(&c, dir, "layers.csv", "layer,domain,measure,value", a->path, err, errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        for (int d = 0; d < D; d++)
            layer_rows(c.f, ls->layer, a->domains[d], &ls->domains[d]);
        layer_rows(c.f, ls->layer, "all", &ls->all);
    }
    if ((rc = csv_close(&c, err, errlen))) return rc;

    if ((rc = csv_open(&c, dir, "divergence.csv", "layer,domain_a,domain_b,js_divergence_bits",
                       a->path, err, errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) {
                fprintf(c.f, "%d,", a->layers[l].layer);
                put_str(c.f, a->domains[i]);
                fputc(',', c.f);
                put_str(c.f, a->domains[j]);
                fputc(',', c.f);
                put_num(c.f, a->layers[l].js_bits[(int64_t)i * D + j]);
                fputc('\n', c.f);
            }
    if ((rc = csv_close(&c, err, errlen))) return rc;

    if ((rc = csv_open(&c, dir, "chi_square.csv", "layer,statistic,dof,p_value", a->path, err,
                       errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++) {
        fprintf(c.f, "%d,", a->layers[l].layer);
        put_num(c.f, a->layers[l].chi2);
        fprintf(c.f, ",%d,", a->layers[l].chi2_dof);
        put_num(c.f, a->layers[l].chi2_p);
        fputc('\n', c.f);
    }
    if ((rc = csv_close(&c, err, errlen))) return rc;

    if ((rc = csv_open(&c, dir, "coactivation.csv",
                       "layer,expert_i,expert_j,pair_count,expert_tokens,ratio", a->path, err,
                       errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        for (int i = 0; i < E; i++)
            for (int j = 0; j < E; j++) {
                fprintf(c.f, "%d,%d,%d,%lld,%lld,", ls->layer, i, j,
                        (long long)ls->co_pair[(int64_t)i * E + j], (long long)ls->co_tokens[i]);
                put_num(c.f, ls->co_ratio[(int64_t)i * E + j]);
                fputc('\n', c.f);
            }
    }
    if ((rc = csv_close(&c, err, errlen))) return rc;

    if ((rc = csv_open(&c, dir, "vocabulary.csv", "layer,expert,rank,token,count,occurrences,share",
                       a->path, err, errlen)))
        return rc;
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        if (!ls->vocab_n) continue;
        for (int e = 0; e < E; e++)
            for (int j = 0; j < ls->vocab_n[e]; j++) {
                const ms_vocab_entry *v = &ls->vocab[(int64_t)e * a->top_n + j];
                fprintf(c.f, "%d,%d,%d,%d,%lld,%lld,", ls->layer, e, j + 1, v->token,
                        (long long)v->count, (long long)v->occurrences);
                put_num(c.f, v->share);
                fputc('\n', c.f);
            }
    }
    return csv_close(&c, err, errlen);
}
