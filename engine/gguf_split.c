/* gguf_split.c — opening a GGUF model split into parts by llama.cpp's gguf-split (or written in
 * its layout): finding the parts from any one of them, mapping each, and refusing sets that
 * do not fit together (a missing part, parts of different sets, a tensor listed twice or in
 * no part, a part with the wrong split.no).
 *
 * Facts from llama.cpp (tools/gguf-split/gguf-split.cpp, src/llama-model-loader.cpp,
 * llama_split_path): part file names are "%s-%05d-of-%05d.gguf" with split.no + 1 and
 * split.count; the first part holds every key of the model plus the three split keys, the
 * others only the split keys; llama.cpp requires split.no == index for every part, refuses a
 * tensor name seen twice and checks the total against split.tensors.count. Unlike llama.cpp,
 * any part may be named: its split.no and split.count say where the first part is. */
#include "gguf_split.h"
#include "msutil.h"
#include "safetensors.h" /* st_errf */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPLIT_MAX_PARTS 65535 /* split.count is a u16 */

void gguf_set_close(gguf_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_parts; i++)
        if (s->parts[i]) gguf_close(s->parts[i]);
    free(s->parts);
    s->parts = NULL;
    s->n_parts = 0;
}

/* Reads an integer split key; 1 if present (value in *v), 0 if absent, -1 (with message) if
 * present but not an integer in [lo, hi]. */
static int split_key(const gguf_file *g, const char *key, int64_t lo, int64_t hi, int64_t *v,
                     char *err, size_t errlen) {
    if (gguf_find_key(g, key) < 0) return 0;
    if (gguf_get_int(g, key, v) != 0 || *v < lo || *v > hi) {
        st_errf(err, errlen, "%s: metadata key '%s' is not an integer in [%lld, %lld]",
                gguf_path(g), key, (long long)lo, (long long)hi);
        return -1;
    }
    return 1;
}

static int str_eq(gguf_str a, gguf_str b) {
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, (size_t)a.n) == 0);
}

/* 1 when key has the same type and value in both files (arrays element by element; nested
 * arrays by length only). */
static int kv_equal(const gguf_file *a, const gguf_file *b, const char *key) {
    int64_t ia = gguf_find_key(a, key), ib = gguf_find_key(b, key);
    gguf_vtype t = gguf_kv_type(a, ia);
    if (t != gguf_kv_type(b, ib)) return 0;
    if (t == GGUF_T_STRING) {
        gguf_str x, y;
        return gguf_get_str(a, key, &x) == 0 && gguf_get_str(b, key, &y) == 0 && str_eq(x, y);
    }
    if (t == GGUF_T_ARRAY) {
        gguf_vtype ea, eb;
        uint64_t na, nb;
        if (gguf_get_arr(a, key, &ea, &na) || gguf_get_arr(b, key, &eb, &nb)) return 0;
        if (ea != eb || na != nb) return 0;
        if (ea == GGUF_T_STRING) {
            for (uint64_t i = 0; i < na; i++)
                if (!str_eq(gguf_arr_str(a, key, i), gguf_arr_str(b, key, i))) return 0;
            return 1;
        }
        size_t es = gguf_vtype_size(ea);
        if (!es) return 1; /* nested arrays: lengths only */
        const void *da = gguf_arr_data(a, key), *db = gguf_arr_data(b, key);
        return na == 0 || (da && db && memcmp(da, db, (size_t)na * es) == 0);
    }
    if (t == GGUF_T_FLOAT32 || t == GGUF_T_FLOAT64) {
        double x, y;
        return gguf_get_float(a, key, &x) == 0 && gguf_get_float(b, key, &y) == 0 &&
               memcmp(&x, &y, sizeof x) == 0;
    }
    int64_t x, y; /* integers and bool */
    if (gguf_get_int(a, key, &x) == 0 && gguf_get_int(b, key, &y) == 0) return x == y;
    int bx, by;
    return gguf_get_bool(a, key, &bx) == 0 && gguf_get_bool(b, key, &by) == 0 && bx == by;
}

/* Part i's path from the prefix (llama_split_path); NULL when out of memory. */
static char *part_path(const char *prefix, size_t prefix_len, int i, int n) {
    size_t cap = prefix_len + 32;
    char *p = malloc(cap);
    if (p) snprintf(p, cap, "%.*s-%05d-of-%05d.gguf", (int)prefix_len, prefix, i + 1, n);
    return p;
}

