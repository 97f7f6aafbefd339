/* shim_io.c — LD_PRELOAD shim for tests/test_inputs_engine.py (group io): makes the I/O of
 * one input fail the way a broken disk or a full address space would, so a test can check that
 * such a failure is reported as an I/O error (exit 1), not as a bad file (exit 2).
 *
 *   MS_SHIM_EIO_SUFFIX=S   read() on a file whose path ends in S fails with EIO
 *   MS_SHIM_MMAP_SUFFIX=S  a read-only mmap() of a file whose path ends in S fails with ENOMEM
 *
 * The path of a descriptor comes from /proc/self/fd. Not for sanitizer builds (ASan's runtime
 * must come first in the preload list). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

static int fd_matches(int fd, const char *env) {
    const char *suffix = getenv(env);
    if (!suffix || !suffix[0] || fd < 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    size_t a = (size_t)n, b = strlen(suffix);
    return a >= b && strcmp(path + a - b, suffix) == 0;
}

ssize_t read(int fd, void *buf, size_t count) {
    static ssize_t (*real)(int, void *, size_t);
    if (!real) real = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    if (fd_matches(fd, "MS_SHIM_EIO_SUFFIX")) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, count);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    static void *(*real)(void *, size_t, int, int, int, off_t);
    if (!real) real = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    if (prot == PROT_READ && fd_matches(fd, "MS_SHIM_MMAP_SUFFIX")) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return real(addr, len, prot, flags, fd, off);
}
