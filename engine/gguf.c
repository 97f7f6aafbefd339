/* gguf.c — GGUF v2/v3 reader over a read-only mmap, and a GGUF v3 writer.
 *
 * Reader: one validating pass over header, key/values and tensor infos. Nothing read from the
 * file is trusted: every count, length and offset is checked against the bytes left in the
 * file before use, with overflow checks, so a lying header can neither make us read out of
 * bounds nor allocate more than the file could describe. Keys, string values and tensor names
 * stay (ptr, len) views into the mapping; string arrays get an index of views so element i is
 * O(1) (vocabularies have 32k-256k entries). Keys and tensor names are hashed for lookup and
 * duplicate detection.
 *
 * Layout (little-endian): "GGUF" u32 version, u64 n_tensors, u64 n_kv, kv*, tensor_info*,
 * padding to general.alignment (default 32), data section. kv = str key, u32 type, value;
 * str = u64 len + bytes; array = u32 elem type, u64 n, elements. tensor_info = str name,
 * u32 n_dims, i64 ne[n_dims], u32 ggml type, u64 offset (relative to the data section).
 *
 * Writer: collects key/values (serialized as they arrive) and tensors (copied), then writes
 * the file in one pass with alignment 32. */
#include "gguf.h"
#include "msutil.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC             "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ARRAY_DEPTH   8 /* nested arrays deeper than this are refused */

/* ---------------------------------------------------------------------------------------
 * Small helpers. */

