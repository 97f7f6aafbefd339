/* routes.c — the route store reader: opens a store (ours, or one built by hand with h5py
 * following docs/ROUTE_STORE.md), checks its shapes and its document table, and reads any
 * token range. Only committed documents are visible: the document count is the root
 * attribute n_documents when present (else the length of /documents/domain), and the token
 * count is where the last of those documents ends. Rows past that (left by a crash) are
 * ignored. Integer datasets are read through HDF5's conversion, so any integer type works
 * (uint8/uint16 expert ids, int64 token ids in a hand-made store); out-of-range values
 * saturate in that conversion and are then refused by the range checks.
 *
 * Nothing in the file is trusted (docs/ROUTE_STORE.md, "What a reader checks"): every object
 * read must be a hard link (a soft or external link could point anywhere), every dataset
 * stored in the file itself (no external raw storage, no virtual dataset), of the expected
 * type class, size, rank and shape; the document table must tile the token rows; and one
 * streaming pass at open checks every committed token row (document, position, token id,
 * expert ids), so every number a caller computes comes from checked data. Weights and router
 * logits, which no analysis reads, are checked where they are read (ms_routes_read). */
#include "h5_int.h"
#include "probes.h"

#include "msutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Only hard links are followed: each component of name ("/a/b": "/a", then "/a/b") must be a
 * hard link. 0: present, 1: absent, MS_ERR_INPUT (message in err) otherwise. */
static int link_check(hid_t file, const char *path, const char *name, char *err, size_t errlen) {
    char buf[64], msg[160];
    size_t n = strlen(name);
    if (n >= sizeof buf) return bad(err, errlen, path, "internal: dataset name too long");
    for (size_t i = 1; i <= n; i++) {
        if (i < n && name[i] != '/') continue;
        memcpy(buf, name, i);
        buf[i] = 0;
        htri_t ex = H5Lexists(file, buf, H5P_DEFAULT);
        if (ex == 0) return 1;
        H5L_info_t li;
        if (ex < 0 || H5Lget_info(file, buf, &li, H5P_DEFAULT) < 0) {
            H5Eclear2(H5E_DEFAULT);
            snprintf(msg, sizeof msg, "%s: the link cannot be read (corrupt object header)", buf);
            return bad(err, errlen, path, msg);
        }
        if (li.type != H5L_TYPE_HARD) {
            snprintf(msg, sizeof msg, "%s is a %s link (only hard links are read)", buf,
                     li.type == H5L_TYPE_SOFT       ? "soft"
                     : li.type == H5L_TYPE_EXTERNAL ? "external"
                                                    : "user-defined");
            return bad(err, errlen, path, msg);
        }
    }
    return 0;
}

/* Opens dataset name (a hard link, data stored inside this file) of the given type class
 * (integers of 1..8 bytes, floats of 4 or 8, strings) and rank; dims receives its shape.
 * 0, 1 when optional and absent (*out -1), MS_ERR_* with a message otherwise. */
