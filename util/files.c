/* files.c — opening inputs that are regular files, refusing outputs that are inputs, and
 * output files written under a temporary name and renamed into place (msutil.h). */
#include "msutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void errf(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *kind_name(mode_t m) {
    if (S_ISFIFO(m)) return "a named pipe (FIFO)";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

int ms_open_regular(const char *path, int *fd, struct stat *st, char *err, size_t errlen) {
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (f < 0) {
        int e = errno;
        errf(err, errlen, "%s: %s", path, strerror(e));
        return e == ENOMEM || e == EMFILE || e == ENFILE || e == EIO ? MS_ERR_RUNTIME
                                                                     : MS_ERR_INPUT;
    }
    struct stat s;
    if (fstat(f, &s) != 0) {
        errf(err, errlen, "%s: %s", path, strerror(errno));
        close(f);
        return MS_ERR_RUNTIME;
    }
    if (!S_ISREG(s.st_mode)) {
        errf(err, errlen, "%s: is %s, not a regular file", path, kind_name(s.st_mode));
        close(f);
        return MS_ERR_INPUT;
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        errf(err, errlen, "%s: %s", path, strerror(errno));
        close(f);
        return MS_ERR_RUNTIME;
    }
    if (st) *st = s;
    *fd = f;
    return 0;
}

FILE *ms_fopen_regular(const char *path, int *status, char *err, size_t errlen) {
    int fd, rc = ms_open_regular(path, &fd, NULL, err, errlen);
    if (status) *status = rc;
    if (rc) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        errf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        if (status) *status = MS_ERR_RUNTIME;
    }
    return f;
}

int ms_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int ms_check_output(const char *out, const char *const *inputs, int n_inputs, char *err,
                    size_t errlen) {
    if (!out || strcmp(out, "-") == 0) return 0;
    for (int i = 0; i < n_inputs; i++) {
        if (inputs[i] && ms_same_file(out, inputs[i])) {
            errf(err, errlen, "%s: is the same file as the input %s; refusing to overwrite it", out,
                 inputs[i]);
            return MS_ERR_INPUT;
        }
    }
    return 0;
}

/* The inputs a command registered (ms_protect_input), by device and inode; the path as the
 * user spelled it is kept for the message. Grows; freed at exit by the OS. */
static struct protected_input {
    dev_t dev;
    ino_t ino;
    char *path;
} * protected_inputs;
static int n_protected, cap_protected;

int ms_protect_input(const char *path) {
    struct stat st;
    if (!path || strcmp(path, "-") == 0 || stat(path, &st) != 0) return 0;
    for (int i = 0; i < n_protected; i++)
        if (protected_inputs[i].dev == st.st_dev && protected_inputs[i].ino == st.st_ino) return 0;
    if (n_protected == cap_protected) {
        int cap = cap_protected ? 2 * cap_protected : 8;
        struct protected_input *p = realloc(protected_inputs, sizeof *p * (size_t)cap);
        if (!p) return MS_ERR_RUNTIME;
        protected_inputs = p, cap_protected = cap;
    }
    char *copy = strdup(path);
    if (!copy) return MS_ERR_RUNTIME;
    protected_inputs[n_protected++] = (struct protected_input){st.st_dev, st.st_ino, copy};
    return 0;
}

int ms_check_protected(const char *out, char *err, size_t errlen) {
    struct stat st;
    if (!out || !n_protected || strcmp(out, "-") == 0 || stat(out, &st) != 0) return 0;
    for (int i = 0; i < n_protected; i++)
        if (protected_inputs[i].dev == st.st_dev && protected_inputs[i].ino == st.st_ino) {
            errf(err, errlen, "%s: is the same file as the input %s; refusing to overwrite it", out,
                 protected_inputs[i].path);
            return MS_ERR_INPUT;
        }
    return 0;
}

int ms_outfile_open(ms_outfile *o, const char *path, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    int prc = ms_check_protected(path, err, errlen);
    if (prc) return prc;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        errf(err, errlen, "%s: is %s; an output must be a regular file", path,
             kind_name(st.st_mode));
        return MS_ERR_INPUT;
    }
    static unsigned serial;
    size_t n = strlen(path) + 64;
    o->path = strdup(path);
    o->tmp = malloc(n);
    if (!o->path || !o->tmp) {
        ms_outfile_abort(o);
        errf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path + 1) : 0;
    /* A name left by a crashed run whose pid this process now has is taken: the next serial
     * (the stale file is not ours to remove). */
    int fd = -1;
    for (int tries = 0; tries < 1000; tries++) {
        snprintf(o->tmp, n, "%.*s.%s.tmp.%ld.%u", dlen, path, slash ? slash + 1 : path,
                 (long)getpid(), serial++);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        errf(err, errlen, "%s: cannot create: %s", path, strerror(e));
        free(o->tmp);
        o->tmp = NULL;
        ms_outfile_abort(o);
        return e == ENOENT || e == ENOTDIR || e == EACCES || e == EROFS || e == EISDIR
                   ? MS_ERR_INPUT
                   : MS_ERR_RUNTIME;
    }
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        close(fd);
        unlink(o->tmp);
        errf(err, errlen, "%s: %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        ms_outfile_abort(o);
        return MS_ERR_RUNTIME;
    }
    return 0;
}

int ms_outfile_commit(ms_outfile *o, char *err, size_t errlen) {
    if (!o->f) {
        errf(err, errlen, "%s: not open", o->path ? o->path : "output");
        ms_outfile_abort(o);
        return MS_ERR_RUNTIME;
    }
    if (o->f == stdout) {
        o->f = NULL;
        ms_outfile_abort(o);
        return ms_stdout_check(err, errlen);
    }
    int e = 0;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) e = errno ? errno : EIO;
    if (!e && fsync(fileno(o->f)) != 0 && errno != EINVAL) e = errno;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    if (!e && rename(o->tmp, o->path) != 0) e = errno;
    if (e) {
        errf(err, errlen, "%s: write failed: %s", o->path, strerror(e));
        ms_outfile_abort(o);
        return MS_ERR_RUNTIME;
    }
    free(o->tmp);
    o->tmp = NULL;
    ms_outfile_abort(o);
    return 0;
}

void ms_outfile_abort(ms_outfile *o) {
    if (o->f && o->f != stdout) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

int ms_stdout_check(char *err, size_t errlen) {
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        if (!e) {
            /* The error flag was set by an earlier write whose errno is gone (a large fwrite
             * to a full disk): the output is already incomplete, so one more byte tells why. */
            clearerr(stdout);
            errno = 0;
            if (putc('\n', stdout) == EOF || fflush(stdout) != 0) e = errno;
        }
        errf(err, errlen, "stdout: write failed: %s", strerror(e ? e : EIO));
        return MS_ERR_RUNTIME;
    }
    return 0;
}
