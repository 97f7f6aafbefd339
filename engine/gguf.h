/* gguf.h — engine-private GGUF v2/v3 reader (over mmap) and writer.
 *
 * The reader trusts nothing: every count, string length, array length, tensor shape, offset
 * and byte size is checked against the file size with overflow checks before use. Keys and
 * tensor infos point into the mapping (strings are NOT NUL-terminated in the file; the reader
 * keeps (ptr, len) pairs and offers NUL-terminated copies where noted). */
#ifndef MS_GGUF_H
#define MS_GGUF_H

#include "engine.h"

typedef enum gguf_vtype {
    GGUF_T_UINT8 = 0,
    GGUF_T_INT8 = 1,
    GGUF_T_UINT16 = 2,
    GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4,
    GGUF_T_INT32 = 5,
    GGUF_T_FLOAT32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8,
    GGUF_T_ARRAY = 9,
    GGUF_T_UINT64 = 10,
    GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12,
} gguf_vtype;
/* Bytes of one value of a scalar type; 0 for strings, arrays and invalid types. */
size_t gguf_vtype_size(uint32_t t);

typedef struct gguf_str {
    const char *p; /* into the mapping, not NUL-terminated */
    uint64_t n;
} gguf_str;

typedef struct gguf_file gguf_file;

/* Opens and validates path (mmap, read-only). Errors name the file and the problem. */
int gguf_open(gguf_file **out, const char *path, char *err, size_t errlen);
/* The same over a caller's buffer (which must outlive the handle); name is used in messages.
 * For fuzzing and for tests. */
int gguf_open_mem(gguf_file **out, const void *data, size_t size, const char *name, char *err,
                  size_t errlen);
void gguf_close(gguf_file *g);

uint32_t gguf_version(const gguf_file *g);
uint64_t gguf_file_size(const gguf_file *g);
uint32_t gguf_alignment(const gguf_file *g);
const char *gguf_path(const gguf_file *g);
/* Absolute file offset of the data section (tensor offsets are already absolute). */
uint64_t gguf_data_offset(const gguf_file *g);

/* Metadata. gguf_find_key returns the key index or -1. */
int64_t gguf_n_kv(const gguf_file *g);
int64_t gguf_find_key(const gguf_file *g, const char *key);
gguf_str gguf_key_name(const gguf_file *g, int64_t i);
gguf_vtype gguf_kv_type(const gguf_file *g, int64_t i);
/* Typed getters: return 0 and set *v when the key exists and its value converts losslessly
 * (any integer type to int64 within range, float32/64 to double, bool to int); else -1. */
int gguf_get_int(const gguf_file *g, const char *key, int64_t *v);
int gguf_get_float(const gguf_file *g, const char *key, double *v);
int gguf_get_bool(const gguf_file *g, const char *key, int *v);
int gguf_get_str(const gguf_file *g, const char *key, gguf_str *v);
/* Arrays: element type and length; elements read by index (index and element type checked by
 * assert: callers check gguf_get_arr first). gguf_arr_float converts any numeric element
 * (integers beyond 2^53 rounded, bool 0/1); gguf_arr_int takes integer and bool elements
 * (u64 beyond INT64_MAX saturates); gguf_arr_str takes string elements. */
int gguf_get_arr(const gguf_file *g, const char *key, gguf_vtype *elem_type, uint64_t *n);
gguf_str gguf_arr_str(const gguf_file *g, const char *key, uint64_t i);
double gguf_arr_float(const gguf_file *g, const char *key, uint64_t i);
int64_t gguf_arr_int(const gguf_file *g, const char *key, uint64_t i);
/* Raw little-endian elements of a numeric array (possibly unaligned: read with memcpy);
 * NULL for missing keys, non-arrays and string/nested arrays. */
const void *gguf_arr_data(const gguf_file *g, const char *key);

/* Tensors: info (name NUL-terminated copy owned by g; ne in ggml order, unused dims 1;
 * offset is ABSOLUTE in the file; nbytes = row bytes x ne[1]*ne[2]*ne[3]; file = 0) and
 * data pointer into the mapping. Tensors are in file order of their infos. */
int64_t gguf_n_tensors(const gguf_file *g);
int64_t gguf_find_tensor(const gguf_file *g, const char *name);
const ms_tensor_info *gguf_tensor_info(const gguf_file *g, int64_t i);
const uint8_t *gguf_tensor_data(const gguf_file *g, int64_t i);

/* Writer: collect metadata and tensors, then write the file in one pass (v3, alignment 32,
 * every tensor's data padded to 32; no general.alignment key, as gguf-py). Keys and tensors
 * are written in the order added. The gguf_w_* calls never fail on their own: the first
 * problem (duplicate key or tensor name, shape/size mismatch, unsupported type, out of
 * memory) is remembered and gguf_writer_write reports it without writing anything. The file
 * is written under a temporary name and renamed into place. gguf_writer_new returns NULL
 * only when out of memory. */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_w_u8(gguf_writer *w, const char *key, uint8_t v);
void gguf_w_i8(gguf_writer *w, const char *key, int8_t v);
void gguf_w_u16(gguf_writer *w, const char *key, uint16_t v);
void gguf_w_i16(gguf_writer *w, const char *key, int16_t v);
void gguf_w_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_w_i64(gguf_writer *w, const char *key, int64_t v);
void gguf_w_f64(gguf_writer *w, const char *key, double v);
/* Numeric array of any scalar element type (v: n little-endian elements). */
void gguf_w_arr(gguf_writer *w, const char *key, gguf_vtype elem_type, const void *v, uint64_t n);
void gguf_w_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_w_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_w_f32(gguf_writer *w, const char *key, float v);
void gguf_w_bool(gguf_writer *w, const char *key, int v);
void gguf_w_str(gguf_writer *w, const char *key, const char *v);
void gguf_w_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_w_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
void gguf_w_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Copies the key/value (any type, including arrays) from a reader: for vocabularies. */
void gguf_w_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i);
/* Adds a tensor whose data (nbytes, matching type and shape: ne in ggml order, ne[0] the
 * row length, a multiple of the type's block size) is copied into the writer. */
void gguf_w_tensor(gguf_writer *w, const char *name, ms_type type, int n_dims, const int64_t *ne,
                   const void *data, size_t nbytes);
int gguf_writer_write(gguf_writer *w, const char *path, char *err, size_t errlen);

#endif
