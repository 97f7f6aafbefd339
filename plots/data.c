/* data.c — reads the analysis JSON ("moescope-analysis" version 1, docs/ANALYSIS.md) into the
 * arrays the renderers draw from. The only file of plots/ that knows the schema: every field
 * is checked for type and length, and a missing or malformed one is reported by its path
 * ("results[2].domains[0].share"). Unknown fields are ignored, as the schema asks. */
#include "msutil.h"
#include "plots_int.h"

#include "analysis.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parse_ctx {
    const char *what;
    char *err;
    size_t errlen;
} parse_ctx;

static int bad(parse_ctx *c, const char *path, const char *problem) {
    pl_err(c->err, c->errlen, "%s: %s: %s", c->what, path, problem);
    return MS_ERR_INPUT;
}

static const cJSON *field(const cJSON *o, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static int get_int(parse_ctx *c, const cJSON *o, const char *name, const char *path, int64_t min,
                   int64_t max, int64_t *out) {
    const cJSON *v = field(o, name);
    char p[256];
    snprintf(p, sizeof p, "%s%s%s", path, *path ? "." : "", name);
    if (!cJSON_IsNumber(v)) return bad(c, p, "missing or not a number");
    double d = v->valuedouble;
    if (!(d >= (double)min && d <= (double)max) || d != floor(d))
        return bad(c, p, "not an integer in range");
    *out = (int64_t)d;
    return 0;
}

/* A number, or null (→ NaN) when allow_null. */
static int num_or_null(const cJSON *v, int allow_null, double *out) {
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return isfinite(*out) ? 0 : -1;
    }
    if (allow_null && (cJSON_IsNull(v) || !v)) {
        *out = NAN;
        return 0;
    }
    return -1;
}

/* out[n] from an array of n numbers in [lo, hi]. */
static int get_vec(parse_ctx *c, const cJSON *o, const char *name, const char *path, int n,
                   double lo, double hi, double *out) {
    const cJSON *v = field(o, name);
    char p[256];
    snprintf(p, sizeof p, "%s.%s", path, name);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected an array of %d numbers", n);
        return bad(c, p, msg);
    }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (num_or_null(x, 0, &out[i]) || out[i] < lo || out[i] > hi)
            return bad(c, p, "element is not a number in range");
        i++;
    }
    return 0;
}

static int get_ci(const cJSON *o, const char *name, double out[2]) {
    const cJSON *v = field(o, name);
    out[0] = out[1] = NAN;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2) return -1;
    if (num_or_null(cJSON_GetArrayItem(v, 0), 1, &out[0])) return -1;
    if (num_or_null(cJSON_GetArrayItem(v, 1), 1, &out[1])) return -1;
    return 0;
}

static char *dup_str(const char *s) {
    return s ? strdup(s) : NULL;
}

void ms_plot_analysis_free(ms_plot_analysis *a) {
    if (!a) return;
    for (int d = 0; a->domains && d < a->n_domains; d++)
        free(a->domains[d]);
    free(a->domains);
    free(a->layers);
    free(a->dom_tokens);
    free(a->dom_docs);
    free(a->either);
    free(a->first);
    free(a->second);
    free(a->rep_first);
    free(a->rep_topk);
    free(a->rep_first_ci);
    free(a->rep_topk_ci);
    free(a->coact);
    free(a->routes_path);
    free(a->command_line);
    free(a->json);
    cJSON_Delete(a->root);
    free(a);
}

int ms_plot_analysis_layers(const ms_plot_analysis *a, const int **layers) {
    *layers = a->layers;
    return a->n_layers;
}

/* Bounds of the shapes we accept: far above any real model, low enough that products of
 * them cannot overflow size_t. */
enum { MAX_EXPERT = 4096, MAX_LAYERS = 4096, MAX_DOMAINS = 4096 };

