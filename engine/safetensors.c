/* safetensors.c — the safetensors file format: header parsing and validation, and read-only
 * mmap of the file. A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON ({"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}), then the data
 * section that the tensors tile exactly. Nothing from the file is used before it is checked
 * (see safetensors.h for the list of checks). Also the small error/file helpers of the HF
 * reader. */
#include "safetensors.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void st_errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* one line of valid UTF-8 without terminal controls: messages may quote names taken
     * from files */
    ms_text_safe_inplace(err, errlen);
}

cJSON *st_json_get(const cJSON *obj, const char *key) {
    cJSON *last = NULL;
    if (!cJSON_IsObject(obj) || !key) return NULL;
    for (cJSON *e = obj->child; e; e = e->next)
        if (e->string && strcmp(e->string, key) == 0) last = e;
    return last;
}

int st_open_input(const char *path, int *fd, struct stat *st, char *err, size_t errlen) {
    char msg[512];
    int rc = ms_open_regular(path, fd, st, msg, sizeof msg);
    if (rc) {
        size_t n = strlen(path);
        const char *why = strncmp(msg, path, n) == 0 && msg[n] == ':' ? msg + n + 1 : msg;
        while (*why == ' ')
            why++;
        st_errf(err, errlen, "%s: cannot open: %s", path, why);
    }
    return rc;
}

int st_read_small_file(const char *path, size_t max, char **out, size_t *len, char *err,
                       size_t errlen) {
    *out = NULL;
    if (len) *len = 0;
    int fd;
    struct stat st;
    int orc = st_open_input(path, &fd, &st, err, errlen);
    if (orc) return orc;
    if ((uint64_t)st.st_size > max) {
        close(fd);
        st_errf(err, errlen, "%s: file too large (%lld bytes, limit %zu)", path,
                (long long)st.st_size, max);
        return MS_ERR_INPUT;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        st_errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            st_errf(err, errlen, "%s: read error: %s", path, r < 0 ? strerror(errno) : "short");
            free(buf);
            close(fd);
            return MS_ERR_RUNTIME;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Header parsing.
 */

typedef struct dtype_info {
    const char *name;
    int size; /* bytes per element */
    int type; /* ggml type id, -1 if moescope cannot use it as a weight */
} dtype_info;

static const dtype_info dtypes[] = {
    {"F32", 4, MS_TYPE_F32},
    {"F16", 2, MS_TYPE_F16},
    {"BF16", 2, MS_TYPE_BF16},
    {"F64", 8, -1},
    {"I64", 8, -1},
    {"U64", 8, -1},
    {"I32", 4, -1},
    {"U32", 4, -1},
    {"I16", 2, -1},
    {"U16", 2, -1},
    {"I8", 1, -1},
    {"U8", 1, -1},
    {"BOOL", 1, -1},
    {"F8_E4M3", 1, MS_TYPE_F8_E4M3},
    {"F8_E5M2", 1, -1},
    {"F8_E8M0", 1, -1},
};

static const dtype_info *find_dtype(const char *s) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, s) == 0) return &dtypes[i];
    return NULL;
}

/* A JSON number that is a non-negative integer exactly representable (<= 2^53). */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

void st_header_free(st_header *h) {
    if (!h) return;
    for (int64_t i = 0; i < h->n_tensors; i++)
        free(h->tensors[i].name);
    free(h->tensors);
    memset(h, 0, sizeof *h);
}

int64_t st_find(const st_header *h, const char *name) {
    for (int64_t i = 0; i < h->n_tensors; i++)
        if (strcmp(h->tensors[i].name, name) == 0) return i;
    return -1;
}

