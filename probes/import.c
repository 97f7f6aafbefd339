/* import.c — `moescope import`: routing recorded elsewhere (vLLM, SGLang, Hugging Face
 * transformers, or a moescope store exported to NumPy) turned into an ordinary route store
 * (docs/IMPORT.md). It lives in probes/ because probes owns the store: the result goes
 * through the same writer (ms_store_*) as a capture, so it has the same schema, descriptions,
 * crash-safe layout and provenance attributes, and passes the same reader.
 *
 * Everything is read and validated in memory before anything is written: a malformed input
 * (shapes that disagree, ids out of range, a dtype that is not integer, documents that do not
 * cover the tokens, an unknown domain) is one line naming the file and the array, and no
 * output appears. Only then is the store's lock taken and the store written under a
 * temporary name, renamed over --out when complete.
 *
 * Canonical form (the store's, one row per token): tok (T), pos (T), ids (T, L, k),
 * weights (T, L, k), logits (T, L, E) optional; documents: n_tokens (D), domain (D),
 * source (D). Memory: the inputs plus this form, about 2× the arrays' size. */
#include "npy.h"
#include "probes.h"

#include "msutil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct imp {
    int64_t T, D;
    int L, k, E;
    int32_t *tok, *pos; /* (T) */
    int32_t *ids;       /* (T, L, k) */
    float *w;           /* (T, L, k) */
    float *lg;          /* (T, L, E) or NULL */
    int64_t *doc_n;     /* (D) */
    int32_t *doc_dom;   /* (D) */
    char **src;         /* (D) */
    char **domains;     /* (n_domains) */
    int n_domains;
    int *layers;      /* (L) */
    int have_weights; /* weights given */
    int from_logits;  /* no expert ids given: chosen here from the logits (rank order) */
    char rank_order[16];
    /* where the arrays checked after reading came from, for messages */
    const char *f_tok, *f_ex, *f_pos, *f_layers;
    char *model_json, *tok_json, *manifest_json;
} imp;

static void imp_free(imp *m) {
    free(m->tok), free(m->pos), free(m->ids), free(m->w), free(m->lg);
    free(m->doc_n), free(m->doc_dom);
    for (int64_t i = 0; m->src && i < m->D; i++)
        free(m->src[i]);
    free(m->src);
    for (int i = 0; m->domains && i < m->n_domains; i++)
        free(m->domains[i]);
    free(m->domains);
    free(m->layers);
    free(m->model_json), free(m->tok_json), free(m->manifest_json);
}

/* "<file>: <array>: <problem>", names made terminal-safe; returns MS_ERR_INPUT. */
static int bad(char *err, size_t errlen, const char *file, const char *array, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(char *err, size_t errlen, const char *file, const char *array, const char *fmt,
               ...) {
    char f[300], a[100], m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    ms_text_safe(file, f, sizeof f);
    if (array)
        snprintf(err, errlen, "%s: %s: %s", f, ms_text_safe(array, a, sizeof a), m);
    else
        snprintf(err, errlen, "%s: %s", f, m);
    return MS_ERR_INPUT;
}

static int oom(char *err, size_t errlen, const char *what) {
    snprintf(err, errlen, "%s: out of memory", what);
    return MS_ERR_RUNTIME;
}

static void *xcalloc(int64_t n, size_t size) {
    if (n < 0 || (n > 0 && (uint64_t)n > SIZE_MAX / size)) return NULL;
    return calloc(n ? (size_t)n : 1, size);
}

/* ---- model description ---- */

static int json_int(const cJSON *o, const char *const *keys, long *out) {
    for (int i = 0; keys[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= 0 &&
            v->valuedouble < 1e9) {
            *out = (long)v->valuedouble;
            return 1;
        }
    }
    return 0;
}

/* A Hugging Face config.json: E, k, n_layer, n_vocab, norm_topk_prob and a model description
 * in the shape of ms_model_describe_json's ("arch", "hparams", "files"). */
static int model_from_config(const char *path, int *E, int *k, int *n_layer, int *n_vocab,
                             int *norm_topk, char **json, char *err, size_t errlen) {
    int st = 0;
    FILE *f = ms_fopen_regular(path, &st, err, errlen);
    if (!f) return st;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 65536;
            if (cap > ((size_t)64 << 20)) {
                fclose(f);
                free(text);
                return bad(err, errlen, path, NULL, "larger than 64 MiB: not a config.json");
            }
            char *t = realloc(text, cap);
            if (!t) {
                fclose(f);
                free(text);
                return oom(err, errlen, path);
            }
            text = t;
        }
        size_t r = fread(text + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0) break;
    }
    int ferr = ferror(f);
    fclose(f);
    if (ferr) {
        free(text);
        snprintf(err, errlen, "%s: read failed", path);
        return MS_ERR_RUNTIME;
    }
    text[len] = 0;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(err, errlen, path, NULL, "not a JSON object (expected a config.json)");
    }
    static const char *const ke[] = {"num_local_experts", "num_experts", "n_routed_experts",
                                     "moe_num_experts", NULL};
    static const char *const kk[] = {"num_experts_per_tok", "moe_topk", "top_k", NULL};
    static const char *const kl[] = {"num_hidden_layers", "n_layer", "num_layers", NULL};
    static const char *const kv[] = {"vocab_size", NULL};
    long e = 0, kk_ = 0, nl = 0, nv = 0;
    json_int(root, ke, &e), json_int(root, kk, &kk_), json_int(root, kl, &nl),
        json_int(root, kv, &nv);
    if (e < 1 || kk_ < 1 || nl < 1) {
        cJSON_Delete(root);
        return bad(err, errlen, path, NULL,
                   "no MoE hyper-parameters (num_local_experts/num_experts, "
                   "num_experts_per_tok, num_hidden_layers)");
    }
    *E = (int)e, *k = (int)kk_, *n_layer = (int)nl, *n_vocab = (int)nv;
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(root, "norm_topk_prob");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsBool(nt))
        *norm_topk = cJSON_IsTrue(nt);
    else
        *norm_topk = cJSON_IsString(mt) && strstr(mt->valuestring, "mixtral") ? 1 : -1;
    cJSON *o = cJSON_CreateObject(), *hp = cJSON_CreateObject(), *files = cJSON_CreateArray(),
          *fo = cJSON_CreateObject();
    struct stat sb;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    cJSON_AddStringToObject(o, "arch", cJSON_IsString(mt) ? mt->valuestring : "unknown");
    cJSON_AddStringToObject(o, "format", "config.json");
    cJSON_AddNumberToObject(hp, "n_layer", (double)nl);
    cJSON_AddNumberToObject(hp, "n_expert", (double)e);
    cJSON_AddNumberToObject(hp, "n_expert_used", (double)kk_);
    if (nv > 0) cJSON_AddNumberToObject(hp, "n_vocab", (double)nv);
    cJSON_AddItemToObject(o, "hparams", hp);
    cJSON_AddStringToObject(fo, "name", base);
    cJSON_AddNumberToObject(fo, "size", stat(path, &sb) == 0 ? (double)sb.st_size : 0);
    cJSON_AddItemToArray(files, fo);
    cJSON_AddItemToObject(o, "files", files);
    cJSON_AddItemReferenceToObject(o, "config", root);
    *json = ms_utf8_fix_take(cJSON_PrintUnformatted(o));
    cJSON_Delete(o);
    cJSON_Delete(root);
    return *json ? 0 : oom(err, errlen, path);
}

