/* test_gguf.c — tests of the GGUF reader and writer (engine/gguf.c).
 *
 *   test_gguf corrupt DIR   the corrupt-file table: hand-built GGUF files (each a small
 *                           variation of one valid file) that must all be refused with a
 *                           nonzero status and a one-line message naming the file; every
 *                           truncation of the valid file; random byte mutations (no crash)
 *   test_gguf dump FILE     a line-oriented dump of everything the reader sees, compared with
 *                           gguf-py's GGUFReader / GGUFWriter by tests/gguf_oracle.py
 *   test_gguf write FILE    writes a file with every value type and a tensor of every weight
 *                           type, for gguf-py's GGUFReader to check
 *   test_gguf seeds DIR     writes the small seed files of the fuzz corpus */
#include "gguf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mstest.h"

/* ---------------------------------------------------------------------------------------
 * Byte builder for hand-made files. */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(buf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_zeros(buf *b, size_t n) {
    static const uint8_t z[64];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        put(b, z, k);
        n -= k;
    }
}

/* The valid base file and the knobs each corrupt case turns. */
typedef struct spec {
    const char *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;   /* as written in the header */
    uint64_t key0_len;          /* length written for the first key (UINT64_MAX: real) */
    const char *key0, *key2;    /* first and third keys */
    uint32_t val0_type;         /* type of the first value (a string) */
    uint64_t val0_len;          /* its length field (UINT64_MAX: real) */
    uint32_t arr_type;          /* element type of the array value (u32) */
    uint64_t arr_n;             /* its length field */
    int arr_nest;               /* >0: write the array as arrays nested this deep */
    uint32_t align_type, align; /* general.alignment */
    uint32_t a_ndims;
    int64_t a_ne[5];
    uint32_t a_type;
    uint64_t a_off;
    const char *b_name;
    uint32_t b_type;
    int64_t b_ne0;
    uint64_t b_off;
    size_t cut; /* bytes removed from the end of the file */
} spec;

static spec base_spec(void) {
    spec s = {.magic = "GGUF",
              .version = 3,
              .n_tensors = 2,
              .n_kv = 3,
              .key0_len = UINT64_MAX,
              .key0 = "general.architecture",
              .key2 = "general.alignment",
              .val0_type = GGUF_T_STRING,
              .val0_len = UINT64_MAX,
              .arr_type = GGUF_T_UINT32,
              .arr_n = 3,
              .align_type = GGUF_T_UINT32,
              .align = 32,
              .a_ndims = 2,
              .a_ne = {8, 2, 1, 1, 1},
              .a_type = MS_TYPE_F32,
              .a_off = 0,
              .b_name = "b",
              .b_type = MS_TYPE_Q8_0,
              .b_ne0 = 32,
              .b_off = 64};
    return s;
}

static void build(const spec *s, buf *b) {
    b->n = 0;
    put(b, s->magic, 4);
    put_u32(b, s->version);
    put_u64(b, s->n_tensors);
    put_u64(b, s->n_kv);
    /* kv 0: key0 = "llama" */
    put_u64(b, s->key0_len == UINT64_MAX ? strlen(s->key0) : s->key0_len);
    put(b, s->key0, strlen(s->key0));
    put_u32(b, s->val0_type);
    put_u64(b, s->val0_len == UINT64_MAX ? 5 : s->val0_len);
    put(b, "llama", 5);
    /* kv 1: test.arr = [1, 2, 3] (or nested) */
    put_str(b, "test.arr");
    put_u32(b, GGUF_T_ARRAY);
    for (int d = 0; d < s->arr_nest; d++) {
        put_u32(b, GGUF_T_ARRAY);
        put_u64(b, 1);
    }
    put_u32(b, s->arr_type);
    put_u64(b, s->arr_n);
    for (uint32_t i = 1; i <= 3; i++)
        put_u32(b, i);
    /* kv 2: key2 = alignment */
    put_str(b, s->key2);
    put_u32(b, s->align_type);
    put_u32(b, s->align);
    if (s->align_type == GGUF_T_UINT64) put_u32(b, 0);
    /* tensor infos */
    put_str(b, "a");
    put_u32(b, s->a_ndims);
    for (uint32_t d = 0; d < s->a_ndims && d < 5; d++)
        put_u64(b, (uint64_t)s->a_ne[d]);
    put_u32(b, s->a_type);
    put_u64(b, s->a_off);
    put_str(b, s->b_name);
    put_u32(b, 1);
    put_u64(b, (uint64_t)s->b_ne0);
    put_u32(b, s->b_type);
    put_u64(b, s->b_off);
    put_zeros(b, (32 - b->n % 32) % 32);
    /* data: a = 16 floats, b = one Q8_0 block; no padding after the last tensor, so every
     * truncation of the file cuts into data. */
    for (int i = 0; i < 16; i++) {
        float f = (float)i;
        put(b, &f, 4);
    }
    uint8_t q8[34];
    for (int i = 0; i < 34; i++)
        q8[i] = (uint8_t)(i * 7);
    put(b, q8, 34);
    b->n -= s->cut < b->n ? s->cut : b->n;
}

