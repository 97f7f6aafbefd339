/* h5util.c — small HDF5 helpers for the route store: error text from HDF5's error stack,
 * string and integer attributes, and string datasets. Strings are written as variable-length
 * UTF-8 (what h5py reads as str); the readers also accept fixed-length strings, so stores
 * built by hand with h5py or numpy byte strings open too. */
#include "h5_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* HDF5 1.10 cannot close a file after a failed write: the failed flush leaves its metadata
 * cache half-way ("slist already enabled?"), every later flush and H5Fclose fails, and the
 * library's own clean-up at exit then crashes on that half-closed file (SIGSEGV in
 * H5F__close_cb). moescope closes every HDF5 object itself, so the clean-up at exit is not
 * needed: it is turned off before anything initialises the library. After a failed write the
 * store's file is left open (its descriptor no longer reaches the disk, store.c poison) and
 * the process ends normally. */
__attribute__((constructor)) static void no_hdf5_atexit(void) {
    H5dont_atexit();
}

void ms_h5_quiet(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ms_h5_close(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE:
        H5Fclose(id);
        break;
    case H5I_GROUP:
        H5Gclose(id);
        break;
    case H5I_DATATYPE:
        H5Tclose(id);
        break;
    case H5I_DATASPACE:
        H5Sclose(id);
        break;
    case H5I_DATASET:
        H5Dclose(id);
        break;
    case H5I_ATTR:
        H5Aclose(id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(id);
        break;
    default:
        break;
    }
}

typedef struct walk_ctx {
    char msg[256];
    int found;
} walk_ctx;

/* Walking upward, the first entry is the innermost failure: the most specific message
 * (it carries errno and strerror for I/O failures such as a full disk). */
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    walk_ctx *w = data;
    if (!w->found && e->desc && e->desc[0]) {
        snprintf(w->msg, sizeof w->msg, "%s", e->desc);
        w->found = 1;
    }
    (void)n;
    return 0;
}

void ms_h5_error(char *err, size_t errlen, const char *path, const char *what) {
    walk_ctx w;
    memset(&w, 0, sizeof w);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (!err || !errlen) return;
    /* I/O failures carry "..., errno = 28, error message = 'No space left on device', ...":
     * the system's message is what a user needs; the rest (times, addresses) is noise. */
    const char *em = strstr(w.msg, "error message = '");
    if (em) {
        em += strlen("error message = '");
        const char *q = strchr(em, '\'');
        char sys[128];
        snprintf(sys, sizeof sys, "%.*s", (int)(q ? q - em : (ptrdiff_t)strlen(em)), em);
        snprintf(err, errlen, "%s: cannot %s: %s", path, what, sys);
        return;
    }
    for (char *c = w.msg; *c; c++)
        if (*c == '\n') *c = ' ';
    if (w.found)
        snprintf(err, errlen, "%s: cannot %s (HDF5: %s)", path, what, w.msg);
    else
        snprintf(err, errlen, "%s: cannot %s", path, what);
}

static herr_t errno_cb(unsigned n, const H5E_error2_t *e, void *data) {
    if (e->desc && strstr(e->desc, "errno = ")) *(int *)data = 1;
    (void)n;
    return 0;
}

int ms_h5_fail(char *err, size_t errlen, const char *path, const char *what) {
    int sys = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, errno_cb, &sys);
    ms_h5_error(err, errlen, path, what);
    return sys ? 1 /* MS_ERR_RUNTIME */ : 2 /* MS_ERR_INPUT */;
}

/* ---------------------------------------------------------------------------------------
 * Variable-length strings from an untrusted file. HDF5 (1.10 at least) trusts the heap
 * reference stored with each string: H5HG_read checks the object index against the global
 * heap collection only with an assert (compiled out in release builds) and copies the heap
 * object's size into a buffer sized from the string's own length field. One corrupt byte in
 * a reference therefore reads or writes out of bounds (a SIGSEGV in H5HG_read). So before
 * HDF5 dereferences anything, the raw references are read (through a no-op conversion from
 * the on-disk variable-length type to an opaque type of the same size, which HDF5 performs
 * after reading and unfiltering the data) and each one is checked against the heap
 * collection it names, parsed here from the file bytes the way HDF5 parses it: the object
 * must exist and its size must equal the string's length.
 */
