/* store.c — the route store writer (format "moescope-routes" v1, docs/ROUTE_STORE.md).
 *
 * Documents are buffered whole in memory and written per batch by ms_store_flush: token rows
 * first, then the document table, an H5Fflush, and only then the root attribute n_documents
 * (the commit point) followed by a second H5Fflush. A store killed at any moment therefore
 * holds at most some uncommitted rows past its last committed document; the reader ignores
 * them and a resume cuts them off with H5Dset_extent before appending again.
 *
 * Crash safety also needs that file space referenced by the last committed state is never
 * overwritten before the next commit. A compressed chunk that grows is re-allocated and its
 * old space freed; HDF5's default free-space managers would hand that space to the next
 * allocation while the on-disk chunk index still points at it. The store is therefore created
 * with file-space strategy NONE (always allocate at the end of file, never reuse). The price
 * is some dead space from partly filled chunks rewritten at each flush; `h5repack` removes it.
 *
 * A full disk is the other way to be stopped mid-batch, and worse than a kill: after a failed
 * write HDF5 carries on writing in-place metadata (chunk index nodes, the superblock's end of
 * file) that would point at data that never reached the disk. So a flush first checks that
 * the disk (and RLIMIT_FSIZE) has room for the batch with a generous margin and fails cleanly
 * before writing anything; and if a write fails anyway, the file descriptor is replaced by a
 * read-only one so that nothing more reaches the file after the failure.
 */
#include "h5_int.h"
#include "probes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#ifndef MOESCOPE_VERSION
#define MOESCOPE_VERSION "unknown"
#endif

enum { TOK_ID, TOK_DOC, TOK_POS, R_EXPERT, R_WEIGHT, R_LOGITS, N_TOKDS };
enum { DOC_DOMAIN, DOC_SOURCE, DOC_FIRST, DOC_NTOK, N_DOCDS };

static const char *const tok_names[N_TOKDS] = {"/tokens/id",      "/tokens/doc",
                                               "/tokens/pos",     "/routing/expert",
                                               "/routing/weight", "/routing/logits"};
static const char *const doc_names[N_DOCDS] = {"/documents/domain", "/documents/source",
                                               "/documents/first_token", "/documents/n_tokens"};

struct ms_store {
    char *path;
    hid_t file;
    hid_t tok[N_TOKDS]; /* -1 for /routing/logits without --logits */
    hid_t doc[N_DOCDS];
    int n_layers, k, n_expert, with_logits, n_domains;
    int64_t n_docs, n_tokens; /* committed to the file */
    int failed;               /* a write failed: the file is left at its last commit */

    /* Buffered documents not yet in the file. */
    int64_t rows, rows_cap;        /* token rows */
    int32_t *b_id, *b_doc, *b_pos; /* (rows) */
    uint16_t *b_expert;            /* (rows, n_layers, k) */
    float *b_weight;               /* (rows, n_layers, k) */
    float *b_logits;               /* (rows, n_layers, n_expert) when with_logits */
    int64_t docs, docs_cap;
    int32_t *bd_domain; /* (docs) */
    int64_t *bd_first;  /* (docs) absolute first token row */
    int64_t *bd_ntok;   /* (docs) */
    char **bd_source;   /* (docs) malloc'ed */
};

static const char *const tok_desc[N_TOKDS] = {
    "token id of each token (int32; the model's vocabulary), token-major",
    "document of each token: row of the /documents tables",
    "position of the token in its window (0 starts a new window of the document)",
    "expert ids chosen by the router, shape (tokens, stored layers, k), rank order: first "
    "choice first; /routing/layers maps a slot to the model layer",
    "router weights the layer applied to the chosen experts, shape (tokens, stored layers, k), "
    "same order as /routing/expert",
    "router logits over all experts, shape (tokens, stored layers, n_expert)"};
static const char *const doc_desc[N_DOCDS] = {
    "domain of each document: index into /domains",
    "where each document came from (\"file:line\" for JSONL, else the file path)",
    "row in /tokens and /routing of the document's first token",
    "number of tokens of each document (all its windows)"};

static int64_t clamp_rows(int64_t row_bytes, int64_t lo, int64_t hi) {
    int64_t r = lo;
    while (r * 2 <= hi && r * 2 * row_bytes <= (int64_t)128 * 1024)
        r *= 2;
    return r;
}

/* Dataset access list with a chunk cache that holds a few chunks (appends touch the last). */
static hid_t dapl_for(size_t chunk_bytes) {
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0) return -1;
    size_t cache = chunk_bytes * 4;
    if (cache < ((size_t)1 << 20)) cache = (size_t)1 << 20;
    if (H5Pset_chunk_cache(dapl, 521, cache, 1.0) < 0) {
        H5Pclose(dapl);
        return -1;
    }
    return dapl;
}

/* Creates an extendible chunked dataset of shape (0, inner...) with a description. */
static hid_t make_dset(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *inner,
                       int64_t max_rows, const char *desc) {
    hsize_t dims[3] = {0, 0, 0}, maxd[3] = {H5S_UNLIMITED, 0, 0}, chunk[3] = {1, 1, 1};
    int64_t row_bytes = (int64_t)H5Tget_size(ftype);
    if (row_bytes <= 0) return -1;
    for (int i = 1; i < rank; i++) {
        dims[i] = maxd[i] = chunk[i] = inner[i - 1];
        row_bytes *= (int64_t)inner[i - 1];
    }
    chunk[0] = (hsize_t)clamp_rows(row_bytes, 64, max_rows);
    hid_t sp = -1, dcpl = -1, dapl = -1, d = -1, a = -1;
    sp = H5Screate_simple(rank, dims, maxd);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    dapl = dapl_for((size_t)chunk[0] * (size_t)row_bytes);
    if (sp < 0 || dcpl < 0 || dapl < 0) goto out;
    if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) goto out;
    if (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0) goto out;
    d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, dapl);
    if (d >= 0 && ms_h5_attr_str(d, "description", desc) < 0) {
        H5Dclose(d);
        d = -1;
    }