/* ---- arrays (npy/npz) ---- */

static const char *const known_arrays[] = {
    "tokens",  "experts", "weights", "logits", "doc_lengths", "doc", "doc_domain",
    "domains", "sources", "pos",     "layers", "rank_order",  NULL};

static int is_int(const ms_npy *a) {
    return a->kind == MS_NPY_INT || a->kind == MS_NPY_UINT;
}
static int is_str(const ms_npy *a) {
    return a->kind == MS_NPY_BYTES || a->kind == MS_NPY_UNICODE;
}

static const char *shape_str(const ms_npy *a, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "(");
    for (int i = 0; i < a->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)a->shape[i]);
    if (a->ndim == 1 && o < n) o += (size_t)snprintf(buf + o, n - o, ",");
    if (o < n) snprintf(buf + o, n - o, ")");
    return buf;
}

/* The array `name` (NULL when absent), checked to be integer (want 'i'), floating ('f', ints
 * refused) or strings ('s') with ndim dimensions. */
static int get(const ms_npy_set *set, const char *name, int want, int ndim, const ms_npy **out,
               const char **file, char *err, size_t errlen) {
    int idx = 0;
    *out = ms_npy_set_find(set, name, &idx);
    if (!*out) return 0;
    const ms_npy *a = *out;
    *file = set->files[idx];
    char dt[32], sh[160];
    ms_npy_dtype_name(a, dt, sizeof dt);
    if (want == 'i' && !is_int(a))
        return bad(err, errlen, *file, name, "dtype %s is not an integer type", dt);
    if (want == 'f' && a->kind != MS_NPY_FLOAT)
        return bad(err, errlen, *file, name, "dtype %s is not a floating type", dt);
    if (want == 's' && !is_str(a))
        return bad(err, errlen, *file, name, "dtype %s is not a string type", dt);
    if (a->ndim != ndim)
        return bad(err, errlen, *file, name, "shape %s has %d dimensions, expected %d",
                   shape_str(a, sh, sizeof sh), a->ndim, ndim);
    return 0;
}

