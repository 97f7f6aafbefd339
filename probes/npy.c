/* npy.c — reads NumPy .npy images and .npz archives (npy.h). The header grammar is the one
 * numpy.lib.format writes (a dict literal of 'descr', 'fortran_order', 'shape'); anything
 * else in it is refused rather than guessed. The zip container is libzip's: members stored
 * or deflated, zip64 (numpy writes zip64 for large arrays), CRC checked on read. */
#include "npy.h"

#include "msutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

static int fail(char *err, size_t errlen, const char *name, const char *what) {
    char safe[256];
    ms_text_safe(name, safe, sizeof safe);
    snprintf(err, errlen, "%s: %s", safe, what);
    return MS_ERR_INPUT;
}

/* ---- header grammar ---- */

typedef struct hp {
    const char *s, *end;
} hp;

static void skip_ws(hp *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int eat(hp *p, char c) {
    skip_ws(p);
    if (p->s < p->end && *p->s == c) {
        p->s++;
        return 1;
    }
    return 0;
}

/* A Python string literal in ' or " without escapes (numpy never writes escapes in a
 * descr or a key); copied into buf (refused when longer than n-1). */
static int str_lit(hp *p, char *buf, size_t n) {
    skip_ws(p);
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"')) return -1;
    char q = *p->s++;
    size_t k = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\' || (unsigned char)*p->s < 0x20 || k + 1 >= n) return -1;
        buf[k++] = *p->s++;
    }
    if (p->s >= p->end) return -1;
    p->s++;
    buf[k] = 0;
    return 0;
}

static int word(hp *p, const char *w) {
    skip_ws(p);
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) >= n && memcmp(p->s, w, n) == 0) {
        p->s += n;
        return 1;
    }
    return 0;
}

/* (d0, d1, ...) with an optional trailing comma; () is a 0-d array. */
static int shape_lit(hp *p, ms_npy *a) {
    if (!eat(p, '(')) return -1;
    a->ndim = 0;
    for (;;) {
        if (eat(p, ')')) return 0;
        skip_ws(p);
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return -1;
        int64_t v = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            if (v > (INT64_MAX - 9) / 10) return -1;
            v = v * 10 + (*p->s++ - '0');
        }
        if (p->s < p->end && (*p->s == 'L' || *p->s == 'l')) p->s++; /* Python 2 longs */
        if (a->ndim >= MS_NPY_MAX_DIMS) return -2;
        a->shape[a->ndim++] = v;
        if (eat(p, ',')) continue;
        if (eat(p, ')')) return 0;
        return -1;
    }
}

static int parse_descr(ms_npy *a, const char *d) {
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=') return -1;
    char kind = d[1];
    if (!kind) return -1;
    char *end = NULL;
    errno = 0;
    long size = strtol(d + 2, &end, 10);
    if (end == d + 2 || *end || errno || size < 1) return -1;
    switch (kind) {
    case 'i':
        a->kind = MS_NPY_INT;
        break;
    case 'u':
        a->kind = MS_NPY_UINT;
        break;
    case 'b':
        a->kind = MS_NPY_BOOL;
        break;
    case 'f':
        a->kind = MS_NPY_FLOAT;
        break;
    case 'S':
        a->kind = MS_NPY_BYTES;
        break;
    case 'U':
        a->kind = MS_NPY_UNICODE;
        break;
    default:
        return -1;
    }
    if ((a->kind == MS_NPY_INT || a->kind == MS_NPY_UINT) && size != 1 && size != 2 && size != 4 &&
        size != 8)
        return -1;
    if (a->kind == MS_NPY_BOOL && size != 1) return -1;
    if (a->kind == MS_NPY_FLOAT && size != 2 && size != 4 && size != 8) return -1;
    if ((a->kind == MS_NPY_BYTES || a->kind == MS_NPY_UNICODE) && size > (1 << 20)) return -1;
    if (a->kind == MS_NPY_UNICODE) size *= 4;
    a->itemsize = (int)size;
    /* '=' is the writer's native order; numpy always writes '<' or '>' for multi-byte types,
     * so '=' is read as little-endian (every platform moescope runs on). */
    a->big_endian = order == '>' && a->itemsize > 1 && a->kind != MS_NPY_BYTES;
    if (a->kind == MS_NPY_UNICODE) a->big_endian = order == '>';
    return 0;
}