static int parse_domain_entry(parse_ctx *c, ms_plot_analysis *a, const cJSON *de, int l, int d,
                              const char *path) {
    int E = a->n_expert;
    if (!cJSON_IsObject(de)) return bad(c, path, "not an object");
    int rc;
    if ((rc = get_vec(c, de, "share", path, E, 0, 1, &a->either[pl_dle(a, d, l, 0)]))) return rc;
    if (a->unranked) { /* first/second choice unknown: null in the JSON */
        for (int e = 0; e < E; e++) {
            a->first[pl_dle(a, d, l, e)] = NAN;
            if (a->second) a->second[pl_dle(a, d, l, e)] = NAN;
        }
    } else {
        if ((rc = get_vec(c, de, "first_share", path, E, 0, 1, &a->first[pl_dle(a, d, l, 0)])))
            return rc;
        if (a->second &&
            (rc = get_vec(c, de, "second_share", path, E, 0, 1, &a->second[pl_dle(a, d, l, 0)])))
            return rc;
    }
    int64_t nt = 0, nd = 0;
    if ((rc = get_int(c, de, "n_tokens", path, 0, INT64_MAX / 2, &nt))) return rc;
    if (field(de, "n_documents") &&
        (rc = get_int(c, de, "n_documents", path, 0, INT64_MAX / 2, &nd)))
        return rc;
    if (l == 0) {
        a->dom_tokens[d] = nt;
        a->dom_docs[d] = nd;
    }
    const cJSON *rep = field(de, "repetition");
    char p[256];
    snprintf(p, sizeof p, "%s.repetition", path);
    if (!cJSON_IsObject(rep)) return bad(c, p, "missing or not an object");
    double v;
    if (num_or_null(field(rep, "first_equal_rate"), a->unranked, &v) || v < 0 || v > 1)
        return bad(c, p, "first_equal_rate missing or not a number in [0, 1]");
    a->rep_first[pl_dl(a, d, l)] = v;
    if (num_or_null(field(rep, "topk_intersect_rate"), 0, &v) || v < 0 || v > 1)
        return bad(c, p, "topk_intersect_rate missing or not a number in [0, 1]");
    a->rep_topk[pl_dl(a, d, l)] = v;
    if (get_ci(rep, "first_equal_ci", &a->rep_first_ci[2 * pl_dl(a, d, l)]) ||
        get_ci(rep, "topk_intersect_ci", &a->rep_topk_ci[2 * pl_dl(a, d, l)]))
        return bad(c, p, "interval is not [lo, hi] or null");
    return 0;
}

