/* json.c — the analysis result as JSON, schema "moescope-analysis" version 1
 * (docs/ANALYSIS.md), and the diff result as "moescope-diff" version 1. Built as a cJSON tree:
 * its size is bounded by the store's shape (layers × domains × experts), not its tokens.
 * NaN (absent interval, undefined divergence) is written as null. */
#include "analysis.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static cJSON *num(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *i64_array(const int64_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *dbl_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, num(v[i]));
    return a;
}

static cJSON *ci_item(ms_ci c) {
    if (!isfinite(c.lo) || !isfinite(c.hi)) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, num(c.lo));
    cJSON_AddItemToArray(a, num(c.hi));
    return a;
}

static cJSON *ci_array(const ms_ci *c, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, ci_item(c[i]));
    return a;
}

/* A provenance string that holds JSON, parsed; null when absent or unparsable. */
static cJSON *parsed(const char *s) {
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    return j ? j : cJSON_CreateNull();
}

static cJSON *str_or_null(const char *s) {
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* Per-expert intervals: an array of [lo, hi] (null entries where undefined), or null as a
 * whole when the analysis ran without bootstrap. */
static cJSON *ci_field(const ms_ci *c, int n, int bootstrap) {
    return bootstrap > 0 ? ci_array(c, n) : cJSON_CreateNull();
}

static cJSON *domain_json(const ms_domain_stats *s, const char *name, int E, int k, int boot,
                          int ranked) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "domain", name);
    cJSON_AddNumberToObject(o, "n_tokens", (double)s->n_tokens);
    cJSON_AddNumberToObject(o, "n_documents", (double)s->n_documents);
    cJSON_AddItemToObject(o, "assign_count", i64_array(s->assign_count, E));
    cJSON_AddItemToObject(o, "share", dbl_array(s->share, E));
    cJSON_AddItemToObject(o, "share_ci", ci_field(s->share_ci, E, boot));
    cJSON_AddItemToObject(o, "first_count",
                          ranked ? i64_array(s->first_count, E) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "first_share", dbl_array(s->first_share, E));
    cJSON_AddItemToObject(o, "first_share_ci", ci_field(s->first_share_ci, E, boot));
    if (k >= 2) {
        cJSON_AddItemToObject(o, "second_count",
                              ranked ? i64_array(s->second_count, E) : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "second_share", dbl_array(s->second_share, E));
        cJSON_AddItemToObject(o, "second_share_ci", ci_field(s->second_share_ci, E, boot));
    }
    cJSON_AddItemToObject(o, "contains_count", i64_array(s->contains_count, E));
    cJSON_AddItemToObject(o, "contains_share", dbl_array(s->contains_share, E));
    cJSON_AddItemToObject(o, "contains_share_ci", ci_field(s->contains_share_ci, E, boot));
    cJSON *r = cJSON_AddObjectToObject(o, "repetition");
    cJSON_AddNumberToObject(r, "n_pairs", (double)s->n_pairs);
    if (ranked)
        cJSON_AddNumberToObject(r, "first_equal", (double)s->first_equal);
    else
        cJSON_AddNullToObject(r, "first_equal");
    cJSON_AddItemToObject(r, "first_equal_rate", num(s->first_equal_rate));
    cJSON_AddItemToObject(r, "first_equal_ci", ci_item(s->first_equal_ci));
    cJSON_AddNumberToObject(r, "topk_intersect", (double)s->topk_intersect);
    cJSON_AddItemToObject(r, "topk_intersect_rate", num(s->topk_intersect_rate));
    cJSON_AddItemToObject(r, "topk_intersect_ci", ci_item(s->topk_intersect_ci));
    cJSON_AddItemToObject(o, "entropy_bits", num(s->entropy_bits));
    cJSON_AddItemToObject(o, "entropy_normalized", num(s->entropy_normalized));
    cJSON_AddItemToObject(o, "load_max_over_mean", num(s->load_max_over_mean));
    cJSON_AddItemToObject(o, "load_cv", num(s->load_cv));
    return o;
}

static cJSON *matrix_i64(const int64_t *m, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, i64_array(m + (int64_t)i * n, n));
    return a;
}

static cJSON *matrix_dbl(const double *m, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, dbl_array(m + (int64_t)i * n, n));
    return a;
}