int ms_npy_parse(ms_npy *a, const uint8_t *buf, size_t len, const char *name, char *err,
                 size_t errlen) {
    memset(a, 0, sizeof *a);
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return fail(err, errlen, name, "not a NumPy .npy file (no \\x93NUMPY magic)");
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return fail(err, errlen, name, "truncated .npy header");
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        char m[96];
        snprintf(m, sizeof m, "unsupported .npy format version %d.%d", major, buf[7]);
        return fail(err, errlen, name, m);
    }
    if (hlen > len - hstart) return fail(err, errlen, name, "truncated .npy header");
    hp p = {(const char *)buf + hstart, (const char *)buf + hstart + hlen};
    for (const char *c = p.s; c < p.end; c++)
        if (*c == 0 || (unsigned char)*c >= 0x80)
            return fail(err, errlen, name, "bad .npy header (not ASCII)");
    int have_descr = 0, have_fo = 0, have_shape = 0, fortran = 0;
    if (!eat(&p, '{')) return fail(err, errlen, name, "bad .npy header (not a dict)");
    for (;;) {
        if (eat(&p, '}')) break;
        char key[32];
        if (str_lit(&p, key, sizeof key) || !eat(&p, ':'))
            return fail(err, errlen, name, "bad .npy header (expected 'key': value)");
        if (strcmp(key, "descr") == 0 && !have_descr) {
            skip_ws(&p);
            if (p.s < p.end && (*p.s == '[' || *p.s == '{'))
                return fail(err, errlen, name,
                            "structured dtype (descr is a list): only plain numeric or string "
                            "arrays are read");
            if (str_lit(&p, a->descr, sizeof a->descr))
                return fail(err, errlen, name, "bad .npy header (descr)");
            if (a->descr[1] == 'O')
                return fail(err, errlen, name,
                            "object array (dtype O, a pickle): not read; save a numeric array");
            if (parse_descr(a, a->descr)) {
                char m[96], d[40];
                snprintf(m, sizeof m, "unsupported dtype '%s'",
                         ms_text_safe(a->descr, d, sizeof d));
                return fail(err, errlen, name, m);
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fo) {
            if (word(&p, "True"))
                fortran = 1;
            else if (!word(&p, "False"))
                return fail(err, errlen, name, "bad .npy header (fortran_order)");
            have_fo = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            int r = shape_lit(&p, a);
            if (r == -2) return fail(err, errlen, name, "more than 8 dimensions");
            if (r) return fail(err, errlen, name, "bad .npy header (shape)");
            have_shape = 1;
        } else {
            return fail(err, errlen, name, "bad .npy header (unknown or repeated key)");
        }
        if (eat(&p, ',')) continue;
        if (eat(&p, '}')) break;
        return fail(err, errlen, name, "bad .npy header (expected , or })");
    }
    skip_ws(&p);
    if (p.s != p.end) return fail(err, errlen, name, "bad .npy header (text after the dict)");
    if (!have_descr || !have_fo || !have_shape)
        return fail(err, errlen, name, "bad .npy header (needs descr, fortran_order and shape)");
    int multi = 0;
    for (int i = 0; i < a->ndim; i++)
        multi += a->shape[i] > 1;
    if (fortran && multi > 1)
        return fail(err, errlen, name,
                    "fortran_order array: save it in C order (numpy.ascontiguousarray)");
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] != 0 && n > INT64_MAX / a->shape[i])
            return fail(err, errlen, name, "shape too large");
        n *= a->shape[i];
    }
    if (n > INT64_MAX / a->itemsize) return fail(err, errlen, name, "shape too large");
    size_t data_len = len - hstart - hlen;
    if ((uint64_t)n * (uint64_t)a->itemsize != (uint64_t)data_len) {
        char m[160];
        snprintf(m, sizeof m, "data is %zu bytes, the header's shape and dtype need %lld%s",
                 data_len, (long long)(n * a->itemsize),
                 data_len < (uint64_t)n * (uint64_t)a->itemsize ? " (truncated file)" : "");
        return fail(err, errlen, name, m);
    }
    a->n = n;
    a->data = buf + hstart + hlen;
    return 0;
}

static uint64_t load_u(const ms_npy *a, int64_t i) {
    const uint8_t *p = a->data + (size_t)i * (size_t)a->itemsize;
    uint64_t v = 0;
    int n = a->itemsize;
    if (a->big_endian)
        for (int j = 0; j < n; j++)
            v = v << 8 | p[j];
    else
        for (int j = n - 1; j >= 0; j--)
            v = v << 8 | p[j];
    return v;
}

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0) return s * ldexp(m, -24);
    if (e == 31) return m ? NAN : s * INFINITY;
    return s * ldexp(m + 1024, e - 25);
}

int64_t ms_npy_i64(const ms_npy *a, int64_t i) {
    uint64_t v = load_u(a, i);
    if (a->kind == MS_NPY_INT) {
        int bits = a->itemsize * 8;
        if (bits < 64 && (v >> (bits - 1)) & 1) v |= ~(uint64_t)0 << bits; /* sign-extend */
        return (int64_t)v;
    }
    if (a->kind == MS_NPY_UINT || a->kind == MS_NPY_BOOL)
        return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
    return 0;
}