static herr_t vlraw_conv(hid_t src, hid_t dst, H5T_cdata_t *cd, size_t n, size_t bs, size_t bks,
                         void *buf, void *bkg, hid_t dxpl) {
    (void)n, (void)bs, (void)bks, (void)buf, (void)bkg, (void)dxpl;
    switch (cd->command) {
    case H5T_CONV_INIT: /* only variable-length strings, to an opaque type of their size */
        cd->need_bkg = H5T_BKG_NO;
        if (H5Tis_variable_str(src) <= 0 || H5Tget_class(dst) != H5T_OPAQUE ||
            H5Tget_size(src) != H5Tget_size(dst))
            return -1;
        return 0;
    case H5T_CONV_CONV: /* same size, in place: the raw bytes are the result */
    case H5T_CONV_FREE:
    default:
        return 0;
    }
}

static int vlraw_register(void) {
    static int done;
    if (done) return 0;
    hid_t vs = ms_h5_vlstr_type(), op = H5Tcreate(H5T_OPAQUE, 16);
    int rc = vs >= 0 && op >= 0 &&
                     H5Tregister(H5T_PERS_SOFT, "moescope_vlstr_raw", vs, op, vlraw_conv) >= 0
                 ? 0
                 : -1;
    ms_h5_close(vs);
    ms_h5_close(op);
    done = rc == 0;
    return rc;
}

/* Reads [addr, addr+n) of the file behind obj (sec2, core or the writer's ordered driver);
 * 0 or -1. */
typedef struct rawfile {
    int fd;                   /* sec2 */
    const unsigned char *mem; /* core */
    uint64_t size, base;      /* file size; base address (user block) */
    unsigned sa, ss;          /* sizes of addresses and lengths */
} rawfile;