static cJSON *analysis_json(const ms_analysis *a) {
    const int E = a->n_expert, D = a->n_domains;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "schema", MS_ANALYSIS_SCHEMA);
    cJSON_AddNumberToObject(root, "version", MS_ANALYSIS_VERSION);
    cJSON_AddStringToObject(root, "tool_version", MOESCOPE_VERSION);
    cJSON_AddItemToObject(root, "command_line", str_or_null(a->command_line));
    cJSON *st = cJSON_AddObjectToObject(root, "store");
    cJSON_AddStringToObject(st, "path", a->path);
    cJSON_AddStringToObject(st, "format", MS_ROUTES_FORMAT);
    cJSON_AddNumberToObject(st, "format_version", MS_ROUTES_VERSION);
    cJSON_AddNumberToObject(st, "n_tokens", (double)a->n_tokens);
    cJSON_AddNumberToObject(st, "n_documents", (double)a->n_documents);
    cJSON_AddItemToObject(st, "stored_layers",
                          cJSON_CreateIntArray(a->stored_layers, a->n_stored_layers));
    cJSON_AddBoolToObject(st, "has_logits", a->has_logits);
    cJSON_AddItemToObject(st, "model", parsed(a->model_json));
    cJSON_AddItemToObject(st, "tokenizer", parsed(a->tokenizer_json));
    cJSON_AddItemToObject(st, "manifest", parsed(a->manifest_json));
    cJSON_AddItemToObject(st, "command_line", str_or_null(a->store_command_line));
    cJSON_AddItemToObject(st, "tool_version", str_or_null(a->store_tool_version));
    cJSON_AddItemToObject(st, "created", str_or_null(a->store_created));
    /* "rank", or "not rank": imported ids whose order is not the router's (docs/IMPORT.md) */
    cJSON_AddStringToObject(root, "rank_order", a->rank_order ? "rank" : "not rank");
    if (!a->rank_order)
        cJSON_AddStringToObject(root, "first_choice", "unavailable (expert ids not in rank order)");
    cJSON_AddNumberToObject(root, "n_expert", E);
    cJSON_AddNumberToObject(root, "k", a->k);
    cJSON *lay = cJSON_AddArrayToObject(root, "layers");
    for (int l = 0; l < a->n_layers; l++)
        cJSON_AddItemToArray(lay, cJSON_CreateNumber(a->layers[l].layer));
    cJSON *dom = cJSON_AddArrayToObject(root, "domains");
    for (int d = 0; d < D; d++)
        cJSON_AddItemToArray(dom, cJSON_CreateString(a->domains[d]));
    cJSON *bs = cJSON_AddObjectToObject(root, "bootstrap");
    cJSON_AddStringToObject(bs, "method", "poisson-documents");
    cJSON_AddNumberToObject(bs, "replicates", a->bootstrap);
    cJSON_AddNumberToObject(bs, "seed", (double)a->seed);
    cJSON_AddNumberToObject(bs, "level", 0.95);
    cJSON *bl = cJSON_AddObjectToObject(root, "baselines");
    cJSON_AddItemToObject(bl, "share", num(a->baseline_share));
    cJSON_AddItemToObject(bl, "contains_share", num(a->baseline_contains));
    cJSON_AddItemToObject(bl, "repeat_first", num(a->baseline_repeat_first));
    cJSON_AddItemToObject(bl, "repeat_topk", num(a->baseline_repeat_topk));
    cJSON *results = cJSON_AddArrayToObject(root, "results");
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(results, o);
        cJSON_AddNumberToObject(o, "layer", ls->layer);
        cJSON *ds = cJSON_AddArrayToObject(o, "domains");
        for (int d = 0; d < D; d++)
            cJSON_AddItemToArray(ds, domain_json(&ls->domains[d], a->domains[d], E, a->k,
                                                 a->bootstrap, a->rank_order));
        cJSON_AddItemToObject(o, "all",
                              domain_json(&ls->all, "all", E, a->k, a->bootstrap, a->rank_order));
        cJSON *dv = cJSON_AddObjectToObject(o, "domain_divergence");
        cJSON_AddItemToObject(dv, "js_divergence_bits", matrix_dbl(ls->js_bits, D));
        cJSON *cs = cJSON_AddObjectToObject(dv, "chi_square");
        cJSON_AddItemToObject(cs, "statistic", num(ls->chi2));
        cJSON_AddNumberToObject(cs, "dof", ls->chi2_dof);
        cJSON_AddItemToObject(cs, "p_value", num(ls->chi2_p));
        cJSON_AddStringToObject(cs, "table", "first_count");
        cJSON *co = cJSON_AddObjectToObject(o, "coactivation");
        cJSON_AddItemToObject(co, "expert_tokens", i64_array(ls->co_tokens, E));
        cJSON_AddItemToObject(co, "pair_count", matrix_i64(ls->co_pair, E));
        cJSON_AddItemToObject(co, "ratio", matrix_dbl(ls->co_ratio, E));
        if (ls->vocab_n) {
            cJSON *voc = cJSON_AddArrayToObject(o, "vocabulary");
            for (int e = 0; e < E; e++) {
                cJSON *ve = cJSON_CreateObject();
                cJSON_AddItemToArray(voc, ve);
                cJSON_AddNumberToObject(ve, "expert", e);
                cJSON *top = cJSON_AddArrayToObject(ve, "top");
                for (int j = 0; j < ls->vocab_n[e]; j++) {
                    const ms_vocab_entry *v = &ls->vocab[(int64_t)e * a->top_n + j];
                    cJSON *t = cJSON_CreateObject();
                    cJSON_AddNumberToObject(t, "token", v->token);
                    cJSON_AddNumberToObject(t, "count", (double)v->count);
                    cJSON_AddNumberToObject(t, "occurrences", (double)v->occurrences);
                    cJSON_AddItemToObject(t, "share", num(v->share));
                    cJSON_AddItemToArray(top, t);
                }
            }
        }
    }
    return root;
}