out:
    (void)a;
    ms_h5_close(sp);
    ms_h5_close(dcpl);
    ms_h5_close(dapl);
    return d;
}

static hid_t make_group(hid_t file, const char *name, const char *desc) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0) return -1;
    hid_t g = -1;
    if (H5Pset_obj_track_times(gcpl, 0) >= 0)
        g = H5Gcreate2(file, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g >= 0 && ms_h5_attr_str(g, "description", desc) < 0) {
        H5Gclose(g);
        g = -1;
    }
    return g;
}

/* A fixed 1-D dataset written once (layers, domains). */
static hid_t make_fixed(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n,
                        const void *data, const char *desc) {
    hsize_t dims[1] = {n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    if (sp < 0) return -1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0)
        d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ms_h5_close(dcpl);
    if (d >= 0 && ((n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) ||
                   ms_h5_attr_str(d, "description", desc) < 0)) {
        H5Dclose(d);
        d = -1;
    }
    H5Sclose(sp);
    return d;
}

static void iso_time(char *buf, size_t n) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void store_free(ms_store *s) {
    if (!s) return;
    for (int i = 0; i < N_TOKDS; i++)
        ms_h5_close(s->tok[i]);
    for (int i = 0; i < N_DOCDS; i++)
        ms_h5_close(s->doc[i]);
    ms_h5_close(s->file);
    free(s->b_id);
    free(s->b_doc);
    free(s->b_pos);
    free(s->b_expert);
    free(s->b_weight);
    free(s->b_logits);
    for (int64_t i = 0; i < s->docs; i++)
        free(s->bd_source[i]);
    free(s->bd_domain);
    free(s->bd_first);
    free(s->bd_ntok);
    free(s->bd_source);
    free(s->path);
    free(s);
}

static void poison(ms_store *s);

/* A write the file driver kept from the disk (h5fd_ordered.c): MS_ERR_RUNTIME with the
 * system's message; the file is as of its last complete flush. */
static int write_failed(ms_store *s, char *err, size_t errlen) {
    int e = s->file >= 0 ? ms_h5fd_ordered_failed(s->file) : 0;
    if (!e) return 0;
    snprintf(err, errlen, "%s: cannot write the store: %s", s->path, strerror(e));
    return MS_ERR_RUNTIME;
}

/* A new capture may replace what is at path only if it is nothing, an empty file or a
 * moescope route store: a typo in --out must not destroy a user's file. */
int ms_store_replaceable(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* nothing there (or H5Fcreate reports why) */
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file; refusing to write a route store there",
                 path);
        return MS_ERR_INPUT;
    }
    if (st.st_size == 0) return 0;
    int ours = 0;
    htri_t h5 = H5Fis_hdf5(path);
    if (h5 > 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        char *fmt = NULL;
        if (f >= 0 && ms_h5_read_attr_str(f, "format", &fmt) == 0 && fmt &&
            strcmp(fmt, MS_ROUTES_FORMAT) == 0)
            ours = 1;
        free(fmt);
        ms_h5_close(f);
        H5Eclear2(H5E_DEFAULT);
    }
    if (ours) return 0;
    snprintf(err, errlen,
             "%s: exists and is not a moescope route store; refusing to replace it (remove it "
             "or choose another --out)",
             path);
    return MS_ERR_INPUT;
}