static int open_ds(hid_t file, const char *path, const char *name, int optional, hid_t dapl,
                   H5T_class_t cls, int want_rank, hid_t *out, int64_t dims[3], char *err,
                   size_t errlen) {
    char msg[200];
    *out = -1;
    int q = link_check(file, path, name, err, errlen);
    if (q == 1 && optional) return 1;
    if (q == 1) {
        snprintf(msg, sizeof msg, "%s is missing", name);
        return bad(err, errlen, path, msg);
    }
    if (q) return q;
    hid_t d = H5Dopen2(file, name, dapl >= 0 ? dapl : H5P_DEFAULT);
    if (d < 0) {
        snprintf(msg, sizeof msg, "open %s (not a dataset, or a corrupt header)", name);
        return ms_h5_fail(err, errlen, path, msg);
    }
    hid_t dcpl = H5Dget_create_plist(d), ty = H5Dget_type(d);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    int next = dcpl >= 0 ? H5Pget_external_count(dcpl) : -1;
    H5T_class_t c = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    size_t sz = ty >= 0 ? H5Tget_size(ty) : 0;
    ms_h5_close(dcpl);
    ms_h5_close(ty);
    H5Eclear2(H5E_DEFAULT);
    int rank = 0, rc = 0;
    if (lay == H5D_VIRTUAL || next != 0 || lay == H5D_LAYOUT_ERROR) {
        snprintf(msg, sizeof msg,
                 "%s keeps its data outside the file (external or virtual storage)", name);
        rc = bad(err, errlen, path, msg);
    } else if (c != cls || (cls == H5T_INTEGER && (sz < 1 || sz > 8)) ||
               (cls == H5T_FLOAT && sz != 4 && sz != 8)) {
        snprintf(msg, sizeof msg, "%s has the wrong type (expected %s)", name,
                 cls == H5T_INTEGER ? "integers"
                 : cls == H5T_FLOAT ? "float32 or float64"
                                    : "strings");
        rc = bad(err, errlen, path, msg);
    } else if (ms_h5_dims(d, &rank, dims) < 0 || rank != want_rank) {
        snprintf(msg, sizeof msg, "%s has rank %d, expected %d", name, rank, want_rank);
        rc = bad(err, errlen, path, msg);
    }
    if (rc) {
        H5Dclose(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* A dataset whose shape claims far more data than the file stores for it (only a corrupt or
 * hostile header does that: deflate shrinks data at most ~1032:1, unwritten chunks read as
 * fill values) would make the row checks below read forever. */
static int storage_check(hid_t d, const char *path, const char *name, int64_t rows,
                         int64_t row_elems, char *err, size_t errlen) {
    hid_t ty = H5Dget_type(d);
    size_t sz = ty >= 0 ? H5Tget_size(ty) : 0;
    ms_h5_close(ty);
    double need = (double)rows * (double)row_elems * (double)sz;
    double have = (double)H5Dget_storage_size(d);
    H5Eclear2(H5E_DEFAULT);
    if (need > 1100.0 * have + 65536.0) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s claims %lld rows but the file stores only %.0f bytes of them",
                 name, (long long)rows, have);
        return bad(err, errlen, path, msg);
    }
    return 0;
}

/* Where the rows [0, rows) of a dataset are stored must lie inside the file (eof bytes), and
 * every chunk of them must have been through all of the dataset's filters. libhdf5 1.10 trusts
 * both: a chunk whose filter mask says it skipped deflate is copied as raw data of the full
 * chunk size out of its shorter compressed bytes (a SIGSEGV in H5VM_memcpyvv), and addresses
 * past the end are read as they come. One B-tree lookup per chunk (H5Dget_chunk_info_by_coord);
 * a dataset cut into more than 2^22 chunks over those rows is refused rather than walked. A
 * chunk whose lookup itself crashes libhdf5 is caught by the checking subprocess
 * (open_guarded). */
static int chunk_check(hid_t d, const char *path, const char *name, int64_t rows, haddr_t eof,
                       char *err, size_t errlen) {
    char msg[300];
    int rc = 0, rank = 0;
    int64_t dims[3];
    hsize_t cd[3] = {1, 1, 1};
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (lay == H5D_CHUNKED && (ms_h5_dims(d, &rank, dims) < 0 || rank < 1 || rank > 3 ||
                               H5Pget_chunk(dcpl, rank, cd) != rank)) {
        rc = ms_h5_fail(err, errlen, path, name);
        goto done;
    }
    if (lay == H5D_CONTIGUOUS) {
        haddr_t a = H5Dget_offset(d);
        hsize_t sz = H5Dget_storage_size(d);
        H5Eclear2(H5E_DEFAULT);
        if (a != HADDR_UNDEF && (a > eof || sz > eof - a)) {
            snprintf(msg, sizeof msg,
                     "%s: its data (%llu bytes at %llu) lies past the end of "
                     "the file (%llu bytes)",
                     name, (unsigned long long)sz, (unsigned long long)a, (unsigned long long)eof);
            rc = bad(err, errlen, path, msg);
        }
        goto done;
    }
    if (lay != H5D_CHUNKED) goto done; /* compact: inside the object header, sized by HDF5 */
    /* A chunk wider than the dataset in a fixed dimension (moescope and h5py never write one)
     * or above 1 GiB raw: libhdf5 sizes its buffers from the chunk's dimensions and one
     * corrupt layout byte made a chunk of 8192 x 65282 x 2 floats crash it. */
    hid_t ty = H5Dget_type(d);
    double chunk_bytes = ty >= 0 ? (double)H5Tget_size(ty) : 0;
    ms_h5_close(ty);
    for (int i = 0; i < rank; i++) {
        chunk_bytes *= (double)cd[i];
        if ((i > 0 && (int64_t)cd[i] > dims[i]) || cd[i] == 0 || chunk_bytes > (double)(1 << 30)) {
            snprintf(msg, sizeof msg,
                     "%s: chunks of %llu x %llu x %llu do not fit its shape (%lld, %lld, %lld)",
                     name, (unsigned long long)cd[0], (unsigned long long)(rank > 1 ? cd[1] : 1),
                     (unsigned long long)(rank > 2 ? cd[2] : 1), (long long)dims[0],
                     (long long)(rank > 1 ? dims[1] : 1), (long long)(rank > 2 ? dims[2] : 1));
            rc = bad(err, errlen, path, msg);
            goto done;
        }
    }
    double n = 1;
    int64_t per[3] = {1, 1, 1};
    for (int i = 0; i < rank; i++) {
        int64_t ext = i == 0 ? rows : dims[i];
        per[i] = (ext + (int64_t)cd[i] - 1) / (int64_t)cd[i];
        n *= (double)per[i];
    }
    if (n > (double)(1 << 22)) {
        snprintf(msg, sizeof msg, "%s is cut into %.0f chunks (more than 2^22 are not read)", name,
                 n);
        rc = bad(err, errlen, path, msg);
        goto done;
    }
    for (int64_t c0 = 0; c0 < per[0]; c0++)
        for (int64_t c1 = 0; c1 < per[1]; c1++)
            for (int64_t c2 = 0; c2 < per[2]; c2++) {
                hsize_t off[3] = {(hsize_t)c0 * cd[0], (hsize_t)c1 * cd[1], (hsize_t)c2 * cd[2]};
                unsigned mask = 0;
                haddr_t a = HADDR_UNDEF;
                hsize_t sz = 0;
                if (H5Dget_chunk_info_by_coord(d, off, &mask, &a, &sz) < 0) {
                    rc = ms_h5_fail(err, errlen, path, name);
                    goto done;
                }
                if (a == HADDR_UNDEF) continue; /* never written: reads as the fill value */
                if (mask != 0 || sz == 0 || a > eof || sz > eof - a) {
                    snprintf(msg, sizeof msg,
                             "%s: the chunk at row %llu is %s (%llu bytes at %llu, filter mask "
                             "%#x, file of %llu bytes)",
                             name, (unsigned long long)off[0],
                             mask != 0 ? "marked as skipping a filter" : "outside the file",
                             (unsigned long long)sz, (unsigned long long)a, mask,
                             (unsigned long long)eof);
                    rc = bad(err, errlen, path, msg);
                    goto done;
                }
            }
done:
    H5Eclear2(H5E_DEFAULT);
    ms_h5_close(dcpl);
    return rc;
}

/* Reads the first n rows of an open 1-D dataset into out (memory type mt). */
static int read_1d(hid_t d, hid_t mt, int64_t n, void *out) {
    if (n == 0) return 0;
    hsize_t st[1] = {0}, cnt[1] = {(hsize_t)n};
    hid_t fsp = H5Dget_space(d), msp = H5Screate_simple(1, cnt, NULL);
    int rc = -1;
    if (fsp >= 0 && msp >= 0 &&
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, st, NULL, cnt, NULL) >= 0 &&
        H5Dread(d, mt, msp, fsp, H5P_DEFAULT, out) >= 0)
        rc = 0;
    ms_h5_close(fsp);
    ms_h5_close(msp);
    return rc;
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

/* hparams.n_layer and n_vocab of the model description (root attribute "model", JSON), or the
 * tokenizer's n_vocab; 0 when not known (hand-made stores need not describe a model). */
static int64_t json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 1e12) ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    return (int64_t)v->valuedouble;
}

