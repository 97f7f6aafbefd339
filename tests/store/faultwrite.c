/* faultwrite.c — an LD_PRELOAD shim that simulates a full disk for one file (tests only).
 *
 * Counts the write-type calls (write, pwrite, pwrite64, writev, pwritev, ftruncate,
 * ftruncate64, fallocate, posix_fallocate) made on file descriptors whose path ends in
 * MS_FAULT_MATCH (default ".h5"), as HDF5's sec2 driver makes them. From the call numbered
 * MS_FAULT_WRITE (1-based) on, every such call fails with errno MS_FAULT_ERRNO (default 28,
 * ENOSPC): a disk that stays full. Without MS_FAULT_WRITE nothing fails and the shim only
 * counts. At exit the number of matching calls is written to MS_FAULT_COUNT (a file), so a test
 * can pick injection points across a whole run. Calls on other descriptors (stderr, the
 * corpus, a lock file) pass through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long fail_at = -1; /* first failing call (1-based); -1: never */
static int fail_errno = 28;
static const char *match = ".h5";
static long count;
static int ready;

static void setup(void) {
    if (ready) return;
    ready = 1;
    const char *s = getenv("MS_FAULT_WRITE");
    if (s && *s) fail_at = atol(s);
    s = getenv("MS_FAULT_ERRNO");
    if (s && *s) fail_errno = atoi(s);
    s = getenv("MS_FAULT_MATCH");
    if (s && *s) match = s;
}

/* 1 when the call must fail (errno set). */
static int hit(int fd) {
    setup();
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    size_t lm = strlen(match);
    if ((size_t)n < lm || strcmp(path + n - lm, match) != 0) return 0;
    count++;
    if (fail_at > 0 && count >= fail_at) {
        errno = fail_errno;
        return 1;
    }
    return 0;
}

#define REAL(name)                                                                                 \
    static __typeof__(&name) real_##name;                                                          \
    if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write);
    if (hit(fd)) return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite);
    if (hit(fd)) return -1;
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite64);
    if (hit(fd)) return -1;
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(writev);
    if (hit(fd)) return -1;
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    REAL(pwritev);
    if (hit(fd)) return -1;
    return real_pwritev(fd, iov, cnt, off);
}

int ftruncate(int fd, off_t len) {
    REAL(ftruncate);
    if (hit(fd)) return -1;
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) {
    REAL(ftruncate64);
    if (hit(fd)) return -1;
    return real_ftruncate64(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len) {
    REAL(fallocate);
    if (hit(fd)) return -1;
    return real_fallocate(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len) {
    REAL(posix_fallocate);
    if (hit(fd)) return errno;
    return real_posix_fallocate(fd, off, len);
}

__attribute__((destructor)) static void report(void) {
    const char *out = getenv("MS_FAULT_COUNT");
    if (!out || !*out) return;
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", count);
    REAL(write);
    if (real_write(fd, buf, (size_t)n) < 0) { /* nothing to do: the test sees no count */
    }
    close(fd);
}