static void set_err(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    int n = snprintf(err, errlen, "%s: ", path ? path : "(gguf)");
    if (n < 0) n = 0;
    if ((size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* One line of valid UTF-8 without terminal controls: the file may contribute names with
     * newlines, escape sequences or invalid bytes (shown as \xNN). */
    ms_text_safe_inplace(err, errlen);
}

static uint64_t fnv1a(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Open-addressing hash index of (ptr, len) names -> item index. */
typedef struct name_index {
    int64_t *slot; /* [cap] item index, -1 empty */
    uint64_t cap;  /* power of 2, >= 2 * items */
} name_index;

static int index_init(name_index *ix, uint64_t n_items) {
    uint64_t cap = 16;
    while (cap < 2 * n_items)
        cap *= 2;
    ix->slot = malloc(cap * sizeof *ix->slot);
    if (!ix->slot) return -1;
    for (uint64_t i = 0; i < cap; i++)
        ix->slot[i] = -1;
    ix->cap = cap;
    return 0;
}

/* Finds name; if absent and insert >= 0, stores insert and returns -1. Returns the item index
 * found otherwise (-1 if absent). names[i] gives the name of item i. */
static int64_t index_lookup(const name_index *ix, const gguf_str *names, size_t stride,
                            const char *p, uint64_t n, int64_t insert) {
    if (!ix->slot) return -1;
    uint64_t h = fnv1a(p, n) & (ix->cap - 1);
    for (;;) {
        int64_t it = ix->slot[h];
        if (it < 0) {
            if (insert >= 0) ix->slot[h] = insert;
            return -1;
        }
        const gguf_str *s = (const gguf_str *)((const char *)names + (size_t)it * stride);
        if (s->n == n && memcmp(s->p, p, n) == 0) return it;
        h = (h + 1) & (ix->cap - 1);
    }
}

/* ---------------------------------------------------------------------------------------
 * Reader. */

typedef struct gguf_kv {
    gguf_str key;
    gguf_vtype type;
    uint64_t start, end; /* byte range of the whole kv record (key..value) in the file */
    const uint8_t *val;  /* value bytes (for arrays: the first element) */
    gguf_vtype arr_type; /* arrays only */
    uint64_t arr_n;      /* arrays only */
    gguf_str *arr_str;   /* [arr_n] views, string arrays only (malloc'ed) */
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name_view; /* first member: the name index reads names through it */
    ms_tensor_info info;
} gguf_tensor;

struct gguf_file {
    char *path;
    const uint8_t *base; /* mapping (or caller's buffer) */
    uint64_t size;
    int mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset; /* start of the data section */
    int64_t n_kv;
    gguf_kv *kv; /* [n_kv] */
    int64_t n_tensors;
    gguf_tensor *tensors; /* [n_tensors] */
    char *names;          /* NUL-terminated tensor names, back to back */
    name_index kv_ix, t_ix;
};

/* Cursor over the file bytes; every read checks what is left. */
typedef struct rd {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
    char *err;
    size_t errlen;
} rd;

size_t gguf_vtype_size(uint32_t t) {
    switch (t) {
    case GGUF_T_UINT8:
    case GGUF_T_INT8:
    case GGUF_T_BOOL:
        return 1;
    case GGUF_T_UINT16:
    case GGUF_T_INT16:
        return 2;
    case GGUF_T_UINT32:
    case GGUF_T_INT32:
    case GGUF_T_FLOAT32:
        return 4;
    case GGUF_T_UINT64:
    case GGUF_T_INT64:
    case GGUF_T_FLOAT64:
        return 8;
    default:
        return 0; /* string, array, invalid */
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *const names[] = {"u8",   "i8",  "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "str", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "invalid";
}

static int rd_need(rd *r, uint64_t n, const char *what) {
    if (n > r->size - r->pos) {
        set_err(r->err, r->errlen, r->path,
                "truncated: %s needs %llu bytes at offset %llu, file has %llu", what,
                (unsigned long long)n, (unsigned long long)r->pos, (unsigned long long)r->size);
        return -1;
    }
    return 0;
}

static int rd_u32(rd *r, uint32_t *v, const char *what) {
    if (rd_need(r, 4, what)) return -1;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(rd *r, uint64_t *v, const char *what) {
    if (rd_need(r, 8, what)) return -1;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 0;
}

static int rd_str(rd *r, gguf_str *s, const char *what) {
    uint64_t n;
    if (rd_u64(r, &n, what)) return -1;
    if (n > r->size - r->pos) {
        set_err(r->err, r->errlen, r->path,
                "%s at offset %llu has length %llu, beyond the end of the file", what,
                (unsigned long long)(r->pos - 8), (unsigned long long)n);
        return -1;
    }
    s->p = (const char *)r->p + r->pos;
    s->n = n;
    r->pos += n;
    return 0;
}

/* Skips one value of type t (depth counts array nesting). */
static int rd_skip_value(rd *r, uint32_t t, int depth, const char *key);

static int rd_skip_array(rd *r, int depth, const char *key, uint32_t *elem, uint64_t *n) {
    if (depth > GGUF_MAX_ARRAY_DEPTH) {
        set_err(r->err, r->errlen, r->path, "key %s: arrays nested deeper than %d", key,
                GGUF_MAX_ARRAY_DEPTH);
        return -1;
    }
    if (rd_u32(r, elem, "array type") || rd_u64(r, n, "array length")) return -1;
    size_t es = gguf_vtype_size(*elem);
    if (es) {
        if (*n > (r->size - r->pos) / es) {
            set_err(r->err, r->errlen, r->path,
                    "key %s: array of %llu %s elements runs beyond the end of the file", key,
                    (unsigned long long)*n, vtype_name(*elem));
            return -1;
        }
        r->pos += *n * es;
        return 0;
    }
    if (*elem != GGUF_T_STRING && *elem != GGUF_T_ARRAY) {
        set_err(r->err, r->errlen, r->path, "key %s: invalid array element type %u", key, *elem);
        return -1;
    }
    /* Strings and arrays take at least 8 (12) bytes each: bound n before looping. */
    uint64_t min = *elem == GGUF_T_STRING ? 8 : 12;
    if (*n > (r->size - r->pos) / min) {
        set_err(r->err, r->errlen, r->path,
                "key %s: array of %llu %s elements runs beyond the end of the file", key,
                (unsigned long long)*n, vtype_name(*elem));
        return -1;
    }
    for (uint64_t i = 0; i < *n; i++)
        if (rd_skip_value(r, *elem, depth + 1, key)) return -1;
    return 0;
}

static int rd_skip_value(rd *r, uint32_t t, int depth, const char *key) {
    size_t es = gguf_vtype_size(t);
    if (es) {
        if (rd_need(r, es, "value")) return -1;
        r->pos += es;
        return 0;
    }
    if (t == GGUF_T_STRING) {
        gguf_str s;
        return rd_str(r, &s, "string value");
    }
    if (t == GGUF_T_ARRAY) {
        uint32_t elem;
        uint64_t n;
        return rd_skip_array(r, depth, key, &elem, &n);
    }
    set_err(r->err, r->errlen, r->path, "key %s: invalid value type %u", key, t);
    return -1;
}

/* A copy of a (ptr, len) name for messages (truncated; set_err makes it printable). */
static const char *str_for_msg(gguf_str s, char *buf, size_t cap) {
    size_t n = s.n < cap - 1 ? (size_t)s.n : cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = s.p[i] ? s.p[i] : '?';
    buf[n] = 0;
    return buf;
}

static void gguf_free_parts(gguf_file *g) {
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].arr_str);
    free(g->kv);
    free(g->tensors);
    free(g->names);
    free(g->kv_ix.slot);
    free(g->t_ix.slot);
    free(g->path);
}

void gguf_close(gguf_file *g) {
    if (!g) return;
    if (g->mapped && g->size) munmap((void *)g->base, g->size);
    gguf_free_parts(g);
    free(g);
}

static int cmp_by_offset(const void *a, const void *b) {
    const ms_tensor_info *x = *(const ms_tensor_info *const *)a;
    const ms_tensor_info *y = *(const ms_tensor_info *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Parses and validates g->base[0..size). Returns 0 or MS_ERR_INPUT / MS_ERR_RUNTIME. */
static int gguf_parse(gguf_file *g, char *err, size_t errlen) {
    rd r = {g->base, g->size, 0, g->path, err, errlen};
    char nb[96];

    if (g->size < 4 || memcmp(g->base, GGUF_MAGIC, 4) != 0) {
        set_err(err, errlen, g->path, "not a GGUF file (bad magic)");
        return MS_ERR_INPUT;
    }
    r.pos = 4;
    uint64_t n_tensors, n_kv;
    if (rd_u32(&r, &g->version, "version")) return MS_ERR_INPUT;
    if (g->version == 1) {
        set_err(err, errlen, g->path, "GGUF version 1 is not supported (only 2 and 3)");
        return MS_ERR_INPUT;
    }
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0)
            set_err(err, errlen, g->path, "big-endian GGUF files are not supported");
        else
            set_err(err, errlen, g->path, "unsupported GGUF version %u (only 2 and 3)", g->version);
        return MS_ERR_INPUT;
    }
    if (rd_u64(&r, &n_tensors, "tensor count") || rd_u64(&r, &n_kv, "key/value count"))
        return MS_ERR_INPUT;
    /* A kv takes at least 8 + 1 + 4 + 1 bytes, a tensor info at least 8 + 1 + 4 + 4 + 8. */
    if (n_kv > (g->size - r.pos) / 14) {
        set_err(err, errlen, g->path, "key/value count %llu does not fit in the file",
                (unsigned long long)n_kv);
        return MS_ERR_INPUT;
    }
    if (n_tensors > (g->size - r.pos) / 25) {
        set_err(err, errlen, g->path, "tensor count %llu does not fit in the file",
                (unsigned long long)n_tensors);
        return MS_ERR_INPUT;
    }
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors || index_init(&g->kv_ix, n_kv) || index_init(&g->t_ix, n_tensors)) {
        set_err(err, errlen, g->path, "out of memory");
        return MS_ERR_RUNTIME;
    }

    /* Key/values. */
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        kv->start = r.pos;
        if (rd_str(&r, &kv->key, "key")) return MS_ERR_INPUT;
        if (kv->key.n == 0) {
            set_err(err, errlen, g->path, "key %llu is empty", (unsigned long long)i);
            return MS_ERR_INPUT;
        }
        str_for_msg(kv->key, nb, sizeof nb);
        if (index_lookup(&g->kv_ix, &g->kv[0].key, sizeof *kv, kv->key.p, kv->key.n, (int64_t)i) >=
            0) {
            set_err(err, errlen, g->path, "duplicate key %s", nb);
            return MS_ERR_INPUT;
        }
        uint32_t t;
        if (rd_u32(&r, &t, "value type")) return MS_ERR_INPUT;
        kv->type = (gguf_vtype)t;
        kv->val = g->base + r.pos;
        if (t == GGUF_T_ARRAY) {
            uint32_t elem;
            uint64_t n;
            uint64_t arr_start = r.pos;
            if (rd_skip_array(&r, 1, nb, &elem, &n)) return MS_ERR_INPUT;
            kv->arr_type = (gguf_vtype)elem;
            kv->arr_n = n;
            kv->val = g->base + arr_start + 12;
            if (elem == GGUF_T_STRING) {
                kv->arr_str = malloc((n ? n : 1) * sizeof *kv->arr_str);
                if (!kv->arr_str) {
                    set_err(err, errlen, g->path, "out of memory");
                    return MS_ERR_RUNTIME;
                }
                rd sr = r;
                sr.pos = arr_start + 12;
                for (uint64_t j = 0; j < n; j++) {
                    int rc = rd_str(&sr, &kv->arr_str[j], "string");
                    assert(rc == 0); /* validated by rd_skip_array */
                    (void)rc;
                }
            }
        } else if (rd_skip_value(&r, t, 1, nb)) {
            return MS_ERR_INPUT;
        }
        kv->end = r.pos;
    }

    /* general.alignment: u32, a power of two. */
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ia = gguf_find_key(g, "general.alignment");
    if (ia >= 0) {
        if (g->kv[ia].type != GGUF_T_UINT32) {
            set_err(err, errlen, g->path, "general.alignment has type %s, expected u32",
                    vtype_name(g->kv[ia].type));
            return MS_ERR_INPUT;
        }
        memcpy(&g->alignment, g->kv[ia].val, 4);
        if (g->alignment == 0 || (g->alignment & (g->alignment - 1)) != 0) {
            set_err(err, errlen, g->path, "general.alignment %u is not a power of two",
                    g->alignment);
            return MS_ERR_INPUT;
        }
    }

    /* Tensor infos. */
    uint64_t names_bytes = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        ms_tensor_info *ti = &t->info;
        if (rd_str(&r, &t->name_view, "tensor name")) return MS_ERR_INPUT;
        str_for_msg(t->name_view, nb, sizeof nb);
        if (t->name_view.n == 0 || t->name_view.n > 4096 ||
            memchr(t->name_view.p, 0, t->name_view.n)) {
            set_err(err, errlen, g->path, "tensor %llu has an invalid name '%s'",
                    (unsigned long long)i, nb);
            return MS_ERR_INPUT;
        }
        if (index_lookup(&g->t_ix, &g->tensors[0].name_view, sizeof *t, t->name_view.p,
                         t->name_view.n, (int64_t)i) >= 0) {
            set_err(err, errlen, g->path, "duplicate tensor name %s", nb);
            return MS_ERR_INPUT;
        }
        names_bytes += t->name_view.n + 1;
        uint32_t n_dims, type;
        if (rd_u32(&r, &n_dims, "tensor n_dims")) return MS_ERR_INPUT;
        if (n_dims > 4) {
            set_err(err, errlen, g->path, "tensor %s has %u dimensions (at most 4)", nb, n_dims);
            return MS_ERR_INPUT;
        }
        ti->n_dims = (int)n_dims;
        int64_t nel = 1;
        for (int d = 0; d < 4; d++) {
            uint64_t ne = 1;
            if ((uint32_t)d < n_dims && rd_u64(&r, &ne, "tensor shape")) return MS_ERR_INPUT;
            if (ne == 0 || ne > (uint64_t)INT64_MAX) {
                set_err(err, errlen, g->path, "tensor %s has invalid size %lld in dimension %d", nb,
                        (long long)(int64_t)ne, d);
                return MS_ERR_INPUT;
            }
            ti->ne[d] = (int64_t)ne;
            if (ti->ne[d] > INT64_MAX / nel) {
                set_err(err, errlen, g->path, "tensor %s: element count overflows", nb);
                return MS_ERR_INPUT;
            }
            nel *= ti->ne[d];
        }
        if (rd_u32(&r, &type, "tensor type")) return MS_ERR_INPUT;
        /* ids from 1000 are moescope's safetensors types (F8_E4M3, MXFP4_HF), never ggml's */
        if (!ms_type_supported((int)type) || type >= 1000) {
            if (ms_type_name((int)type)[0] == 't' || type >= 1000) /* not a ggml type we know */
                set_err(err, errlen, g->path, "tensor %s: unknown weight type id %u", nb, type);
            else
                set_err(err, errlen, g->path, "tensor %s: weight type %s (id %u) is not supported",
                        nb, ms_type_name((int)type), type);
            return MS_ERR_INPUT;
        }
        ti->type = (int)type;
        int64_t bl = ms_type_block_elems((ms_type)type);
        if (ti->ne[0] % bl != 0) {
            set_err(err, errlen, g->path,
                    "tensor %s: row of %lld elements is not a multiple of the %s block size %lld",
                    nb, (long long)ti->ne[0], ms_type_name((int)type), (long long)bl);
            return MS_ERR_INPUT;
        }
        uint64_t blocks = (uint64_t)(nel / bl);
        size_t bb = ms_type_block_bytes((ms_type)type);
        if (blocks > g->size / bb) {
            set_err(err, errlen, g->path, "tensor %s: its data would exceed the file size", nb);
            return MS_ERR_INPUT;
        }
        ti->nbytes = (size_t)(blocks * bb);
        if (rd_u64(&r, &ti->offset, "tensor offset")) return MS_ERR_INPUT;
        if (ti->offset % g->alignment != 0) {
            set_err(err, errlen, g->path,
                    "tensor %s: data offset %llu is not a multiple of the alignment %u", nb,
                    (unsigned long long)ti->offset, g->alignment);
            return MS_ERR_INPUT;
        }
        ti->file = 0;
    }

    /* Data section: aligned start, every tensor inside, no two overlapping. */
    uint64_t pad = (g->alignment - r.pos % g->alignment) % g->alignment;
    g->data_offset = r.pos + pad;
    if (n_tensors > 0 && g->data_offset > g->size) {
        set_err(err, errlen, g->path, "truncated: data section starts beyond the end of the file");
        return MS_ERR_INPUT;
    }
    uint64_t data_size = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        ms_tensor_info *ti = &g->tensors[i].info;
        if (ti->offset > data_size || ti->nbytes > data_size - ti->offset) {
            set_err(err, errlen, g->path,
                    "tensor %s: data [%llu, +%llu) lies beyond the end of the file",
                    str_for_msg(g->tensors[i].name_view, nb, sizeof nb),
                    (unsigned long long)ti->offset, (unsigned long long)ti->nbytes);
            return MS_ERR_INPUT;
        }
        ti->offset += g->data_offset; /* absolute from here on */
    }
    if (n_tensors > 1) {
        const ms_tensor_info **order = malloc(n_tensors * sizeof *order);
        if (!order) {
            set_err(err, errlen, g->path, "out of memory");
            return MS_ERR_RUNTIME;
        }
        for (uint64_t i = 0; i < n_tensors; i++)
            order[i] = &g->tensors[i].info;
        qsort(order, n_tensors, sizeof *order, cmp_by_offset);
        for (uint64_t i = 1; i < n_tensors; i++) {
            if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset) {
                const gguf_tensor *a =
                    (const gguf_tensor *)((const char *)order[i - 1] - offsetof(gguf_tensor, info));
                const gguf_tensor *b =
                    (const gguf_tensor *)((const char *)order[i] - offsetof(gguf_tensor, info));
                char nb2[96];
                set_err(err, errlen, g->path, "tensors %s and %s overlap",
                        str_for_msg(a->name_view, nb, sizeof nb),
                        str_for_msg(b->name_view, nb2, sizeof nb2));
                free(order);
                return MS_ERR_INPUT;
            }
        }
        free(order);
    }

    /* NUL-terminated names for ms_tensor_info. */
    g->names = malloc(names_bytes ? names_bytes : 1);
    if (!g->names) {
        set_err(err, errlen, g->path, "out of memory");
        return MS_ERR_RUNTIME;
    }
    char *np = g->names;
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        memcpy(np, t->name_view.p, t->name_view.n);
        np[t->name_view.n] = 0;
        t->info.name = np;
        np += t->name_view.n + 1;
    }
    return 0;
}

