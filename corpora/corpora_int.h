/* corpora_int.h — private to corpora/: the line reader over plain or zstd-compressed files. */
#ifndef MS_CORPORA_INT_H
#define MS_CORPORA_INT_H

#include <stdint.h>
#include <stdio.h>
#include <zstd.h>

/* Streams the lines of a regular file (a FIFO or device is refused at open), decompressing
 * zstd (any number of frames, skippable frames skipped) on the fly; memory is the longest line
 * plus fixed buffers. Lines end at "\n" only (a lone "\r" is not a line end); they are
 * returned without "\n" / "\r\n", NUL-terminated, valid until the next call (a line may
 * itself hold NUL bytes: *n is its length). */
typedef struct ms_lines {
    const char *path;
    FILE *f;
    int zstd;
    ZSTD_DCtx *dctx;
    unsigned char *in; /* compressed input buffer (in_cap) */
    size_t in_cap;
    ZSTD_inBuffer zin;
    size_t zret; /* last ZSTD_decompressStream result: 0 at a frame end */
    char *buf;   /* decompressed bytes [pos, len) not yet returned */
    size_t pos, len, cap;
    int eof;
    int64_t line_no; /* of the line last returned (1-based) */
    int64_t bytes;   /* decompressed bytes seen */
} ms_lines;

/* Opens path (ms_fopen_regular); zstd is detected by the magic number of a frame or of a
 * skippable frame (pzstd's output starts with one). 0 or MS_ERR_* with message. */
int ms_lines_open(ms_lines *r, const char *path, char *err, size_t errlen);
/* 1: a line in *line (length *n); 0: end of file; MS_ERR_INPUT (corrupt/truncated zstd,
 * line too long) or MS_ERR_RUNTIME (read error) with a message naming file and line. */
int ms_lines_next(ms_lines *r, char **line, size_t *n, char *err, size_t errlen);
void ms_lines_close(ms_lines *r);
/* 1 if the file is a regular file starting with a zstd or skippable frame magic. */
int ms_is_zstd_file(const char *path);

#endif