static int create_new(ms_store *s, const ms_store_create_opts *o, char *err, size_t errlen) {
    const char *path = o->path;
    int rc = 0;
    hid_t fcpl = -1, fapl = -1, gtok = -1, grout = -1, gdoc = -1, dl = -1, dd = -1, vls = -1;
    int32_t *layers32 = NULL;
    char *tmp = NULL;
    int made = 0;
    H5_CHECK(fcpl = H5Pcreate(H5P_FILE_CREATE), "create a file property list");
    /* Never reuse freed space (see the top of this file). */
    H5_CHECK(H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, 0, 1),
             "set the file space strategy");
    if ((rc = ms_store_replaceable(path, err, errlen))) goto fail;
    /* The empty store is built under a temporary name and renamed over path once complete:
     * a failure while creating it leaves no file (and any previous store untouched). */
    size_t tl = strlen(path) + 64;
    if (!(tmp = malloc(tl))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    H5_CHECK(fapl = ms_h5fd_ordered_fapl(), "create a file access list");
    /* Created exclusively (O_EXCL: never through a symlink, never over a file): a name left by
     * a crashed run whose pid this process now has, or planted there, is skipped for the next
     * serial and left alone. */
    for (unsigned serial = 0;; serial++) {
        const char *slash = strrchr(path, '/');
        int dir = slash ? (int)(slash - path + 1) : 0;
        if (serial == 0)
            snprintf(tmp, tl, "%.*s.%s.%ld.tmp.h5", dir, path, path + dir, (long)getpid());
        else
            snprintf(tmp, tl, "%.*s.%s.%ld.%u.tmp.h5", dir, path, path + dir, (long)getpid(),
                     serial);
        struct stat st;
        if (serial < 64 && lstat(tmp, &st) == 0) continue;
        break;
    }
    H5_CHECK(s->file = H5Fcreate(tmp, H5F_ACC_EXCL, fcpl, fapl), "create the file");
    made = 1;

    char created[32];
    iso_time(created, sizeof created);
    char h5v[32];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(h5v, sizeof h5v, "%u.%u.%u", maj, min, rel);
    H5_CHECK(ms_h5_attr_str(s->file, "format", MS_ROUTES_FORMAT), "write attribute format");
    H5_CHECK(ms_h5_attr_i32(s->file, "format_version", MS_ROUTES_VERSION),
             "write attribute format_version");
    H5_CHECK(ms_h5_attr_str(s->file, "model", o->model_json ? o->model_json : "{}"),
             "write attribute model");
    H5_CHECK(ms_h5_attr_str(s->file, "tokenizer", o->tokenizer_json ? o->tokenizer_json : "{}"),
             "write attribute tokenizer");
    H5_CHECK(ms_h5_attr_str(s->file, "manifest", o->manifest_json ? o->manifest_json : "{}"),
             "write attribute manifest");
    H5_CHECK(ms_h5_attr_str(s->file, "command_line", o->command_line),
             "write attribute command_line");
    H5_CHECK(ms_h5_attr_str(s->file, "tool_version", "moescope " MOESCOPE_VERSION),
             "write attribute tool_version");
    H5_CHECK(ms_h5_attr_str(s->file, "hdf5_version", h5v), "write attribute hdf5_version");
    H5_CHECK(ms_h5_attr_str(s->file, "created", created), "write attribute created");
    if (o->window > 0)
        H5_CHECK(ms_h5_attr_i64(s->file, "window", o->window), "write attribute window");
    H5_CHECK(ms_h5_attr_i64(s->file, "n_tokens", 0), "write attribute n_tokens");
    H5_CHECK(ms_h5_attr_i64(s->file, "n_documents", 0), "write attribute n_documents");

    H5_CHECK(gtok = make_group(s->file, "/tokens", "one row per token, all documents in order"),
             "create group /tokens");
    H5_CHECK(grout = make_group(s->file, "/routing",
                                "router decisions, one row per token (rows of /tokens)"),
             "create group /routing");
    H5_CHECK(gdoc = make_group(s->file, "/documents", "one row per document"),
             "create group /documents");
    H5_CHECK(ms_h5_attr_i32(grout, "n_expert", o->n_expert), "write attribute n_expert");
    H5_CHECK(ms_h5_attr_i32(grout, "k", o->k), "write attribute k");

    layers32 = malloc(sizeof *layers32 * (size_t)(o->n_layers ? o->n_layers : 1));
    if (!layers32) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    for (int i = 0; i < o->n_layers; i++)
        layers32[i] = o->layers[i];
    H5_CHECK(dl = make_fixed(s->file, "/routing/layers", H5T_STD_I32LE, H5T_NATIVE_INT32,
                             (hsize_t)o->n_layers, layers32,
                             "model layer of each stored layer slot (axis 1 of /routing/*)"),
             "create /routing/layers");
    H5_CHECK(vls = ms_h5_vlstr_type(), "create a string type");
    H5_CHECK(dd = make_fixed(s->file, "/domains", vls, vls, (hsize_t)o->n_domains, o->domains,
                             "domain names; /documents/domain indexes this list"),
             "create /domains");

    hsize_t lk[2] = {(hsize_t)o->n_layers, (hsize_t)o->k};
    hsize_t le[2] = {(hsize_t)o->n_layers, (hsize_t)o->n_expert};
    hid_t etype = o->n_expert > 256 ? H5T_STD_U16LE : H5T_STD_U8LE;
    for (int i = 0; i < N_TOKDS; i++) {
        if (i == R_LOGITS && !o->with_logits) continue;
        hid_t ft = i <= TOK_POS ? H5T_STD_I32LE : i == R_EXPERT ? etype : H5T_IEEE_F32LE;
        int rank = i <= TOK_POS ? 1 : 3;
        H5_CHECK(s->tok[i] = make_dset(s->file, tok_names[i], ft, rank, i == R_LOGITS ? le : lk,
                                       65536, tok_desc[i]),
                 "create a token dataset");
    }
    {
        /* Where the ids came from another engine, their order may not be the router's rank
         * order (docs/IMPORT.md); analyses read this before any first-choice figure. */
        const char *ro = o->rank_order ? o->rank_order : "rank";
        H5_CHECK(ms_h5_attr_str(s->tok[R_EXPERT], "rank_order", ro), "write attribute rank_order");
        if (strcmp(ro, "rank") != 0)
            H5_CHECK(ms_h5_attr_str(s->tok[R_EXPERT], "description",
                                    "expert ids chosen by the router, shape (tokens, stored "
                                    "layers, k), NOT in rank order (see the attribute "
                                    "rank_order): which was first choice is unknown"),
                     "write attribute description");
    }
    for (int i = 0; i < N_DOCDS; i++) {
        hid_t ft = i == DOC_DOMAIN ? H5T_STD_I32LE : i == DOC_SOURCE ? vls : H5T_STD_I64LE;
        /* Source rows are variable-length string references (16 bytes each). */
        H5_CHECK(s->doc[i] = make_dset(s->file, doc_names[i], ft, 1, NULL,
                                       i == DOC_SOURCE ? 1024 : 8192, doc_desc[i]),
                 "create a document dataset");
    }
    H5_CHECK(H5Fflush(s->file, H5F_SCOPE_LOCAL), "flush the new file");
    if ((rc = write_failed(s, err, errlen))) goto fail;
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot create the file: %s", path, strerror(errno));
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    free(tmp);
    tmp = NULL;
fail:
    if (tmp && s->file >= 0) {
        poison(s); /* nothing more reaches the disk; the file goes */
        ms_h5_close(s->file);
        s->file = -1;
        H5Eclear2(H5E_DEFAULT);
    }
    if (tmp && made) unlink(tmp); /* only a file this call created */
    free(tmp);
    free(layers32);
    ms_h5_close(fcpl);
    ms_h5_close(fapl);
    ms_h5_close(gtok);
    ms_h5_close(grout);
    ms_h5_close(gdoc);
    ms_h5_close(dl);
    ms_h5_close(dd);
    ms_h5_close(vls);
    return rc;
}