static int from_arrays(imp *m, const ms_npy_set *set, const char *origin,
                       const char *default_domain, char *err, size_t errlen) {
    for (int i = 0; i < set->n; i++) {
        int ok = 0;
        for (int j = 0; known_arrays[j]; j++)
            ok |= strcmp(set->names[i], known_arrays[j]) == 0;
        if (!ok)
            return bad(err, errlen, set->files[i], set->names[i],
                       "unknown array (expected tokens, experts, weights, logits, doc_lengths "
                       "or doc, doc_domain, domains, sources, pos, layers, rank_order)");
    }
    const ms_npy *tok, *ex, *w, *lg, *dl, *dc, *dd, *dn, *sr, *ps, *ly, *ro;
    const char *ftok = NULL, *fex = NULL, *fw = NULL, *flg = NULL, *fdl = NULL, *fdc = NULL,
               *fdd = NULL, *fdn = NULL, *fsr = NULL, *fps = NULL, *fly = NULL, *fro = NULL;
    int rc;
    if ((rc = get(set, "tokens", 'i', 1, &tok, &ftok, err, errlen)) ||
        (rc = get(set, "experts", 'i', 3, &ex, &fex, err, errlen)) ||
        (rc = get(set, "weights", 'f', 3, &w, &fw, err, errlen)) ||
        (rc = get(set, "logits", 'f', 3, &lg, &flg, err, errlen)) ||
        (rc = get(set, "doc_lengths", 'i', 1, &dl, &fdl, err, errlen)) ||
        (rc = get(set, "doc", 'i', 1, &dc, &fdc, err, errlen)) ||
        (rc = get(set, "doc_domain", 'i', 1, &dd, &fdd, err, errlen)) ||
        (rc = get(set, "domains", 's', 1, &dn, &fdn, err, errlen)) ||
        (rc = get(set, "sources", 's', 1, &sr, &fsr, err, errlen)) ||
        (rc = get(set, "pos", 'i', 1, &ps, &fps, err, errlen)) ||
        (rc = get(set, "layers", 'i', 1, &ly, &fly, err, errlen)) ||
        (rc = get(set, "rank_order", 's', 0, &ro, &fro, err, errlen)))
        return rc;
    const char *any = origin;
    m->f_tok = ftok ? ftok : origin;
    m->f_ex = fex ? fex : flg ? flg : origin;
    m->f_pos = fps ? fps : origin;
    m->f_layers = fly ? fly : origin;
    if (!tok) return bad(err, errlen, any, "tokens", "missing (token ids, shape (T,))");
    if (!ex && !lg)
        return bad(err, errlen, any, "experts",
                   "missing (expert ids, shape (T, layers, k); or logits to choose them from)");
    char sh[160];
    const int64_t T = tok->shape[0];
    m->T = T;
    const ms_npy *lead = ex ? ex : lg;
    const char *flead = ex ? fex : flg;
    if (lead->shape[0] != T)
        return bad(err, errlen, flead, ex ? "experts" : "logits",
                   "shape %s has %lld tokens, tokens has %lld", shape_str(lead, sh, sizeof sh),
                   (long long)lead->shape[0], (long long)T);
    if (lead->shape[1] < 1 || lead->shape[1] > 4096)
        return bad(err, errlen, flead, ex ? "experts" : "logits",
                   "shape %s: layers must be 1..4096", shape_str(lead, sh, sizeof sh));
    m->L = (int)lead->shape[1];
    if (ex) {
        if (ex->shape[2] < 1 || ex->shape[2] > 65536)
            return bad(err, errlen, fex, "experts", "shape %s: k must be at least 1",
                       shape_str(ex, sh, sizeof sh));
        if (m->k && m->k != ex->shape[2])
            return bad(err, errlen, fex, "experts", "shape %s: k is %lld, the model's k is %d",
                       shape_str(ex, sh, sizeof sh), (long long)ex->shape[2], m->k);
        m->k = (int)ex->shape[2];
    }
    if (lg) {
        if (lg->shape[0] != T || lg->shape[1] != m->L)
            return bad(err, errlen, flg, "logits", "shape %s disagrees with (%lld, %d, E)",
                       shape_str(lg, sh, sizeof sh), (long long)T, m->L);
        if (lg->shape[2] < 1 || lg->shape[2] > 65536)
            return bad(err, errlen, flg, "logits", "shape %s: E must be 1..65536",
                       shape_str(lg, sh, sizeof sh));
        if (m->E && m->E != lg->shape[2])
            return bad(err, errlen, flg, "logits", "shape %s: %lld experts, the model has %d",
                       shape_str(lg, sh, sizeof sh), (long long)lg->shape[2], m->E);
        m->E = (int)lg->shape[2];
    }
    if (!m->E)
        return bad(err, errlen, fex, "experts",
                   "the number of experts is unknown: give --model or --n-expert");
    if (!m->k) return bad(err, errlen, flg, "logits", "k is unknown: give --model or --k");
    if (m->k > m->E)
        return bad(err, errlen, ex ? fex : flg, ex ? "experts" : "logits",
                   "k = %d is larger than the number of experts E = %d", m->k, m->E);
    if (w && (w->shape[0] != T || w->shape[1] != m->L || w->shape[2] != m->k))
        return bad(err, errlen, fw, "weights", "shape %s disagrees with experts (%lld, %d, %d)",
                   shape_str(w, sh, sizeof sh), (long long)T, m->L, m->k);
    if (T > INT32_MAX * (int64_t)64) return bad(err, errlen, ftok, "tokens", "too many tokens");
    const int64_t lk = (int64_t)m->L * m->k, le = (int64_t)m->L * m->E;
    if (!(m->tok = xcalloc(T, 4)) || !(m->pos = xcalloc(T, 4)) || !(m->ids = xcalloc(T * lk, 4)) ||
        !(m->w = xcalloc(T * lk, sizeof(float))) ||
        (lg && !(m->lg = xcalloc(T * le, sizeof(float)))))
        return oom(err, errlen, ftok);
    for (int64_t t = 0; t < T; t++) {
        int64_t v = ms_npy_i64(tok, t);
        if (v < 0 || v > INT32_MAX)
            return bad(err, errlen, ftok, "tokens", "token id %lld at row %lld is %s", (long long)v,
                       (long long)t, v < 0 ? "negative" : "too large");
        m->tok[t] = (int32_t)v;
    }
    if (ex) {
        for (int64_t i = 0; i < T * lk; i++) {
            int64_t v = ms_npy_i64(ex, i);
            if (v < 0 || v >= m->E)
                return bad(err, errlen, fex, "experts",
                           "%s expert id %lld at [%lld, %lld, %lld] (E = %d)",
                           v < 0 ? "negative" : "out-of-range", (long long)v, (long long)(i / lk),
                           (long long)(i % lk / m->k), (long long)(i % m->k), m->E);
            m->ids[i] = (int32_t)v;
        }
    }
    if (lg)
        for (int64_t i = 0; i < T * le; i++) {
            double v = ms_npy_f64(lg, i);
            if (!isfinite(v))
                return bad(err, errlen, flg, "logits", "not finite at [%lld, %lld, %lld]",
                           (long long)(i / le), (long long)(i % le / m->E), (long long)(i % m->E));
            m->lg[i] = (float)v;
        }
    if (w) {
        for (int64_t i = 0; i < T * lk; i++) {
            double v = ms_npy_f64(w, i);
            if (!isfinite(v) || v < 0)
                return bad(err, errlen, fw, "weights",
                           "%g at [%lld, %lld, %lld] is not a finite "
                           "non-negative weight",
                           v, (long long)(i / lk), (long long)(i % lk / m->k),
                           (long long)(i % m->k));
            m->w[i] = (float)v;
        }
        m->have_weights = 1;
    }
    if (!ex && w)
        return bad(err, errlen, fw, "weights",
                   "given without experts (the experts are chosen from the logits, with their "
                   "weights)");
    m->from_logits = !ex;
    /* documents */
    if (dl && dc) return bad(err, errlen, fdc, "doc", "give doc_lengths or doc, not both");
    if (dl) {
        m->D = dl->shape[0];
        if (!(m->doc_n = xcalloc(m->D, 8))) return oom(err, errlen, fdl);
        int64_t sum = 0;
        for (int64_t d = 0; d < m->D; d++) {
            int64_t v = ms_npy_i64(dl, d);
            if (v < 0 || v > T - sum)
                return bad(err, errlen, fdl, "doc_lengths",
                           "document %lld has %lld tokens: the documents do not cover the %lld "
                           "tokens exactly",
                           (long long)d, (long long)v, (long long)T);
            m->doc_n[d] = v, sum += v;
        }
        if (sum != T)
            return bad(err, errlen, fdl, "doc_lengths",
                       "the documents hold %lld tokens, tokens has %lld", (long long)sum,
                       (long long)T);
    } else if (dc) {
        if (dc->shape[0] != T)
            return bad(err, errlen, fdc, "doc", "shape %s disagrees with tokens (%lld,)",
                       shape_str(dc, sh, sizeof sh), (long long)T);
        int64_t last = T ? ms_npy_i64(dc, T - 1) : -1;
        if (T && (ms_npy_i64(dc, 0) != 0 || last < 0 || last >= T))
            return bad(err, errlen, fdc, "doc",
                       "document indices must start at 0 and rise by 0 or 1");
        m->D = last + 1;
        if (!(m->doc_n = xcalloc(m->D, 8))) return oom(err, errlen, fdc);
        for (int64_t t = 0; t < T; t++) {
            int64_t v = ms_npy_i64(dc, t), p = t ? ms_npy_i64(dc, t - 1) : 0;
            if (v != p && v != p + 1)
                return bad(err, errlen, fdc, "doc",
                           "row %lld: document %lld follows %lld (indices must rise by 0 or 1, "
                           "documents stored whole and in order)",
                           (long long)t, (long long)v, (long long)p);
            m->doc_n[v]++;
        }
    } else {
        m->D = 1;
        if (!(m->doc_n = xcalloc(1, 8))) return oom(err, errlen, ftok);
        m->doc_n[0] = T;
    }
    /* domains */
    if (dn) {
        if (dn->shape[0] < 1 || dn->shape[0] > (1 << 20))
            return bad(err, errlen, fdn, "domains", "needs 1 to 2^20 names");
        m->n_domains = (int)dn->shape[0];
        if (!(m->domains = xcalloc(m->n_domains, sizeof *m->domains))) return oom(err, errlen, fdn);
        for (int i = 0; i < m->n_domains; i++)
            if (!(m->domains[i] = ms_npy_str(dn, i))) return oom(err, errlen, fdn);
    } else {
        m->n_domains = 1;
        if (!(m->domains = xcalloc(1, sizeof *m->domains)) ||
            !(m->domains[0] = strdup(default_domain)))
            return oom(err, errlen, ftok);
    }
    if (!(m->doc_dom = xcalloc(m->D, 4)) || !(m->src = xcalloc(m->D, sizeof *m->src)))
        return oom(err, errlen, ftok);
    if (dd) {
        if (dd->shape[0] != m->D)
            return bad(err, errlen, fdd, "doc_domain", "shape %s disagrees with %lld documents",
                       shape_str(dd, sh, sizeof sh), (long long)m->D);
        for (int64_t d = 0; d < m->D; d++) {
            int64_t v = ms_npy_i64(dd, d);
            if (v < 0 || v >= m->n_domains)
                return bad(err, errlen, fdd, "doc_domain",
                           "document %lld has domain index %lld, unknown: there are %d domains",
                           (long long)d, (long long)v, m->n_domains);
            m->doc_dom[d] = (int32_t)v;
        }
    } else if (m->n_domains > 1) {
        return bad(err, errlen, fdn, "domains", "several domains but no doc_domain array");
    }
    if (sr && sr->shape[0] != m->D)
        return bad(err, errlen, fsr, "sources", "shape %s disagrees with %lld documents",
                   shape_str(sr, sh, sizeof sh), (long long)m->D);
    for (int64_t d = 0; d < m->D; d++) {
        char buf[48];
        snprintf(buf, sizeof buf, "document %lld", (long long)d);
        if (!(m->src[d] = sr ? ms_npy_str(sr, d) : strdup(buf))) return oom(err, errlen, ftok);
    }
    /* positions: given, or filled in by the caller from --window */
    if (ps) {
        if (ps->shape[0] != T)
            return bad(err, errlen, fps, "pos", "shape %s disagrees with tokens (%lld,)",
                       shape_str(ps, sh, sizeof sh), (long long)T);
        for (int64_t t = 0; t < T; t++) {
            int64_t v = ms_npy_i64(ps, t);
            if (v < 0 || v > INT32_MAX)
                return bad(err, errlen, fps, "pos", "position %lld at row %lld out of range",
                           (long long)v, (long long)t);
            m->pos[t] = (int32_t)v;
        }
    } else {
        for (int64_t t = 0; t < T; t++)
            m->pos[t] = -1;
    }
    if (ly) {
        if (ly->shape[0] != m->L)
            return bad(err, errlen, fly, "layers", "shape %s disagrees with %d stored layers",
                       shape_str(ly, sh, sizeof sh), m->L);
        if (!(m->layers = xcalloc(m->L, sizeof *m->layers))) return oom(err, errlen, fly);
        for (int i = 0; i < m->L; i++) {
            int64_t v = ms_npy_i64(ly, i);
            if (v < 0 || v > 1 << 20)
                return bad(err, errlen, fly, "layers", "layer %lld out of range", (long long)v);
            m->layers[i] = (int)v;
        }
    }
    if (ro) {
        char *s = ms_npy_str(ro, 0);
        if (!s) return oom(err, errlen, fro);
        int ok = !strcmp(s, "rank") || !strcmp(s, "sorted") || !strcmp(s, "unknown");
        if (ok) snprintf(m->rank_order, sizeof m->rank_order, "%s", s);
        free(s);
        if (!ok)
            return bad(err, errlen, fro, "rank_order", "must be 'rank', 'sorted' or 'unknown'");
    }
    return 0;
}