double ms_npy_f64(const ms_npy *a, int64_t i) {
    if (a->kind != MS_NPY_FLOAT) {
        if (a->kind == MS_NPY_UINT) return (double)load_u(a, i);
        return (double)ms_npy_i64(a, i);
    }
    uint64_t v = load_u(a, i);
    if (a->itemsize == 2) return half_to_double((uint16_t)v);
    if (a->itemsize == 4) {
        uint32_t u = (uint32_t)v;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    double d;
    memcpy(&d, &v, 8);
    return d;
}

char *ms_npy_str(const ms_npy *a, int64_t i) {
    const uint8_t *p = a->data + (size_t)i * (size_t)a->itemsize;
    if (a->kind == MS_NPY_BYTES) {
        size_t n = (size_t)a->itemsize;
        while (n > 0 && p[n - 1] == 0)
            n--;
        return ms_utf8_fix((const char *)p, n);
    }
    if (a->kind != MS_NPY_UNICODE) return NULL;
    int nc = a->itemsize / 4;
    char *s = malloc((size_t)nc * 4 + 1), *o = s;
    if (!s) return NULL;
    int last = nc;
    while (last > 0) {
        const uint8_t *q = p + (size_t)(last - 1) * 4;
        if (q[0] | q[1] | q[2] | q[3]) break;
        last--;
    }
    for (int c = 0; c < last; c++) {
        const uint8_t *q = p + (size_t)c * 4;
        uint32_t u = a->big_endian
                         ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
                         : (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
        if (u == 0 || u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF)) u = 0xFFFD;
        if (u < 0x80) {
            *o++ = (char)u;
        } else if (u < 0x800) {
            *o++ = (char)(0xC0 | u >> 6);
            *o++ = (char)(0x80 | (u & 63));
        } else if (u < 0x10000) {
            *o++ = (char)(0xE0 | u >> 12);
            *o++ = (char)(0x80 | ((u >> 6) & 63));
            *o++ = (char)(0x80 | (u & 63));
        } else {
            *o++ = (char)(0xF0 | u >> 18);
            *o++ = (char)(0x80 | ((u >> 12) & 63));
            *o++ = (char)(0x80 | ((u >> 6) & 63));
            *o++ = (char)(0x80 | (u & 63));
        }
    }
    *o = 0;
    return s;
}

const char *ms_npy_dtype_name(const ms_npy *a, char *buf, size_t n) {
    switch (a->kind) {
    case MS_NPY_INT:
        snprintf(buf, n, "int%d", a->itemsize * 8);
        break;
    case MS_NPY_UINT:
        snprintf(buf, n, "uint%d", a->itemsize * 8);
        break;
    case MS_NPY_BOOL:
        snprintf(buf, n, "bool");
        break;
    case MS_NPY_FLOAT:
        snprintf(buf, n, "float%d", a->itemsize * 8);
        break;
    case MS_NPY_BYTES:
        snprintf(buf, n, "bytes%d", a->itemsize);
        break;
    case MS_NPY_UNICODE:
        snprintf(buf, n, "str%d", a->itemsize / 4);
        break;
    }
    return buf;
}

/* ---- sets of named arrays ---- */

const ms_npy *ms_npy_set_find(const ms_npy_set *set, const char *name, int *idx) {
    for (int i = 0; i < set->n; i++)
        if (strcmp(set->names[i], name) == 0) {
            if (idx) *idx = i;
            return &set->arrays[i];
        }
    return NULL;
}

void ms_npy_set_free(ms_npy_set *set) {
    for (int i = 0; i < set->n; i++) {
        free(set->names[i]);
        free(set->files[i]);
        free(set->bufs[i]);
    }
    free(set->names);
    free(set->files);
    free(set->arrays);
    free(set->bufs);
    memset(set, 0, sizeof *set);
}

/* Takes ownership of buf (freed on failure too). */
static int set_add(ms_npy_set *set, const char *name, const char *file, uint8_t *buf, size_t len,
                   char *err, size_t errlen) {
    if (ms_npy_set_find(set, name, NULL)) {
        char m[200], s[120];
        snprintf(m, sizeof m, "array '%s' given twice", ms_text_safe(name, s, sizeof s));
        free(buf);
        return fail(err, errlen, file, m);
    }
    ms_npy a;
    int rc = ms_npy_parse(&a, buf, len, file, err, errlen);
    if (rc) {
        free(buf);
        return rc;
    }
    int n = set->n + 1;
    char **nn = realloc(set->names, sizeof *nn * (size_t)n);
    if (nn) set->names = nn;
    char **nf = realloc(set->files, sizeof *nf * (size_t)n);
    if (nf) set->files = nf;
    ms_npy *na = realloc(set->arrays, sizeof *na * (size_t)n);
    if (na) set->arrays = na;
    uint8_t **nb = realloc(set->bufs, sizeof *nb * (size_t)n);
    if (nb) set->bufs = nb;
    char *dn = strdup(name), *df = strdup(file);
    if (!nn || !nf || !na || !nb || !dn || !df) {
        free(dn);
        free(df);
        free(buf);
        char s[200];
        snprintf(err, errlen, "%s: out of memory", ms_text_safe(file, s, sizeof s));
        return MS_ERR_RUNTIME;
    }
    set->names[set->n] = dn;
    set->files[set->n] = df;
    set->arrays[set->n] = a;
    set->bufs[set->n] = buf;
    set->n = n;
    return 0;
}

int ms_npy_load(ms_npy_set *set, const char *name, const char *path, char *err, size_t errlen) {
    int fd = -1;
    struct stat st;
    int rc = ms_open_regular(path, &fd, &st, err, errlen);
    if (rc) return rc;
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, len);
        return MS_ERR_RUNTIME;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(err, errlen, "%s: read failed: %s", path,
                     r < 0 ? strerror(errno) : "file shrank");
            close(fd);
            free(buf);
            return MS_ERR_RUNTIME;
        }
        got += (size_t)r;
    }
    close(fd);
    return set_add(set, name, path, buf, len, err, errlen);
}