/* qsort_r comparators over indices into the tensor array (arg). */
static int by_offset(const void *a, const void *b, void *arg) {
    const st_tensor *base = arg;
    const st_tensor *x = &base[*(const int64_t *)a], *y = &base[*(const int64_t *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}
static int by_name(const void *a, const void *b, void *arg) {
    const st_tensor *base = arg;
    return strcmp(base[*(const int64_t *)a].name, base[*(const int64_t *)b].name);
}

/* Validates one tensor entry and fills t. Returns 0 or MS_ERR_INPUT. */
static int parse_tensor(st_tensor *t, const cJSON *e, uint64_t data_size, const char *name,
                        char *err, size_t errlen) {
    const char *tn = t->name;
    if (!cJSON_IsObject(e)) {
        st_errf(err, errlen, "%s: tensor '%s': entry is not a JSON object", name, tn);
        return MS_ERR_INPUT;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !dt->valuestring) {
        st_errf(err, errlen, "%s: tensor '%s': missing or non-string dtype", name, tn);
        return MS_ERR_INPUT;
    }
    const dtype_info *di = find_dtype(dt->valuestring);
    if (!di) {
        st_errf(err, errlen, "%s: tensor '%s': unknown dtype '%.16s'", name, tn, dt->valuestring);
        return MS_ERR_INPUT;
    }
    snprintf(t->dtype, sizeof t->dtype, "%s", di->name);
    t->type = di->type;
    if (!cJSON_IsArray(sh)) {
        st_errf(err, errlen, "%s: tensor '%s': missing or non-array shape", name, tn);
        return MS_ERR_INPUT;
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS) {
        st_errf(err, errlen, "%s: tensor '%s': %d dimensions (at most %d supported)", name, tn, nd,
                ST_MAX_DIMS);
        return MS_ERR_INPUT;
    }
    t->n_dims = nd;
    uint64_t nelem = 1;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_u64(d, &v) != 0) {
            st_errf(err, errlen,
                    "%s: tensor '%s': shape dimension %d is not a non-negative integer", name, tn,
                    i);
            return MS_ERR_INPUT;
        }
        if (v > (uint64_t)INT64_MAX || __builtin_mul_overflow(nelem, v, &nelem)) {
            st_errf(err, errlen, "%s: tensor '%s': element count overflows", name, tn);
            return MS_ERR_INPUT;
        }
        t->shape[i] = (int64_t)v;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(nelem, (uint64_t)di->size, &nbytes)) {
        st_errf(err, errlen, "%s: tensor '%s': byte size overflows", name, tn);
        return MS_ERR_INPUT;
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        json_u64(off->child, &t->begin) != 0 || json_u64(off->child->next, &t->end) != 0) {
        st_errf(err, errlen, "%s: tensor '%s': data_offsets must be two non-negative integers",
                name, tn);
        return MS_ERR_INPUT;
    }
    if (t->end < t->begin) {
        st_errf(err, errlen, "%s: tensor '%s': data_offsets end %llu before begin %llu", name, tn,
                (unsigned long long)t->end, (unsigned long long)t->begin);
        return MS_ERR_INPUT;
    }
    if (t->end > data_size) {
        st_errf(err, errlen,
                "%s: tensor '%s': data_offsets end %llu beyond the data section (%llu bytes)", name,
                tn, (unsigned long long)t->end, (unsigned long long)data_size);
        return MS_ERR_INPUT;
    }
    if (t->end - t->begin != nbytes) {
        st_errf(err, errlen,
                "%s: tensor '%s': %llu bytes in data_offsets but dtype %s and shape need %llu",
                name, tn, (unsigned long long)(t->end - t->begin), di->name,
                (unsigned long long)nbytes);
        return MS_ERR_INPUT;
    }
    return 0;
}