/* Touches everything a successful open exposes (so ASan sees any bad pointer). */
static uint64_t walk(const gguf_file *g) {
    uint64_t h = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str k = gguf_key_name(g, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(k.n < 200 ? k.n : 200), k.p);
        if (strlen(key) != k.n) continue; /* not findable by a C string */
        int64_t v;
        double d;
        int bo;
        gguf_str s;
        gguf_vtype et;
        uint64_t n;
        if (gguf_get_int(g, key, &v) == 0) h += (uint64_t)v;
        if (gguf_get_float(g, key, &d) == 0) h += (uint64_t)(d == d);
        if (gguf_get_bool(g, key, &bo) == 0) h += (uint64_t)bo;
        if (gguf_get_str(g, key, &s) == 0 && s.n) h += (uint8_t)s.p[s.n - 1];
        if (gguf_get_arr(g, key, &et, &n) == 0 && n > 0) {
            if (et == GGUF_T_STRING) {
                gguf_str e = gguf_arr_str(g, key, n - 1);
                h += e.n ? (uint8_t)e.p[e.n - 1] : 0;
            } else if (et != GGUF_T_ARRAY) {
                h += (uint64_t)(gguf_arr_float(g, key, n - 1) == 0);
                if (et != GGUF_T_FLOAT32 && et != GGUF_T_FLOAT64)
                    h += (uint64_t)gguf_arr_int(g, key, n - 1);
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const ms_tensor_info *t = gguf_tensor_info(g, i);
        const uint8_t *p = gguf_tensor_data(g, i);
        h += p[0] + p[t->nbytes - 1] + (uint64_t)gguf_find_tensor(g, t->name);
    }
    return h;
}

static void expect_fail(const char *dir, const char *what, const buf *b) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, what);
    if (mstest_write(path, b->p, b->n)) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    gguf_file *g = (gguf_file *)1;
    err[0] = 0;
    int rc = gguf_open(&g, path, err, sizeof err);
    CHECK(rc != 0, "%s: opened, expected an error", what);
    CHECK(g == NULL, "%s: handle not NULL on failure", what);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 2,
          "%s: message does not name the file: '%s'", what, err);
    CHECK(strchr(err, '\n') == NULL, "%s: message is not one line", what);
    if (rc == 0) gguf_close(g);
    /* The same through the memory reader (the fuzz target's path). */
    rc = gguf_open_mem(&g, b->p, b->n, what, err, sizeof err);
    CHECK(rc != 0 && g == NULL, "%s: memory open did not fail", what);
    if (rc == 0) gguf_close(g);
    printf("%-28s -> %s\n", what, err);
}