static int gguf_open_common(gguf_file **out, gguf_file *g, char *err, size_t errlen) {
    int rc = gguf_parse(g, err, errlen);
    if (rc) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return 0;
}

int gguf_open(gguf_file **out, const char *path, char *err, size_t errlen) {
    *out = NULL;
    gguf_file *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        set_err(err, errlen, path, "out of memory");
        return MS_ERR_RUNTIME;
    }
    /* A FIFO, a device (/dev/zero) or a directory is refused before any read or mmap. */
    int fd;
    struct stat st;
    int orc = ms_open_regular(path, &fd, &st, err, errlen);
    if (orc) {
        gguf_close(g);
        return orc;
    }
    g->size = (uint64_t)st.st_size;
    if (g->size < 4) {
        set_err(err, errlen, path, "not a GGUF file (%llu bytes)", (unsigned long long)g->size);
        close(fd);
        gguf_close(g);
        return MS_ERR_INPUT;
    }
    void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        set_err(err, errlen, path, "mmap: %s", strerror(e));
        g->size = 0;
        gguf_close(g);
        return MS_ERR_RUNTIME;
    }
    g->base = m;
    g->mapped = 1;
    return gguf_open_common(out, g, err, errlen);
}

int gguf_open_mem(gguf_file **out, const void *data, size_t size, const char *name, char *err,
                  size_t errlen) {
    *out = NULL;
    gguf_file *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(name ? name : "(memory)"))) {
        free(g);
        set_err(err, errlen, name, "out of memory");
        return MS_ERR_RUNTIME;
    }
    g->base = data;
    g->size = size;
    return gguf_open_common(out, g, err, errlen);
}