static int mismatch(char *err, size_t errlen, const char *path, const char *what) {
    snprintf(err, errlen, "%s: cannot resume: the store was made with different %s", path, what);
    return MS_ERR_INPUT;
}

/* Opens an existing store for appending: checks it matches the options, then cuts every
 * dataset back to the last committed document. */
static int open_resume(ms_store *s, const ms_store_create_opts *o, char *err, size_t errlen) {
    const char *path = o->path;
    int rc = 0;
    hid_t grout = -1, dl = -1, dd = -1, dapl = -1, fapl = -1;
    char *fmt = NULL, **doms = NULL;
    int32_t *layers = NULL;
    int64_t v = 0, ndom = 0;
    H5_CHECK(fapl = ms_h5fd_ordered_fapl(), "create a file access list");
    H5_CHECK(s->file = H5Fopen(path, H5F_ACC_RDWR, fapl), "open the store to resume it");
    if (ms_h5_read_attr_str(s->file, "format", &fmt) != 0 || strcmp(fmt, MS_ROUTES_FORMAT) != 0) {
        snprintf(err, errlen, "%s: not a moescope route store (attribute format)", path);
        rc = MS_ERR_INPUT;
        goto fail;
    }
    if (ms_h5_read_attr_i64(s->file, "format_version", &v) != 0 || v != MS_ROUTES_VERSION) {
        snprintf(err, errlen, "%s: unsupported route store version", path);
        rc = MS_ERR_INPUT;
        goto fail;
    }
    int64_t w = 0;
    if (o->window > 0 && ms_h5_read_attr_i64(s->file, "window", &w) == 0 && w != o->window) {
        rc = mismatch(err, errlen, path, "--window");
        goto fail;
    }
    H5_CHECK(grout = H5Gopen2(s->file, "/routing", H5P_DEFAULT), "open /routing");
    if (ms_h5_read_attr_i64(grout, "n_expert", &v) != 0 || v != o->n_expert) {
        rc = mismatch(err, errlen, path, "number of experts");
        goto fail;
    }
    if (ms_h5_read_attr_i64(grout, "k", &v) != 0 || v != o->k) {
        rc = mismatch(err, errlen, path, "k (experts per token)");
        goto fail;
    }
    int rank = 0;
    int64_t dims[3];
    H5_CHECK(dl = H5Dopen2(s->file, "/routing/layers", H5P_DEFAULT), "open /routing/layers");
    H5_CHECK(ms_h5_dims(dl, &rank, dims), "read the shape of /routing/layers");
    if (rank != 1 || dims[0] != o->n_layers) {
        rc = mismatch(err, errlen, path, "layers (--layers)");
        goto fail;
    }
    layers = malloc(sizeof *layers * (size_t)(o->n_layers ? o->n_layers : 1));
    if (!layers) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    if (o->n_layers > 0)
        H5_CHECK(H5Dread(dl, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, layers),
                 "read /routing/layers");
    for (int i = 0; i < o->n_layers; i++)
        if (layers[i] != o->layers[i]) {
            rc = mismatch(err, errlen, path, "layers (--layers)");
            goto fail;
        }
    H5_CHECK(dd = H5Dopen2(s->file, "/domains", H5P_DEFAULT), "open /domains");
    H5_CHECK(ms_h5_dims(dd, &rank, dims), "read the shape of /domains");
    ndom = dims[0];
    if (rank != 1 || ndom != o->n_domains) {
        rc = mismatch(err, errlen, path, "domains");
        goto fail;
    }
    doms = calloc((size_t)(ndom ? ndom : 1), sizeof *doms);
    if (!doms) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = MS_ERR_RUNTIME;
        goto fail;
    }
    H5_CHECK(ms_h5_read_strings(dd, 0, ndom, doms), "read /domains");
    for (int64_t i = 0; i < ndom; i++)
        if (strcmp(doms[i], o->domains[i]) != 0) {
            rc = mismatch(err, errlen, path, "domains");
            goto fail;
        }
    htri_t has_logits;
    H5_CHECK(has_logits = H5Lexists(s->file, "/routing/logits", H5P_DEFAULT),
             "look for /routing/logits");
    if ((has_logits > 0) != (o->with_logits != 0)) {
        rc = mismatch(err, errlen, path, "--logits setting");
        goto fail;
    }
    for (int i = 0; i < N_TOKDS; i++) {
        if (i == R_LOGITS && !o->with_logits) continue;
        H5_CHECK(dapl = dapl_for((size_t)4 << 20), "create a dataset access list");
        H5_CHECK(s->tok[i] = H5Dopen2(s->file, tok_names[i], dapl), "open a token dataset");
        ms_h5_close(dapl);
        dapl = -1;
    }
    for (int i = 0; i < N_DOCDS; i++)
        H5_CHECK(s->doc[i] = H5Dopen2(s->file, doc_names[i], H5P_DEFAULT),
                 "open a document dataset");

    /* The commit point, and the token rows it covers. */
    int64_t nd = 0;
    if (ms_h5_read_attr_i64(s->file, "n_documents", &nd) != 0 || nd < 0) {
        snprintf(err, errlen, "%s: attribute n_documents missing or invalid", path);
        rc = MS_ERR_INPUT;
        goto fail;
    }
    for (int i = 0; i < N_DOCDS; i++) {
        H5_CHECK(ms_h5_dims(s->doc[i], &rank, dims), "read the shape of a document dataset");
        if (dims[0] < nd) {
            snprintf(err, errlen, "%s: %s has %lld rows, fewer than n_documents (%lld)", path,
                     doc_names[i], (long long)dims[0], (long long)nd);
            rc = MS_ERR_INPUT;
            goto fail;
        }
    }
    int64_t nt = 0;
    if (nd > 0) {
        int64_t first = 0, cnt = 0;
        hsize_t st[1] = {(hsize_t)(nd - 1)}, one[1] = {1};
        hid_t msp = -1, fsp = -1;
        int bad = 0;
        for (int j = 0; j < 2 && !bad; j++) {
            hid_t d = s->doc[j == 0 ? DOC_FIRST : DOC_NTOK];
            msp = H5Screate_simple(1, one, NULL);
            fsp = H5Dget_space(d);
            bad = msp < 0 || fsp < 0 ||
                  H5Sselect_hyperslab(fsp, H5S_SELECT_SET, st, NULL, one, NULL) < 0 ||
                  H5Dread(d, H5T_NATIVE_INT64, msp, fsp, H5P_DEFAULT, j == 0 ? &first : &cnt) < 0;
            ms_h5_close(msp);
            ms_h5_close(fsp);
        }
        H5_CHECK(bad ? -1 : 0, "read the last committed document");
        if (first < 0 || cnt < 0 || first > INT64_MAX - cnt) {
            snprintf(err, errlen, "%s: corrupt document table (last document)", path);
            rc = MS_ERR_INPUT;
            goto fail;
        }
        nt = first + cnt;
    }
    for (int i = 0; i < N_TOKDS; i++) {
        if (s->tok[i] < 0) continue;
        H5_CHECK(ms_h5_dims(s->tok[i], &rank, dims), "read the shape of a token dataset");
        if (dims[0] < nt) {
            snprintf(err, errlen, "%s: %s has %lld rows, fewer than the committed %lld", path,
                     tok_names[i], (long long)dims[0], (long long)nt);
            rc = MS_ERR_INPUT;
            goto fail;
        }
        if (rank == 3 &&
            (dims[1] != o->n_layers || dims[2] != (i == R_LOGITS ? o->n_expert : o->k))) {
            rc = mismatch(err, errlen, path, "routing shapes");
            goto fail;
        }
        hsize_t nd3[3] = {(hsize_t)nt, (hsize_t)dims[1], (hsize_t)dims[2]};
        H5_CHECK(H5Dset_extent(s->tok[i], nd3), "cut a token dataset back to the last commit");
    }
    for (int i = 0; i < N_DOCDS; i++) {
        hsize_t n1[1] = {(hsize_t)nd};
        H5_CHECK(H5Dset_extent(s->doc[i], n1), "cut a document dataset back to the last commit");
    }
    H5_CHECK(ms_h5_attr_i64(s->file, "n_tokens", nt), "write attribute n_tokens");
    H5_CHECK(H5Fflush(s->file, H5F_SCOPE_LOCAL), "flush the store");
    if ((rc = write_failed(s, err, errlen))) goto fail;
    s->n_docs = nd;
    s->n_tokens = nt;