static int cmd_corrupt(const char *dir) {
    mkdir(dir, 0777); /* may exist */
    buf b = {0};
    char path[512], err[512];
    spec s = base_spec();
    build(&s, &b);

    /* The base file is valid and reads back as built. */
    snprintf(path, sizeof path, "%s/base.gguf", dir);
    CHECK(mstest_write(path, b.p, b.n) == 0, "write base");
    gguf_file *g;
    int rc = gguf_open(&g, path, err, sizeof err);
    CHECK(rc == 0, "base file: %s", err);
    if (rc == 0) {
        gguf_str a;
        gguf_vtype et;
        uint64_t n;
        int64_t v;
        CHECK(gguf_version(g) == 3 && gguf_alignment(g) == 32 && gguf_n_kv(g) == 3, "header");
        CHECK(gguf_get_str(g, "general.architecture", &a) == 0 && a.n == 5 &&
                  memcmp(a.p, "llama", 5) == 0,
              "arch");
        CHECK(gguf_get_arr(g, "test.arr", &et, &n) == 0 && et == GGUF_T_UINT32 && n == 3 &&
                  gguf_arr_int(g, "test.arr", 2) == 3,
              "array");
        CHECK(gguf_get_int(g, "general.alignment", &v) == 0 && v == 32, "alignment");
        CHECK(gguf_get_int(g, "general.architecture", &v) != 0, "string is not an int");
        CHECK(gguf_find_key(g, "nope") == -1 && gguf_find_tensor(g, "nope") == -1, "absent");
        CHECK(gguf_n_tensors(g) == 2, "n_tensors");
        int64_t ib = gguf_find_tensor(g, "b");
        CHECK(ib == 1, "find b");
        const ms_tensor_info *tb = gguf_tensor_info(g, ib);
        CHECK(tb->type == MS_TYPE_Q8_0 && tb->n_dims == 1 && tb->ne[0] == 32 && tb->ne[1] == 1 &&
                  tb->nbytes == 34 && tb->offset == gguf_data_offset(g) + 64 &&
                  gguf_data_offset(g) % 32 == 0 && strcmp(tb->name, "b") == 0,
              "tensor b info");
        const ms_tensor_info *ta = gguf_tensor_info(g, 0);
        float f;
        memcpy(&f, gguf_tensor_data(g, 0) + 4 * 9, 4);
        CHECK(ta->ne[0] == 8 && ta->ne[1] == 2 && ta->nbytes == 64 && f == 9.0f, "tensor a");
        CHECK(gguf_tensor_data(g, 1)[33] == (uint8_t)(33 * 7), "tensor b data");
        gguf_close(g);
    }

    /* Missing file, directory, empty file. */
    snprintf(path, sizeof path, "%s/does-not-exist.gguf", dir);
    rc = gguf_open(&g, path, err, sizeof err);
    CHECK(rc == MS_ERR_INPUT && strstr(err, path) == err, "missing file: %d %s", rc, err);
    rc = gguf_open(&g, dir, err, sizeof err);
    CHECK(rc != 0 && strstr(err, dir) == err, "directory");
    buf e = {0};
    put(&e, "", 0);
    expect_fail(dir, "empty", &e);
    free(e.p);

#define CASE(label, stmt)                                                                          \
    do {                                                                                           \
        s = base_spec();                                                                           \
        stmt;                                                                                      \
        build(&s, &b);                                                                             \
        expect_fail(dir, label, &b);                                                               \
    } while (0)
    CASE("bad-magic", s.magic = "GGUX");
    CASE("version-1", s.version = 1);
    CASE("version-4", s.version = 4);
    CASE("version-big-endian", s.version = 0x03000000);
    CASE("kv-count-lies-by-one", s.n_kv = 4);
    CASE("kv-count-huge", s.n_kv = UINT64_C(1) << 62);
    CASE("kv-count-max", s.n_kv = UINT64_MAX);
    CASE("tensor-count-lies", s.n_tensors = 3);
    CASE("tensor-count-huge", s.n_tensors = UINT64_C(1) << 40);
    CASE("key-length-huge", s.key0_len = UINT64_C(1) << 62);
    CASE("key-length-max", s.key0_len = UINT64_MAX - 1);
    CASE("key-empty", s.key0 = "");
    CASE("string-length-huge", s.val0_len = UINT64_C(1) << 40);
    CASE("string-length-max", s.val0_len = UINT64_MAX - 1);
    CASE("value-type-unknown", s.val0_type = 13);
    CASE("value-type-huge", s.val0_type = 0xFFFFFFFF);
    CASE("array-length-overflow", s.arr_n = UINT64_C(1) << 62);
    CASE("array-length-max", s.arr_n = UINT64_MAX);
    CASE("array-length-lies", s.arr_n = 1000);
    CASE("array-of-strings-huge", (s.arr_type = GGUF_T_STRING, s.arr_n = UINT64_C(1) << 61));
    CASE("array-elem-type-unknown", s.arr_type = 77);
    CASE("arrays-nested-too-deep", s.arr_nest = 20);
    CASE("duplicate-key", s.key2 = "general.architecture");
    CASE("alignment-not-u32", s.align_type = GGUF_T_UINT64);
    CASE("alignment-zero", s.align = 0);
    CASE("alignment-not-pow2", s.align = 48);
    CASE("n-dims-5", s.a_ndims = 5);
    CASE("n-dims-huge", s.a_ndims = 0x80000000u);
    CASE("ne-zero", s.a_ne[1] = 0);
    CASE("ne-negative", s.a_ne[0] = -8);
    CASE("ne-product-overflow", (s.a_ndims = 4, s.a_ne[0] = INT64_C(1) << 32,
                                 s.a_ne[1] = INT64_C(1) << 32, s.a_ne[2] = 1, s.a_ne[3] = 1));
    CASE("ne-product-overflow-2", (s.a_ndims = 3, s.a_ne[0] = INT64_C(1) << 40,
                                   s.a_ne[1] = INT64_C(1) << 20, s.a_ne[2] = 1 << 10));
    CASE("bytes-overflow", (s.a_ndims = 2, s.a_ne[0] = INT64_C(1) << 61, s.a_ne[1] = 1));
    CASE("type-unknown", s.a_type = 99);
    CASE("type-unsupported-iq2xxs", s.b_type = 16);
    CASE("type-negative", s.a_type = 0xFFFFFFFF);
    CASE("row-not-whole-blocks", s.b_ne0 = 16);
    CASE("offset-out-of-bounds", s.b_off = 1 << 20);
    CASE("offset-huge", s.b_off = UINT64_MAX - 31);
    CASE("offset-misaligned", s.b_off = 80);
    CASE("tensor-straddles-eof", s.b_off = 96);
    CASE("data-beyond-eof", s.cut = 1);
    CASE("tensors-overlap", s.b_off = 32);
    CASE("tensors-overlap-same", s.b_off = 0);
    CASE("duplicate-tensor-name", s.b_name = "a");
    CASE("tensor-name-empty", s.b_name = "");
#undef CASE

    /* Every truncation of the valid file fails cleanly. */
    spec s0 = base_spec();
    build(&s0, &b);
    size_t full = b.n;
    int trunc_ok = 0;
    for (size_t cut = 1; cut <= full; cut++) {
        gguf_file *gt;
        char e2[512];
        if (gguf_open_mem(&gt, b.p, full - cut, "trunc", e2, sizeof e2) == 0) {
            trunc_ok++;
            gguf_close(gt);
        } else if (strncmp(e2, "trunc: ", 7) != 0) {
            CHECK(0, "truncation message: %s", e2);
        }
    }
    CHECK(trunc_ok == 0, "%d truncations of the file were accepted", trunc_ok);
    printf("%zu truncations refused\n", full);

    /* Random mutations: any outcome but a crash (ASan/UBSan) or an unterminated message. */
    uint64_t x = 12345;
    uint8_t *m = malloc(full);
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(m, b.p, full);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t pos = (size_t)(x % full);
            m[pos] = (it & 1) ? (uint8_t)(x >> 32) : (uint8_t)(m[pos] ^ (1u << ((x >> 40) & 7)));
        }
        gguf_file *gm;
        char e3[256];
        e3[0] = 0;
        if (gguf_open_mem(&gm, m, full, "mut", e3, sizeof e3) == 0) {
            accepted++;
            walk(gm);
            gguf_close(gm);
        } else {
            CHECK(strncmp(e3, "mut: ", 5) == 0 && strlen(e3) < sizeof e3, "mutation message");
        }
    }
    printf("20000 mutations: %d still valid, none crashed\n", accepted);
    free(m);
    free(b.p);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * dump: one line per fact; strings as hex, floats as bit patterns (exact comparison). */