uint32_t gguf_version(const gguf_file *g) {
    return g->version;
}
uint64_t gguf_file_size(const gguf_file *g) {
    return g->size;
}
uint32_t gguf_alignment(const gguf_file *g) {
    return g->alignment;
}
const char *gguf_path(const gguf_file *g) {
    return g->path;
}
uint64_t gguf_data_offset(const gguf_file *g) {
    return g->data_offset;
}

int64_t gguf_n_kv(const gguf_file *g) {
    return g->n_kv;
}

int64_t gguf_find_key(const gguf_file *g, const char *key) {
    return index_lookup(&g->kv_ix, &g->kv[0].key, sizeof(gguf_kv), key, strlen(key), -1);
}

gguf_str gguf_key_name(const gguf_file *g, int64_t i) {
    assert(i >= 0 && i < g->n_kv);
    return g->kv[i].key;
}

gguf_vtype gguf_kv_type(const gguf_file *g, int64_t i) {
    assert(i >= 0 && i < g->n_kv);
    return g->kv[i].type;
}

/* Reads a scalar of numeric type t at p as int64 (ok=0) or fails (-1: not an integer type
 * or out of range). */
static int scalar_int(gguf_vtype t, const uint8_t *p, int64_t *v) {
    switch (t) {
    case GGUF_T_UINT8: {
        uint8_t x;
        memcpy(&x, p, 1);
        *v = x;
        return 0;
    }
    case GGUF_T_INT8: {
        int8_t x;
        memcpy(&x, p, 1);
        *v = x;
        return 0;
    }
    case GGUF_T_UINT16: {
        uint16_t x;
        memcpy(&x, p, 2);
        *v = x;
        return 0;
    }
    case GGUF_T_INT16: {
        int16_t x;
        memcpy(&x, p, 2);
        *v = x;
        return 0;
    }
    case GGUF_T_UINT32: {
        uint32_t x;
        memcpy(&x, p, 4);
        *v = x;
        return 0;
    }
    case GGUF_T_INT32: {
        int32_t x;
        memcpy(&x, p, 4);
        *v = x;
        return 0;
    }
    case GGUF_T_UINT64: {
        uint64_t x;
        memcpy(&x, p, 8);
        if (x > (uint64_t)INT64_MAX) return -1;
        *v = (int64_t)x;
        return 0;
    }
    case GGUF_T_INT64: {
        int64_t x;
        memcpy(&x, p, 8);
        *v = x;
        return 0;
    }
    case GGUF_T_BOOL:
        *v = p[0] != 0;
        return 0;
    default:
        return -1;
    }
}