fail:
    if (doms)
        for (int64_t i = 0; i < ndom; i++)
            free(doms[i]);
    free(doms);
    free(layers);
    free(fmt);
    ms_h5_close(grout);
    ms_h5_close(dl);
    ms_h5_close(dd);
    ms_h5_close(dapl);
    ms_h5_close(fapl);
    return rc;
}

int ms_store_create(ms_store **out, const ms_store_create_opts *o, char *err, size_t errlen) {
    *out = NULL;
    ms_h5_quiet();
    if (!o || !o->path || o->n_layers < 1 || o->n_expert < 1 || o->n_expert > 65536 || o->k < 1 ||
        o->k > o->n_expert || o->n_domains < 1 || !o->layers || !o->domains) {
        snprintf(err, errlen, "%s: invalid route store options", o && o->path ? o->path : "?");
        return MS_ERR_INPUT;
    }
    for (int i = 0; i < o->n_domains; i++)
        if (!o->domains[i]) {
            snprintf(err, errlen, "%s: domain %d has no name", o->path, i);
            return MS_ERR_INPUT;
        }
    ms_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(o->path))) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", o->path);
        return MS_ERR_RUNTIME;
    }
    s->file = -1;
    for (int i = 0; i < N_TOKDS; i++)
        s->tok[i] = -1;
    for (int i = 0; i < N_DOCDS; i++)
        s->doc[i] = -1;
    s->n_layers = o->n_layers;
    s->k = o->k;
    s->n_expert = o->n_expert;
    s->with_logits = o->with_logits != 0;
    s->n_domains = o->n_domains;
    int rc = (o->resume && access(o->path, F_OK) == 0) ? open_resume(s, o, err, errlen)
                                                       : create_new(s, o, err, errlen);
    if (rc) {
        store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int64_t ms_store_n_documents(const ms_store *s) {
    return s->n_docs + s->docs;
}

int64_t ms_store_n_tokens(const ms_store *s) {
    return s->n_tokens + s->rows;
}

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    (void)cap;
    void *q = realloc(*p, (size_t)need * elem);
    if (!q) return -1;
    *p = q;
    return 0;
}

