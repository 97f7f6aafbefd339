/* fuzz_npy.c — libFuzzer target for the NumPy readers of `moescope import` (probes/npy.c).
 * An input starting with "PK" is read as a .npz archive (through a memfd, as ms_npz_load
 * reads files), anything else as one .npy image. Either it fails with one line naming the
 * file, or every element of every array it accepts can be read (integers, floats, strings)
 * inside the bytes it was given: ASan/UBSan catch any read past them. Built with clang
 * -fsanitize=fuzzer,address,undefined by tests/import.cmake; seeds in tests/fuzz/seeds_npy,
 * dictionary npy.dict. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const ms_npy *a, const uint8_t *lo, size_t len) {
    if (a->n < 0 || a->itemsize < 1 || a->data < lo ||
        (size_t)(a->data - lo) + (size_t)a->n * (size_t)a->itemsize > len)
        abort();
    volatile double sink = 0;
    for (int64_t i = 0; i < a->n && i < 4096; i++) {
        if (a->kind == MS_NPY_BYTES || a->kind == MS_NPY_UNICODE) {
            char *s = ms_npy_str(a, i);
            if (!s) abort();
            sink += (double)strlen(s);
            free(s);
        } else {
            sink += ms_npy_f64(a, i) + (double)ms_npy_i64(a, i);
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512] = "";
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        int fd = memfd_create("fuzz.npz", MFD_CLOEXEC);
        if (fd < 0) return 0;
        if (write(fd, data, size) != (ssize_t)size) {
            close(fd);
            return 0;
        }
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ms_npy_set set = {0};
        int rc = ms_npz_load(&set, path, err, sizeof err);
        if (rc && (strncmp(err, path, strlen(path)) != 0 || strchr(err, '\n'))) abort();
        for (int i = 0; !rc && i < set.n; i++) {
            /* the image of array i is set.bufs[i]; its data must lie inside it */
            const ms_npy *a = &set.arrays[i];
            if (a->data < set.bufs[i]) abort();
            touch(a, set.bufs[i], (size_t)(a->data - set.bufs[i]) + (size_t)(a->n * a->itemsize));
        }
        ms_npy_set_free(&set);
        close(fd);
        return 0;
    }
    /* a copy of exactly size bytes, so ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    ms_npy a;
    if (ms_npy_parse(&a, buf, size, "fuzz", err, sizeof err) != 0) {
        if (strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')) abort();
    } else {
        touch(&a, buf, size);
    }
    free(buf);
    return 0;
}