static int scalar_float(gguf_vtype t, const uint8_t *p, double *v) {
    if (t == GGUF_T_FLOAT32) {
        float x;
        memcpy(&x, p, 4);
        *v = x;
        return 0;
    }
    if (t == GGUF_T_FLOAT64) {
        memcpy(v, p, 8);
        return 0;
    }
    int64_t i;
    if (t != GGUF_T_BOOL && scalar_int(t, p, &i) == 0 && i <= (1ll << 53) && i >= -(1ll << 53)) {
        *v = (double)i;
        return 0;
    }
    return -1;
}

static const gguf_kv *find_kv(const gguf_file *g, const char *key) {
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

int gguf_get_int(const gguf_file *g, const char *key, int64_t *v) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type == GGUF_T_BOOL) return -1;
    return scalar_int(kv->type, kv->val, v);
}

int gguf_get_float(const gguf_file *g, const char *key, double *v) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv) return -1;
    return scalar_float(kv->type, kv->val, v);
}

int gguf_get_bool(const gguf_file *g, const char *key, int *v) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GGUF_T_BOOL) return -1;
    *v = kv->val[0] != 0;
    return 0;
}

int gguf_get_str(const gguf_file *g, const char *key, gguf_str *v) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GGUF_T_STRING) return -1;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    v->p = (const char *)kv->val + 8;
    v->n = n;
    return 0;
}

