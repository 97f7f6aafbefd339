/* routes.c — the route store reader: opens a store (ours, or one built by hand with h5py
 * following docs/ROUTE_STORE.md), checks its shapes and its document table, and reads any
 * token range. Only committed documents are visible: the document count is the root
 * attribute n_documents when present (else the length of /documents/domain), and the token
 * count is where the last of those documents ends. Rows past that (left by a crash) are
 * ignored. Integer datasets are read through HDF5's conversion, so any integer type works
 * (uint8/uint16 expert ids, int64 token ids in a hand-made store). */
#include "h5_int.h"
#include "probes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TOK_ID, TOK_DOC, TOK_POS, R_EXPERT, R_WEIGHT, R_LOGITS, N_TOKDS };
static const char *const tok_names[N_TOKDS] = {"/tokens/id",      "/tokens/doc",
                                               "/tokens/pos",     "/routing/expert",
                                               "/routing/weight", "/routing/logits"};

struct ms_routes {
    char *path;
    hid_t file;
    hid_t tok[N_TOKDS];
    ms_routes_info info;
    int *layers;         /* [n_layers] */
    char **domains;      /* [n_domains] */
    int32_t *doc_domain; /* [n_documents] */
    int64_t *doc_first;  /* [n_documents] */
    int64_t *doc_ntok;   /* [n_documents] */
    char **doc_source;   /* [n_documents] */
    char *strs[6];       /* model, tokenizer, manifest, command_line, tool_version, created */
};

void ms_routes_close(ms_routes *r) {
    if (!r) return;
    for (int i = 0; i < N_TOKDS; i++)
        ms_h5_close(r->tok[i]);
    ms_h5_close(r->file);
    for (int i = 0; i < r->info.n_domains && r->domains; i++)
        free(r->domains[i]);
    for (int64_t i = 0; i < r->info.n_documents && r->doc_source; i++)
        free(r->doc_source[i]);
    for (int i = 0; i < 6; i++)
        free(r->strs[i]);
    free(r->domains);
    free(r->doc_source);
    free(r->doc_domain);
    free(r->doc_first);
    free(r->doc_ntok);
    free(r->layers);
    free(r->path);
    free(r);
}

static int bad(char *err, size_t errlen, const char *path, const char *what) {
    snprintf(err, errlen, "%s: %s", path, what);
    return MS_ERR_INPUT;
}

/* Reads a whole 1-D numeric dataset of exactly n rows (or at least n when at_least). */
static int read_1d(hid_t file, const char *name, hid_t mt, int64_t n, int at_least, void *out,
                   int64_t *len) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    int rank = 0, rc = -1;
    int64_t dims[3];
    hid_t fsp = -1, msp = -1;
    if (ms_h5_dims(d, &rank, dims) < 0 || rank != 1) goto out;
    if (len) *len = dims[0];
    if (n < 0) {
        rc = 0; /* only the length was asked for */
        goto out;
    }
    if (at_least ? dims[0] < n : dims[0] != n) {
        rc = -2;
        goto out;
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    hsize_t st[1] = {0}, cnt[1] = {(hsize_t)n};
    fsp = H5Dget_space(d);
    msp = H5Screate_simple(1, cnt, NULL);
    if (fsp >= 0 && msp >= 0 &&
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, st, NULL, cnt, NULL) >= 0 &&
        H5Dread(d, mt, msp, fsp, H5P_DEFAULT, out) >= 0)
        rc = 0;
out:
    ms_h5_close(fsp);
    ms_h5_close(msp);
    H5Dclose(d);
    return rc;
}