static int rawfile_open(hid_t obj, rawfile *rf) {
    memset(rf, 0, sizeof *rf);
    rf->fd = -1;
    hid_t f = H5Iget_file_id(obj);
    if (f < 0) return -1;
    hid_t fapl = H5Fget_access_plist(f), fcpl = H5Fget_create_plist(f);
    hid_t drv = fapl >= 0 ? H5Pget_driver(fapl) : -1;
    hsize_t fsz = 0, ub = 0;
    size_t sa = 0, ss = 0;
    void *h = NULL;
    int rc = -1;
    if (drv < 0 || fcpl < 0 || H5Fget_filesize(f, &fsz) < 0 || H5Pget_userblock(fcpl, &ub) < 0 ||
        H5Pget_sizes(fcpl, &sa, &ss) < 0 || H5Fget_vfd_handle(f, H5P_DEFAULT, &h) < 0 || !h)
        goto done;
    if (sa < 2 || sa > 8 || ss < 2 || ss > 8) goto done;
    if (drv == H5FD_SEC2 || ms_h5fd_ordered_is(drv)) /* the store writer's own driver */
        rf->fd = *(int *)h;
    else if (drv == H5FD_CORE)
        rf->mem = *(unsigned char **)h;
    else
        goto done;
    if (rf->fd < 0 && !rf->mem) goto done;
    rf->size = fsz, rf->base = ub, rf->sa = (unsigned)sa, rf->ss = (unsigned)ss;
    rc = 0;
done:
    ms_h5_close(fapl);
    ms_h5_close(fcpl);
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

static int rawfile_read(const rawfile *rf, uint64_t addr, size_t n, unsigned char *buf) {
    if (addr > UINT64_MAX - rf->base) return -1;
    uint64_t a = addr + rf->base;
    if (a > rf->size || n > rf->size - a) return -1;
    if (rf->mem) {
        memcpy(buf, rf->mem + a, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(rf->fd, buf + got, n - got, (off_t)(a + got));
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    return 0;
}

static uint64_t le(const unsigned char *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The last heap collection parsed (strings of one dataset usually share a few). */
typedef struct heapcache {
    uint64_t addr;
    unsigned char *buf;
    uint64_t size;
} heapcache;

/* Checks one raw reference (length, collection address, object index): 0 or -1. */
static int vlref_check(const rawfile *rf, heapcache *hc, const unsigned char *d) {
    uint64_t len = le(d, 4), addr = le(d + 4, rf->sa), idx = le(d + 4 + rf->sa, 4);
    /* HDF5 follows any non-zero address, even for a length of 0 (into a buffer of 4 KiB): only
     * a null reference (address 0) reads nothing. */
    if (addr == 0) return 0;
    if (!hc->buf || hc->addr != addr) {
        unsigned char hdr[24];
        unsigned hsz = 8 + rf->ss;
        if (rawfile_read(rf, addr, hsz, hdr) < 0 || memcmp(hdr, "GCOL", 4) != 0 || hdr[4] != 1)
            return -1;
        uint64_t csz = le(hdr + 8, rf->ss);
        if (csz < hsz || csz > ((uint64_t)1 << 30)) return -1;
        free(hc->buf);
        hc->buf = malloc((size_t)csz);
        hc->addr = addr;
        hc->size = csz;
        if (!hc->buf || rawfile_read(rf, addr, (size_t)csz, hc->buf) < 0) {
            free(hc->buf);
            hc->buf = NULL;
            return -1;
        }
    }
    /* Walk the objects as HDF5 does (H5HG__cache_heap_deserialize); the last header naming an
     * index wins. */
    const uint64_t ohdr = 8 + rf->ss, end = hc->size;
    uint64_t p = 8 + rf->ss, found = 0, obj_size = 0, obj_at = 0;
    while (p < end) {
        if (end - p < ohdr) break; /* too small for an object: free space */
        uint64_t i = le(hc->buf + p, 2), sz = le(hc->buf + p + 8, rf->ss);
        if (sz > end) return -1;
        uint64_t need = i > 0 ? ohdr + ((sz + 7) & ~(uint64_t)7) : sz;
        if (i == idx) found = 1, obj_size = sz, obj_at = p;
        if (need == 0) return -1; /* HDF5 would loop forever on it */
        p += need;
    }
    if (!found || idx == 0 || p > end) return -1;
    if (obj_size != len || obj_at + ohdr + obj_size > end) return -1;
    return 0;
}

/* Reads n raw references from attribute a or dataset d (selection fsp/msp) and checks them. */
static int vlrefs_ok(hid_t a, hid_t d, hid_t ft, hid_t msp, hid_t fsp, size_t n) {
    (void)ft;
    rawfile rf;
    if (vlraw_register() < 0 || n > ((size_t)1 << 28) || rawfile_open(a >= 0 ? a : d, &rf) < 0)
        return 0;
    size_t dsz = 8 + rf.sa; /* on disk: length (4), collection address, object index (4) */
    hid_t op = H5Tcreate(H5T_OPAQUE, dsz);
    unsigned char *raw = calloc(n ? n : 1, dsz);
    int ok = op >= 0 && raw &&
             (a >= 0 ? H5Aread(a, op, raw) : H5Dread(d, op, msp, fsp, H5P_DEFAULT, raw)) >= 0;
    heapcache hc = {0, NULL, 0};
    for (size_t i = 0; ok && i < n; i++)
        ok = vlref_check(&rf, &hc, raw + i * dsz) == 0;
    free(hc.buf);
    free(raw);
    ms_h5_close(op);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

hid_t ms_h5_vlstr_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Opens `name` on obj for writing, deleting an existing attribute of another type/shape. */
static hid_t attr_create(hid_t obj, const char *name, hid_t ftype) {
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return -1;
    if (ex > 0 && H5Adelete(obj, name) < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    return a;
}

herr_t ms_h5_attr_str(hid_t obj, const char *name, const char *value) {
    hid_t t = ms_h5_vlstr_type();
    if (t < 0) return -1;
    hid_t a = attr_create(obj, name, t);
    herr_t r = -1;
    if (a >= 0) {
        const char *v = value ? value : "";
        r = H5Awrite(a, t, &v);
        H5Aclose(a);
    }
    H5Tclose(t);
    return r;
}

static herr_t attr_int(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    /* Overwrite in place when the attribute exists with the same type: the commit point
     * (n_documents) is rewritten after every batch and must stay where it is. */
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return -1;
    hid_t a = -1;
    if (ex > 0) {
        a = H5Aopen(obj, name, H5P_DEFAULT);
        if (a < 0) return -1;
        hid_t at = H5Aget_type(a);
        htri_t same = at >= 0 ? H5Tequal(at, ftype) : -1;
        if (at >= 0) H5Tclose(at);
        if (same <= 0) {
            H5Aclose(a);
            a = attr_create(obj, name, ftype);
        }
    } else {
        a = attr_create(obj, name, ftype);
    }
    if (a < 0) return -1;
    herr_t r = H5Awrite(a, mtype, v);
    H5Aclose(a);
    return r;
}

herr_t ms_h5_attr_i32(hid_t obj, const char *name, int32_t value) {
    return attr_int(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

herr_t ms_h5_attr_i64(hid_t obj, const char *name, int64_t value) {
    return attr_int(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

int ms_h5_read_attr_str(hid_t obj, const char *name, char **out) {
    *out = NULL;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return -1;
    if (ex == 0) return 1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
    int rc = -1;
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING) goto done;
    if (H5Sget_simple_extent_npoints(sp) != 1) goto done;
    htri_t vl = H5Tis_variable_str(ft);
    if (vl < 0) goto done;
    if (vl) {
        if (!vlrefs_ok(a, -1, ft, -1, -1, 1)) goto done;
        mt = ms_h5_vlstr_type();
        char *s = NULL;
        if (mt < 0 || H5Aread(a, mt, &s) < 0) goto done;
        *out = strdup(s ? s : "");
        if (s) H5free_memory(s);
    } else {
        size_t n = H5Tget_size(ft);
        if (n == 0 || n > ((size_t)1 << 26)) goto done; /* 64 MiB: no attribute of ours is near */
        mt = H5Tcopy(H5T_C_S1);
        if (mt < 0 || H5Tset_size(mt, n + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0)
            goto done;
        char *s = calloc(n + 1, 1);
        if (!s || H5Aread(a, mt, s) < 0) {
            free(s);
            goto done;
        }
        *out = s;
    }
    rc = *out ? 0 : -1;
done:
    ms_h5_close(mt);
    ms_h5_close(ft);
    ms_h5_close(sp);
    H5Aclose(a);
    return rc;
}

int ms_h5_read_attr_i64(hid_t obj, const char *name, int64_t *out) {
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return -1;
    if (ex == 0) return 1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = -1;
    if (ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_INTEGER &&
        H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_INT64, out) >= 0)
        rc = 0;
    ms_h5_close(ft);
    ms_h5_close(sp);
    H5Aclose(a);
    return rc;
}

int ms_h5_dims(hid_t dset, int *rank, int64_t dims[3]) {
    hid_t sp = H5Dget_space(dset);
    if (sp < 0) return -1;
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t d[H5S_MAX_RANK];
    if (r < 0 || r > 3 || H5Sget_simple_extent_dims(sp, d, NULL) < 0) {
        H5Sclose(sp);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        dims[i] = i < r ? (int64_t)d[i] : 0;
    *rank = r;
    H5Sclose(sp);
    return 0;
}

int ms_h5_read_strings(hid_t dset, int64_t r0, int64_t n, char **out) {
    for (int64_t i = 0; i < n; i++)
        out[i] = NULL;
    if (n == 0) return 0;
    hid_t ft = H5Dget_type(dset), fsp = H5Dget_space(dset), msp = -1, mt = -1;
    int rc = -1;
    char *fixed = NULL;
    char **vl = NULL;
    if (ft < 0 || fsp < 0 || H5Tget_class(ft) != H5T_STRING) goto done;
    hsize_t start[1] = {(hsize_t)r0}, count[1] = {(hsize_t)n};
    if (H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0) goto done;
    msp = H5Screate_simple(1, count, NULL);
    if (msp < 0) goto done;
    htri_t isvl = H5Tis_variable_str(ft);
    if (isvl < 0) goto done;
    if (isvl) {
        if (!vlrefs_ok(-1, dset, ft, msp, fsp, (size_t)n)) goto done;
        mt = ms_h5_vlstr_type();
        vl = calloc((size_t)n, sizeof *vl);
        if (mt < 0 || !vl || H5Dread(dset, mt, msp, fsp, H5P_DEFAULT, vl) < 0) goto done;
        rc = 0;
        for (int64_t i = 0; i < n; i++) {
            out[i] = strdup(vl[i] ? vl[i] : "");
            if (!out[i]) rc = -1;
        }
        H5Dvlen_reclaim(mt, msp, H5P_DEFAULT, vl);
    } else {
        size_t w = H5Tget_size(ft);
        if (w == 0 || w > 65536) goto done;
        mt = H5Tcopy(H5T_C_S1);
        if (mt < 0 || H5Tset_size(mt, w + 1) < 0 || H5Tset_strpad(mt, H5T_STR_NULLTERM) < 0)
            goto done;
        fixed = calloc((size_t)n, w + 1);
        if (!fixed || H5Dread(dset, mt, msp, fsp, H5P_DEFAULT, fixed) < 0) goto done;
        rc = 0;
        for (int64_t i = 0; i < n; i++) {
            out[i] = strndup(fixed + (size_t)i * (w + 1), w);
            if (!out[i]) rc = -1;
        }
    }
done:
    if (rc < 0)
        for (int64_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    free(fixed);
    free(vl);
    ms_h5_close(mt);
    ms_h5_close(msp);
    ms_h5_close(fsp);
    ms_h5_close(ft);
    return rc;
}