int gguf_get_arr(const gguf_file *g, const char *key, gguf_vtype *elem_type, uint64_t *n) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GGUF_T_ARRAY) return -1;
    if (elem_type) *elem_type = kv->arr_type;
    if (n) *n = kv->arr_n;
    return 0;
}

static const gguf_kv *arr_kv(const gguf_file *g, const char *key, uint64_t i) {
    const gguf_kv *kv = find_kv(g, key);
    assert(kv && kv->type == GGUF_T_ARRAY && i < kv->arr_n);
    return kv;
}

gguf_str gguf_arr_str(const gguf_file *g, const char *key, uint64_t i) {
    const gguf_kv *kv = arr_kv(g, key, i);
    assert(kv->arr_type == GGUF_T_STRING);
    return kv->arr_str[i];
}

double gguf_arr_float(const gguf_file *g, const char *key, uint64_t i) {
    const gguf_kv *kv = arr_kv(g, key, i);
    size_t es = gguf_vtype_size(kv->arr_type);
    assert(es);
    const uint8_t *p = kv->val + i * es;
    double v = 0;
    int64_t iv;
    if (kv->arr_type == GGUF_T_UINT64) {
        uint64_t u;
        memcpy(&u, p, 8);
        v = (double)u;
    } else if (scalar_float(kv->arr_type, p, &v) != 0 && scalar_int(kv->arr_type, p, &iv) == 0) {
        v = (double)iv; /* bool, or an integer beyond 2^53 (rounded) */
    }
    return v;
}

int64_t gguf_arr_int(const gguf_file *g, const char *key, uint64_t i) {
    const gguf_kv *kv = arr_kv(g, key, i);
    size_t es = gguf_vtype_size(kv->arr_type);
    assert(es && kv->arr_type != GGUF_T_FLOAT32 && kv->arr_type != GGUF_T_FLOAT64);
    int64_t v = INT64_MAX; /* u64 elements beyond INT64_MAX saturate */
    scalar_int(kv->arr_type, kv->val + i * es, &v);
    return v;
}

const void *gguf_arr_data(const gguf_file *g, const char *key) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv || kv->type != GGUF_T_ARRAY || !gguf_vtype_size(kv->arr_type)) return NULL;
    return kv->val;
}

int64_t gguf_n_tensors(const gguf_file *g) {
    return g->n_tensors;
}

int64_t gguf_find_tensor(const gguf_file *g, const char *name) {
    return index_lookup(&g->t_ix, &g->tensors[0].name_view, sizeof(gguf_tensor), name, strlen(name),
                        -1);
}

const ms_tensor_info *gguf_tensor_info(const gguf_file *g, int64_t i) {
    assert(i >= 0 && i < g->n_tensors);
    return &g->tensors[i].info;
}

const uint8_t *gguf_tensor_data(const gguf_file *g, int64_t i) {
    assert(i >= 0 && i < g->n_tensors);
    return g->base + g->tensors[i].info.offset;
}

/* ---------------------------------------------------------------------------------------
 * Writer. */

typedef struct wtensor {
    char *name;
    ms_type type;
    int n_dims;
    int64_t ne[4];
    uint8_t *data; /* [nbytes] copy */
    size_t nbytes;
} wtensor;

struct gguf_writer {
    uint8_t *kv; /* serialized key/values */
    size_t kv_len, kv_cap;
    int64_t n_kv;
    char **keys; /* [n_kv] for duplicate detection */
    wtensor *t;
    int64_t n_t, cap_t;
    char err[256]; /* first error; reported by gguf_writer_write */
};

