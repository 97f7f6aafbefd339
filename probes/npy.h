/* npy.h — NumPy array files (private to probes/: `moescope import` and its fuzz target).
 *
 * A .npy file (format versions 1.0, 2.0, 3.0) is a magic string, a header that is a Python
 * dict literal {'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces,
 * and the array's bytes in C order. ms_npy_parse() trusts nothing: the header is parsed by a
 * small grammar (string, True/False, tuple of non-negative integers), every product of the
 * shape is checked for overflow, and the data must be exactly shape × itemsize bytes.
 * Supported element types: signed and unsigned integers of 1, 2, 4, 8 bytes, bool, floats of
 * 2, 4, 8 bytes, either byte order ('<', '>', '|', '='); fixed-width strings 'S' (bytes) and
 * 'U' (UTF-32). Refused with a message: structured and object dtypes (pickles are never
 * loaded), fortran_order arrays of more than one dimension, more than 8 dimensions.
 *
 * A .npz file is a zip archive of .npy members (numpy.savez / savez_compressed, stored or
 * deflated); it is read with libzip (ms_npz_load).
 *
 * Errors: 0, MS_ERR_INPUT (a malformed file) or MS_ERR_RUNTIME (I/O, memory), with
 * "<file>: <problem>" in err (file names and member names made terminal-safe). */
#ifndef MS_NPY_H
#define MS_NPY_H

#include <stddef.h>
#include <stdint.h>

#define MS_NPY_MAX_DIMS 8

typedef enum {
    MS_NPY_INT,
    MS_NPY_UINT,
    MS_NPY_BOOL,
    MS_NPY_FLOAT,
    MS_NPY_BYTES,
    MS_NPY_UNICODE
} ms_npy_kind;

typedef struct ms_npy {
    ms_npy_kind kind;
    int itemsize;   /* bytes per element (for 'U': 4 × characters) */
    int big_endian; /* multi-byte elements stored big-endian */
    int ndim;
    int64_t shape[MS_NPY_MAX_DIMS];
    int64_t n;           /* elements: product of shape (1 for a 0-d array) */
    const uint8_t *data; /* n × itemsize bytes, C order; points into the parsed buffer */
    char descr[16];      /* as written in the header, for messages */
} ms_npy;

/* Parses a whole .npy image of len bytes; name is the file for messages. a->data points into
 * buf (which must outlive a). */
int ms_npy_parse(ms_npy *a, const uint8_t *buf, size_t len, const char *name, char *err,
                 size_t errlen);
/* Element i as an integer (MS_NPY_INT/UINT/BOOL; uint64 above INT64_MAX saturates to INT64_MAX
 * so range checks catch it) or as a double (any numeric kind). */
int64_t ms_npy_i64(const ms_npy *a, int64_t i);
double ms_npy_f64(const ms_npy *a, int64_t i);
/* Element i of a 'S' or 'U' array as a malloc'ed UTF-8 string (trailing NULs dropped; a 'U'
 * code point that is not a Unicode scalar value is written as U+FFFD). NULL when out of
 * memory. */
char *ms_npy_str(const ms_npy *a, int64_t i);
/* "int32", "float16", "<U7", ... for messages. */
const char *ms_npy_dtype_name(const ms_npy *a, char *buf, size_t n);

/* An archive or file loaded whole: named arrays whose data live in owned buffers. */
typedef struct ms_npy_set {
    int n;
    char **names;   /* [n] array names ("experts"; a member "experts.npy") */
    char **files;   /* [n] where each came from, for messages ("a.npz:experts.npy") */
    ms_npy *arrays; /* [n] */
    uint8_t **bufs; /* [n] owned images */
} ms_npy_set;

/* Loads every member of the .npz at path into set (appended to what it holds). Members that
 * are not "*.npy" are refused; a name given twice (in this or an earlier file) is refused. */
int ms_npz_load(ms_npy_set *set, const char *path, char *err, size_t errlen);
/* Loads one .npy file at path as the array called name. */
int ms_npy_load(ms_npy_set *set, const char *name, const char *path, char *err, size_t errlen);
/* The array called name, or NULL (index in *idx when not NULL). */
const ms_npy *ms_npy_set_find(const ms_npy_set *set, const char *name, int *idx);
void ms_npy_set_free(ms_npy_set *set);

#endif