static void hex(const char *p, uint64_t n) {
    if (n == 0) fputs("-", stdout);
    for (uint64_t i = 0; i < n; i++)
        printf("%02x", (uint8_t)p[i]);
}

static void scalar(gguf_vtype t, const uint8_t *p) {
    switch (t) {
    case GGUF_T_UINT8:
        printf("%u", p[0]);
        break;
    case GGUF_T_INT8:
        printf("%d", (int8_t)p[0]);
        break;
    case GGUF_T_BOOL:
        printf("%u", p[0]);
        break;
    case GGUF_T_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        printf("%u", v);
    } break;
    case GGUF_T_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        printf("%d", v);
    } break;
    case GGUF_T_UINT32:
    case GGUF_T_FLOAT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        printf(t == GGUF_T_FLOAT32 ? "0x%08" PRIx32 : "%" PRIu32, v);
    } break;
    case GGUF_T_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        printf("%" PRId32, v);
    } break;
    case GGUF_T_UINT64:
    case GGUF_T_FLOAT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        printf(t == GGUF_T_FLOAT64 ? "0x%016" PRIx64 : "%" PRIu64, v);
    } break;
    case GGUF_T_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        printf("%" PRId64, v);
    } break;
    default:
        printf("?");
    }
}

static size_t esize(gguf_vtype t) {
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
    default:
        return 8;
    }
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int cmd_dump(const char *path) {
    gguf_file *g;
    char err[512];
    int rc = gguf_open(&g, path, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return rc;
    }
    printf("version %u\nalignment %u\nn_kv %" PRId64 "\nn_tensors %" PRId64 "\n", gguf_version(g),
           gguf_alignment(g), gguf_n_kv(g), gguf_n_tensors(g));
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str k = gguf_key_name(g, i);
        char key[1024];
        snprintf(key, sizeof key, "%.*s", (int)k.n, k.p);
        gguf_vtype t = gguf_kv_type(g, i);
        printf("kv ");
        hex(k.p, k.n);
        printf(" %d ", (int)t);
        if (gguf_find_key(g, key) != i) printf("LOOKUP-MISMATCH ");
        if (t == GGUF_T_STRING) {
            gguf_str s;
            gguf_get_str(g, key, &s);
            hex(s.p, s.n);
        } else if (t == GGUF_T_ARRAY) {
            gguf_vtype et;
            uint64_t n;
            gguf_get_arr(g, key, &et, &n);
            printf("%d %" PRIu64, (int)et, n);
            if (et == GGUF_T_STRING) {
                for (uint64_t j = 0; j < n; j++) {
                    gguf_str s = gguf_arr_str(g, key, j);
                    putchar(' ');
                    hex(s.p, s.n);
                }
            } else if (et != GGUF_T_ARRAY) {
                const uint8_t *d = gguf_arr_data(g, key);
                for (uint64_t j = 0; j < n; j++) {
                    putchar(' ');
                    scalar(et, d + j * esize(et));
                }
            }
        } else {
            /* Scalars through the typed getters, to test them too. */
            int64_t v;
            double d;
            int bo;
            if (t == GGUF_T_FLOAT32) {
                gguf_get_float(g, key, &d);
                float f = (float)d;
                uint32_t u;
                memcpy(&u, &f, 4);
                printf("0x%08" PRIx32, u);
            } else if (t == GGUF_T_FLOAT64) {
                gguf_get_float(g, key, &d);
                uint64_t u;
                memcpy(&u, &d, 8);
                printf("0x%016" PRIx64, u);
            } else if (t == GGUF_T_BOOL) {
                gguf_get_bool(g, key, &bo);
                printf("%d", bo);
            } else if (gguf_get_int(g, key, &v) == 0) {
                printf("%" PRId64, v);
            } else {
                printf("UINT64-OUT-OF-RANGE");
            }
        }
        putchar('\n');
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const ms_tensor_info *t = gguf_tensor_info(g, i);
        printf("tensor %s %s %d %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu64
               " %zu %016" PRIx64 "%s\n",
               t->name, ms_type_name(t->type), t->n_dims, t->ne[0], t->ne[1], t->ne[2], t->ne[3],
               t->offset, t->nbytes, fnv(gguf_tensor_data(g, i), t->nbytes),
               gguf_find_tensor(g, t->name) == i ? "" : " LOOKUP-MISMATCH");
    }
    gguf_close(g);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * write: every value type and a tensor of every weight type. tests/gguf_oracle.py knows
 * these values and the data pattern (x[i] = ((37 i) mod 101 - 50) / 16 * (1 + i mod 7), exact
 * in float). */