/* ---- JSONL of engine responses ---- */

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional; *n bytes into a malloc'ed *out. */
static int b64_decode(const char *s, uint8_t **out, size_t *n) {
    size_t len = strlen(s);
    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1) return -1;
    uint8_t *o = malloc(len / 4 * 3 + 3);
    if (!o) return -2;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    *out = o;
    *n = k;
    return 0;
}

typedef struct jl {
    int64_t T, D, capT, capD, capI; /* rows, documents, capacities (ids: elements) */
} jl;

static int domain_index(imp *m, const char *name, int fixed) {
    for (int i = 0; i < m->n_domains; i++)
        if (strcmp(m->domains[i], name) == 0) return i;
    if (fixed) return -1;
    char **d = realloc(m->domains, sizeof *d * (size_t)(m->n_domains + 1));
    if (!d) return -2;
    m->domains = d;
    if (!(d[m->n_domains] = strdup(name))) return -2;
    return m->n_domains++;
}

/* Appends the tokens and routed experts of one JSONL line (one request). */
static int jsonl_line(imp *m, jl *st, const char *file, int64_t line, const char *text, size_t len,
                      const char *default_domain, int fixed_domains, int n_layer, char *err,
                      size_t errlen) {
    char where[64];
    snprintf(where, sizeof where, "line %lld", (long long)line);
    char fl[1100];
    snprintf(fl, sizeof fl, "%s:%lld", file, (long long)line);
    cJSON *o = cJSON_ParseWithLength(text, len);
    int rc = 0;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return bad(err, errlen, fl, NULL, "not a JSON object");
    }
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, "token_ids");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(o, "routed_experts");
    const cJSON *dm = cJSON_GetObjectItemCaseSensitive(o, "domain");
    const cJSON *sr = cJSON_GetObjectItemCaseSensitive(o, "source");
    uint8_t *raw = NULL;
    if (!cJSON_IsArray(ti)) {
        rc = bad(err, errlen, fl, "token_ids", "missing or not a list of token ids");
        goto out;
    }
    if (!re) {
        rc = bad(err, errlen, fl, "routed_experts", "missing");
        goto out;
    }
    if (dm && !cJSON_IsString(dm)) {
        rc = bad(err, errlen, fl, "domain", "not a string");
        goto out;
    }
    int64_t n = cJSON_GetArraySize(ti);
    int64_t lk = (int64_t)m->L * m->k;
    if (cJSON_IsString(re)) {
        if (!m->L || !m->k) {
            rc = bad(err, errlen, fl, "routed_experts",
                     "base64 ids need the layers and k: give --model (or --n-layers/--layers "
                     "and --k)");
            goto out;
        }
        size_t nb = 0;
        int r = b64_decode(re->valuestring, &raw, &nb);
        if (r == -2) {
            rc = oom(err, errlen, file);
            goto out;
        }
        if (r) {
            rc = bad(err, errlen, fl, "routed_experts", "not valid base64");
            goto out;
        }
        if (lk > 0 && n > INT64_MAX / 4 / lk) {
            rc = bad(err, errlen, fl, "routed_experts", "too many tokens");
            goto out;
        }
        if (nb != (size_t)(n * lk * 4)) {
            rc = bad(err, errlen, fl, "routed_experts",
                     "%zu bytes of int32 ids, expected %lld tokens x %d layers x k %d x 4 = %lld",
                     nb, (long long)n, m->L, m->k, (long long)(n * lk * 4));
            goto out;
        }
    } else if (cJSON_IsArray(re)) {
        if (cJSON_GetArraySize(re) != n) {
            rc = bad(err, errlen, fl, "routed_experts", "%d rows, token_ids has %lld",
                     cJSON_GetArraySize(re), (long long)n);
            goto out;
        }
        if (n > 0) {
            const cJSON *r0 = cJSON_GetArrayItem(re, 0), *r00 = cJSON_GetArrayItem(r0, 0);
            int L = cJSON_IsArray(r0) ? cJSON_GetArraySize(r0) : 0;
            int k = cJSON_IsArray(r00) ? cJSON_GetArraySize(r00) : 0;
            if (L < 1 || k < 1) {
                rc = bad(err, errlen, fl, "routed_experts",
                         "expected a list (tokens, layers, k) of expert ids, or base64");
                goto out;
            }
            if ((m->L && L != m->L) || (m->k && k != m->k)) {
                rc = bad(err, errlen, fl, "routed_experts",
                         "shape (%lld, %d, %d) disagrees with (tokens, %d layers, k %d)",
                         (long long)n, L, k, m->L, m->k);
                goto out;
            }
            m->L = L, m->k = k, lk = (int64_t)L * k;
        }
    } else {
        rc = bad(err, errlen, fl, "routed_experts", "neither a list nor a base64 string");
        goto out;
    }
    if (m->k > m->E) {
        rc = bad(err, errlen, fl, "routed_experts",
                 "k = %d is larger than the number of experts E = %d", m->k, m->E);
        goto out;
    }
    (void)n_layer;
    if (st->T + n > st->capT) {
        int64_t c = st->capT ? st->capT : 4096;
        while (c < st->T + n)
            c *= 2;
        int32_t *a = realloc(m->tok, sizeof *a * (size_t)c);
        if (a) m->tok = a;
        int32_t *b = a ? realloc(m->pos, sizeof *b * (size_t)c) : NULL;
        if (b) m->pos = b;
        if (!b) {
            rc = oom(err, errlen, file);
            goto out;
        }
        st->capT = c;
    }
    if ((st->T + n) * lk > st->capI) {
        int64_t c = st->capI ? st->capI : 4096;
        while (c < (st->T + n) * lk)
            c *= 2;
        int32_t *ids = realloc(m->ids, sizeof *ids * (size_t)c);
        if (!ids) {
            rc = oom(err, errlen, file);
            goto out;
        }
        m->ids = ids;
        st->capI = c;
    }
    /* lists are walked, not indexed: cJSON_GetArrayItem is O(index) */
    const cJSON *tv = ti->child;
    for (int64_t t = 0; t < n; t++, tv = tv->next) {
        if (!cJSON_IsNumber(tv) || tv->valuedouble != floor(tv->valuedouble) ||
            tv->valuedouble < 0 || tv->valuedouble > INT32_MAX) {
            rc = bad(err, errlen, fl, "token_ids", "entry %lld is not a token id (an integer >= 0)",
                     (long long)t);
            goto out;
        }
        m->tok[st->T + t] = (int32_t)tv->valuedouble;
        m->pos[st->T + t] = -1;
    }
    int32_t *dst = m->ids + st->T * lk;
    if (raw) {
        for (int64_t i = 0; i < n * lk; i++) {
            const uint8_t *p = raw + i * 4;
            int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                  (uint32_t)p[3] << 24);
            if (v < 0 || v >= m->E) {
                rc = bad(err, errlen, fl, "routed_experts",
                         "%s expert id %d at [%lld, %lld, %lld] (E = %d)",
                         v < 0 ? "negative" : "out-of-range", v, (long long)(i / lk),
                         (long long)(i % lk / m->k), (long long)(i % m->k), m->E);
                goto out;
            }
            dst[i] = v;
        }
    } else {
        const cJSON *row = re->child;
        for (int64_t t = 0; t < n; t++, row = row->next) {
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != m->L) {
                rc = bad(err, errlen, fl, "routed_experts", "row %lld is not %d layers",
                         (long long)t, m->L);
                goto out;
            }
            const cJSON *ks = row->child;
            for (int l = 0; l < m->L; l++, ks = ks->next) {
                if (!cJSON_IsArray(ks) || cJSON_GetArraySize(ks) != m->k) {
                    rc = bad(err, errlen, fl, "routed_experts", "[%lld, %d] is not %d ids",
                             (long long)t, l, m->k);
                    goto out;
                }
                const cJSON *e = ks->child;
                for (int j = 0; j < m->k; j++, e = e->next) {
                    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble)) {
                        rc = bad(err, errlen, fl, "routed_experts",
                                 "[%lld, %d, %d] is not an integer", (long long)t, l, j);
                        goto out;
                    }
                    double x = e->valuedouble;
                    if (x < 0 || x >= m->E) {
                        rc = bad(err, errlen, fl, "routed_experts",
                                 "%s expert id %.0f at [%lld, %d, %d] (E = %d)",
                                 x < 0 ? "negative" : "out-of-range", x, (long long)t, l, j, m->E);
                        goto out;
                    }
                    dst[(t * m->L + l) * m->k + j] = (int32_t)x;
                }
            }
        }
    }
    if (st->D + 1 > st->capD) {
        int64_t c = st->capD ? st->capD * 2 : 256;
        int64_t *a = realloc(m->doc_n, sizeof *a * (size_t)c);
        if (a) m->doc_n = a;
        int32_t *b = a ? realloc(m->doc_dom, sizeof *b * (size_t)c) : NULL;
        if (b) m->doc_dom = b;
        char **q = b ? realloc(m->src, sizeof *q * (size_t)c) : NULL;
        if (q) m->src = q;
        if (!q) {
            rc = oom(err, errlen, file);
            goto out;
        }
        st->capD = c;
    }
    int di = domain_index(m, dm ? dm->valuestring : default_domain, fixed_domains);
    if (di == -2) {
        rc = oom(err, errlen, file);
        goto out;
    }
    if (di < 0) {
        char s[120];
        rc = bad(err, errlen, fl, "domain", "'%s' is not one of the --domains",
                 ms_text_safe(dm ? dm->valuestring : default_domain, s, sizeof s));
        goto out;
    }
    m->doc_n[st->D] = n;
    m->doc_dom[st->D] = di;
    m->src[st->D] = cJSON_IsString(sr) ? strdup(sr->valuestring) : strdup(fl);
    if (!m->src[st->D]) {
        rc = oom(err, errlen, file);
        goto out;
    }
    st->D++, st->T += n;
    m->D = st->D, m->T = st->T;