int st_parse(st_header *h, const uint8_t *buf, uint64_t size, const char *name, char *err,
             size_t errlen) {
    memset(h, 0, sizeof *h);
    if (size < 8) {
        st_errf(err, errlen, "%s: too short for a safetensors file (%llu bytes)", name,
                (unsigned long long)size);
        return MS_ERR_INPUT;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | buf[i];
    if (n > ST_MAX_HEADER_SIZE) {
        st_errf(err, errlen, "%s: header length %llu exceeds the %u-byte limit", name,
                (unsigned long long)n, ST_MAX_HEADER_SIZE);
        return MS_ERR_INPUT;
    }
    if (n > size - 8) {
        st_errf(err, errlen, "%s: header length %llu larger than the file (%llu bytes)", name,
                (unsigned long long)n, (unsigned long long)size);
        return MS_ERR_INPUT;
    }
    if (n < 2 || buf[8] != '{') {
        st_errf(err, errlen, "%s: not a safetensors file (header does not start with '{')", name);
        return MS_ERR_INPUT;
    }
    const char *text = (const char *)buf + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root) {
        long pos = end && end >= text && end <= text + n ? (long)(end - text) : -1;
        st_errf(err, errlen, "%s: header is not valid JSON (near byte %ld of the header)", name,
                pos);
        return MS_ERR_INPUT;
    }
    int rc = MS_ERR_INPUT;
    int64_t *order = NULL;
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            st_errf(err, errlen, "%s: trailing bytes after the header JSON", name);
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        st_errf(err, errlen, "%s: header is not a JSON object", name);
        goto out;
    }
    h->data_start = 8 + n;
    h->data_size = size - 8 - n;
    int64_t cap = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        cap++;
    h->tensors = calloc(cap ? (size_t)cap : 1, sizeof *h->tensors);
    if (!h->tensors) {
        rc = MS_ERR_RUNTIME;
        st_errf(err, errlen, "%s: out of memory", name);
        goto out;
    }
    int seen_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) continue;
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta++ || !cJSON_IsObject(e)) {
                st_errf(err, errlen, "%s: __metadata__ must be a single JSON object", name);
                goto out;
            }
            for (const cJSON *m = e->child; m; m = m->next)
                if (!cJSON_IsString(m)) {
                    st_errf(err, errlen, "%s: __metadata__ value '%.64s' is not a string", name,
                            m->string ? m->string : "");
                    goto out;
                }
            continue;
        }
        if (!e->string[0] || strlen(e->string) > 1024) {
            st_errf(err, errlen, "%s: tensor name empty or longer than 1024 bytes", name);
            goto out;
        }
        st_tensor *t = &h->tensors[h->n_tensors];
        t->name = strdup(e->string);
        if (!t->name) {
            rc = MS_ERR_RUNTIME;
            st_errf(err, errlen, "%s: out of memory", name);
            goto out;
        }
        h->n_tensors++;
        int r = parse_tensor(t, e, h->data_size, name, err, errlen);
        if (r) {
            rc = r;
            goto out;
        }
    }
    order = malloc(sizeof *order * (size_t)(h->n_tensors ? h->n_tensors : 1));
    if (!order) {
        rc = MS_ERR_RUNTIME;
        st_errf(err, errlen, "%s: out of memory", name);
        goto out;
    }
    for (int64_t i = 0; i < h->n_tensors; i++)
        order[i] = i;
    qsort_r(order, (size_t)h->n_tensors, sizeof *order, by_name, h->tensors);
    for (int64_t i = 1; i < h->n_tensors; i++)
        if (strcmp(h->tensors[order[i]].name, h->tensors[order[i - 1]].name) == 0) {
            st_errf(err, errlen, "%s: tensor '%s' appears twice", name, h->tensors[order[i]].name);
            goto out;
        }
    qsort_r(order, (size_t)h->n_tensors, sizeof *order, by_offset, h->tensors);
    uint64_t expect = 0;
    for (int64_t i = 0; i < h->n_tensors; i++) {
        const st_tensor *t = &h->tensors[order[i]];
        if (t->begin < expect) {
            st_errf(err, errlen, "%s: tensors '%s' and '%s' overlap", name,
                    h->tensors[order[i - 1]].name, t->name);
            goto out;
        }
        if (t->begin > expect) {
            st_errf(err, errlen, "%s: gap in the data section before tensor '%s' (offset %llu)",
                    name, t->name, (unsigned long long)t->begin);
            goto out;
        }
        expect = t->end;
    }
    if (expect != h->data_size) {
        st_errf(err, errlen, "%s: tensors cover %llu bytes but the data section has %llu", name,
                (unsigned long long)expect, (unsigned long long)h->data_size);
        goto out;
    }
    rc = 0;
out:
    free(order);
    cJSON_Delete(root);
    if (rc) st_header_free(h);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Files.
 */

int st_open(st_file **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        st_errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    /* A FIFO, a device (/dev/zero) or a directory is refused before any read or mmap. */
    int fd;
    struct stat st;
    int orc = st_open_input(path, &fd, &st, err, errlen);
    if (orc) {
        st_close(f);
        return orc;
    }
    f->size = (uint64_t)st.st_size;
    if (f->size < 8) {
        close(fd);
        st_errf(err, errlen, "%s: too short for a safetensors file (%llu bytes)", path,
                (unsigned long long)f->size);
        st_close(f);
        return MS_ERR_INPUT;
    }
    void *p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        st_errf(err, errlen, "%s: mmap failed: %s", path, strerror(e));
        st_close(f);
        return MS_ERR_RUNTIME;
    }
    f->map = p;
    int rc = st_parse(&f->hdr, f->map, f->size, path, err, errlen);
    if (rc) {
        st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void st_close(st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, (size_t)f->size);
    st_header_free(&f->hdr);
    free(f->path);
    free(f);
}