int ms_store_append(ms_store *s, int domain, const char *source, const int32_t *tokens,
                    const int32_t *pos, int64_t n, const int32_t *ids, const float *weights,
                    const float *logits, char *err, size_t errlen) {
    if (s->failed) {
        snprintf(err, errlen, "%s: the store had a write error; nothing more is written", s->path);
        return MS_ERR_RUNTIME;
    }
    if (domain < 0 || domain >= s->n_domains || n < 0 ||
        (n > 0 && (!tokens || !pos || !ids || !weights)) || (s->with_logits && n > 0 && !logits)) {
        snprintf(err, errlen, "%s: invalid document (domain %d, %lld tokens)", s->path, domain,
                 (long long)n);
        return MS_ERR_INPUT;
    }
    const int64_t lk = (int64_t)s->n_layers * s->k, le = (int64_t)s->n_layers * s->n_expert;
    for (int64_t i = 0; i < n * lk; i++)
        if (ids[i] < 0 || ids[i] >= s->n_expert) {
            snprintf(err, errlen, "%s: expert id %d out of range [0, %d) at token %lld", s->path,
                     ids[i], s->n_expert, (long long)(i / lk));
            return MS_ERR_INPUT;
        }
    if (n > INT64_MAX / 4 - s->rows) {
        snprintf(err, errlen, "%s: document too large", s->path);
        return MS_ERR_INPUT;
    }
    int64_t need = s->rows + n;
    if (need > s->rows_cap) {
        int64_t cap = s->rows_cap ? s->rows_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (grow((void **)&s->b_id, &s->rows_cap, cap, sizeof *s->b_id) ||
            grow((void **)&s->b_doc, &s->rows_cap, cap, sizeof *s->b_doc) ||
            grow((void **)&s->b_pos, &s->rows_cap, cap, sizeof *s->b_pos) ||
            grow((void **)&s->b_expert, &s->rows_cap, cap, sizeof *s->b_expert * (size_t)lk) ||
            grow((void **)&s->b_weight, &s->rows_cap, cap, sizeof *s->b_weight * (size_t)lk) ||
            (s->with_logits &&
             grow((void **)&s->b_logits, &s->rows_cap, cap, sizeof *s->b_logits * (size_t)le))) {
            snprintf(err, errlen, "%s: out of memory buffering %lld tokens", s->path,
                     (long long)cap);
            return MS_ERR_RUNTIME;
        }
        s->rows_cap = cap;
    }
    if (s->docs + 1 > s->docs_cap) {
        int64_t cap = s->docs_cap ? s->docs_cap * 2 : 64;
        if (grow((void **)&s->bd_domain, &s->docs_cap, cap, sizeof *s->bd_domain) ||
            grow((void **)&s->bd_first, &s->docs_cap, cap, sizeof *s->bd_first) ||
            grow((void **)&s->bd_ntok, &s->docs_cap, cap, sizeof *s->bd_ntok) ||
            grow((void **)&s->bd_source, &s->docs_cap, cap, sizeof *s->bd_source)) {
            snprintf(err, errlen, "%s: out of memory", s->path);
            return MS_ERR_RUNTIME;
        }
        s->docs_cap = cap;
    }
    char *src = strdup(source ? source : "");
    if (!src) {
        snprintf(err, errlen, "%s: out of memory", s->path);
        return MS_ERR_RUNTIME;
    }
    int64_t d = s->n_docs + s->docs;
    if (d > INT32_MAX) {
        free(src);
        snprintf(err, errlen, "%s: more than 2^31 documents", s->path);
        return MS_ERR_INPUT;
    }
    int64_t r = s->rows;
    if (n > 0) {
        memcpy(s->b_id + r, tokens, sizeof *tokens * (size_t)n);
        memcpy(s->b_pos + r, pos, sizeof *pos * (size_t)n);
        for (int64_t i = 0; i < n; i++)
            s->b_doc[r + i] = (int32_t)d;
        for (int64_t i = 0; i < n * lk; i++)
            s->b_expert[r * lk + i] = (uint16_t)ids[i];
        memcpy(s->b_weight + r * lk, weights, sizeof *weights * (size_t)(n * lk));
        if (s->with_logits) memcpy(s->b_logits + r * le, logits, sizeof *logits * (size_t)(n * le));
    }
    s->bd_domain[s->docs] = domain;
    s->bd_first[s->docs] = s->n_tokens + r;
    s->bd_ntok[s->docs] = n;
    s->bd_source[s->docs] = src;
    s->docs++;
    s->rows += n;
    return 0;
}

/* The bytes the next flush may add to the file. A batch adds its rows, compressed, and
 * rewrites the last partly filled chunk of each dataset at the end of the file (file space is
 * never reused), plus some metadata. The first batch is estimated from its uncompressed size;
 * later ones scale the uncompressed size by twice the compression seen so far (the file's
 * size per uncompressed byte committed, capped at 1): a batch is refused only when it could
 * not fit even compressing half as well as the store did until now. If the estimate is wrong
 * anyway, the write fails and is handled as any failed write (the committed documents stay). */