static int parse_root(parse_ctx *c, ms_plot_analysis *a, const cJSON *root) {
    if (!cJSON_IsObject(root)) return bad(c, "(top level)", "not a JSON object");
    const cJSON *schema = field(root, "schema");
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, "moescope-analysis") != 0)
        return bad(c, "schema",
                   "not \"moescope-analysis\" (is this `moescope analyze --json` "
                   "output?)");
    int64_t ver, E, k;
    int rc;
    if ((rc = get_int(c, root, "version", "", 1, 1000, &ver))) return rc;
    if (ver != 1) return bad(c, "version", "unsupported version (this moescope reads 1)");
    if ((rc = get_int(c, root, "n_expert", "", 1, MAX_EXPERT, &E))) return rc;
    if ((rc = get_int(c, root, "k", "", 1, E, &k))) return rc;
    a->n_expert = (int)E;
    a->k = (int)k;

    const cJSON *layers = field(root, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 ||
        cJSON_GetArraySize(layers) > MAX_LAYERS)
        return bad(c, "layers", "missing, empty or not an array");
    a->n_layers = cJSON_GetArraySize(layers);
    const cJSON *doms = field(root, "domains");
    if (!cJSON_IsArray(doms) || cJSON_GetArraySize(doms) < 1 ||
        cJSON_GetArraySize(doms) > MAX_DOMAINS)
        return bad(c, "domains", "missing, empty or not an array");
    a->n_domains = cJSON_GetArraySize(doms);

    const cJSON *ro = field(root, "rank_order"); /* absent in older analyses: rank */
    a->unranked = cJSON_IsString(ro) && strcmp(ro->valuestring, "rank") != 0;
    size_t L = (size_t)a->n_layers, D = (size_t)a->n_domains, Es = (size_t)E;
    a->layers = calloc(L, sizeof *a->layers);
    a->domains = calloc(D, sizeof *a->domains);
    a->dom_tokens = calloc(D, sizeof *a->dom_tokens);
    a->dom_docs = calloc(D, sizeof *a->dom_docs);
    a->either = calloc(D * L * Es, sizeof *a->either);
    a->first = calloc(D * L * Es, sizeof *a->first);
    a->second = k >= 2 ? calloc(D * L * Es, sizeof *a->second) : NULL;
    a->rep_first = calloc(D * L, sizeof *a->rep_first);
    a->rep_topk = calloc(D * L, sizeof *a->rep_topk);
    a->rep_first_ci = calloc(D * L * 2, sizeof *a->rep_first_ci);
    a->rep_topk_ci = calloc(D * L * 2, sizeof *a->rep_topk_ci);
    a->coact = calloc(L * Es * Es, sizeof *a->coact);
    if (!a->layers || !a->domains || !a->dom_tokens || !a->dom_docs || !a->either || !a->first ||
        (k >= 2 && !a->second) || !a->rep_first || !a->rep_topk || !a->rep_first_ci ||
        !a->rep_topk_ci || !a->coact) {
        pl_err(c->err, c->errlen, "%s: out of memory", c->what);
        return MS_ERR_RUNTIME;
    }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, layers) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1e6 ||
            x->valuedouble != floor(x->valuedouble))
            return bad(c, "layers", "element is not a layer index");
        a->layers[i++] = (int)x->valuedouble;
    }
    i = 0;
    cJSON_ArrayForEach(x, doms) {
        if (!cJSON_IsString(x)) return bad(c, "domains", "element is not a string");
        if (!(a->domains[i++] = strdup(x->valuestring))) return MS_ERR_RUNTIME;
    }

    const cJSON *base = field(root, "baselines");
    if (!cJSON_IsObject(base)) return bad(c, "baselines", "missing or not an object");
    if (num_or_null(field(base, "share"), 0, &a->base_share) ||
        num_or_null(field(base, "repeat_first"), a->unranked, &a->base_first) ||
        num_or_null(field(base, "repeat_topk"), 0, &a->base_topk))
        return bad(c, "baselines", "share, repeat_first or repeat_topk missing");

    const cJSON *store = field(root, "store");
    if (cJSON_IsObject(store)) {
        const cJSON *v = field(store, "n_tokens");
        if (cJSON_IsNumber(v) && v->valuedouble >= 0) a->n_tokens = (int64_t)v->valuedouble;
        v = field(store, "n_documents");
        if (cJSON_IsNumber(v) && v->valuedouble >= 0) a->n_documents = (int64_t)v->valuedouble;
        v = field(store, "path");
        if (cJSON_IsString(v)) a->routes_path = dup_str(v->valuestring);
    }
    const cJSON *cl = field(root, "command_line");
    if (cJSON_IsString(cl)) a->command_line = dup_str(cl->valuestring);

    const cJSON *results = field(root, "results");
    if (!cJSON_IsArray(results) || cJSON_GetArraySize(results) != a->n_layers)
        return bad(c, "results", "missing or not one entry per analysed layer");
    int l = 0;
    const cJSON *le;
    cJSON_ArrayForEach(le, results) {
        char path[128];
        snprintf(path, sizeof path, "results[%d]", l);
        if (!cJSON_IsObject(le)) return bad(c, path, "not an object");
        int64_t layer;
        if ((rc = get_int(c, le, "layer", path, 0, 1000000, &layer))) return rc;
        if (layer != a->layers[l]) return bad(c, path, "layer differs from \"layers\"");
        const cJSON *ld = field(le, "domains");
        if (!cJSON_IsArray(ld) || cJSON_GetArraySize(ld) != a->n_domains)
            return bad(c, path, "domains: not one entry per domain");
        int d = 0;
        const cJSON *de;
        cJSON_ArrayForEach(de, ld) {
            char dp[160];
            snprintf(dp, sizeof dp, "%s.domains[%d]", path, d);
            if ((rc = parse_domain_entry(c, a, de, l, d, dp))) return rc;
            d++;
        }
        const cJSON *co = field(le, "coactivation");
        const cJSON *ratio = cJSON_IsObject(co) ? field(co, "ratio") : NULL;
        char cp[160];
        snprintf(cp, sizeof cp, "%s.coactivation.ratio", path);
        if (!cJSON_IsArray(ratio) || cJSON_GetArraySize(ratio) != a->n_expert)
            return bad(c, cp, "missing or not an E x E matrix");
        int row = 0;
        const cJSON *r;
        cJSON_ArrayForEach(r, ratio) {
            char rp[200];
            snprintf(rp, sizeof rp, "%s[%d]", cp, row);
            if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != a->n_expert)
                return bad(c, rp, "not an array of E numbers");
            int col = 0;
            const cJSON *v;
            cJSON_ArrayForEach(v, r) {
                double *dst = &a->coact[((size_t)l * Es + (size_t)row) * Es + (size_t)col];
                if (num_or_null(v, 0, dst) || *dst < 0 || *dst > 1)
                    return bad(c, rp, "element is not a number in [0, 1]");
                col++;
            }
            row++;
        }
        l++;
    }
    if (a->n_tokens == 0)
        for (int d = 0; d < a->n_domains; d++)
            a->n_tokens += a->dom_tokens[d];
    if (a->n_documents == 0)
        for (int d = 0; d < a->n_domains; d++)
            a->n_documents += a->dom_docs[d];
    return 0;
}