static void model_limits(const ms_routes *r, int64_t *n_layer, int64_t *n_vocab) {
    *n_layer = *n_vocab = 0;
    cJSON *m = cJSON_Parse(r->strs[0]);
    const cJSON *hp = m ? cJSON_GetObjectItemCaseSensitive(m, "hparams") : NULL;
    if (cJSON_IsObject(hp)) {
        *n_layer = json_int(hp, "n_layer");
        *n_vocab = json_int(hp, "n_vocab");
    }
    cJSON_Delete(m);
    if (*n_vocab) return;
    cJSON *t = cJSON_Parse(r->strs[1]);
    if (cJSON_IsObject(t)) *n_vocab = json_int(t, "n_vocab");
    cJSON_Delete(t);
}

/* The streaming pass over every committed token row: (rows, L, k) expert ids plus the three
 * per-token datasets, about 1 MiB of ids per chunk. Checks each row against the document
 * table, positions, token ids against the vocabulary and expert ids (< E, no repeat in one
 * top-k). Weights and logits are checked where they are read (ms_routes_read): no analysis
 * reads them, and decompressing the weights would double the cost of this pass. */
static int check_rows(ms_routes *r, int64_t n_vocab, char *err, size_t errlen) {
    const ms_routes_info *in = &r->info;
    const char *path = r->path;
    const int64_t T = in->n_tokens, per = (int64_t)in->n_layers * in->k, k = in->k;
    if (T == 0) return 0;
    int64_t rows = ((int64_t)1 << 18) / per;
    if (rows < 1) rows = 1;
    if (rows > T) rows = T;
    int32_t *tok = malloc(sizeof *tok * (size_t)rows), *doc = malloc(sizeof *doc * (size_t)rows);
    int32_t *pos = malloc(sizeof *pos * (size_t)rows);
    int32_t *ids = malloc(sizeof *ids * (size_t)(rows * per));
    int rc = 0;
    char msg[300];
    if (!tok || !doc || !pos || !ids) {
        snprintf(err, errlen, "%s: out of memory for checking the token rows", path);
        rc = MS_ERR_RUNTIME;
        goto done;
    }
    int64_t cd = -1, end = 0; /* current document and the row after it */
    int32_t prev = 0;
    for (int64_t t0 = 0; t0 < T && !rc; t0 += rows) {
        int64_t n = T - t0 < rows ? T - t0 : rows;
        static const int which[4] = {TOK_ID, TOK_DOC, TOK_POS, R_EXPERT};
        void *buf[4] = {tok, doc, pos, ids};
        for (int i = 0; i < 4; i++) {
            hid_t mt = H5T_NATIVE_INT32;
            if (read_rows(r->tok[which[i]], mt, t0, n, buf[i]) < 0) {
                snprintf(msg, sizeof msg, "read %s rows [%lld, %lld)", tok_names[which[i]],
                         (long long)t0, (long long)(t0 + n));
                rc = ms_h5_fail(err, errlen, path, msg);
                goto done;
            }
        }
        for (int64_t t = 0; t < n; t++) {
            int64_t row = t0 + t;
            while (row >= end) { /* terminates: the last document ends at T */
                cd++;
                end = r->doc_first[cd] + r->doc_ntok[cd];
            }
            int start = row == r->doc_first[cd];
            if (doc[t] != cd) {
                snprintf(msg, sizeof msg,
                         "/tokens/doc[%lld] = %d but /documents puts that row in document %lld",
                         (long long)row, doc[t], (long long)cd);
                rc = bad(err, errlen, path, msg);
                goto done;
            }
            if (pos[t] < 0 || (start && pos[t] != 0) ||
                (!start && pos[t] != 0 && pos[t] != (int64_t)prev + 1) ||
                (in->window > 0 && pos[t] >= in->window)) {
                snprintf(msg, sizeof msg,
                         "/tokens/pos[%lld] = %d (a document starts at 0, a position continues "
                         "the previous one or starts a window at 0%s)",
                         (long long)row, pos[t], in->window > 0 ? ", below the window" : "");
                rc = bad(err, errlen, path, msg);
                goto done;
            }
            prev = pos[t];
            if (tok[t] < 0 || (n_vocab > 0 && tok[t] >= n_vocab)) {
                snprintf(msg, sizeof msg,
                         "/tokens/id[%lld] = %d is outside the vocabulary [0, %lld)",
                         (long long)row, tok[t], (long long)(n_vocab > 0 ? n_vocab : INT32_MAX));
                rc = bad(err, errlen, path, msg);
                goto done;
            }
            for (int64_t l = 0; l < in->n_layers; l++) {
                const int32_t *id = ids + (t * in->n_layers + l) * k; /* [k] */
                for (int64_t j = 0; j < k; j++) {
                    const char *why = NULL;
                    char range[48];
                    if (id[j] < 0 || id[j] >= in->n_expert) {
                        snprintf(range, sizeof range, "is outside [0, %d)", in->n_expert);
                        why = range;
                    }
                    for (int64_t q = 0; q < j && !why; q++)
                        if (id[q] == id[j]) why = "repeats an expert of the same top-k";
                    if (why) {
                        snprintf(msg, sizeof msg, "/routing/expert[%lld, %lld, %lld] = %d %s",
                                 (long long)row, (long long)l, (long long)j, id[j], why);
                        rc = bad(err, errlen, path, msg);
                        goto done;
                    }
                }
            }
        }
    }
done:
    free(tok), free(doc), free(pos), free(ids);
    return rc;
}