static uint64_t flush_need(const ms_store *s) {
    const uint64_t lk = (uint64_t)s->n_layers * s->k;
    const uint64_t ds_row[N_TOKDS] = {
        4,      4,
        4,      lk * (s->n_expert > 256 ? 2 : 1),
        lk * 4, s->with_logits ? (uint64_t)s->n_layers * s->n_expert * 4 : 0};
    uint64_t row = 0, partial = 0;
    for (int i = 0; i < N_TOKDS; i++) {
        row += ds_row[i];
        /* make_dset: chunks of up to 128 KiB raw (at least 64 rows) */
        uint64_t chunk =
            (uint64_t)clamp_rows((int64_t)(ds_row[i] ? ds_row[i] : 1), 64, 65536) * ds_row[i];
        uint64_t have = (uint64_t)s->n_tokens * ds_row[i];
        partial += have < chunk ? have : chunk;
    }
    uint64_t raw = (uint64_t)s->rows * row + (uint64_t)s->docs * 48;
    for (int64_t i = 0; i < s->docs; i++)
        raw += strlen(s->bd_source[i]) + 32;
    partial += s->n_docs > 0 ? (uint64_t)4 * (128 << 10) : 0; /* the document tables */
    double ratio = 1.0;
    struct stat st;
    uint64_t committed = (uint64_t)s->n_tokens * row + (uint64_t)s->n_docs * 48;
    if (committed > (1u << 20) && stat(s->path, &st) == 0) {
        ratio = 2.0 * (double)st.st_size / (double)committed;
        if (ratio > 1.0) ratio = 1.0;
    }
    return (uint64_t)((double)(raw + partial) * ratio) + ((uint64_t)256 << 10);
}

static int space_check(const ms_store *s, char *err, size_t errlen) {
    uint64_t need = flush_need(s), room = UINT64_MAX;
    struct statvfs v;
    if (statvfs(s->path, &v) == 0) room = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    struct rlimit rl;
    struct stat st;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        stat(s->path, &st) == 0) {
        uint64_t lim = (uint64_t)rl.rlim_cur, size = (uint64_t)st.st_size;
        uint64_t r2 = lim > size ? lim - size : 0;
        if (r2 < room) room = r2;
    }
    if (need <= room) return 0;
    snprintf(err, errlen,
             "%s: no space left for the next batch (needs about %.1f MB, %.1f MB free); the "
             "%lld documents written before are kept (continue with --resume)",
             s->path, (double)need / 1e6, (double)room / 1e6, (long long)s->n_docs);
    return MS_ERR_RUNTIME;
}

/* After a failed write: point HDF5's file descriptor at an anonymous in-memory file so that
 * the metadata HDF5 still holds (which may refer to data that was never written) cannot reach
 * the store; the store stays as its last successful flush left it. The scratch file accepts
 * writes (unlike a read-only descriptor) so that HDF5 can still close the file cleanly: an
 * H5Fclose that fails leaves the file half-closed, and HDF5's cleanup at exit then crashes on
 * it (SIGSEGV in H5F__close_cb, HDF5 1.10). */
static void poison(ms_store *s) {
    void *h = NULL;
    if (s->file < 0 || H5Fget_vfd_handle(s->file, H5P_DEFAULT, &h) < 0 || !h) return;
    int fd = *(int *)h;
    struct stat st;
    off_t size = fstat(fd, &st) == 0 ? st.st_size : 0;
    int sink = memfd_create("moescope-failed-store", MFD_CLOEXEC);
    if (sink >= 0 && ftruncate(sink, size) != 0) { /* reads past the end give zeros anyway */
    }
    if (sink < 0) sink = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (sink < 0) return;
    dup2(sink, fd);
    close(sink);
}