out:
    free(raw);
    cJSON_Delete(o);
    return rc;
}

static int from_jsonl(imp *m, jl *st, const char *path, const char *default_domain,
                      int fixed_domains, int n_layer, char *err, size_t errlen) {
    int status = 0;
    FILE *f = ms_fopen_regular(path, &status, err, errlen);
    if (!f) return status;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int64_t ln = 0;
    int rc = 0;
    errno = 0;
    while (!rc && (got = getline(&line, &cap, f)) >= 0) {
        ln++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        size_t s = 0;
        while (s < n && isspace((unsigned char)line[s]))
            s++;
        if (s == n) continue; /* blank line */
        rc = jsonl_line(m, st, path, ln, line, n, default_domain, fixed_domains, n_layer, err,
                        errlen);
    }
    if (!rc && ferror(f)) {
        snprintf(err, errlen, "%s: read failed: %s", path, strerror(errno));
        rc = MS_ERR_RUNTIME;
    }
    free(line);
    fclose(f);
    if (!rc && st->D == 0) rc = bad(err, errlen, path, NULL, "no requests (empty file)");
    return rc;
}

/* ---- layers, checks, derived values ---- */

/* "all", "0,15,31", "0-3,7", "first", "middle", "last" against n_layer (0: unknown, then only
 * plain numbers). */