int ms_plot_analysis_parse(ms_plot_analysis **out, const char *json, size_t len, const char *what,
                           char *err, size_t errlen) {
    *out = NULL;
    parse_ctx c = {what ? what : "analysis", err, errlen};
    ms_plot_analysis *a = calloc(1, sizeof *a);
    if (!a) {
        pl_err(err, errlen, "%s: out of memory", c.what);
        return MS_ERR_RUNTIME;
    }
    /* Invalid UTF-8 (a domain or model name from a file) becomes U+FFFD here, once, so the
     * report's HTML and its analysis.json copy are valid UTF-8 and JSON. A NUL byte is left
     * for the parser to reject. */
    if (ms_utf8_valid_prefix(json, len) != len && !memchr(json, 0, len)) {
        a->json = ms_utf8_fix(json, len);
        if (a->json) len = strlen(a->json);
    } else if ((a->json = malloc(len + 1))) {
        memcpy(a->json, json, len);
        a->json[len] = 0;
    }
    if (!a->json) {
        free(a);
        pl_err(err, errlen, "%s: out of memory", c.what);
        return MS_ERR_RUNTIME;
    }
    cJSON *root = cJSON_ParseWithLength(a->json, len);
    if (!root) {
        ms_plot_analysis_free(a);
        pl_err(err, errlen, "%s: not valid JSON", c.what);
        return MS_ERR_INPUT;
    }
    a->root = root;
    int rc = parse_root(&c, a, root);
    if (rc) {
        ms_plot_analysis_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int pl_slot(const ms_plot_analysis *a, int layer) {
    for (int i = 0; i < a->n_layers; i++)
        if (a->layers[i] == layer) return i;
    return -1;
}

int pl_panel_slots(const ms_plot_analysis *a, const int *layers, int n_layers, int **slots,
                   int *n_slots, char *err, size_t errlen) {
    int *s = malloc((size_t)(n_layers > 3 ? n_layers : 3) * sizeof *s);
    if (!s) {
        pl_err(err, errlen, "plots: out of memory");
        return MS_ERR_RUNTIME;
    }
    int n = 0;
    if (layers && n_layers > 0) {
        for (int i = 0; i < n_layers; i++) {
            int sl = pl_slot(a, layers[i]);
            if (sl < 0) {
                free(s);
                char list[256] = "";
                size_t used = 0;
                for (int j = 0; j < a->n_layers && used + 16 < sizeof list; j++)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", j ? ", " : "",
                                             a->layers[j]);
                pl_err(err, errlen, "layer %d: not in the analysis (analysed layers: %s)",
                       layers[i], list);
                return MS_ERR_INPUT;
            }
            s[n++] = sl;
        }
    } else if (pl_slot(a, 0) >= 0 && pl_slot(a, 15) >= 0 && pl_slot(a, 31) >= 0) {
        s[n++] = pl_slot(a, 0);
        s[n++] = pl_slot(a, 15);
        s[n++] = pl_slot(a, 31);
    } else {
        int cand[3] = {0, a->n_layers / 2, a->n_layers - 1};
        for (int i = 0; i < 3; i++)
            if (n == 0 || s[n - 1] != cand[i]) s[n++] = cand[i];
    }
    *slots = s;
    *n_slots = n;
    return 0;
}

int ms_plot_formats_parse(const char *s, int *formats, char *err, size_t errlen) {
    int f = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == 3 && !strncmp(p, "png", 3))
            f |= MS_PLOT_PNG;
        else if (n == 3 && !strncmp(p, "svg", 3))
            f |= MS_PLOT_SVG;
        else if (n == 3 && !strncmp(p, "pdf", 3))
            f |= MS_PLOT_PDF;
        else {
            pl_err(err, errlen, "--format: '%.*s' is not one of png, svg, pdf", (int)n, p);
            return MS_ERR_INPUT;
        }
        p += n;
        if (*p == ',') p++;
    }
    if (!f) {
        pl_err(err, errlen, "--format: empty list (use png, svg, pdf)");
        return MS_ERR_INPUT;
    }
    *formats = f;
    return 0;
}