/* Appends n rows of buf (memory type mt) to an extendible dataset that has `have` rows. */
static herr_t append_rows(hid_t d, hid_t mt, int64_t have, int64_t n, const void *buf) {
    int rank = 0;
    int64_t dims[3];
    if (ms_h5_dims(d, &rank, dims) < 0) return -1;
    hsize_t nd[3] = {(hsize_t)(have + n), (hsize_t)dims[1], (hsize_t)dims[2]};
    if (H5Dset_extent(d, nd) < 0) return -1;
    if (n == 0) return 0;
    hsize_t start[3] = {(hsize_t)have, 0, 0}, count[3] = {(hsize_t)n, nd[1], nd[2]};
    hid_t fsp = H5Dget_space(d);
    hid_t msp = H5Screate_simple(rank, count, NULL);
    herr_t r = -1;
    if (fsp >= 0 && msp >= 0 &&
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        r = H5Dwrite(d, mt, msp, fsp, H5P_DEFAULT, buf);
    ms_h5_close(fsp);
    ms_h5_close(msp);
    return r;
}

int ms_store_flush(ms_store *s, char *err, size_t errlen) {
    const char *path = s->path;
    int rc = 0;
    hid_t vls = -1;
    if (s->failed) {
        snprintf(err, errlen, "%s: the store had a write error; nothing more is written", path);
        return MS_ERR_RUNTIME;
    }
    if (s->docs == 0) return 0;
    if ((rc = space_check(s, err, errlen))) {
        s->failed = 1;
        return rc;
    }
    H5_CHECK(append_rows(s->tok[TOK_ID], H5T_NATIVE_INT32, s->n_tokens, s->rows, s->b_id),
             "write /tokens/id");
    H5_CHECK(append_rows(s->tok[TOK_DOC], H5T_NATIVE_INT32, s->n_tokens, s->rows, s->b_doc),
             "write /tokens/doc");
    H5_CHECK(append_rows(s->tok[TOK_POS], H5T_NATIVE_INT32, s->n_tokens, s->rows, s->b_pos),
             "write /tokens/pos");
    H5_CHECK(append_rows(s->tok[R_EXPERT], H5T_NATIVE_UINT16, s->n_tokens, s->rows, s->b_expert),
             "write /routing/expert");
    H5_CHECK(append_rows(s->tok[R_WEIGHT], H5T_NATIVE_FLOAT, s->n_tokens, s->rows, s->b_weight),
             "write /routing/weight");
    if (s->with_logits)
        H5_CHECK(append_rows(s->tok[R_LOGITS], H5T_NATIVE_FLOAT, s->n_tokens, s->rows, s->b_logits),
                 "write /routing/logits");
    H5_CHECK(vls = ms_h5_vlstr_type(), "create a string type");
    H5_CHECK(append_rows(s->doc[DOC_DOMAIN], H5T_NATIVE_INT32, s->n_docs, s->docs, s->bd_domain),
             "write /documents/domain");
    H5_CHECK(append_rows(s->doc[DOC_SOURCE], vls, s->n_docs, s->docs, s->bd_source),
             "write /documents/source");
    H5_CHECK(append_rows(s->doc[DOC_FIRST], H5T_NATIVE_INT64, s->n_docs, s->docs, s->bd_first),
             "write /documents/first_token");
    H5_CHECK(append_rows(s->doc[DOC_NTOK], H5T_NATIVE_INT64, s->n_docs, s->docs, s->bd_ntok),
             "write /documents/n_tokens");
    /* Data first, then the commit point: a crash in between leaves uncommitted rows only. */
    H5_CHECK(H5Fflush(s->file, H5F_SCOPE_LOCAL), "flush the store");
    if ((rc = write_failed(s, err, errlen))) goto fail;
    H5_CHECK(ms_h5_attr_i64(s->file, "n_tokens", s->n_tokens + s->rows),
             "write attribute n_tokens");
    H5_CHECK(ms_h5_attr_i64(s->file, "n_documents", s->n_docs + s->docs),
             "write attribute n_documents");
    H5_CHECK(H5Fflush(s->file, H5F_SCOPE_LOCAL), "flush the store");
    if ((rc = write_failed(s, err, errlen))) goto fail;
    s->n_docs += s->docs;
    s->n_tokens += s->rows;
    for (int64_t i = 0; i < s->docs; i++)
        free(s->bd_source[i]);
    s->docs = 0;
    s->rows = 0;
    ms_h5_close(vls);
    return 0;
fail:
    ms_h5_close(vls);
    s->failed = 1;
    poison(s);
    return rc;
}

int ms_store_close(ms_store *s, char *err, size_t errlen) {
    if (!s) return 0;
    int rc = 0;
    if (!s->failed) rc = ms_store_flush(s, err, errlen);
    for (int i = 0; i < N_TOKDS; i++)
        ms_h5_close(s->tok[i]);
    for (int i = 0; i < N_DOCDS; i++)
        ms_h5_close(s->doc[i]);
    for (int i = 0; i < N_TOKDS; i++)
        s->tok[i] = -1;
    for (int i = 0; i < N_DOCDS; i++)
        s->doc[i] = -1;
    if (s->file >= 0 && H5Fclose(s->file) < 0 && rc == 0 && !s->failed) {
        ms_h5_error(err, errlen, s->path, "close the store");
        rc = MS_ERR_RUNTIME;
    }
    s->file = -1;
    store_free(s);
    return rc;
}

struct ms_store_lock {
    int fd;
    char *path; /* "<store>.lock" */
};

int ms_store_lock_take(ms_store_lock **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    size_t n = strlen(path) + sizeof ".lock";
    ms_store_lock *l = calloc(1, sizeof *l);
    char *lp = malloc(n);
    if (!l || !lp) {
        free(l);
        free(lp);
        snprintf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    snprintf(lp, n, "%s.lock", path);
    /* A holder removes the lock file as it releases it: a lock taken on a file that was
     * removed meanwhile protects nothing, so check that the locked file is still the one at
     * that name, and try again if not. */
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (fd < 0) {
            snprintf(err, errlen, "%s: cannot create the file: %s (lock file %s)", path,
                     strerror(errno), lp);
            free(lp);
            free(l);
            return MS_ERR_RUNTIME;
        }
        struct stat a, b;
        if (fstat(fd, &a) != 0 || !S_ISREG(a.st_mode)) {
            snprintf(err, errlen, "%s: the lock file %s is not a regular file", path, lp);
            close(fd);
            free(lp);
            free(l);
            return MS_ERR_INPUT;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            char buf[32] = "";
            ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
            long pid = got > 0 ? strtol(buf, NULL, 10) : 0;
            close(fd);
            if (e == EWOULDBLOCK || e == EAGAIN) {
                if (pid > 0)
                    snprintf(err, errlen, "%s: another capture is writing this store (pid %ld)",
                             path, pid);
                else
                    snprintf(err, errlen, "%s: another capture is writing this store", path);
            } else {
                snprintf(err, errlen, "%s: cannot lock %s: %s", path, lp, strerror(e));
            }
            free(lp);
            free(l);
            return MS_ERR_RUNTIME;
        }
        if (stat(lp, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
            close(fd); /* released and removed by its holder meanwhile */
            continue;
        }
        char buf[32];
        int m = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)m, 0) != m) {
            /* The pid only improves the message of a second capture; the lock holds. */
        }
        l->fd = fd;
        l->path = lp;
        *out = l;
        return 0;
    }
    snprintf(err, errlen, "%s: cannot take the lock %s (it keeps being replaced)", path, lp);
    free(lp);
    free(l);
    return MS_ERR_RUNTIME;
}

void ms_store_lock_release(ms_store_lock *l) {
    if (!l) return;
    unlink(l->path); /* while still holding it: see ms_store_lock_take */
    close(l->fd);
    free(l->path);
    free(l);
}