/* The checks between parts once all are open. */
static int check_parts(gguf_set *s, int64_t n_tensors_total, char *err, size_t errlen) {
    const gguf_file *first = s->parts[0];
    for (int i = 1; i < s->n_parts; i++) {
        const gguf_file *g = s->parts[i];
        for (int64_t k = 0; k < gguf_n_kv(g); k++) {
            gguf_str kn = gguf_key_name(g, k);
            if (kn.n == 8 && memcmp(kn.p, "split.no", 8) == 0) continue;
            char key[256];
            if (kn.n >= sizeof key) continue; /* no key of the model is that long */
            memcpy(key, kn.p, (size_t)kn.n);
            key[kn.n] = 0;
            if (memchr(key, 0, (size_t)kn.n)) continue;
            if (gguf_find_key(first, key) < 0) {
                if (!strcmp(key, "split.count") || !strcmp(key, "split.tensors.count")) {
                    st_errf(err, errlen, "%s: has '%s' but the first part %s has none",
                            gguf_path(g), key, gguf_path(first));
                    return MS_ERR_INPUT;
                }
                continue;
            }
            if (!kv_equal(first, g, key)) {
                char safe[96];
                ms_text_safe(key, safe, sizeof safe);
                st_errf(err, errlen,
                        "%s: metadata key '%s' differs from the first part %s: parts of different "
                        "split sets",
                        gguf_path(g), safe, gguf_path(first));
                return MS_ERR_INPUT;
            }
        }
    }

    /* Tensor names over all parts: sorted (name, part) pairs; a name twice is an error. */
    int64_t total = 0;
    for (int i = 0; i < s->n_parts; i++)
        total += gguf_n_tensors(s->parts[i]);
    if (total != n_tensors_total) {
        st_errf(err, errlen,
                "%s: split.tensors.count is %lld but the %d parts hold %lld tensors (%s)",
                gguf_path(first), (long long)n_tensors_total, s->n_parts, (long long)total,
                total < n_tensors_total ? "tensors in no part" : "parts of different split sets");
        return MS_ERR_INPUT;
    }
    return 0;
}

typedef struct name_ref {
    const char *name;
    int part;
} name_ref;

static int cmp_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->part > y->part) - (x->part < y->part);
}

static int check_duplicates(gguf_set *s, char *err, size_t errlen) {
    int64_t total = 0;
    for (int i = 0; i < s->n_parts; i++)
        total += gguf_n_tensors(s->parts[i]);
    name_ref *refs = malloc(sizeof *refs * (size_t)(total ? total : 1));
    if (!refs) {
        st_errf(err, errlen, "%s: out of memory", gguf_path(s->parts[0]));
        return MS_ERR_RUNTIME;
    }
    int64_t n = 0;
    for (int i = 0; i < s->n_parts; i++)
        for (int64_t t = 0; t < gguf_n_tensors(s->parts[i]); t++)
            refs[n++] = (name_ref){gguf_tensor_info(s->parts[i], t)->name, i};
    qsort(refs, (size_t)n, sizeof *refs, cmp_ref);
    int rc = 0;
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(refs[i - 1].name, refs[i].name)) {
            char safe[160];
            ms_text_safe(refs[i].name, safe, sizeof safe);
            st_errf(err, errlen, "%s: tensor '%s' is also in %s: listed twice in the split set",
                    gguf_path(s->parts[refs[i].part]), safe, gguf_path(s->parts[refs[i - 1].part]));
            rc = MS_ERR_INPUT;
            break;
        }
    free(refs);
    return rc;
}