static int parse_layers(const char *s, int n_layer, int **out, int *n, char *err, size_t errlen) {
    int cap = 16, cnt = 0;
    int *v = malloc(sizeof *v * (size_t)cap);
    if (!v) return oom(err, errlen, "--layers");
    const char *p = s;
    if (strcmp(s, "all") == 0) {
        if (n_layer < 1) {
            free(v);
            return bad(err, errlen, "--layers", NULL, "'all' needs --model or --n-layers");
        }
        free(v);
        v = malloc(sizeof *v * (size_t)n_layer);
        if (!v) return oom(err, errlen, "--layers");
        for (int i = 0; i < n_layer; i++)
            v[i] = i;
        *out = v, *n = n_layer;
        return 0;
    }
    while (*p) {
        long a, b;
        char *e;
        if (!strncmp(p, "first", 5))
            a = 0, e = (char *)p + 5;
        else if (!strncmp(p, "middle", 6) && n_layer > 0)
            a = n_layer / 2, e = (char *)p + 6;
        else if (!strncmp(p, "last", 4) && n_layer > 0)
            a = n_layer - 1, e = (char *)p + 4;
        else {
            errno = 0;
            a = strtol(p, &e, 10);
            if (e == p || errno || a < 0 || a > 1 << 20) goto badl;
        }
        b = a;
        if (*e == '-') {
            p = e + 1;
            errno = 0;
            b = strtol(p, &e, 10);
            if (e == p || errno || b < a || b > 1 << 20) goto badl;
        }
        for (long x = a; x <= b; x++) {
            if (cnt == cap) {
                int *q = realloc(v, sizeof *v * (size_t)(cap *= 2));
                if (!q) {
                    free(v);
                    return oom(err, errlen, "--layers");
                }
                v = q;
            }
            v[cnt++] = (int)x;
        }
        if (*e == ',')
            e++;
        else if (*e)
            goto badl;
        p = e;
    }
    *out = v, *n = cnt;
    return 0;
badl:
    free(v);
    char s2[100];
    return bad(err, errlen, "--layers", NULL, "'%s' is not a layer list",
               ms_text_safe(s, s2, sizeof s2));
}

/* Chooses the top-k of each (token, layer)'s logits: rank order (the highest first; a tie
 * goes to the lower expert id), weights = softmax over all E, renormalised over the k when
 * norm is set. */
static void topk_from_logits(imp *m, int norm) {
    const int E = m->E, k = m->k;
    for (int64_t r = 0; r < m->T * m->L; r++) {
        const float *lg = m->lg + r * E;
        int32_t *ids = m->ids + r * k;
        float *w = m->w + r * k;
        float mx = lg[0];
        for (int e = 1; e < E; e++)
            mx = lg[e] > mx ? lg[e] : mx;
        double z = 0;
        for (int e = 0; e < E; e++)
            z += exp((double)lg[e] - mx);
        double sk = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int used = 0;
                for (int q = 0; q < j; q++)
                    used |= ids[q] == e;
                if (!used && (best < 0 || lg[e] > lg[best])) best = e;
            }
            ids[j] = best;
            w[j] = (float)(exp((double)lg[best] - mx) / z);
            sk += w[j];
        }
        if (norm && sk > 0)
            for (int j = 0; j < k; j++)
                w[j] = (float)(w[j] / sk);
    }
}

/* Checks what the store reader will check, with the inputs' names. */
static int check_all(imp *m, int n_layer, int n_vocab, int64_t window, const char *what, char *err,
                     size_t errlen) {
    const int64_t lk = (int64_t)m->L * m->k;
    const char *fl = m->f_layers ? m->f_layers : what, *ft = m->f_tok ? m->f_tok : what,
               *fe = m->f_ex ? m->f_ex : what, *fp = m->f_pos ? m->f_pos : what;
    for (int i = 0; i < m->L; i++) {
        if (i && m->layers[i] <= m->layers[i - 1])
            return bad(err, errlen, fl, "layers", "must be strictly ascending");
        if (n_layer > 0 && m->layers[i] >= n_layer)
            return bad(err, errlen, fl, "layers", "layer %d: the model has %d layers", m->layers[i],
                       n_layer);
    }
    for (int64_t t = 0; t < m->T; t++) {
        if (n_vocab > 0 && m->tok[t] >= n_vocab)
            return bad(err, errlen, ft, "tokens", "token id %d at row %lld: the vocabulary has %d",
                       m->tok[t], (long long)t, n_vocab);
        for (int l = 0; l < m->L; l++) {
            const int32_t *x = m->ids + t * lk + (int64_t)l * m->k;
            for (int a = 0; a < m->k; a++)
                for (int b = 0; b < a; b++)
                    if (x[a] == x[b])
                        return bad(err, errlen, fe, "experts",
                                   "expert %d chosen twice at token %lld, layer slot %d", x[a],
                                   (long long)t, l);
        }
    }
    int64_t t = 0;
    for (int64_t d = 0; d < m->D; d++) {
        for (int64_t i = 0; i < m->doc_n[d]; i++, t++) {
            if (m->pos[t] < 0) { /* not given: windows of --window tokens, or the document */
                m->pos[t] = (int32_t)(window > 0 ? i % window : i);
                if (i > INT32_MAX) return bad(err, errlen, fp, "pos", "document too long");
                continue;
            }
            int32_t p = m->pos[t];
            int ok = i == 0 ? p == 0 : (p == 0 || p == m->pos[t - 1] + 1);
            if (!ok || (window > 0 && p >= window))
                return bad(err, errlen, fp, "pos",
                           "position %d at row %lld: must be 0 at a document start, then rise by "
                           "1 or restart at 0%s",
                           p, (long long)t, window > 0 ? " below --window" : "");
        }
    }
    return 0;
}

