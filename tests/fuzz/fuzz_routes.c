/* fuzz_routes.c — libFuzzer target for the route store reader (probes/routes.c, h5util.c).
 *
 * Structure-aware: libhdf5 1.10 itself crashes on some corrupt object headers (version-1
 * headers carry no checksum; see docs/ROUTE_STORE.md), so feeding raw mutated files would
 * mostly find bugs in libhdf5 rather than in our reader. Instead the input describes a store:
 * its shape (E, k, L, documents, domains), every dataset's values (ids, weights, documents,
 * positions, token ids, layers), and structural damage (a soft or external link, a missing
 * dataset, wrong type or rank, other attribute values, an over-long n_documents). The target
 * writes that store with the HDF5 API into an in-memory file (core driver, no disk), may flip
 * bytes inside the global heap or in a string's heap reference (the variable-length strings,
 * which our reader checks itself before HDF5 follows them), and opens the image with the reader. If
 * the reader accepts the store, every row it serves must satisfy what it promises (documents,
 * ranges, no repeated expert, finite non-negative weights): a violation aborts.
 *
 * Input layout (bytes, missing ones read as 0): shape[6], flags[4] (little-endian bit set),
 * then values consumed in order as needed. */
#include "h5_int.h"
#include "probes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct in {
    const uint8_t *p;
    size_t n, i;
} in;

static unsigned take(in *s) {
    return s->i < s->n ? s->p[s->i++] : 0;
}

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_routes: the reader accepted a store that violates: %s\n", what);
        abort();
    }
}

static void attr_i64(hid_t o, const char *name, int64_t v) {
    ms_h5_attr_i64(o, name, v);
}

/* A dataset of rank 1..3 written from a buffer of memory type mt (file type ft). */
static void dset(hid_t f, const char *name, hid_t ft, hid_t mt, int rank, const hsize_t *dims,
                 const void *buf) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, name, ft, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        int empty = 0;
        for (int i = 0; i < rank; i++)
            empty |= dims[i] == 0;
        if (!empty) H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        H5Dclose(d);
    }
    H5Pclose(lcpl);
    H5Sclose(sp);
}