static void w_fail(gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void w_fail(gguf_writer *w, const char *fmt, ...) {
    if (w->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    if (!w->err[0]) snprintf(w->err, sizeof w->err, "writer error");
}

gguf_writer *gguf_writer_new(void) {
    return calloc(1, sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    for (int64_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    free(w->kv);
    free(w);
}

static int w_bytes(gguf_writer *w, const void *p, size_t n) {
    if (w->err[0]) return -1;
    if (n > SIZE_MAX / 2 - w->kv_len) {
        w_fail(w, "metadata too large");
        return -1;
    }
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n)
            cap *= 2;
        uint8_t *nb = realloc(w->kv, cap);
        if (!nb) {
            w_fail(w, "out of memory");
            return -1;
        }
        w->kv = nb;
        w->kv_cap = cap;
    }
    if (n) memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static void w_u32(gguf_writer *w, uint32_t v) {
    w_bytes(w, &v, 4);
}
static void w_u64(gguf_writer *w, uint64_t v) {
    w_bytes(w, &v, 8);
}
static void w_strn(gguf_writer *w, const char *s, uint64_t n) {
    w_u64(w, n);
    w_bytes(w, s, (size_t)n);
}

/* Registers a new key (refusing duplicates) and writes it with its type. */
static int w_key(gguf_writer *w, const char *key, gguf_vtype t) {
    if (w->err[0]) return -1;
    if (!key || !key[0]) {
        w_fail(w, "empty key");
        return -1;
    }
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) {
            w_fail(w, "duplicate key %s", key);
            return -1;
        }
    char **nk = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *nk);
    if (!nk) {
        w_fail(w, "out of memory");
        return -1;
    }
    w->keys = nk;
    if (!(w->keys[w->n_kv] = strdup(key))) {
        w_fail(w, "out of memory");
        return -1;
    }
    w->n_kv++;
    w_strn(w, key, strlen(key));
    w_u32(w, (uint32_t)t);
    return w->err[0] ? -1 : 0;
}

static void w_scalar(gguf_writer *w, const char *key, gguf_vtype t, const void *v) {
    if (w_key(w, key, t) == 0) w_bytes(w, v, gguf_vtype_size(t));
}

void gguf_w_u8(gguf_writer *w, const char *key, uint8_t v) {
    w_scalar(w, key, GGUF_T_UINT8, &v);
}
void gguf_w_i8(gguf_writer *w, const char *key, int8_t v) {
    w_scalar(w, key, GGUF_T_INT8, &v);
}
void gguf_w_u16(gguf_writer *w, const char *key, uint16_t v) {
    w_scalar(w, key, GGUF_T_UINT16, &v);
}
void gguf_w_i16(gguf_writer *w, const char *key, int16_t v) {
    w_scalar(w, key, GGUF_T_INT16, &v);
}
void gguf_w_u32(gguf_writer *w, const char *key, uint32_t v) {
    w_scalar(w, key, GGUF_T_UINT32, &v);
}
void gguf_w_i32(gguf_writer *w, const char *key, int32_t v) {
    w_scalar(w, key, GGUF_T_INT32, &v);
}
void gguf_w_u64(gguf_writer *w, const char *key, uint64_t v) {
    w_scalar(w, key, GGUF_T_UINT64, &v);
}
void gguf_w_i64(gguf_writer *w, const char *key, int64_t v) {
    w_scalar(w, key, GGUF_T_INT64, &v);
}
void gguf_w_f32(gguf_writer *w, const char *key, float v) {
    w_scalar(w, key, GGUF_T_FLOAT32, &v);
}
void gguf_w_f64(gguf_writer *w, const char *key, double v) {
    w_scalar(w, key, GGUF_T_FLOAT64, &v);
}
void gguf_w_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    w_scalar(w, key, GGUF_T_BOOL, &b);
}
void gguf_w_str(gguf_writer *w, const char *key, const char *v) {
    if (w_key(w, key, GGUF_T_STRING) == 0) w_strn(w, v, strlen(v));
}

void gguf_w_arr(gguf_writer *w, const char *key, gguf_vtype elem_type, const void *v, uint64_t n) {
    size_t es = gguf_vtype_size(elem_type);
    if (!es) {
        w_fail(w, "key %s: gguf_w_arr takes numeric element types only", key);
        return;
    }
    if (n > SIZE_MAX / es) {
        w_fail(w, "key %s: array too large", key);
        return;
    }
    if (w_key(w, key, GGUF_T_ARRAY)) return;
    w_u32(w, (uint32_t)elem_type);
    w_u64(w, n);
    w_bytes(w, v, (size_t)(n * es));
}

void gguf_w_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (w_key(w, key, GGUF_T_ARRAY)) return;
    w_u32(w, GGUF_T_STRING);
    w_u64(w, n);
    for (uint64_t i = 0; i < n; i++)
        w_strn(w, v[i], strlen(v[i]));
}

void gguf_w_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    gguf_w_arr(w, key, GGUF_T_FLOAT32, v, n);
}

void gguf_w_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    gguf_w_arr(w, key, GGUF_T_INT32, v, n);
}

