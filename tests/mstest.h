/* mstest.h — what the C tests share: the failure counter, the check macros that count a failure
 * and report it with its file and line, and helpers for the files a test writes in its work
 * folder. Header-only (each test is one .c file); include it after the library headers.
 *
 * A test's main returns `failures ? 1 : 0` (or prints the count): every CHECK can fail. */
#ifndef MSTEST_H
#define MSTEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int failures; /* checks failed so far */

static inline void mstest_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void mstest_fail_(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (file)
        fprintf(stderr, "FAIL %s:%d: ", file, line);
    else
        fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

/* CHECK(cond, fmt, ...): a false cond is a failure, reported as "FAIL file:line: message". */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) mstest_fail_(__FILE__, __LINE__, __VA_ARGS__);                                \
    } while (0)
/* CHECK_TRUE(cond): the same with the condition's text as the message. */
#define CHECK_TRUE(cond) CHECK(cond, "check failed: %s", #cond)
/* NEAR(got, want, tol): |got - want| <= tol (1 + |want|) in double, both values reported. */
#define NEAR(got, want, tol)                                                                       \
    do {                                                                                           \
        double g_ = (got), w_ = (want);                                                            \
        if (!(fabs(g_ - w_) <= (tol) * (1 + fabs(w_))))                                            \
            mstest_fail_(__FILE__, __LINE__, "%s = %.17g, want %.17g", #got, g_, w_);              \
    } while (0)
/* fail(fmt, ...): a failure found by the test's own logic, reported as "FAIL: message". */
#define fail(...) mstest_fail_(NULL, 0, __VA_ARGS__)

/* main's exit status: the failure count on stderr (1), or `passed` on stdout (0). */
static inline int mstest_result(const char *passed) {
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("%s\n", passed);
    return 0;
}

/* dir/name in one of 8 rotating buffers (so a call can take a few paths at once). */
static inline char *mstest_path(const char *dir, const char *name) {
    static char buf[8][1024];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

/* Writes n bytes to path; 0, or -1 when it cannot be written completely. */
static inline int mstest_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = n == 0 || fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* mstest_write or the end of the test (exit 1: the test's own setup failed). */
static inline void mstest_put(const char *path, const void *data, size_t n) {
    if (mstest_write(path, data, n) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

#endif
