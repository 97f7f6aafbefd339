/* h5fd_ordered.c — the HDF5 file driver of the route store writer: POSIX I/O like HDF5's sec2
 * driver, but it orders writes so that the file on disk is a readable store after every single
 * write call, and it keeps a failed write from ever reaching HDF5.
 *
 * Why: the store is created with file-space strategy NONE, so everything HDF5 adds goes past
 * the end of the file as it was at the last flush ("stable"), and nothing the file on disk
 * refers to is overwritten, except HDF5's own in-place metadata (the superblock with the end
 * of allocated space, object headers, chunk-index nodes). HDF5 writes those in its own order
 * within a flush; a failure (disk full, EIO, a file-size limit) or a kill after a chunk-index
 * node but before the superblock leaves an index pointing past the recorded end of the file:
 * the committed documents become unreadable ("addr overflow"). So:
 *
 *   - writes at or past `stable` go to the file at once (new space: nothing refers to it);
 *   - writes below `stable` are kept in memory (reads see them) until HDF5 flushes the driver
 *     at the end of H5Fflush; then the superblock (address 0) is written first and the rest in
 *     the order HDF5 wrote them. Any prefix of that sequence is a readable file: a larger end
 *     of allocated space alone is harmless, and each index node points either at the old chunk
 *     copy (still intact, space is never reused) or at the new one (already written);
 *   - the first failed write puts the driver in a failed state: that and every later write
 *     stays in memory only and HDF5 is told it succeeded, so HDF5 never reaches its broken
 *     half-flushed state; the store writer asks ms_h5fd_ordered_failed() after each flush and
 *     reports the error. The file keeps its last consistent state.
 *
 * The H5FD_class_t layout used here is HDF5 1.10's; with other versions the writer falls back
 * to the default driver (ms_h5fd_ordered_fapl returns H5P_DEFAULT) and loses these guarantees. */
#include "h5_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#if H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10

typedef struct pending {
    haddr_t addr;
    size_t size;
    unsigned char *buf;
} pending;

typedef struct ofile {
    H5FD_t pub; /* must be first */
    int fd;
    haddr_t eoa, eof;
    haddr_t stable; /* below: the file as of the last complete flush; writes there wait */
    dev_t dev;
    ino_t ino;
    pending *pend;
    size_t n_pend, cap_pend;
    int failed; /* errno of the first failed write, 0 if none */
} ofile;

static hid_t driver_id = -1;

static int keep(ofile *f, haddr_t addr, size_t size, const void *buf) {
    for (size_t i = 0; i < f->n_pend; i++) /* the same block written again: replace it */
        if (f->pend[i].addr == addr && f->pend[i].size == size) {
            memcpy(f->pend[i].buf, buf, size);
            return 0;
        }
    if (f->n_pend == f->cap_pend) {
        size_t cap = f->cap_pend ? 2 * f->cap_pend : 64;
        pending *p = realloc(f->pend, cap * sizeof *p);
        if (!p) return -1;
        f->pend = p;
        f->cap_pend = cap;
    }
    unsigned char *b = malloc(size ? size : 1);
    if (!b) return -1;
    memcpy(b, buf, size);
    f->pend[f->n_pend++] = (pending){addr, size, b};
    return 0;
}

static void drop_pending(ofile *f) {
    for (size_t i = 0; i < f->n_pend; i++)
        free(f->pend[i].buf);
    f->n_pend = 0;
}

static int write_all(int fd, haddr_t addr, size_t size, const unsigned char *buf) {
    while (size > 0) {
        ssize_t n = pwrite(fd, buf, size, (off_t)addr);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n < 0 ? errno : EIO;
        buf += n;
        addr += (haddr_t)n;
        size -= (size_t)n;
    }
    return 0;
}

static H5FD_t *o_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr) {
    (void)fapl;
    (void)maxaddr;
    int of = (flags & H5F_ACC_RDWR) ? O_RDWR : O_RDONLY;
    if (flags & H5F_ACC_TRUNC) of |= O_TRUNC;
    if (flags & H5F_ACC_CREAT) of |= O_CREAT;
    if (flags & H5F_ACC_EXCL) of |= O_EXCL;
    int fd = open(name, of | O_CLOEXEC, 0666);
    if (fd < 0) return NULL;
    struct stat st;
    ofile *f = calloc(1, sizeof *f);
    if (!f || fstat(fd, &st) != 0) {
        free(f);
        close(fd);
        return NULL;
    }
    f->fd = fd;
    f->eof = (haddr_t)st.st_size;
    f->stable = f->eof;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return &f->pub;
}

static herr_t o_close(H5FD_t *file) {
    ofile *f = (ofile *)file;
    drop_pending(f);
    free(f->pend);
    int r = close(f->fd);
    free(f);
    return r == 0 ? 0 : -1;
}

static int o_cmp(const H5FD_t *a, const H5FD_t *b) {
    const ofile *x = (const ofile *)a, *y = (const ofile *)b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
    return 0;
}

static herr_t o_query(const H5FD_t *file, unsigned long *flags) {
    (void)file;
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_POSIX_COMPAT_HANDLE |
             H5FD_FEAT_DEFAULT_VFD_COMPATIBLE;
    return 0;
}

static haddr_t o_get_eoa(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const ofile *)file)->eoa;
}

static herr_t o_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr) {
    (void)type;
    ((ofile *)file)->eoa = addr;
    return 0;
}

static haddr_t o_get_eof(const H5FD_t *file, H5FD_mem_t type) {
    (void)type;
    return ((const ofile *)file)->eof;
}

static herr_t o_get_handle(H5FD_t *file, hid_t fapl, void **handle) {
    (void)fapl;
    *handle = &((ofile *)file)->fd;
    return 0;
}