void gguf_w_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i) {
    assert(i >= 0 && i < src->n_kv);
    const gguf_kv *kv = &src->kv[i];
    char *key = malloc(kv->key.n + 1);
    if (!key) {
        w_fail(w, "out of memory");
        return;
    }
    memcpy(key, kv->key.p, kv->key.n);
    key[kv->key.n] = 0;
    if (strlen(key) != kv->key.n) {
        w_fail(w, "%s: key %" PRIi64 " contains a NUL byte", src->path, i);
    } else if (w_key(w, key, kv->type) == 0) {
        /* The record after key and type: value bytes exactly as validated by the reader. */
        uint64_t vstart = kv->start + 8 + kv->key.n + 4;
        w_bytes(w, src->base + vstart, (size_t)(kv->end - vstart));
    }
    free(key);
}

void gguf_w_tensor(gguf_writer *w, const char *name, ms_type type, int n_dims, const int64_t *ne,
                   const void *data, size_t nbytes) {
    if (w->err[0]) return;
    if (!name || !name[0]) {
        w_fail(w, "tensor with an empty name");
        return;
    }
    if (!ms_type_supported((int)type) || (int)type >= 1000) { /* 1000+: not ggml types */
        w_fail(w, "tensor %s: unsupported type %s", name, ms_type_name((int)type));
        return;
    }
    if (n_dims < 1 || n_dims > 4) {
        w_fail(w, "tensor %s: %d dimensions", name, n_dims);
        return;
    }
    int64_t e[4] = {1, 1, 1, 1}, rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0 || (d > 0 && ne[d] > INT64_MAX / rows)) {
            w_fail(w, "tensor %s: bad size %" PRIi64 " in dimension %d", name, ne[d], d);
            return;
        }
        e[d] = ne[d];
        if (d > 0) rows *= ne[d];
    }
    if (e[0] % ms_type_block_elems(type) != 0) {
        w_fail(w, "tensor %s: row length %" PRIi64 " is not a multiple of the %s block size", name,
               e[0], ms_type_name((int)type));
        return;
    }
    size_t rb = ms_type_row_bytes(type, e[0]);
    if ((uint64_t)rows > SIZE_MAX / rb || rb * (size_t)rows != nbytes) {
        w_fail(w, "tensor %s: %zu bytes of data for a %s tensor that needs %" PRIi64 " rows of %zu",
               name, nbytes, ms_type_name((int)type), rows, rb);
        return;
    }
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) {
            w_fail(w, "duplicate tensor name %s", name);
            return;
        }
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) {
            w_fail(w, "out of memory");
            return;
        }
        w->t = nt;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    t->name = strdup(name);
    t->data = malloc(nbytes ? nbytes : 1);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        w_fail(w, "out of memory");
        return;
    }
    memcpy(t->data, data, nbytes);
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->ne, e, sizeof e);
    t->nbytes = nbytes;
    w->n_t++;
}

static uint64_t pad_to(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

int gguf_writer_write(gguf_writer *w, const char *path, char *err, size_t errlen) {
    if (w->err[0]) {
        set_err(err, errlen, path, "%s", w->err);
        return MS_ERR_INPUT;
    }
    /* Written under a temporary name and renamed (ms_outfile), so a failed write never
     * leaves a half file under the final name nor truncates the old one, and a registered
     * input (ms_protect_input) is never overwritten. */
    ms_outfile of;
    int orc = ms_outfile_open(&of, path, err, errlen);
    if (orc) return orc;
    if (of.f == stdout) {
        ms_outfile_abort(&of);
        set_err(err, errlen, path, "a GGUF file cannot be written to stdout");
        return MS_ERR_INPUT;
    }
    FILE *f = of.f;
    static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT];
    int ok = 1;
    uint32_t version = 3;
    uint64_t n_t = (uint64_t)w->n_t, n_kv = (uint64_t)w->n_kv, pos = 0;
#define PUT(p, n)                                                                                  \
    do {                                                                                           \
        if (ok && (n) > 0 && fwrite((p), 1, (n), f) != (size_t)(n)) ok = 0;                        \
        pos += (n);                                                                                \
    } while (0)
    PUT(GGUF_MAGIC, 4);
    PUT(&version, 4);
    PUT(&n_t, 8);
    PUT(&n_kv, 8);
    PUT(w->kv, w->kv_len);
    uint64_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t nl = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        PUT(&nl, 8);
        PUT(t->name, nl);
        PUT(&nd, 4);
        PUT(t->ne, 8 * (size_t)t->n_dims);
        PUT(&ty, 4);
        PUT(&off, 8);
        off = pad_to(off + t->nbytes, GGUF_DEFAULT_ALIGNMENT);
    }
    PUT(zeros, pad_to(pos, GGUF_DEFAULT_ALIGNMENT) - pos);
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        PUT(t->data, t->nbytes);
        PUT(zeros, pad_to(t->nbytes, GGUF_DEFAULT_ALIGNMENT) - t->nbytes);
    }
#undef PUT
    if (!ok) {
        set_err(err, errlen, path, "write failed: %s", strerror(errno));
        ms_outfile_abort(&of);
        return MS_ERR_RUNTIME;
    }
    return ms_outfile_commit(&of, err, errlen);
}