int ms_import(const ms_import_opts *o, char *err, size_t errlen) {
    imp m;
    memset(&m, 0, sizeof m);
    ms_npy_set set = {0};
    ms_model *model = NULL;
    ms_store *s = NULL;
    ms_store_lock *lock = NULL;
    ms_outfile of = {0};
    int rc = 0, n_layer = o->n_layer, n_vocab = 0, norm = -1;
    int *want_layers = NULL, n_want = 0; /* --layers, until it becomes m.layers */
    const char *default_domain = o->domain ? o->domain : "default";
    m.E = o->n_expert, m.k = o->k;
    snprintf(m.rank_order, sizeof m.rank_order, "%s", "");

    /* 1. the model description */
    if (o->model_path) {
        size_t pl = strlen(o->model_path);
        int E = 0, k = 0;
        if (pl >= 5 && strcmp(o->model_path + pl - 5, ".json") == 0) {
            if ((rc = model_from_config(o->model_path, &E, &k, &n_layer, &n_vocab, &norm,
                                        &m.model_json, err, errlen)))
                goto done;
        } else {
            ms_model_opts mo = {o->model_path};
            if ((rc = ms_model_open(&model, &mo, err, errlen))) goto done;
            const ms_hparams *hp = ms_model_hparams(model);
            E = hp->n_expert, k = hp->n_expert_used, n_layer = hp->n_layer;
            n_vocab = hp->n_vocab;
            norm = hp->router == MS_ROUTER_SOFTMAX_TOPK_RENORM ? 1 : 0;
            if ((rc = ms_model_check_output(model, o->out, err, errlen))) goto done;
            m.model_json = ms_model_describe_json(model);
            const ms_tokenizer *tk = ms_model_tokenizer(model);
            if (tk) m.tok_json = ms_tokenizer_describe_json(tk);
            if (!m.model_json || (tk && !m.tok_json)) {
                rc = oom(err, errlen, o->model_path);
                goto done;
            }
        }
        if ((o->n_expert && o->n_expert != E) || (o->k && o->k != k) ||
            (o->n_layer && o->n_layer != n_layer)) {
            rc = bad(err, errlen, o->model_path, NULL,
                     "the model has E = %d, k = %d, %d layers: --n-expert/--k/--n-layers differ", E,
                     k, n_layer);
            goto done;
        }
        m.E = E, m.k = k;
    }
    if (o->norm_topk >= 0) norm = o->norm_topk;
    if (m.E < 0 || m.E > 65536) {
        rc = bad(err, errlen, "--n-expert", NULL, "must be 1..65536");
        goto done;
    }
    if (m.E && m.k > m.E) {
        rc = bad(err, errlen, o->model_path ? o->model_path : "--k", NULL,
                 "k = %d is larger than the number of experts E = %d", m.k, m.E);
        goto done;
    }
    if (o->layers && (rc = parse_layers(o->layers, n_layer, &want_layers, &n_want, err, errlen)))
        goto done;

    /* 2. the inputs, into the canonical form */
    int n_jsonl = 0, n_arr = 0;
    for (int i = 0; i < o->n_inputs; i++) {
        const char *in = o->inputs[i];
        size_t l = strlen(in);
        const char *eq = strchr(in, '=');
        if (l >= 6 && !strcmp(in + l - 6, ".jsonl")) {
            n_jsonl++;
        } else if (eq && eq != in) {
            char *name = strndup(in, (size_t)(eq - in));
            if (!name) {
                rc = oom(err, errlen, in);
                goto done;
            }
            rc = ms_npy_load(&set, name, eq + 1, err, errlen);
            free(name);
            n_arr++;
        } else if (l >= 4 && !strcmp(in + l - 4, ".npz")) {
            rc = ms_npz_load(&set, in, err, errlen);
            n_arr++;
        } else if (l >= 4 && !strcmp(in + l - 4, ".npy")) {
            const char *b = strrchr(in, '/');
            b = b ? b + 1 : in;
            char *name = strndup(b, strlen(b) - 4);
            if (!name) {
                rc = oom(err, errlen, in);
                goto done;
            }
            rc = ms_npy_load(&set, name, in, err, errlen);
            free(name);
            n_arr++;
        } else {
            rc = bad(err, errlen, in, NULL,
                     "not an input import reads (FILE.npz, NAME=FILE.npy, FILE.npy or "
                     "FILE.jsonl)");
        }
        if (rc) goto done;
    }
    if (n_jsonl && n_arr) {
        rc = bad(err, errlen, o->inputs[0], NULL, "give NumPy arrays or JSONL files, not both");
        goto done;
    }
    if (!n_jsonl && !n_arr) {
        rc = bad(err, errlen, "import", NULL, "no inputs");
        goto done;
    }
    if (n_arr) {
        if ((rc = from_arrays(&m, &set, o->inputs[0], default_domain, err, errlen))) goto done;
    } else {
        if (!m.E) {
            rc = bad(err, errlen, o->inputs[0], NULL,
                     "the number of experts is unknown: give --model or --n-expert");
            goto done;
        }
        if (o->domains) {
            for (int i = 0; i < o->n_domains; i++)
                if (domain_index(&m, o->domains[i], 0) == -2) {
                    rc = oom(err, errlen, "--domains");
                    goto done;
                }
        }
        m.L = want_layers ? n_want : n_layer;
        jl st = {0};
        for (int i = 0; i < o->n_inputs && !rc; i++)
            rc = from_jsonl(&m, &st, o->inputs[i], default_domain, o->domains != NULL, n_layer, err,
                            errlen);
        if (rc) goto done;
        if (m.n_domains == 0 && domain_index(&m, default_domain, 0) == -2) {
            rc = oom(err, errlen, "import");
            goto done;
        }
        if (!(m.w = xcalloc(m.T * m.L * m.k, sizeof(float)))) {
            rc = oom(err, errlen, o->inputs[0]);
            goto done;
        }
    }
    const char *what = set.n ? set.files[0] : o->inputs[0];
    if (m.from_logits) {
        topk_from_logits(&m, norm != 0);
        snprintf(m.rank_order, sizeof m.rank_order, "rank"); /* chosen here, in rank order */
    }
    /* stored layers: the layers array, or --layers, or 0..L-1 */
    if (want_layers) {
        if (n_want != m.L) {
            rc = bad(err, errlen, "--layers", NULL, "names %d layers, the arrays hold %d", n_want,
                     m.L);
            goto done;
        }
        if (m.layers && memcmp(m.layers, want_layers, sizeof(int) * (size_t)m.L) != 0) {
            rc = bad(err, errlen, "--layers", NULL, "disagrees with the layers array");
            goto done;
        }
        free(m.layers);
        m.layers = want_layers;
        want_layers = NULL;
        m.f_layers = "--layers";
    } else if (!m.layers) {
        /* 0..L-1 only when that is every layer of the model (or the model is unknown): a
         * subset of a known model's layers must say which, or it would be mislabelled */
        if (n_layer > 0 && m.L != n_layer) {
            rc = bad(err, errlen, m.f_ex ? m.f_ex : what, "experts",
                     "the arrays hold %d layers, the model has %d: say which with --layers (or "
                     "a layers array)",
                     m.L, n_layer);
            goto done;
        }
        if (!(m.layers = xcalloc(m.L, sizeof *m.layers))) {
            rc = oom(err, errlen, what);
            goto done;
        }
        for (int i = 0; i < m.L; i++)
            m.layers[i] = i;
    }
    if (m.L < 1) {
        rc = bad(err, errlen, what, NULL, "no stored layers");
        goto done;
    }
    if ((rc = check_all(&m, n_layer, n_vocab, o->window, what, err, errlen))) goto done;
    /* ids chosen here from logits are in rank order whatever was said; else the flag wins
     * over a rank_order array */
    if (o->rank_order && !m.from_logits)
        snprintf(m.rank_order, sizeof m.rank_order, "%s", o->rank_order);
    if (!m.rank_order[0]) snprintf(m.rank_order, sizeof m.rank_order, "unknown");

    /* provenance: where the routes came from */
    {
        cJSON *mf = cJSON_CreateObject(), *ins = cJSON_CreateArray();
        cJSON_AddStringToObject(mf, "kind", "import");
        cJSON_AddStringToObject(mf, "format", n_jsonl ? "jsonl" : "numpy");
        for (int i = 0; i < o->n_inputs; i++) {
            char *u = ms_utf8_fix(o->inputs[i], strlen(o->inputs[i]));
            if (u) cJSON_AddItemToArray(ins, cJSON_CreateString(u));
            free(u);
        }
        cJSON_AddItemToObject(mf, "inputs", ins);
        cJSON_AddStringToObject(mf, "rank_order", m.rank_order);
        cJSON_AddStringToObject(mf, "weights",
                                m.from_logits    ? "softmax of the logits (top-k chosen here)"
                                : m.have_weights ? "given"
                                                 : "absent (zeros)");
        m.manifest_json = ms_utf8_fix_take(cJSON_PrintUnformatted(mf));
        cJSON_Delete(mf);
        if (!m.model_json) {
            cJSON *mj = cJSON_CreateObject(), *hp = cJSON_CreateObject();
            cJSON_AddStringToObject(mj, "arch", "unknown");
            cJSON_AddStringToObject(mj, "format", "flags");
            if (n_layer > 0) cJSON_AddNumberToObject(hp, "n_layer", n_layer);
            cJSON_AddNumberToObject(hp, "n_expert", m.E);
            cJSON_AddNumberToObject(hp, "n_expert_used", m.k);
            cJSON_AddItemToObject(mj, "hparams", hp);
            m.model_json = cJSON_PrintUnformatted(mj);
            cJSON_Delete(mj);
        }
        if (!m.manifest_json || !m.model_json) {
            rc = oom(err, errlen, what);
            goto done;
        }
    }

    /* 3. write: lock, a temporary name beside --out, the store, rename */
    if ((rc = ms_store_replaceable(o->out, err, errlen))) goto done;
    if ((rc = ms_store_lock_take(&lock, o->out, err, errlen))) goto done;
    if ((rc = ms_outfile_open(&of, o->out, err, errlen))) goto done;
    if (of.f == stdout) {
        rc = bad(err, errlen, o->out, NULL, "a route store cannot be written to stdout");
        goto done;
    }
    fclose(of.f);
    of.f = NULL;
    ms_store_create_opts so = {.path = of.tmp,
                               .layers = m.layers,
                               .n_layers = m.L,
                               .n_expert = m.E,
                               .k = m.k,
                               .with_logits = m.lg != NULL,
                               .domains = (const char *const *)m.domains,
                               .n_domains = m.n_domains,
                               .model_json = m.model_json,
                               .tokenizer_json = m.tok_json,
                               .manifest_json = m.manifest_json,
                               .command_line = o->command_line,
                               .window = o->window,
                               .rank_order = m.rank_order};
    if ((rc = ms_store_create(&s, &so, err, errlen))) goto done;
    const int64_t lk = (int64_t)m.L * m.k, le = (int64_t)m.L * m.E;
    int64_t t0 = 0, batch = 0;
    for (int64_t d = 0; d < m.D && !rc; d++) {
        int64_t n = m.doc_n[d];
        rc = ms_store_append(s, m.doc_dom[d], m.src[d], m.tok + t0, m.pos + t0, n, m.ids + t0 * lk,
                             m.w + t0 * lk, m.lg ? m.lg + t0 * le : NULL, err, errlen);
        t0 += n, batch += n;
        if (!rc && batch >= 65536) {
            rc = ms_store_flush(s, err, errlen);
            batch = 0;
        }
    }
    char cerr[512];
    int crc = ms_store_close(s, rc ? cerr : err, rc ? sizeof cerr : errlen);
    s = NULL;
    if (!rc) rc = crc;
    if (!rc && rename(of.tmp, o->out) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", o->out, strerror(errno));
        rc = MS_ERR_RUNTIME;
    }
    if (!rc) {
        free(of.tmp); /* renamed: nothing to remove */
        of.tmp = NULL;
    } else if (of.tmp) {
        /* the writer speaks of a capture that can resume; an import leaves nothing */
        char *res = strstr(err, "; the ");
        if (res && strstr(res, "--resume"))
            snprintf(res, errlen - (size_t)(res - err), "%s", "; nothing was written");
        /* the writer's messages name the temporary file; the user named --out */
        size_t tl = strlen(of.tmp);
        if (strncmp(err, of.tmp, tl) == 0) {
            char rest[512];
            snprintf(rest, sizeof rest, "%s", err + tl);
            snprintf(err, errlen, "%s%s", o->out, rest);
        }
    }
done:
    free(want_layers);
    if (s) {
        char cerr2[512];
        ms_store_close(s, cerr2, sizeof cerr2);
    }
    ms_outfile_abort(&of);
    ms_store_lock_release(lock);
    ms_model_close(model);
    ms_npy_set_free(&set);
    imp_free(&m);
    return rc;
}