/* Reads a whole file (at most 1 GiB) into a NUL-terminated buffer. */
static int slurp(const char *path, char **out, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pl_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MS_ERR_INPUT;
    }
    pl_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        pl_putn(&b, chunk, n);
        if (b.oom || b.len > ((size_t)1 << 30)) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr || b.oom || b.len > ((size_t)1 << 30)) {
        pl_buf_free(&b);
        pl_err(err, errlen, "%s: %s", path, rerr ? "read error" : "too large or out of memory");
        return MS_ERR_RUNTIME;
    }
    *out = b.s ? b.s : strdup("");
    *len = b.len;
    return *out ? 0 : MS_ERR_RUNTIME;
}

/* A route store: run the analysis library, then read its JSON like any other. */
static int load_store(ms_plot_analysis **out, const char *path, const struct ms_analysis_opts *ao,
                      char *err, size_t errlen) {
    ms_analysis_opts def;
    if (!ao) {
        ms_analysis_opts_default(&def);
        ao = &def;
    }
    ms_analysis *an = NULL;
    int rc = ms_analysis_run(&an, path, ao, err, errlen);
    if (rc) return rc;
    char *json = ms_analysis_json_string(an);
    ms_analysis_free(an);
    if (!json) {
        pl_err(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    rc = ms_plot_analysis_parse(out, json, strlen(json), path, err, errlen);
    free(json);
    return rc;
}

int ms_plot_analysis_load(ms_plot_analysis **out, const char *path,
                          const struct ms_analysis_opts *ao, int *is_store, char *err,
                          size_t errlen) {
    *out = NULL;
    if (is_store) *is_store = 0;
    static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        pl_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MS_ERR_INPUT;
    }
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got == sizeof head && !memcmp(head, hdf5_sig, sizeof head)) {
        if (is_store) *is_store = 1;
        return load_store(out, path, ao, err, errlen);
    }
    char *text;
    size_t len;
    int rc = slurp(path, &text, &len, err, errlen);
    if (rc) return rc;
    rc = ms_plot_analysis_parse(out, text, len, path, err, errlen);
    free(text);
    return rc;
}