static void strs(hid_t f, const char *name, const char *const *v, hsize_t n) {
    hid_t t = ms_h5_vlstr_type();
    dset(f, name, t, t, 1, &n, v);
    H5Tclose(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    in s = {data, size, 0};
    ms_h5_quiet();
    /* shape */
    int E = 1 + (int)(take(&s) % 8);
    int k = 1 + (int)(take(&s) % (unsigned)E);
    int L = 1 + (int)(take(&s) % 3);
    int D = (int)(take(&s) % 5);
    int ND = (int)(take(&s) % 4);
    int n_layer = (int)(take(&s) % 6); /* 0: no model description */
    unsigned fl = take(&s) | take(&s) << 8 | take(&s) << 16 | take(&s) << 24;
    int32_t win = (fl & 8192) ? 1 + (int32_t)((fl >> 28) & 7) : 0; /* capture window */
    int64_t ntok[4] = {0}, first[4] = {0}, T = 0;
    int32_t dom[4] = {0};
    for (int d = 0; d < D; d++) {
        ntok[d] = (int64_t)(take(&s) % 12);
        dom[d] = (int32_t)(take(&s) % (ND + 1)); /* ND itself is out of range */
        first[d] = T;
        T += ntok[d];
    }
    if (fl & 1) ntok[0] -= (int64_t)(take(&s) % 3); /* document table damage */
    if (fl & 2) first[D > 1 ? 1 : 0] += 1;
    int32_t tok[48], doc[48], pos[48], ids[48 * 3 * 8];
    float w[48 * 3 * 8], lg[48 * 3 * 8];
    int64_t n_vocab = 100;
    for (int64_t t = 0, d = 0; t < T; t++) {
        while (t >= first[d] + ntok[d] && d + 1 < D)
            d++;
        unsigned b = take(&s);
        tok[t] = (int32_t)(b < 250 ? b % 100 : b == 250 ? 100 : b == 251 ? -1 : (int)b);
        doc[t] = (int32_t)((fl & 4) && b % 7 == 0 ? (d + 1) % (D + 1) : d);
        int32_t want = t == 0 || t == first[d] ? 0 : pos[t - 1] + 1;
        if (win && want >= win) want = 0; /* a new window */
        pos[t] = (fl & 8) && b % 5 == 0 ? (int32_t)(b % 4) - 1 : (fl & 16) && b % 3 == 0 ? 0 : want;
        for (int j = 0; j < L * k; j++) {
            unsigned x = take(&s), y = take(&s);
            ids[t * L * k + j] = (int32_t)((fl & 32) ? x % (E + 1) : (x + (unsigned)j % k) % E);
            w[t * L * k + j] = y == 255 ? NAN : y == 254 ? -0.5f : y == 253 ? INFINITY : y / 253.f;
        }
        for (int j = 0; j < L * E; j++)
            lg[t * L * E + j] = (fl & 64) && j == 0 && b == 9 ? NAN : (float)j;
    }
    if (!(fl & 32)) /* distinct experts per top-k unless damage asked for */
        for (int64_t t = 0; t < T; t++)
            for (int l = 0; l < L; l++) {
                int32_t *id = ids + (t * L + l) * k;
                int base = id[0];
                for (int j = 0; j < k; j++)
                    id[j] = (base + j) % E;
            }
    int32_t layers[3];
    for (int l = 0; l < L; l++)
        layers[l] = (fl & 128) ? (int32_t)(take(&s) % 8) - 1 : l * 2;

    /* the store, in memory */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    hid_t f = H5Fcreate("fuzz_routes_build.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return 0;
    char model[160];
    snprintf(model, sizeof model, "{\"hparams\": {\"n_layer\": %d, \"n_vocab\": %lld}}", n_layer,
             (long long)n_vocab);
    ms_h5_attr_str(f, "format", (fl & 256) ? "moescope-route" : MS_ROUTES_FORMAT);
    if (!(fl & 512)) ms_h5_attr_i32(f, "format_version", (fl & 1024) ? 2 : MS_ROUTES_VERSION);
    if (n_layer) ms_h5_attr_str(f, "model", model);
    ms_h5_attr_str(f, "tokenizer", "{\"n_vocab\": 100}");
    ms_h5_attr_str(f, "manifest", "{}");
    attr_i64(f, "n_documents", (fl & 2048) ? D + 1 : (fl & 4096) ? -1 : D);
    attr_i64(f, "n_tokens", T);
    if (win) attr_i64(f, "window", win);
    hsize_t d1 = (hsize_t)T, d3[3] = {(hsize_t)T, (hsize_t)L, (hsize_t)k},
            dl[3] = {(hsize_t)T, (hsize_t)L, (hsize_t)E}, dd = (hsize_t)D, dln = (hsize_t)L;
    int miss = (fl >> 14) & 15; /* 1..12: that dataset is missing */
    int wrong = (fl >> 18) & 7; /* 1: float ids, 2: int weights, 3: 2-D tokens, 4: k+1 */
    if (wrong == 4) d3[2] = (hsize_t)k + 1;
    int32_t *ids2 = NULL;
    if (wrong == 4) {
        ids2 = calloc((size_t)(T * L * (k + 1) + 1), sizeof *ids2);
        if (!ids2) goto close;
    }
    if (miss != 1)
        dset(f, "/tokens/id", wrong == 1 ? H5T_IEEE_F32LE : H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &d1,
             tok);
    if (miss != 2) {
        hsize_t d2[2] = {(hsize_t)T, 1};
        dset(f, "/tokens/doc", H5T_STD_I32LE, H5T_NATIVE_INT32, wrong == 3 ? 2 : 1,
             wrong == 3 ? d2 : &d1, doc);
    }
    if (miss != 3) dset(f, "/tokens/pos", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &d1, pos);
    if (miss != 4) dset(f, "/routing/layers", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &dln, layers);
    if (miss != 5)
        dset(f, "/routing/expert", (fl & (1u << 21)) ? H5T_STD_U16LE : H5T_STD_U8LE,
             H5T_NATIVE_INT32, 3, d3, ids2 ? ids2 : ids);
    if (miss != 6)
        dset(f, "/routing/weight", wrong == 2 ? H5T_STD_I32LE : H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3,
             d3, w);
    if (fl & (1u << 22)) dset(f, "/routing/logits", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, dl, lg);
    if (miss != 7) dset(f, "/documents/domain", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &dd, dom);
    if (miss != 8)
        dset(f, "/documents/first_token", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &dd, first);
    if (miss != 9) dset(f, "/documents/n_tokens", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &dd, ntok);
    static const char *const names[4] = {"ArXiv", "Github", "PubMed", "a.txt:1"};
    if (miss != 10) strs(f, "/domains", names, (hsize_t)ND);
    if (miss != 11) strs(f, "/documents/source", names, (hsize_t)D);
    hid_t g = H5Gopen2(f, "/routing", H5P_DEFAULT);
    if (g >= 0) {
        if (miss != 12) attr_i64(g, "n_expert", (fl & (1u << 23)) ? 0 : E);
        attr_i64(g, "k", (fl & (1u << 24)) ? E + 1 : k);
        H5Gclose(g);
    }
    if (fl & (1u << 25)) { /* a soft link in place of a dataset */
        static const char *const victims[3] = {"/routing/weight", "/tokens/id", "/domains"};
        const char *v = victims[take(&s) % 3];
        char moved[64];
        snprintf(moved, sizeof moved, "%s_real", v);
        H5Lmove(f, v, f, moved, H5P_DEFAULT, H5P_DEFAULT);
        H5Lcreate_soft(moved, f, v, H5P_DEFAULT, H5P_DEFAULT);
    }
    if (fl & (1u << 26)) { /* an external link (its target never exists) */
        H5Ldelete(f, "/tokens/pos", H5P_DEFAULT);
        H5Lcreate_external("elsewhere.h5", "/pos", f, "/tokens/pos", H5P_DEFAULT, H5P_DEFAULT);
    }
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    ssize_t len = H5Fget_file_image(f, NULL, 0);
    unsigned char *img = len > 0 ? malloc((size_t)len) : NULL;
    if (img && H5Fget_file_image(f, img, (size_t)len) == len) {
        if (fl & (1u << 27)) { /* damage inside the global heap collection(s) */
            for (ssize_t i = 0; i + 4 <= len; i++)
                if (!memcmp(img + i, "GCOL", 4)) {
                    size_t n = 1 + take(&s) % 4;
                    for (size_t j = 0; j < n; j++) {
                        size_t off = (size_t)i + (take(&s) | take(&s) << 8) % 256;
                        if (off < (size_t)len) img[off] ^= (unsigned char)(1 + take(&s));
                    }
                    break;
                }
        }
        if (fl & (1u << 31)) { /* damage a string's heap reference (length or object index) */
            for (ssize_t i = 0; i + 4 <= len; i++)
                if (!memcmp(img + i, "GCOL", 4)) {
                    unsigned char key[8];
                    for (int j = 0; j < 8; j++)
                        key[j] = (unsigned char)((uint64_t)i >> (8 * j));
                    unsigned skip = take(&s) % 8, kind = take(&s);
                    for (ssize_t a = 4; a + 12 <= len; a++)
                        if (!memcmp(img + a, key, 8) && skip-- == 0) {
                            unsigned char *f4 = kind & 1 ? img + a + 8 : img + a - 4;
                            for (int j = 0; j < 4; j++)
                                f4[j] = (unsigned char)take(&s);
                            break;
                        }
                    break;
                }
        }
        char err[512];
        ms_routes *r = NULL;
        int orc = ms_routes_open_image(&r, img, (size_t)len, "fuzz.h5", err, sizeof err);
        if (orc && getenv("FUZZ_ROUTES_VERBOSE")) fprintf(stderr, "refused (%d): %s\n", orc, err);
        if (orc == 0) {
            const ms_routes_info *nf = ms_routes_info_get(r);
            check(nf->n_tokens >= 0 && nf->n_documents >= 0 && nf->k >= 1 &&
                      nf->k <= nf->n_expert && nf->n_layers >= 1,
                  "info");
            for (int l = 0; l < nf->n_layers; l++)
                check(nf->layers[l] >= 0 && (l == 0 || nf->layers[l] > nf->layers[l - 1]),
                      "layers ascending, >= 0");
            for (int i = 0; i < nf->n_domains; i++)
                check(nf->domains[i] != NULL, "domain names");
            int64_t at = 0;
            for (int64_t d = 0; d < nf->n_documents; d++) {
                int dm;
                int64_t f0, nt;
                const char *src;
                check(ms_routes_document(r, d, &dm, &f0, &nt, &src) == 0 && dm >= 0 &&
                          dm < nf->n_domains && f0 == at && nt >= 0 && src,
                      "document table");
                at += nt;
            }
            check(at == nf->n_tokens, "documents tile the tokens");
            int64_t n = nf->n_tokens;
            int32_t *rt = calloc((size_t)n + 1, 4), *rd = calloc((size_t)n + 1, 4);
            int32_t *rp = calloc((size_t)n + 1, 4);
            int32_t *ri = calloc((size_t)(n * nf->n_layers * nf->k) + 1, 4);
            float *rw = calloc((size_t)(n * nf->n_layers * nf->k) + 1, 4);
            float *rl = calloc((size_t)(n * nf->n_layers * nf->n_expert) + 1, 4);
            if (rt && rd && rp && ri && rw && rl &&
                ms_routes_read(r, 0, n, rt, rd, rp, ri, rw, nf->has_logits ? rl : NULL, err,
                               sizeof err) == 0) {
                int64_t d = 0;
                for (int64_t t = 0; t < n; t++) {
                    int64_t f0 = 0, nt = 0;
                    while (ms_routes_document(r, d, NULL, &f0, &nt, NULL) == 0 && t >= f0 + nt)
                        d++;
                    check(rd[t] == d, "token row in its document");
                    check(rt[t] >= 0 && rt[t] < n_vocab, "token id in the vocabulary");
                    check(rp[t] >= 0 && (t != f0 || rp[t] == 0), "position");
                    for (int l = 0; l < nf->n_layers; l++) {
                        const int32_t *id = ri + (t * nf->n_layers + l) * nf->k;
                        const float *wt = rw + (t * nf->n_layers + l) * nf->k;
                        for (int j = 0; j < nf->k; j++) {
                            check(id[j] >= 0 && id[j] < nf->n_expert, "expert id < E");
                            check(isfinite(wt[j]) && wt[j] >= 0, "weight finite, >= 0");
                            for (int q = 0; q < j; q++)
                                check(id[q] != id[j], "no repeated expert in a top-k");
                        }
                    }
                }
            }
            free(rt), free(rd), free(rp), free(ri), free(rw), free(rl);
            ms_routes_close(r);
        }
    }
    free(img);
close:
    free(ids2);
    H5Fclose(f);
    return 0;
}
