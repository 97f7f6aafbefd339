/* h5_int.h — private HDF5 helpers shared by the route store writer (store.c) and reader
 * (routes.c): the one checking macro every HDF5 call goes through, string attributes and
 * string datasets (variable-length UTF-8), and error text taken from HDF5's error stack. */
#ifndef MS_H5_INT_H
#define MS_H5_INT_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Every HDF5 call is checked through this macro: a negative result is a failure. The
 * enclosing function must have `err`, `errlen`, `path` (file name for the message), `rc` and a
 * `fail:` label; `what` says what was being done ("extend /tokens/id"). */
#define H5_CHECK(expr, what)                                                                       \
    do {                                                                                           \
        if ((expr) < 0) {                                                                          \
            ms_h5_error(err, errlen, path, what);                                                  \
            rc = 1; /* MS_ERR_RUNTIME */                                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* The writer's file driver (h5fd_ordered.c): a file access list using it (caller closes), and
 * the errno of the first write that failed on a file opened with it (0: none; the file on
 * disk is then still as of its last complete flush). */
hid_t ms_h5fd_ordered_fapl(void);
int ms_h5fd_ordered_failed(hid_t file);
/* 1 when driver (H5Pget_driver) is that driver: its handle is the file descriptor, and every
 * write it holds back is on disk between flushes, so the file's bytes can be read directly. */
int ms_h5fd_ordered_is(hid_t driver);

/* Turns off HDF5's automatic error printing (libraries never print). */
void ms_h5_quiet(void);
/* "<path>: cannot <what> (HDF5: <innermost message of the error stack>)". */
void ms_h5_error(char *err, size_t errlen, const char *path, const char *what);

/* The same message, for a failure while reading a file: returns MS_ERR_RUNTIME (1) when the
 * innermost failure was a system call (HDF5 reports its errno: a genuine I/O error) and
 * MS_ERR_INPUT (2) otherwise (the file's content is wrong: corrupt or truncated). */
int ms_h5_fail(char *err, size_t errlen, const char *path, const char *what);

/* Closes any HDF5 id (dataset, group, type, space, plist, attribute, file) if it is >= 0. */
void ms_h5_close(hid_t id);

/* A variable-length UTF-8 string type (caller closes). */
hid_t ms_h5_vlstr_type(void);
/* Writes a scalar string attribute (variable-length UTF-8); value NULL writes "". */
herr_t ms_h5_attr_str(hid_t obj, const char *name, const char *value);
/* Writes a scalar int32 / int64 attribute (creates or overwrites). */
herr_t ms_h5_attr_i32(hid_t obj, const char *name, int32_t value);
herr_t ms_h5_attr_i64(hid_t obj, const char *name, int64_t value);
/* Reads a scalar string attribute (variable or fixed length) into a malloc'ed string.
 * Returns 0, 1 if the attribute does not exist (*out NULL), negative on failure. */
int ms_h5_read_attr_str(hid_t obj, const char *name, char **out);
/* Reads a scalar integer attribute (any integer type) as int64. 0, 1 if absent, <0 failure. */
int ms_h5_read_attr_i64(hid_t obj, const char *name, int64_t *out);

/* Reads rows [r0, r0+n) of a 1-D string dataset (variable or fixed length) into n malloc'ed
 * strings. Returns 0 or negative. */
int ms_h5_read_strings(hid_t dset, int64_t r0, int64_t n, char **out);
/* Length of dimension 0 and the rank of a dataset (-1 on failure). */
int ms_h5_dims(hid_t dset, int *rank, int64_t dims[3]);

/* The route store reader on an in-memory file image (HDF5's core driver, no file): what
 * ms_routes_open does after opening the file; name is used in messages. For the fuzz target. */
typedef struct ms_routes ms_routes;
int ms_routes_open_image(ms_routes **out, const void *image, size_t len, const char *name,
                         char *err, size_t errlen);

#endif
