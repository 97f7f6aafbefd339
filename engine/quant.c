/* quant.c — ggml weight types: names, block geometry, IEEE half / bfloat16 conversions, and
 * row dequantizers / quantizers that reproduce ggml's reference C code (ggml-quants.c:
 * dequantize_row_* and quantize_row_*_ref) bit for bit.
 *
 * Block layouts (all little-endian, packed, d/dmin are IEEE half unless noted):
 *   Q4_0 {d; qs[16]}          x = d * (q - 8), low nibbles are elements 0..15, high 16..31
 *   Q4_1 {d, m; qs[16]}       x = d * q + m
 *   Q5_0 {d; qh[4]; qs[16]}   fifth bit of element j in qh bit j; x = d * (q - 16)
 *   Q5_1 {d, m; qh[4]; qs[16]} x = d * q + m
 *   Q8_0 {d; qs[32] int8}     x = d * q
 *   K-quants: super-blocks of 256 with 6-bit (Q4_K/Q5_K), 4-bit (Q2_K), 6-bit signed
 *   (Q3_K) or 8-bit (Q6_K) sub-block scales; see each function. */
#include "engine.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define QK           32  /* elements per block of Q4_0 .. Q8_0 */
#define QK_K         256 /* elements per K-quant super-block */
#define K_SCALE_SIZE 12

/* ---------------------------------------------------------------------------------------
 * Type table. */

typedef struct type_traits {
    const char *name;
    int64_t blck; /* elements per block */
    size_t size;  /* bytes per block */
} type_traits;

static const type_traits *traits(int type) {
    static const type_traits t_f32 = {"F32", 1, 4};
    static const type_traits t_f16 = {"F16", 1, 2};
    static const type_traits t_bf16 = {"BF16", 1, 2};
    static const type_traits t_q4_0 = {"Q4_0", QK, 2 + QK / 2};
    static const type_traits t_q4_1 = {"Q4_1", QK, 4 + QK / 2};
    static const type_traits t_q5_0 = {"Q5_0", QK, 2 + 4 + QK / 2};
    static const type_traits t_q5_1 = {"Q5_1", QK, 4 + 4 + QK / 2};
    static const type_traits t_q8_0 = {"Q8_0", QK, 2 + QK};
    /* Q2_K: scales[16] qs[64] d dmin */
    static const type_traits t_q2_k = {"Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 4};
    /* Q3_K: hmask[32] qs[64] scales[12] d */
    static const type_traits t_q3_k = {"Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2};
    /* Q4_K: d dmin scales[12] qs[128] */
    static const type_traits t_q4_k = {"Q4_K", QK_K, 4 + K_SCALE_SIZE + QK_K / 2};
    /* Q5_K: d dmin scales[12] qh[32] qs[128] */
    static const type_traits t_q5_k = {"Q5_K", QK_K, 4 + K_SCALE_SIZE + QK_K / 8 + QK_K / 2};
    /* Q6_K: ql[128] qh[64] scales[16] d */
    static const type_traits t_q6_k = {"Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2};
    switch (type) {
    case MS_TYPE_F32:
        return &t_f32;
    case MS_TYPE_F16:
        return &t_f16;
    case MS_TYPE_BF16:
        return &t_bf16;
    case MS_TYPE_Q4_0:
        return &t_q4_0;
    case MS_TYPE_Q4_1:
        return &t_q4_1;
    case MS_TYPE_Q5_0:
        return &t_q5_0;
    case MS_TYPE_Q5_1:
        return &t_q5_1;
    case MS_TYPE_Q8_0:
        return &t_q8_0;
    case MS_TYPE_Q2_K:
        return &t_q2_k;
    case MS_TYPE_Q3_K:
        return &t_q3_k;
    case MS_TYPE_Q4_K:
        return &t_q4_k;
    case MS_TYPE_Q5_K:
        return &t_q5_k;
    case MS_TYPE_Q6_K:
        return &t_q6_k;
    default:
        return NULL;
    }
}

int ms_type_supported(int type) {
    return traits(type) != NULL;
}

const char *ms_type_name(int type) {
    /* Names of ggml types we do not read, so messages can say what a file holds. */
    static const char *const other[] = {
        [4] = "Q4_2",    [5] = "Q4_3",     [9] = "Q8_1",   [15] = "Q8_K",   [16] = "IQ2_XXS",
        [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
        [22] = "IQ2_S",  [23] = "IQ4_XS",  [24] = "I8",    [25] = "I16",    [26] = "I32",
        [27] = "I64",    [28] = "F64",     [29] = "IQ1_M", [34] = "TQ1_0",  [35] = "TQ2_0",
        [39] = "MXFP4",
    };
    static _Thread_local char buf[32];
    const type_traits *t = traits(type);
    if (t) return t->name;
    if (type >= 0 && type < (int)(sizeof other / sizeof other[0]) && other[type])
        return other[type];
    snprintf(buf, sizeof buf, "type %d", type);
    return buf;
}

int64_t ms_type_block_elems(ms_type t) {
    const type_traits *tt = traits((int)t);
    return tt ? tt->blck : 0;
}

size_t ms_type_block_bytes(ms_type t) {
    const type_traits *tt = traits((int)t);
    return tt ? tt->size : 0;
}

size_t ms_type_row_bytes(ms_type t, int64_t n) {
    const type_traits *tt = traits((int)t);
    assert(tt && n >= 0 && n % tt->blck == 0);
    return (size_t)(n / tt->blck) * tt->size;
}