int gguf_set_open(gguf_set *s, const char *path, char *err, size_t errlen) {
    s->parts = NULL;
    s->n_parts = 0;
    gguf_file *named = NULL;
    int rc = gguf_open(&named, path, err, errlen);
    if (rc) return rc;

    int64_t count = 0, no = 0, n_tensors_total = 0;
    int has_count = split_key(named, "split.count", 0, SPLIT_MAX_PARTS, &count, err, errlen);
    if (has_count < 0) goto fail_named;
    if (has_count == 0 || count <= 1) {
        /* A single file (llama.cpp ignores split.no here too). split.count 0 is the value
         * gguf-split writes as a placeholder: treat it as one part. */
        if (!(s->parts = malloc(sizeof *s->parts))) goto oom_named;
        s->parts[0] = named;
        s->n_parts = 1;
        return 0;
    }
    int has_no = split_key(named, "split.no", 0, count - 1, &no, err, errlen);
    if (has_no < 0) goto fail_named;
    if (has_no == 0) {
        st_errf(err, errlen, "%s: split.count is %lld but the key 'split.no' is missing", path,
                (long long)count);
        goto fail_named;
    }

    /* The prefix: the named path without its "-0000k-of-0000n.gguf". */
    char suffix[40];
    snprintf(suffix, sizeof suffix, "-%05d-of-%05d.gguf", (int)no + 1, (int)count);
    size_t plen = strlen(path), slen = strlen(suffix);
    if (plen <= slen || strcmp(path + plen - slen, suffix) != 0) {
        st_errf(err, errlen,
                "%s: part %lld of %lld of a split model, but its name does not end in '%s' (the "
                "other parts are found by that name)",
                path, (long long)no + 1, (long long)count, suffix);
        goto fail_named;
    }
    size_t prefix_len = plen - slen;

    s->parts = calloc((size_t)count, sizeof *s->parts);
    if (!s->parts) goto oom_named;
    s->n_parts = (int)count;
    s->parts[no] = named;
    named = NULL;
    for (int i = 0; i < s->n_parts; i++) {
        if (s->parts[i]) continue;
        char *pp = part_path(path, prefix_len, i, s->n_parts);
        if (!pp) {
            st_errf(err, errlen, "%s: out of memory", path);
            rc = MS_ERR_RUNTIME;
            goto fail;
        }
        struct stat st;
        int sr = stat(pp, &st);
        if (sr != 0 && errno == ENOENT) {
            st_errf(err, errlen, "%s: missing part %d of %d of the split model %s", pp, i + 1,
                    s->n_parts, path);
            free(pp);
            rc = MS_ERR_INPUT;
            goto fail;
        }
        if (sr == 0 && !S_ISREG(st.st_mode)) { /* a FIFO would block the open */
            st_errf(err, errlen, "%s: part %d of %d of the split model is not a regular file", pp,
                    i + 1, s->n_parts);
            free(pp);
            rc = MS_ERR_INPUT;
            goto fail;
        }
        rc = gguf_open(&s->parts[i], pp, err, errlen);
        free(pp);
        if (rc) goto fail;
    }

    /* Every part: split.no as its name says, split.count as the others. */
    for (int i = 0; i < s->n_parts; i++) {
        const gguf_file *g = s->parts[i];
        int64_t c = 0, k = 0;
        int hc = split_key(g, "split.count", 0, SPLIT_MAX_PARTS, &c, err, errlen);
        if (hc < 0) goto input;
        if (hc == 0) {
            st_errf(err, errlen,
                    "%s: split.count is missing, but %s says %lld: not a part of the same split "
                    "set",
                    gguf_path(g), path, (long long)count);
            goto input;
        }
        if (c != count) {
            st_errf(err, errlen,
                    "%s: split.count is %lld, but %s says %lld: parts of different split sets",
                    gguf_path(g), (long long)c, path, (long long)count);
            goto input;
        }
        int hk = split_key(g, "split.no", 0, SPLIT_MAX_PARTS, &k, err, errlen);
        if (hk < 0) goto input;
        if (hk == 0) {
            st_errf(err, errlen, "%s: the key 'split.no' is missing (expected %d)", gguf_path(g),
                    i);
            goto input;
        }
        if (k != i) {
            st_errf(err, errlen,
                    "%s: split.no is %lld, expected %d: this file is not part %d of %d of the set",
                    gguf_path(g), (long long)k, i, i + 1, s->n_parts);
            goto input;
        }
    }
    int ht =
        split_key(s->parts[0], "split.tensors.count", 0, INT32_MAX, &n_tensors_total, err, errlen);
    if (ht < 0) goto input;
    if (ht == 0) {
        st_errf(err, errlen, "%s: the key 'split.tensors.count' is missing",
                gguf_path(s->parts[0]));
        goto input;
    }
    if ((rc = check_duplicates(s, err, errlen))) goto fail;
    if ((rc = check_parts(s, n_tensors_total, err, errlen))) goto fail;
    return 0;

oom_named:
    st_errf(err, errlen, "%s: out of memory", path);
    gguf_close(named);
    return MS_ERR_RUNTIME;
fail_named:
    gguf_close(named);
    return MS_ERR_INPUT;
input:
    rc = MS_ERR_INPUT;
fail:
    gguf_set_close(s);
    return rc;
}