int ms_npz_load(ms_npy_set *set, const char *path, char *err, size_t errlen) {
    int fd = -1, rc = 0;
    struct stat st;
    if ((rc = ms_open_regular(path, &fd, &st, err, errlen))) return rc;
    int zerr = 0;
    zip_t *z = zip_fdopen(fd, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z) {
        close(fd);
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        char m[200];
        snprintf(m, sizeof m, "not a readable .npz (zip) archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return fail(err, errlen, path, m);
    }
    zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n && !rc; i++) {
        zip_stat_t zs;
        zip_stat_init(&zs);
        if (zip_stat_index(z, (zip_uint64_t)i, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_NAME) ||
            !(zs.valid & ZIP_STAT_SIZE)) {
            rc = fail(err, errlen, path, "unreadable zip directory entry");
            break;
        }
        const char *mname = zs.name;
        size_t ml = strlen(mname);
        char file[1024], safe[200];
        snprintf(file, sizeof file, "%s:%s", path, mname);
        if (ml > 0 && mname[ml - 1] == '/') continue; /* a directory entry */
        if (ml < 5 || strcmp(mname + ml - 4, ".npy") != 0) {
            char m[300];
            snprintf(m, sizeof m, "member '%s' is not a .npy array",
                     ms_text_safe(mname, safe, sizeof safe));
            rc = fail(err, errlen, path, m);
            break;
        }
        /* Deflate can expand ~1000:1: the declared size is bounded by that against the
         * archive's size before anything is allocated (a zip bomb is refused, not read). */
        if (zs.size > (zip_uint64_t)st.st_size * 1100 + 4096) {
            rc = fail(err, errlen, file, "declared size impossible for its compressed size");
            break;
        }
        size_t len = (size_t)zs.size;
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
            snprintf(err, errlen, "%s: out of memory for %zu bytes",
                     ms_text_safe(file, safe, sizeof safe), len);
            rc = MS_ERR_RUNTIME;
            break;
        }
        zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)i, 0);
        zip_int64_t got = 0;
        if (zf) {
            while ((zip_uint64_t)got < len) {
                zip_int64_t r = zip_fread(zf, buf + got, len - (zip_uint64_t)got);
                if (r <= 0) break;
                got += r;
            }
            char extra;
            /* more bytes than declared, or a CRC error at the end, is a broken member */
            if ((zip_uint64_t)got == len && zip_fread(zf, &extra, 1) != 0) got = -1;
        }
        if (!zf || (zip_uint64_t)got != len) {
            char m[300];
            snprintf(m, sizeof m, "cannot read the member (%s)",
                     zf ? zip_file_strerror(zf) : zip_strerror(z));
            if (zf) zip_fclose(zf);
            free(buf);
            rc = fail(err, errlen, file, m);
            break;
        }
        zip_fclose(zf);
        char *name = strndup(mname, ml - 4);
        if (!name) {
            free(buf);
            snprintf(err, errlen, "%s: out of memory", ms_text_safe(path, safe, sizeof safe));
            rc = MS_ERR_RUNTIME;
            break;
        }
        rc = set_add(set, name, file, buf, len, err, errlen);
        free(name);
    }
    zip_discard(z); /* read-only: nothing to write back */
    return rc;
}