char *ms_analysis_json_string(const ms_analysis *a) {
    cJSON *root = analysis_json(a);
    if (!root) return NULL;
    /* domain names and paths come from files: the JSON stays valid UTF-8 (U+FFFD) */
    char *s = ms_utf8_fix_take(cJSON_PrintBuffered(root, 1 << 16, 1));
    cJSON_Delete(root);
    return s;
}

/* Through ms_outfile: a temporary file renamed over path once complete, so a failed write
 * never truncates the old file; never onto the analysed store itself (input may be NULL). */
static int write_text(const char *path, const char *text, const char *input, char *err,
                      size_t errlen) {
    if (!text) {
        snprintf(err, errlen, "%s: out of memory formatting JSON", path);
        return MS_ERR_RUNTIME;
    }
    int rc = ms_check_output(path, &input, 1, err, errlen);
    ms_outfile o;
    if (rc || (rc = ms_outfile_open(&o, path, err, errlen))) return rc;
    fputs(text, o.f);
    fputc('\n', o.f); /* errors are caught by commit (flag + flush) */
    return ms_outfile_commit(&o, err, errlen);
}

int ms_analysis_write_json(const ms_analysis *a, const char *path, char *err, size_t errlen) {
    char *s = ms_analysis_json_string(a);
    int rc = write_text(path, s, a->path, err, errlen);
    free(s);
    return rc;
}

char *ms_diff_json_string(const ms_diff *d, const char *path_a, const char *path_b) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "schema", "moescope-diff");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "a", path_a);
    cJSON_AddStringToObject(root, "b", path_b);
    cJSON_AddNumberToObject(root, "n_tokens", (double)d->n_tokens);
    cJSON_AddNumberToObject(root, "n_expert", d->n_expert);
    cJSON_AddNumberToObject(root, "k", d->k);
    cJSON_AddStringToObject(root, "rank_order", d->rank_order ? "rank" : "not rank");
    cJSON *ls = cJSON_AddArrayToObject(root, "layers");
    for (int l = 0; l < d->n_layers; l++) {
        const ms_diff_layer *x = &d->layers[l];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(ls, o);
        cJSON_AddNumberToObject(o, "layer", x->layer);
        if (d->rank_order)
            cJSON_AddNumberToObject(o, "first_agree", (double)x->first_agree);
        else
            cJSON_AddNullToObject(o, "first_agree");
        cJSON_AddItemToObject(o, "first_agree_rate", num(x->first_agree_rate));
        cJSON_AddNumberToObject(o, "topk_set_agree", (double)x->topk_set_agree);
        cJSON_AddItemToObject(o, "topk_set_agree_rate", num(x->topk_set_agree_rate));
        cJSON_AddItemToObject(o, "topk_overlap_mean", num(x->topk_overlap_mean));
    }
    char *s = ms_utf8_fix_take(cJSON_PrintBuffered(root, 4096, 1));
    cJSON_Delete(root);
    return s;
}
