/* lines.c — line-by-line reading of plain and zstd-compressed files (The Pile's
 * *.jsonl.zst), streamed with ZSTD_decompressStream so that a multi-gigabyte file never sits in
 * memory: only the longest line does. Skippable frames (pzstd writes one before each frame)
 * are skipped by ZSTD_decompressStream itself; a file starting with one is zstd too. Corrupt
 * or truncated frames are reported with the file and the line they follow. Files are opened
 * with ms_fopen_regular: a FIFO would block the reader forever. */
#include "corpora.h"
#include "corpora_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE ((size_t)1 << 30) /* a JSONL line longer than 1 GiB is refused */

/* The zstd frame magic (0xFD2FB528) or a skippable frame's (0x184D2A50..0x184D2A5F, little
 * endian): pzstd's output starts with a skippable frame holding the frame sizes. */
static int zstd_magic(const unsigned char *m) {
    return (m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD) ||
           ((m[0] & 0xF0) == 0x50 && m[1] == 0x2A && m[2] == 0x4D && m[3] == 0x18);
}

int ms_is_zstd_file(const char *path) {
    char err[64];
    FILE *f = ms_fopen_regular(path, NULL, err, sizeof err); /* never blocks on a FIFO */
    if (!f) return 0;
    unsigned char m[4];
    int z = fread(m, 1, 4, f) == 4 && zstd_magic(m);
    fclose(f);
    return z;
}

int ms_lines_open(ms_lines *r, const char *path, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->path = path;
    int st = 0;
    r->f = ms_fopen_regular(path, &st, err, errlen);
    if (!r->f) return st;
    /* Detected on the stream itself, so the file checked is the file read. */
    unsigned char m[4];
    errno = 0;
    size_t got = fread(m, 1, 4, r->f);
    if (got < 4 && ferror(r->f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        fclose(r->f);
        r->f = NULL;
        return MS_ERR_RUNTIME;
    }
    r->zstd = got == 4 && zstd_magic(m);
    if (fseek(r->f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot seek: %s", path, strerror(errno));
        fclose(r->f);
        r->f = NULL;
        return MS_ERR_RUNTIME;
    }
    r->cap = (size_t)1 << 17;
    r->buf = malloc(r->cap);
    if (r->zstd) {
        r->in_cap = ZSTD_DStreamInSize();
        r->in = malloc(r->in_cap);
        r->dctx = ZSTD_createDCtx();
    }
    if (!r->buf || (r->zstd && (!r->in || !r->dctx))) {
        ms_lines_close(r);
        snprintf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    return 0;
}

void ms_lines_close(ms_lines *r) {
    if (r->f) fclose(r->f);
    free(r->buf);
    free(r->in);
    if (r->dctx) ZSTD_freeDCtx(r->dctx);
    memset(r, 0, sizeof *r);
}

/* Appends more bytes at buf[len..cap). Returns bytes added (0 at end), or -MS_ERR_*. */
static int64_t fill(ms_lines *r, char *err, size_t errlen) {
    size_t room = r->cap - r->len;
    if (!r->zstd) {
        errno = 0;
        size_t got = fread(r->buf + r->len, 1, room, r->f);
        if (got == 0 && ferror(r->f)) {
            snprintf(err, errlen, "%s: read error after line %lld: %s", r->path,
                     (long long)r->line_no, strerror(errno));
            return -MS_ERR_RUNTIME;
        }
        r->len += got;
        r->bytes += (int64_t)got;
        return (int64_t)got;
    }
    for (;;) {
        if (r->zin.pos == r->zin.size) {
            errno = 0;
            size_t got = fread(r->in, 1, r->in_cap, r->f);
            if (got == 0) {
                if (ferror(r->f)) {
                    snprintf(err, errlen, "%s: read error after line %lld: %s", r->path,
                             (long long)r->line_no, strerror(errno));
                    return -MS_ERR_RUNTIME;
                }
                if (r->zret != 0) {
                    snprintf(err, errlen,
                             "%s: truncated zstd frame (the file ends inside a frame, after "
                             "line %lld)",
                             r->path, (long long)r->line_no);
                    return -MS_ERR_INPUT;
                }
                return 0;
            }
            r->zin.src = r->in;
            r->zin.size = got;
            r->zin.pos = 0;
        }
        ZSTD_outBuffer out = {r->buf + r->len, room, 0};
        size_t ret = ZSTD_decompressStream(r->dctx, &out, &r->zin);
        if (ZSTD_isError(ret)) {
            snprintf(err, errlen, "%s: corrupt zstd data after line %lld (%s)", r->path,
                     (long long)r->line_no, ZSTD_getErrorName(ret));
            return -MS_ERR_INPUT;
        }
        r->zret = ret;
        if (out.pos > 0) {
            r->len += out.pos;
            r->bytes += (int64_t)out.pos;
            return (int64_t)out.pos;
        }
    }
}

int ms_lines_next(ms_lines *r, char **line, size_t *n, char *err, size_t errlen) {
    size_t scan = r->pos;
    for (;;) {
        char *nl = scan < r->len ? memchr(r->buf + scan, '\n', r->len - scan) : NULL;
        if (nl || (r->eof && r->pos < r->len)) {
            char *s = r->buf + r->pos;
            size_t l = nl ? (size_t)(nl - s) : r->len - r->pos;
            r->pos += l + (nl ? 1 : 0);
            if (l > 0 && s[l - 1] == '\r') l--;
            s[l] = '\0'; /* over the '\n' (or the spare byte kept at the end of buf) */
            r->line_no++;
            *line = s;
            *n = l;
            return 1;
        }
        if (r->eof) return 0;
        /* Need more: compact, grow if the pending line fills the buffer, read. */
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        scan = r->len;
        if (r->cap - r->len < ((size_t)1 << 16) + 1) {
            if (r->cap >= MAX_LINE) {
                snprintf(err, errlen, "%s:%lld: line longer than %zu MiB", r->path,
                         (long long)r->line_no + 1, MAX_LINE >> 20);
                return MS_ERR_INPUT;
            }
            char *b = realloc(r->buf, r->cap * 2);
            if (!b) {
                snprintf(err, errlen, "%s: out of memory for line %lld", r->path,
                         (long long)r->line_no + 1);
                return MS_ERR_RUNTIME;
            }
            r->buf = b;
            r->cap *= 2;
        }
        /* Keep one spare byte so a last line without "\n" can be NUL-terminated. */
        r->cap--;
        int64_t got = fill(r, err, errlen);
        r->cap++;
        if (got < 0) return (int)-got;
        if (got == 0) r->eof = 1;
    }
}