static herr_t o_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                     void *buffer) {
    (void)type;
    (void)dxpl;
    ofile *f = (ofile *)file;
    unsigned char *b = buffer;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(f->fd, b + done, size - done, (off_t)(addr + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) { /* past the end of the file: zeros, as sec2 */
            memset(b + done, 0, size - done);
            break;
        }
        done += (size_t)n;
    }
    for (size_t i = 0; i < f->n_pend; i++) { /* writes not yet on disk, in order */
        const pending *p = &f->pend[i];
        haddr_t lo = p->addr > addr ? p->addr : addr;
        haddr_t hi = p->addr + p->size < addr + size ? p->addr + p->size : addr + size;
        if (lo < hi) memcpy(b + (lo - addr), p->buf + (lo - p->addr), (size_t)(hi - lo));
    }
    return 0;
}

static herr_t o_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                      const void *buffer) {
    (void)type;
    (void)dxpl;
    ofile *f = (ofile *)file;
    if (f->failed || addr < f->stable) return keep(f, addr, size, buffer) == 0 ? 0 : -1;
    int e = write_all(f->fd, addr, size, buffer);
    if (e) {
        f->failed = e; /* from now on nothing reaches the disk; see the top of this file */
        return keep(f, addr, size, buffer) == 0 ? 0 : -1;
    }
    if (addr + size > f->eof) f->eof = addr + size;
    return 0;
}

/* End of H5Fflush (and of a close): the waiting in-place writes, superblock first. */
static herr_t o_flush(H5FD_t *file, hid_t dxpl, hbool_t closing) {
    (void)dxpl;
    (void)closing;
    ofile *f = (ofile *)file;
    if (f->failed) return 0;
    for (int pass = 0; pass < 2 && !f->failed; pass++)
        for (size_t i = 0; i < f->n_pend && !f->failed; i++) {
            pending *p = &f->pend[i];
            if ((p->addr == 0) != (pass == 0) || !p->buf) continue;
            int e = write_all(f->fd, p->addr, p->size, p->buf);
            if (e) {
                f->failed = e;
                break;
            }
            if (p->addr + p->size > f->eof) f->eof = p->addr + p->size;
            free(p->buf);
            p->buf = NULL;
        }
    if (f->failed) { /* keep what was not written, for reads */
        size_t k = 0;
        for (size_t i = 0; i < f->n_pend; i++)
            if (f->pend[i].buf) f->pend[k++] = f->pend[i];
        f->n_pend = k;
        return 0;
    }
    f->n_pend = 0;
    f->stable = f->eof > f->eoa ? f->eof : f->eoa;
    return 0;
}

static herr_t o_truncate(H5FD_t *file, hid_t dxpl, hbool_t closing) {
    (void)dxpl;
    (void)closing;
    ofile *f = (ofile *)file;
    /* Only new space may go; below `stable` the last consistent file stays whole. */
    if (f->failed || f->eoa == f->eof || f->eoa < f->stable) return 0;
    if (ftruncate(f->fd, (off_t)f->eoa) != 0) {
        f->failed = errno;
        return 0;
    }
    f->eof = f->eoa;
    return 0;
}

static herr_t o_lock(H5FD_t *file, hbool_t rw) {
    ofile *f = (ofile *)file;
    if (flock(f->fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno == ENOSYS) return 0; /* file system without locks, as sec2 */
        return -1;
    }
    return 0;
}

static herr_t o_unlock(H5FD_t *file) {
    ofile *f = (ofile *)file;
    if (flock(f->fd, LOCK_UN) != 0 && errno != ENOSYS) return -1;
    return 0;
}

static const H5FD_class_t ordered_class = {
    "moescope_ordered",
    (haddr_t)0x7fffffffffffffffLL, /* maxaddr: off_t */
    H5F_CLOSE_WEAK,
    NULL, /* terminate */
    NULL,
    NULL,
    NULL, /* superblock driver info: none (files read back with any driver) */
    0,
    NULL,
    NULL,
    NULL, /* fapl */
    0,
    NULL,
    NULL, /* dxpl */
    o_open,
    o_close,
    o_cmp,
    o_query,
    NULL, /* get_type_map */
    NULL,
    NULL, /* alloc, free */
    o_get_eoa,
    o_set_eoa,
    o_get_eof,
    o_get_handle,
    o_read,
    o_write,
    o_flush,
    o_truncate,
    o_lock,
    o_unlock,
    H5FD_FLMAP_DICHOTOMY};

hid_t ms_h5fd_ordered_fapl(void) {
    if (driver_id < 0 && (driver_id = H5FDregister(&ordered_class)) < 0) return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_driver(fapl, driver_id, NULL) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

int ms_h5fd_ordered_is(hid_t driver) {
    return driver_id >= 0 && driver == driver_id;
}

int ms_h5fd_ordered_failed(hid_t file) {
    void *h = NULL;
    hid_t fapl = H5Fget_access_plist(file);
    if (fapl < 0) return 0;
    int ours = H5Pget_driver(fapl) == driver_id;
    H5Pclose(fapl);
    if (!ours || H5Fget_vfd_handle(file, H5P_DEFAULT, &h) < 0 || !h) return 0;
    /* The handle is &ofile.fd; the state lives in the same struct. */
    const ofile *f = (const ofile *)((const char *)h - offsetof(ofile, fd));
    return f->failed;
}

#else

hid_t ms_h5fd_ordered_fapl(void) {
    return H5Pcreate(H5P_FILE_ACCESS); /* the default driver */
}

int ms_h5fd_ordered_is(hid_t driver) {
    (void)driver;
    return 0;
}

int ms_h5fd_ordered_failed(hid_t file) {
    (void)file;
    return 0;
}

#endif