static int cmd_write(const char *path) {
    gguf_writer *w = gguf_writer_new();
    gguf_w_str(w, "general.architecture", "llama");
    gguf_w_u8(w, "t.u8", 200);
    gguf_w_i8(w, "t.i8", -100);
    gguf_w_u16(w, "t.u16", 60000);
    gguf_w_i16(w, "t.i16", -30000);
    gguf_w_u32(w, "t.u32", 4000000000u);
    gguf_w_i32(w, "t.i32", -2000000000);
    gguf_w_u64(w, "t.u64", UINT64_C(18000000000000000000));
    gguf_w_i64(w, "t.i64", INT64_C(-9000000000000000000));
    gguf_w_f32(w, "t.f32", 0.1f);
    gguf_w_f64(w, "t.f64", -1e300);
    gguf_w_bool(w, "t.bool", 1);
    gguf_w_str(w, "t.str", "h\xc3\xa9llo \xe2\x96\x81world");
    gguf_w_str(w, "t.empty", "");
    const char *strs[] = {"a", "", "\xe2\x96\x81the", "<0x0A>"};
    gguf_w_arr_str(w, "t.arr_str", strs, 4);
    float fa[] = {1.5f, -0.0f, 3e-39f};
    gguf_w_arr_f32(w, "t.arr_f32", fa, 3);
    int32_t ia[] = {-1, 0, 2147483647};
    gguf_w_arr_i32(w, "t.arr_i32", ia, 3);
    uint8_t u8a[] = {0, 255};
    gguf_w_arr(w, "t.arr_u8", GGUF_T_UINT8, u8a, 2);
    int64_t i64a[] = {INT64_MIN, INT64_MAX};
    gguf_w_arr(w, "t.arr_i64", GGUF_T_INT64, i64a, 2);
    double f64a[] = {0.25, -7.0};
    gguf_w_arr(w, "t.arr_f64", GGUF_T_FLOAT64, f64a, 2);
    uint8_t ba[] = {1, 0, 1};
    gguf_w_arr(w, "t.arr_bool", GGUF_T_BOOL, ba, 3);

    static const ms_type types[] = {MS_TYPE_F32,  MS_TYPE_F16,  MS_TYPE_BF16, MS_TYPE_Q4_0,
                                    MS_TYPE_Q4_1, MS_TYPE_Q5_0, MS_TYPE_Q5_1, MS_TYPE_Q8_0,
                                    MS_TYPE_Q2_K, MS_TYPE_Q3_K, MS_TYPE_Q4_K, MS_TYPE_Q5_K,
                                    MS_TYPE_Q6_K};
    const int64_t ne[3] = {512, 3, 2}; /* (2, 3, 512) */
    const int64_t n = ne[0] * ne[1] * ne[2];
    float *x = malloc((size_t)n * 4);
    uint8_t *q = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((i * 37) % 101 - 50) * 0.0625f * (float)(1 + i % 7);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "w.%s", ms_type_name(types[k]));
        size_t rb = ms_type_row_bytes(types[k], ne[0]);
        for (int64_t r = 0; r < ne[1] * ne[2]; r++)
            ms_quantize_row(types[k], x + r * ne[0], q + (size_t)r * rb, ne[0]);
        gguf_w_tensor(w, name, types[k], 3, ne, q, rb * (size_t)(ne[1] * ne[2]));
    }
    gguf_w_tensor(w, "v.odd", MS_TYPE_F32, 1, (const int64_t[]){5}, x, 20);
    char err[512];
    int rc = gguf_writer_write(w, path, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    gguf_writer_free(w);

    /* Writer refusals (reported at write time, nothing written). */
    const char *bad = "/nonexistent-dir/x.gguf";
    gguf_writer *w2 = gguf_writer_new();
    gguf_w_u32(w2, "k", 1);
    gguf_w_u32(w2, "k", 2);
    CHECK(gguf_writer_write(w2, path, err, sizeof err) == MS_ERR_INPUT && strstr(err, "duplicate"),
          "writer duplicate key: %s", err);
    gguf_writer_free(w2);
    w2 = gguf_writer_new();
    gguf_w_tensor(w2, "t", MS_TYPE_Q4_K, 1, (const int64_t[]){100}, q, 100);
    CHECK(gguf_writer_write(w2, path, err, sizeof err) == MS_ERR_INPUT, "writer bad row");
    gguf_writer_free(w2);
    w2 = gguf_writer_new();
    gguf_w_tensor(w2, "t", MS_TYPE_F32, 1, (const int64_t[]){4}, x, 12);
    CHECK(gguf_writer_write(w2, path, err, sizeof err) == MS_ERR_INPUT, "writer bad size");
    gguf_writer_free(w2);
    w2 = gguf_writer_new();
    gguf_w_tensor(w2, "t", MS_TYPE_F32, 1, (const int64_t[]){4}, x, 16);
    gguf_w_tensor(w2, "t", MS_TYPE_F32, 1, (const int64_t[]){4}, x, 16);
    CHECK(gguf_writer_write(w2, path, err, sizeof err) == MS_ERR_INPUT, "writer dup tensor");
    gguf_writer_free(w2);
    w2 = gguf_writer_new();
    /* An output that cannot be created (no such directory) is bad input (docs/CLI.md). */
    CHECK(gguf_writer_write(w2, bad, err, sizeof err) == MS_ERR_INPUT &&
              strncmp(err, bad, strlen(bad)) == 0,
          "writer bad path: %s", err);
    gguf_writer_free(w2);

    /* Our reader reads it back; gguf_w_copy_kv copies every kv into PATH.copy. */
    gguf_file *g;
    if (rc == 0 && gguf_open(&g, path, err, sizeof err) == 0) {
        int64_t v;
        CHECK(gguf_get_int(g, "t.u64", &v) != 0, "u64 beyond int64 is refused");
        CHECK(gguf_get_int(g, "t.i64", &v) == 0 && v == INT64_C(-9000000000000000000), "i64");
        gguf_writer *w3 = gguf_writer_new();
        for (int64_t i = 0; i < gguf_n_kv(g); i++)
            gguf_w_copy_kv(w3, g, i);
        char p2[1024];
        snprintf(p2, sizeof p2, "%s.copy", path);
        CHECK(gguf_writer_write(w3, p2, err, sizeof err) == 0, "copy write: %s", err);
        gguf_writer_free(w3);
        gguf_file *g2;
        if (gguf_open(&g2, p2, err, sizeof err) == 0) {
            /* Values are compared by tests/gguf_oracle.py (dump of both files). */
            CHECK(gguf_n_kv(g2) == gguf_n_kv(g) && gguf_n_tensors(g2) == 0, "copy counts");
            gguf_close(g2);
        } else {
            CHECK(0, "copy reopen: %s", err);
        }
        gguf_close(g);
    } else if (rc == 0) {
        CHECK(0, "reopen: %s", err);
    }
    free(x);
    free(q);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return rc ? rc : (failures ? 1 : 0);
}

