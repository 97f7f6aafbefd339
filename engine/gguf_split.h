/* gguf_split.h — engine-private: a GGUF model shipped as several parts, the layout of llama.cpp's
 * gguf-split tool ("<prefix>-00001-of-00003.gguf", ...).
 *
 * Every part is a GGUF file with split.no (u16, 0-based), split.count (u16) and
 * split.tensors.count (i32, tensors of the whole set). The first part carries all the model's
 * metadata; tensors are spread over the parts (the first part may hold none). A file without
 * split.count (or with split.count 1) is a set of one part. */
#ifndef MS_GGUF_SPLIT_H
#define MS_GGUF_SPLIT_H

#include "gguf.h"

typedef struct gguf_set {
    gguf_file **parts; /* [n_parts] in split.no order; parts[0] carries the metadata */
    int n_parts;
} gguf_set;

/* Opens the set that path belongs to: path may name any part (the others are found by the
 * naming pattern) or a plain single-file GGUF. Each part is opened and mapped with gguf_open.
 * Checked: every part exists and has the split.no its name says, all parts agree on
 * split.count, split.tensors.count and on every metadata key they share with the first part,
 * no tensor is listed twice, and the parts hold exactly split.tensors.count tensors. Errors
 * are one line naming the part (MS_ERR_INPUT), or MS_ERR_RUNTIME for I/O and memory. On
 * failure s is empty. */
int gguf_set_open(gguf_set *s, const char *path, char *err, size_t errlen);
void gguf_set_close(gguf_set *s);

#endif