/* Opens the store: from the file at path (image NULL), or from an in-memory file image
 * (HDF5's core driver; path is then only the name used in messages). */
static int routes_open(ms_routes **out, const char *path, const void *image, size_t image_len,
                       char *err, size_t errlen) {
    *out = NULL;
    ms_h5_quiet();
    int rc = 0;
    if (!image) {
        /* A FIFO, device or directory is refused before HDF5 opens it (it would block or read
         * without end). */
        int fd = -1;
        rc = ms_open_regular(path, &fd, NULL, err, errlen);
        if (rc) return rc;
        close(fd);
    }
    ms_routes *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        snprintf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    r->file = -1;
    for (int i = 0; i < N_TOKDS; i++)
        r->tok[i] = -1;
    hid_t grout = -1, dd = -1, dapl = -1, dds[4] = {-1, -1, -1, -1}, fapl = -1;
    char *fmt = NULL, msg[300];
    ms_routes_info *in = &r->info;
    int64_t dims[3];

    if (image) {
        fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
            H5Pset_file_image(fapl, (void *)image, image_len) < 0) {
            rc = ms_h5_fail(err, errlen, path, "set up an in-memory file image");
            goto fail;
        }
    } else {
        htri_t ish5 = H5Fis_hdf5(path);
        H5Eclear2(H5E_DEFAULT);
        if (ish5 <= 0) {
            rc = bad(err, errlen, path, "not an HDF5 file");
            goto fail;
        }
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (r->file < 0) {
        rc = ms_h5_fail(err, errlen, path, "open the route store (truncated or corrupt?)");
        goto fail;
    }
    int q = ms_h5_read_attr_str(r->file, "format", &fmt);
    if (q != 0 || strcmp(fmt, MS_ROUTES_FORMAT) != 0) {
        rc = bad(err, errlen, path,
                 q == 1   ? "not a moescope route store (no root attribute format)"
                 : q == 0 ? "not a moescope route store (root attribute format is not "
                            "\"" MS_ROUTES_FORMAT "\")"
                          : "root attribute format is not a readable string");
        goto fail;
    }
    int64_t v = 0;
    if (ms_h5_read_attr_i64(r->file, "format_version", &v) != 0 || v != MS_ROUTES_VERSION) {
        rc = bad(err, errlen, path,
                 "root attribute format_version missing or unsupported (expected 1)");
        goto fail;
    }
    static const char *const sattr[6] = {"model",        "tokenizer",    "manifest",
                                         "command_line", "tool_version", "created"};
    for (int i = 0; i < 6; i++) {
        q = ms_h5_read_attr_str(r->file, sattr[i], &r->strs[i]);
        if (q < 0) {
            snprintf(msg, sizeof msg, "root attribute %s is not a readable string", sattr[i]);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        if (q == 1 && !(r->strs[i] = strdup(""))) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = MS_ERR_RUNTIME;
            goto fail;
        }
    }
    in->model_json = r->strs[0];
    in->tokenizer_json = r->strs[1];
    in->manifest_json = r->strs[2];
    in->command_line = r->strs[3];
    in->tool_version = r->strs[4];
    in->created = r->strs[5];
    int64_t win = 0;
    q = ms_h5_read_attr_i64(r->file, "window", &win);
    if (q < 0 || (q == 0 && win < 0)) {
        rc = bad(err, errlen, path, "root attribute window invalid");
        goto fail;
    }
    in->window = q == 0 ? win : 0;
    int64_t n_layer = 0, n_vocab = 0;
    model_limits(r, &n_layer, &n_vocab);

    /* Groups: hard links only (an external link could point anywhere). */
    static const char *const groups[3] = {"/routing", "/tokens", "/documents"};
    for (int i = 0; i < 3; i++) {
        q = link_check(r->file, path, groups[i], err, errlen);
        if (q == 1) {
            snprintf(msg, sizeof msg, "group %s is missing", groups[i]);
            q = bad(err, errlen, path, msg);
        }
        if (q) {
            rc = q;
            goto fail;
        }
    }
    grout = H5Gopen2(r->file, "/routing", H5P_DEFAULT);
    if (grout < 0) {
        rc = ms_h5_fail(err, errlen, path, "open group /routing");
        goto fail;
    }
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

    /* Layers: strictly ascending model layers in [0, n_layer). */
    if ((rc = open_ds(r->file, path, "/routing/layers", 0, -1, H5T_INTEGER, 1, &dd, dims, err,
                      errlen)))
        goto fail;
    if (dims[0] < 1 || dims[0] > 4096) {
        rc = bad(err, errlen, path, "/routing/layers must hold 1 to 4096 layers");
        goto fail;
    }
    r->layers = malloc(sizeof *r->layers * (size_t)dims[0]);
    if (!r->layers) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    if (read_1d(dd, H5T_NATIVE_INT, dims[0], r->layers) < 0) {
        rc = ms_h5_fail(err, errlen, path, "read /routing/layers");
        goto fail;
    }
    in->n_layers = (int)dims[0];
    in->layers = r->layers;
    for (int l = 0; l < in->n_layers; l++)
        if (r->layers[l] < 0 || (l > 0 && r->layers[l] <= r->layers[l - 1]) ||
            (n_layer > 0 && r->layers[l] >= n_layer)) {
            snprintf(msg, sizeof msg,
                     "/routing/layers[%d] = %d (layers must be strictly ascending, >= 0%s)", l,
                     r->layers[l], n_layer > 0 ? " and below the model's n_layer" : "");
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
    ms_h5_close(dd);
    dd = -1;

    /* Domains. */
    if ((rc = open_ds(r->file, path, "/domains", 0, -1, H5T_STRING, 1, &dd, dims, err, errlen)))
        goto fail;
    if (dims[0] > (1 << 20)) {
        rc = bad(err, errlen, path, "/domains holds more than 2^20 names");
        goto fail;
    }
    r->domains = calloc((size_t)(dims[0] ? dims[0] : 1), sizeof *r->domains);
    if (!r->domains) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    if (ms_h5_read_strings(dd, 0, dims[0], r->domains) < 0) {
        rc = ms_h5_fail(err, errlen, path, "read /domains (expected strings)");
        goto fail;
    }
    in->n_domains = (int)dims[0];
    in->domains = (const char *const *)r->domains;

    /* Documents: the committed count, then the table. */
    static const char *const dnames[4] = {"/documents/domain", "/documents/first_token",
                                          "/documents/n_tokens", "/documents/source"};
    int64_t len = INT64_MAX, nd = 0;
    for (int i = 0; i < 4; i++) {
        q = open_ds(r->file, path, dnames[i], i == 3, -1, i == 3 ? H5T_STRING : H5T_INTEGER, 1,
                    &dds[i], dims, err, errlen);
        if (q > 1) {
            rc = q;
            goto fail;
        }
        if (i < 3 && dims[0] < len) len = dims[0];
    }
    q = ms_h5_read_attr_i64(r->file, "n_documents", &nd);
    if (q < 0 || (q == 0 && (nd < 0 || nd > len))) {
        rc = bad(err, errlen, path,
                 "root attribute n_documents invalid (negative, or more rows than /documents "
                 "holds)");
        goto fail;
    }
    if (q == 1) nd = len;
    if (nd > INT32_MAX) {
        rc = bad(err, errlen, path, "more than 2^31 documents");
        goto fail;
    }
    for (int i = 0; i < 3; i++)
        if ((rc = storage_check(dds[i], path, dnames[i], nd, 1, err, errlen))) goto fail;
    if (dds[3] >= 0 && (ms_h5_dims(dds[3], &q, dims) < 0 || dims[0] < nd)) {
        rc = bad(err, errlen, path, "/documents/source holds fewer rows than n_documents");
        goto fail;
    }
    size_t ndz = (size_t)(nd ? nd : 1);
    r->doc_domain = malloc(sizeof *r->doc_domain * ndz);
    r->doc_first = malloc(sizeof *r->doc_first * ndz);
    r->doc_ntok = malloc(sizeof *r->doc_ntok * ndz);
    r->doc_source = calloc(ndz, sizeof *r->doc_source);
    if (!r->doc_domain || !r->doc_first || !r->doc_ntok || !r->doc_source) {
        snprintf(err, errlen, "%s: out of memory for the document table", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    void *dbuf[3] = {r->doc_domain, r->doc_first, r->doc_ntok};
    hid_t dmt[3] = {H5T_NATIVE_INT32, H5T_NATIVE_INT64, H5T_NATIVE_INT64};
    for (int i = 0; i < 3; i++)
        if (read_1d(dds[i], dmt[i], nd, dbuf[i]) < 0) {
            snprintf(msg, sizeof msg, "read %s", dnames[i]);
            rc = ms_h5_fail(err, errlen, path, msg);
            goto fail;
        }
    in->n_documents = nd; /* from here on, close frees nd sources */
    if (dds[3] >= 0) {
        if (ms_h5_read_strings(dds[3], 0, nd, r->doc_source) < 0) {
            rc = ms_h5_fail(err, errlen, path, "read /documents/source (expected strings)");
            goto fail;
        }
    } else {
        for (int64_t d = 0; d < nd; d++)
            if (!(r->doc_source[d] = strdup(""))) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = MS_ERR_RUNTIME;
                goto fail;
            }
    }
    int64_t t = 0;
    for (int64_t d = 0; d < nd; d++) {
        if (r->doc_domain[d] < 0 || r->doc_domain[d] >= in->n_domains) {
            snprintf(msg, sizeof msg, "/documents/domain[%lld] = %d is out of range [0, %d)",
                     (long long)d, r->doc_domain[d], in->n_domains);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        if (r->doc_first[d] != t || r->doc_ntok[d] < 0 || r->doc_ntok[d] > INT64_MAX / 2 - t) {
            snprintf(msg, sizeof msg,
                     "document %lld: first_token %lld / n_tokens %lld do not continue the "
                     "previous document (expected first_token %lld, n_tokens >= 0)",
                     (long long)d, (long long)r->doc_first[d], (long long)r->doc_ntok[d],
                     (long long)t);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        t += r->doc_ntok[d];
    }
    in->n_tokens = t;

    hsize_t file_size = 0;
    if (H5Fget_filesize(r->file, &file_size) < 0) {
        rc = ms_h5_fail(err, errlen, path, "the file's size");
        goto fail;
    }
    const haddr_t eof = (haddr_t)file_size;
    /* Token datasets: present, right type, rank and inner shape, at least t rows, stored inside
     * the file. */
    for (int i = 0; i < N_TOKDS; i++) {
        dapl = H5Pcreate(H5P_DATASET_ACCESS);
        if (dapl < 0 || H5Pset_chunk_cache(dapl, 521, (size_t)16 << 20, 1.0) < 0) {
            rc = ms_h5_fail(err, errlen, path, "create a dataset access list");
            goto fail;
        }
        int want_rank = i <= TOK_POS ? 1 : 3;
        q = open_ds(r->file, path, tok_names[i], i == R_LOGITS, dapl,
                    i <= R_EXPERT ? H5T_INTEGER : H5T_FLOAT, want_rank, &r->tok[i], dims, err,
                    errlen);
        ms_h5_close(dapl);
        dapl = -1;
        if (q == 1) continue; /* no logits */
        if (q) {
            rc = q;
            goto fail;
        }
        if (i == R_LOGITS) in->has_logits = 1;
        int64_t inner = i == R_LOGITS ? in->n_expert : in->k;
        if ((want_rank == 3 && (dims[1] != in->n_layers || dims[2] != inner)) || dims[0] < t) {
            snprintf(msg, sizeof msg,
                     "%s has shape (%lld, %lld, %lld), expected %s with at least %lld rows",
                     tok_names[i], (long long)dims[0], (long long)dims[1], (long long)dims[2],
                     want_rank == 1  ? "(T,)"
                     : i == R_LOGITS ? "(T, n_layers, E)"
                                     : "(T, n_layers, k)",
                     (long long)t);
            rc = bad(err, errlen, path, msg);
            goto fail;
        }
        if ((rc = storage_check(r->tok[i], path, tok_names[i], t,
                                want_rank == 1 ? 1 : dims[1] * dims[2], err, errlen)) ||
            (rc = chunk_check(r->tok[i], path, tok_names[i], t, eof, err, errlen)))
            goto fail;
    }
    {
        /* Stores written before the attribute existed are captures: rank order. Anything but
         * "rank" means the first choice is unknown (docs/IMPORT.md). */
        char *ro = NULL;
        int qro = ms_h5_read_attr_str(r->tok[R_EXPERT], "rank_order", &ro);
        in->rank_order = qro != 0 || !ro || strcmp(ro, "rank") == 0;
        free(ro);
        if (qro < 0) {
            rc = bad(err, errlen, path, "/routing/expert attribute rank_order unreadable");
            goto fail;
        }
    }
    rc = check_rows(r, n_vocab, err, errlen);
fail:
    free(fmt);
    ms_h5_close(fapl);
    ms_h5_close(grout);
    ms_h5_close(dd);
    ms_h5_close(dapl);
    for (int i = 0; i < 4; i++)
        ms_h5_close(dds[i]);
    if (rc) {
        ms_routes_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int g_guard = 1;

void ms_routes_guard(int on) {
    g_guard = on;
}

/* libhdf5 1.10 parses object headers and B-tree nodes itself, without checksums, and some
 * corrupt bytes crash it before any check of ours can run (docs/ROUTE_STORE.md, "Limits").
 * So the whole open (every check and the row pass) runs first in a child process; one byte on
 * a pipe says it returned. A child that dies before that byte has crashed inside the file's
 * structure: the store is refused as corrupt and this process never touches it. When the
 * child returns (either way) the open is repeated here, which gives the same answer and the
 * same message. Returns 0 to go on, or MS_ERR_INPUT with the message in err. */
static int open_guarded(const char *path, char *err, size_t errlen) {
    int fds[2];
    /* close-on-exec: a process another thread starts must not hold the write end open */
    if (pipe2(fds, O_CLOEXEC) != 0) return 0; /* no guard without a pipe; the open still runs */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid == 0) {
        close(fds[0]);
        ms_routes *r = NULL;
        char e[512];
        (void)routes_open(&r, path, NULL, 0, e, sizeof e);
        unsigned char done = 1;
        ssize_t w = write(fds[1], &done, 1);
        _exit(w == 1 ? 0 : 1); /* no atexit handlers, no stdio flush: the parent owns those */
    }
    close(fds[1]);
    unsigned char done = 0;
    ssize_t n;
    do
        n = read(fds[0], &done, 1);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (n == 1) return 0;
    if (WIFSIGNALED(st))
        snprintf(err, errlen,
                 "%s: corrupt HDF5 structure: reading it crashed a checking subprocess (signal "
                 "%d)",
                 path, WTERMSIG(st));
    else
        snprintf(err, errlen,
                 "%s: corrupt HDF5 structure: reading it crashed a checking subprocess (exit %d "
                 "before it finished)",
                 path, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return MS_ERR_INPUT;
}

int ms_routes_open(ms_routes **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    /* MOESCOPE_STORE_GUARD=0 opens in this process (to debug a crash in gdb, say). */
    const char *env = getenv("MOESCOPE_STORE_GUARD");
    if (g_guard && !(env && strcmp(env, "0") == 0)) {
        int rc = open_guarded(path, err, errlen);
        if (rc) return rc;
    }
    return routes_open(out, path, NULL, 0, err, errlen);
}

int ms_routes_open_image(ms_routes **out, const void *image, size_t len, const char *name,
                         char *err, size_t errlen) {
    return routes_open(out, name, image, len, err, errlen);
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

int ms_routes_read(ms_routes *r, int64_t t0, int64_t n, int32_t *tok, int32_t *doc, int32_t *pos,
                   int32_t *ids, float *weights, float *logits, char *err, size_t errlen) {
    const char *path = r->path;
    int rc = 0;
    const ms_routes_info *in = &r->info;
/* A failed read is bad input (exit 2: corrupt compressed data, say) unless HDF5 reports an
 * errno (exit 1: the system failed). */
#undef H5_CHECK
#define H5_CHECK(expr, what)                                                                       \
    do {                                                                                           \
        if ((expr) < 0) {                                                                          \
            rc = ms_h5_fail(err, errlen, path, what);                                              \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
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
    if (weights) {
        H5_CHECK(read_rows(r->tok[R_WEIGHT], H5T_NATIVE_FLOAT, t0, n, weights),
                 "read /routing/weight");
        int64_t m = n * in->n_layers * in->k;
        for (int64_t i = 0; i < m; i++)
            if (!isfinite(weights[i]) || weights[i] < 0) {
                int64_t per = (int64_t)in->n_layers * in->k;
                snprintf(err, errlen,
                         "%s: /routing/weight[%lld, %lld, %lld] = %g is not a finite weight >= 0",
                         path, (long long)(t0 + i / per), (long long)(i % per / in->k),
                         (long long)(i % in->k), (double)weights[i]);
                return MS_ERR_INPUT;
            }
    }
    if (logits) {
        H5_CHECK(read_rows(r->tok[R_LOGITS], H5T_NATIVE_FLOAT, t0, n, logits),
                 "read /routing/logits");
        /* Logits are checked here rather than at open: no analysis reads them, and they are
         * E/k times larger than the expert ids. */
        int64_t m = n * in->n_layers * in->n_expert;
        for (int64_t i = 0; i < m; i++)
            if (!isfinite(logits[i])) {
                snprintf(err, errlen, "%s: /routing/logits at token %lld holds %g (not finite)",
                         path, (long long)(t0 + i / ((int64_t)in->n_layers * in->n_expert)),
                         (double)logits[i]);
                return MS_ERR_INPUT;
            }
    }
    return 0;
fail:
    return rc;
}

int ms_routes_layer_dense(const ms_routes_info *in, int layer) {
    if (!in || !in->model_json || layer < 0) return 0;
    cJSON *m = cJSON_Parse(in->model_json);
    const cJSON *blocks = m ? cJSON_GetObjectItemCaseSensitive(m, "blocks") : NULL;
    const cJSON *b = cJSON_IsArray(blocks) ? cJSON_GetArrayItem(blocks, layer) : NULL;
    const cJSON *ffn = b ? cJSON_GetObjectItemCaseSensitive(b, "ffn") : NULL;
    int dense = cJSON_IsString(ffn) && !strcmp(ffn->valuestring, "dense");
    cJSON_Delete(m);
    return dense;
}