static int cmd_seeds(const char *dir) {
    mkdir(dir, 0777);
    buf b = {0};
    spec s = base_spec();
    char path[512];
    build(&s, &b);
    snprintf(path, sizeof path, "%s/seed-base.gguf", dir);
    int rc = mstest_write(path, b.p, b.n);
    s.arr_type = GGUF_T_STRING; /* an invalid-but-close variant: strings of length 1,2,3 */
    s.arr_n = 1;
    build(&s, &b);
    snprintf(path, sizeof path, "%s/seed-strarr.gguf", dir);
    rc |= mstest_write(path, b.p, b.n);
    s = base_spec();
    s.arr_nest = 2;
    build(&s, &b);
    snprintf(path, sizeof path, "%s/seed-nested.gguf", dir);
    rc |= mstest_write(path, b.p, b.n);
    free(b.p);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "corrupt") == 0) return cmd_corrupt(argv[2]);
    if (argc == 3 && strcmp(argv[1], "dump") == 0) return cmd_dump(argv[2]);
    if (argc == 3 && strcmp(argv[1], "write") == 0) return cmd_write(argv[2]);
    if (argc == 3 && strcmp(argv[1], "seeds") == 0) return cmd_seeds(argv[2]);
    fprintf(stderr, "usage: test_gguf corrupt DIR | dump FILE | write FILE | seeds DIR\n");
    return 2;
}