int ms_routes_open(ms_routes **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    ms_h5_quiet();
    ms_routes *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        snprintf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    r->file = -1;
    for (int i = 0; i < N_TOKDS; i++)
        r->tok[i] = -1;
    int rc = 0;
    hid_t grout = -1, dd = -1, dapl = -1;
    char *fmt = NULL;
    ms_routes_info *in = &r->info;

    htri_t ish5 = H5Fis_hdf5(path);
    if (ish5 <= 0) {
        rc = ish5 < 0 ? MS_ERR_INPUT : bad(err, errlen, path, "not an HDF5 file");
        if (ish5 < 0) snprintf(err, errlen, "%s: cannot open (missing or unreadable)", path);
        goto fail;
    }
    H5_CHECK(r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "open the route store");
    if (ms_h5_read_attr_str(r->file, "format", &fmt) != 0 || strcmp(fmt, MS_ROUTES_FORMAT) != 0) {
        rc = bad(err, errlen, path, "not a moescope route store (root attribute format)");
        goto fail;
    }
    int64_t v = 0;
    if (ms_h5_read_attr_i64(r->file, "format_version", &v) != 0 || v != MS_ROUTES_VERSION) {
        rc = bad(err, errlen, path, "unsupported route store format_version (expected 1)");
        goto fail;
    }
    static const char *const sattr[6] = {"model",        "tokenizer",    "manifest",
                                         "command_line", "tool_version", "created"};
    for (int i = 0; i < 6; i++) {
        int q = ms_h5_read_attr_str(r->file, sattr[i], &r->strs[i]);
        if (q < 0) {
            snprintf(err, errlen, "%s: cannot read root attribute %s", path, sattr[i]);
            rc = MS_ERR_INPUT;
            goto fail;
        }
        if (q == 1 && !(r->strs[i] = strdup(""))) {
            rc = bad(err, errlen, path, "out of memory");
            goto fail;
        }
    }
    in->model_json = r->strs[0];
    in->tokenizer_json = r->strs[1];
    in->manifest_json = r->strs[2];
    in->command_line = r->strs[3];
    in->tool_version = r->strs[4];
    in->created = r->strs[5];

    H5_CHECK(grout = H5Gopen2(r->file, "/routing", H5P_DEFAULT), "open group /routing");
    if (ms_h5_read_attr_i64(grout, "n_expert", &v) != 0 || v < 1 || v > 65536) {
        rc = bad(err, errlen, path, "/routing attribute n_expert missing or out of range");
        goto fail;
    }
    in->n_expert = (int)v;
    if (ms_h5_read_attr_i64(grout, "k", &v) != 0 || v < 1 || v > in->n_expert) {
        rc = bad(err, errlen, path, "/routing attribute k missing or out of range");
        goto fail;
    }
    in->k = (int)v;

    /* Layers. */
    int64_t nl = 0;
    if (read_1d(r->file, "/routing/layers", H5T_NATIVE_INT, -1, 0, NULL, &nl) < 0 || nl < 1 ||
        nl > 4096) {
        rc = bad(err, errlen, path, "/routing/layers missing, not 1-D, or empty");
        goto fail;
    }
    r->layers = malloc(sizeof *r->layers * (size_t)nl);
    if (!r->layers ||
        read_1d(r->file, "/routing/layers", H5T_NATIVE_INT, nl, 0, r->layers, NULL) < 0) {
        rc = bad(err, errlen, path, "cannot read /routing/layers");
        goto fail;
    }
    in->n_layers = (int)nl;
    in->layers = r->layers;

    /* Domains. */
    int rank = 0;
    int64_t dims[3];
    dd = H5Dopen2(r->file, "/domains", H5P_DEFAULT);
    if (dd < 0 || ms_h5_dims(dd, &rank, dims) < 0 || rank != 1 || dims[0] > (1 << 20)) {
        rc = bad(err, errlen, path, "/domains missing or not a 1-D string dataset");
        goto fail;
    }
    r->domains = calloc((size_t)(dims[0] ? dims[0] : 1), sizeof *r->domains);
    if (!r->domains || ms_h5_read_strings(dd, 0, dims[0], r->domains) < 0) {
        rc = bad(err, errlen, path, "cannot read /domains (expected strings)");
        goto fail;
    }
    in->n_domains = (int)dims[0];
    in->domains = (const char *const *)r->domains;

    /* Documents: the committed count, then the table. */
    int64_t nd = 0, len = 0;
    if (read_1d(r->file, "/documents/domain", H5T_NATIVE_INT32, -1, 0, NULL, &len) < 0) {
        rc = bad(err, errlen, path, "/documents/domain missing or not 1-D");
        goto fail;
    }
    int q = ms_h5_read_attr_i64(r->file, "n_documents", &nd);
    if (q < 0 || (q == 0 && (nd < 0 || nd > len))) {
        rc = bad(err, errlen, path, "root attribute n_documents invalid");
        goto fail;
    }
    if (q == 1) nd = len;
    size_t ndz = (size_t)(nd ? nd : 1);
    r->doc_domain = malloc(sizeof *r->doc_domain * ndz);
    r->doc_first = malloc(sizeof *r->doc_first * ndz);
    r->doc_ntok = malloc(sizeof *r->doc_ntok * ndz);
    r->doc_source = calloc(ndz, sizeof *r->doc_source);
    if (!r->doc_domain || !r->doc_first || !r->doc_ntok || !r->doc_source) {
        rc = bad(err, errlen, path, "out of memory for the document table");
        goto fail;
    }
    if (read_1d(r->file, "/documents/domain", H5T_NATIVE_INT32, nd, 1, r->doc_domain, NULL) < 0 ||
        read_1d(r->file, "/documents/first_token", H5T_NATIVE_INT64, nd, 1, r->doc_first, NULL) <
            0 ||
        read_1d(r->file, "/documents/n_tokens", H5T_NATIVE_INT64, nd, 1, r->doc_ntok, NULL) < 0) {
        rc = bad(err, errlen, path,
                 "cannot read /documents/domain, first_token, n_tokens (missing, or shorter "
                 "than n_documents)");
        goto fail;
    }
    in->n_documents = nd; /* from here on, close frees nd sources */
    hid_t ds = H5Dopen2(r->file, "/documents/source", H5P_DEFAULT);
    int64_t slen = 0;
    if (ds >= 0) {
        int srank = 0;
        int64_t sd[3];
        int ok = ms_h5_dims(ds, &srank, sd) >= 0 && srank == 1 && sd[0] >= nd;
        slen = sd[0];
        ok = ok && ms_h5_read_strings(ds, 0, nd, r->doc_source) >= 0;
        H5Dclose(ds);
        if (!ok) {
            rc = bad(err, errlen, path, "cannot read /documents/source (expected strings)");
            goto fail;
        }
    } else {
        H5Eclear2(H5E_DEFAULT); /* optional in hand-made stores */
        for (int64_t d = 0; d < nd; d++)
            if (!(r->doc_source[d] = strdup(""))) {
                rc = bad(err, errlen, path, "out of memory");
                goto fail;
            }
    }
    (void)slen;
    int64_t t = 0;
    for (int64_t d = 0; d < nd; d++) {
        char msg[160];
        if (r->doc_domain[d] < 0 || r->doc_domain[d] >= in->n_domains) {
            snprintf(msg, sizeof msg, "document %lld: domain %d out of range [0, %d)", (long long)d,
                     r->doc_domain[d], in->n_domains);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        if (r->doc_first[d] != t || r->doc_ntok[d] < 0 || r->doc_ntok[d] > INT64_MAX / 2 - t) {
            snprintf(msg, sizeof msg,
                     "document %lld: first_token %lld / n_tokens %lld do not continue the "
                     "previous document (expected first_token %lld)",
                     (long long)d, (long long)r->doc_first[d], (long long)r->doc_ntok[d],
                     (long long)t);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        t += r->doc_ntok[d];
    }
    in->n_tokens = t;

    /* Token datasets: present, right rank and inner shape, at least t rows. */
    htri_t hl = H5Lexists(r->file, "/routing/logits", H5P_DEFAULT);
    in->has_logits = hl > 0;
    int64_t win = 0;
    int qw = ms_h5_read_attr_i64(r->file, "window", &win);
    if (qw < 0 || (qw == 0 && win < 0)) {
        rc = bad(err, errlen, path, "root attribute window invalid");
        goto fail;
    }
    in->window = qw == 0 ? win : 0;
    for (int i = 0; i < N_TOKDS; i++) {
        if (i == R_LOGITS && !in->has_logits) continue;
        H5_CHECK(dapl = H5Pcreate(H5P_DATASET_ACCESS), "create a dataset access list");
        H5_CHECK(H5Pset_chunk_cache(dapl, 521, (size_t)16 << 20, 1.0), "set the chunk cache");
        r->tok[i] = H5Dopen2(r->file, tok_names[i], dapl);
        ms_h5_close(dapl);
        dapl = -1;
        int want_rank = i <= TOK_POS ? 1 : 3;
        int64_t inner = i == R_LOGITS ? in->n_expert : in->k;
        char msg[200];
        if (r->tok[i] < 0 || ms_h5_dims(r->tok[i], &rank, dims) < 0 || rank != want_rank ||
            (rank == 3 && (dims[1] != in->n_layers || dims[2] != inner)) || dims[0] < t) {
            snprintf(msg, sizeof msg,
                     "%s missing or of the wrong shape (expected %s with at least %lld rows)",
                     tok_names[i], rank == 3 || want_rank == 3 ? "(T, n_layers, k|E)" : "(T,)",
                     (long long)t);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        hid_t ty = H5Dget_type(r->tok[i]);
        H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
        ms_h5_close(ty);
        H5T_class_t want = i <= R_EXPERT ? H5T_INTEGER : H5T_FLOAT;
        if (cls != want) {
            snprintf(msg, sizeof msg, "%s has type class %d, expected %s", tok_names[i], (int)cls,
                     want == H5T_INTEGER ? "integer" : "float");
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
    }
    {
        /* Stores written before the attribute existed are captures: rank order. */
        char *ro = NULL;
        int qro = ms_h5_read_attr_str(r->tok[R_EXPERT], "rank_order", &ro);
        in->rank_order = qro != 0 || !ro || strcmp(ro, "rank") == 0;
        free(ro);
        if (qro < 0) H5Eclear2(H5E_DEFAULT);
    }
fail:
    free(fmt);
    ms_h5_close(grout);
    ms_h5_close(dd);
    ms_h5_close(dapl);
    if (rc) {
        ms_routes_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

const ms_routes_info *ms_routes_info_get(const ms_routes *r) {
    return &r->info;
}

int ms_routes_document(const ms_routes *r, int64_t d, int *domain, int64_t *first_token,
                       int64_t *n_tokens, const char **source) {
    if (d < 0 || d >= r->info.n_documents) return MS_ERR_INPUT;
    if (domain) *domain = r->doc_domain[d];
    if (first_token) *first_token = r->doc_first[d];
    if (n_tokens) *n_tokens = r->doc_ntok[d];
    if (source) *source = r->doc_source[d];
    return 0;
}

static herr_t read_rows(hid_t d, hid_t mt, int64_t t0, int64_t n, void *buf) {
    int rank = 0;
    int64_t dims[3];
    if (ms_h5_dims(d, &rank, dims) < 0) return -1;
    hsize_t st[3] = {(hsize_t)t0, 0, 0}, cnt[3] = {(hsize_t)n, (hsize_t)dims[1], (hsize_t)dims[2]};
    hid_t fsp = H5Dget_space(d), msp = H5Screate_simple(rank, cnt, NULL);
    herr_t rc = -1;
    if (fsp >= 0 && msp >= 0 && H5Sselect_hyperslab(fsp, H5S_SELECT_SET, st, NULL, cnt, NULL) >= 0)
        rc = H5Dread(d, mt, msp, fsp, H5P_DEFAULT, buf);
    ms_h5_close(fsp);
    ms_h5_close(msp);
    return rc;
}

int ms_routes_read(ms_routes *r, int64_t t0, int64_t n, int32_t *tok, int32_t *doc, int32_t *pos,
                   int32_t *ids, float *weights, float *logits, char *err, size_t errlen) {
    const char *path = r->path;
    int rc = 0;
    const ms_routes_info *in = &r->info;
    if (t0 < 0 || n < 0 || t0 > in->n_tokens || n > in->n_tokens - t0) {
        snprintf(err, errlen, "%s: token rows [%lld, %lld) outside [0, %lld)", path, (long long)t0,
                 (long long)(t0 + n), (long long)in->n_tokens);
        return MS_ERR_INPUT;
    }
    if (logits && !in->has_logits) {
        snprintf(err, errlen, "%s: the store has no router logits (capture with --logits)", path);
        return MS_ERR_INPUT;
    }
    if (n == 0) return 0;
    if (tok) H5_CHECK(read_rows(r->tok[TOK_ID], H5T_NATIVE_INT32, t0, n, tok), "read /tokens/id");
    if (doc) {
        H5_CHECK(read_rows(r->tok[TOK_DOC], H5T_NATIVE_INT32, t0, n, doc), "read /tokens/doc");
        for (int64_t i = 0; i < n; i++)
            if (doc[i] < 0 || doc[i] >= in->n_documents) {
                snprintf(err, errlen, "%s: /tokens/doc[%lld] = %d is not a document", path,
                         (long long)(t0 + i), doc[i]);
                return MS_ERR_INPUT;
            }
    }
    if (pos) H5_CHECK(read_rows(r->tok[TOK_POS], H5T_NATIVE_INT32, t0, n, pos), "read /tokens/pos");
    if (ids) {
        H5_CHECK(read_rows(r->tok[R_EXPERT], H5T_NATIVE_INT32, t0, n, ids), "read /routing/expert");
        int64_t m = n * in->n_layers * in->k;
        for (int64_t i = 0; i < m; i++)
            if (ids[i] < 0 || ids[i] >= in->n_expert) {
                snprintf(err, errlen, "%s: /routing/expert at token %lld holds %d, outside [0, %d)",
                         path, (long long)(t0 + i / ((int64_t)in->n_layers * in->k)), ids[i],
                         in->n_expert);
                return MS_ERR_INPUT;
            }
    }
    if (weights)
        H5_CHECK(read_rows(r->tok[R_WEIGHT], H5T_NATIVE_FLOAT, t0, n, weights),
                 "read /routing/weight");
    if (logits)
        H5_CHECK(read_rows(r->tok[R_LOGITS], H5T_NATIVE_FLOAT, t0, n, logits),
                 "read /routing/logits");
    return 0;
fail:
    return rc;
}
