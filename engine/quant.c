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
 *   MXFP4 {e; qs[16]}         e an E8M0 exponent byte (no sign, no mantissa), q 4-bit E2M1
 *                             codes as ggml's doubled table; x = kvalues[q] * 2^(e-128),
 *                             low nibbles are elements 0..15, high 16..31
 *   MXFP4_HF {qs[16]}         not a ggml type: Hugging Face's MXFP4 (gpt-oss), byte i holds
 *                             elements 2i (low nibble) and 2i+1 (high); the exponents are a
 *                             separate array (ms_mat.escale); x = kvalues[q] * 2^(e-128)
 *   K-quants: super-blocks of 256 with 6-bit (Q4_K/Q5_K), 4-bit (Q2_K), 6-bit signed
 *   (Q3_K) or 8-bit (Q6_K) sub-block scales; see each function. */
#include "engine.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Bit-exactness with ggml needs every a*b+c rounded twice, never fused. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

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
    static const type_traits t_mxfp4 = {"MXFP4", QK, 1 + QK / 2};
    static const type_traits t_mxfp4_hf = {"MXFP4_HF", QK, QK / 2}; /* codes only */
    static const type_traits t_f8 = {"F8_E4M3", 1, 1};
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
    case MS_TYPE_MXFP4:
        return &t_mxfp4;
    case MS_TYPE_MXFP4_HF:
        return &t_mxfp4_hf;
    case MS_TYPE_F8_E4M3:
        return &t_f8;
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

/* ---------------------------------------------------------------------------------------
 * Half and bfloat16 conversions: ggml's portable versions (ggml-impl.h), which agree with
 * F16C hardware conversion (round to nearest even) and keep NaNs quiet. */

static inline float f32_from_bits(uint32_t w) {
    float f;
    memcpy(&f, &w, 4);
    return f;
}

static inline uint32_t f32_bits(float f) {
    uint32_t w;
    memcpy(&w, &f, 4);
    return w;
}

float ms_f16_to_f32(uint16_t h) {
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & UINT32_C(0x80000000);
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = UINT32_C(0xE0) << 23;
    const float exp_scale = 0x1.0p-112f;
    const float normalized = f32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
    const uint32_t magic_mask = UINT32_C(126) << 23;
    const float denormalized = f32_from_bits((two_w >> 17) | magic_mask) - 0.5f;
    const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
    return f32_from_bits(
        sign | (two_w < denormalized_cutoff ? f32_bits(denormalized) : f32_bits(normalized)));
}

uint16_t ms_f32_to_f16(float f) {
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & UINT32_C(0x80000000);
    uint32_t bias = shl1_w & UINT32_C(0xFF000000);
    if (bias < UINT32_C(0x71000000)) bias = UINT32_C(0x71000000);
    base = f32_from_bits((bias >> 1) + UINT32_C(0x07800000)) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
    const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

float ms_bf16_to_f32(uint16_t h) {
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t ms_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); /* quiet NaN */
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

/* ---------------------------------------------------------------------------------------
 * Dequantization. Each function reads nb blocks at src (byte pointer: blocks in files are
 * only 2-byte aligned) and writes nb * block_elems floats. The arithmetic and its order
 * follow ggml's dequantize_row_* exactly (no FMA contraction: ISO C mode, pragma below). */

/* Half -> float through a 256 KiB table built once (4x faster than the bit arithmetic;
 * identical results, since the table is filled by ms_f16_to_f32 itself). */
static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_table_init(void) {
    for (uint32_t h = 0; h < 65536; h++)
        f16_table[h] = ms_f16_to_f32((uint16_t)h);
}

static inline float rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return ms_f16_to_f32(h);
}

static void deq_q4_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 18, y += QK) {
        const float d = rd_f16(b);
        const uint8_t *qs = b + 2;
        for (int j = 0; j < QK / 2; j++) {
            const int x0 = (qs[j] & 0x0F) - 8;
            const int x1 = (qs[j] >> 4) - 8;
            y[j] = x0 * d;
            y[j + QK / 2] = x1 * d;
        }
    }
}

static void deq_q4_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 20, y += QK) {
        const float d = rd_f16(b), m = rd_f16(b + 2);
        const uint8_t *qs = b + 4;
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (qs[j] & 0x0F) * d + m;
            y[j + QK / 2] = (qs[j] >> 4) * d + m;
        }
    }
}

static void deq_q5_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 22, y += QK) {
        const float d = rd_f16(b);
        uint32_t qh;
        memcpy(&qh, b + 2, 4);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < QK / 2; j++) {
            const uint8_t xh_0 = ((qh >> j) << 4) & 0x10;
            const uint8_t xh_1 = (qh >> (j + 12)) & 0x10;
            const int32_t x0 = ((qs[j] & 0x0F) | xh_0) - 16;
            const int32_t x1 = ((qs[j] >> 4) | xh_1) - 16;
            y[j] = x0 * d;
            y[j + QK / 2] = x1 * d;
        }
    }
}

static void deq_q5_1(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 24, y += QK) {
        const float d = rd_f16(b), m = rd_f16(b + 2);
        uint32_t qh;
        memcpy(&qh, b + 4, 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < QK / 2; j++) {
            const uint8_t xh_0 = ((qh >> j) << 4) & 0x10;
            const uint8_t xh_1 = (qh >> (j + 12)) & 0x10;
            const int x0 = (qs[j] & 0x0F) | xh_0;
            const int x1 = (qs[j] >> 4) | xh_1;
            y[j] = x0 * d + m;
            y[j + QK / 2] = x1 * d + m;
        }
    }
}

static void deq_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += QK) {
        const float d = rd_f16(b);
        const int8_t *qs = (const int8_t *)(b + 2);
        for (int j = 0; j < QK; j++)
            y[j] = qs[j] * d;
    }
}

/* E2M1 values doubled (ggml's kvalues_mxfp4): 0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives. */
static const int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* ggml_e8m0_to_fp32_half: 2^(e-128) as an f32 bit pattern; e 0 and 1 are subnormals, e 255
 * is 2^127 (ggml does not treat it as NaN). */
static inline float e8m0_to_f32_half(uint8_t e) {
    uint32_t bits = e < 2 ? (uint32_t)0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* MXFP4 block (17 bytes): e8m0 e, qs[16]. y = kvalues[q] * 2^(e-128). */
static void deq_mxfp4(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 1 + QK / 2, y += QK) {
        const float d = e8m0_to_f32_half(b[0]);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = kvalues_mxfp4[b[1 + j] & 0x0F] * d;
            y[j + QK / 2] = kvalues_mxfp4[b[1 + j] >> 4] * d;
        }
    }
}

void ms_dequantize_row_mxfp4_hf(const uint8_t *codes, const uint8_t *scales, float *dst,
                                int64_t n) {
    assert(n >= 0 && n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, codes += QK / 2, dst += QK) {
        const float d = e8m0_to_f32_half(scales[i]);
        for (int j = 0; j < QK / 2; j++) {
            dst[2 * j] = kvalues_mxfp4[codes[j] & 0x0F] * d;
            dst[2 * j + 1] = kvalues_mxfp4[codes[j] >> 4] * d;
        }
    }
}

/* Q2_K block: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. */
static void deq_q2_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 84) {
        const uint8_t *scales = b, *q = b + 16;
        const float d = rd_f16(b + 80), min = rd_f16(b + 82);
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; j++) {
                uint8_t sc = scales[is++];
                float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
                sc = scales[is++];
                dl = d * (sc & 0xF);
                ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
                shift += 2;
            }
            q += 32;
        }
    }
}

/* Q3_K block: hmask[32], qs[64], scales[12] (16 6-bit signed scales, offset 32), d. */
static void deq_q3_k(const uint8_t *b, float *y, int64_t nb) {
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    for (int64_t i = 0; i < nb; i++, b += 110) {
        const uint8_t *hm = b, *q = b + 32;
        const float d_all = rd_f16(b + 108);
        uint32_t aux[4];
        int8_t scales[16];
        memcpy(aux, b + 96, 12);
        const uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        memcpy(scales, aux, 16);
        int is = 0;
        uint8_t m = 1;
        for (int n = 0; n < QK_K; n += 128) {
            int shift = 0;
            for (int j = 0; j < 4; j++) {
                float dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                dl = d_all * (scales[is++] - 32);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
                shift += 2;
                m <<= 1;
            }
            q += 32;
        }
    }
}

/* The 8 6-bit (scale, min) pairs of Q4_K / Q5_K, packed in 12 bytes. */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* Q4_K block: d, dmin, scales[12], qs[128]. */
static void deq_q4_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 144) {
        const float d = rd_f16(b), min = rd_f16(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

/* Q5_K block: d, dmin, scales[12], qh[32], qs[128]. */
static void deq_q5_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 176) {
        const float d = rd_f16(b), min = rd_f16(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
        int is = 0;
        uint8_t sc, m, u1 = 1, u2 = 2;
        for (int j = 0; j < QK_K; j += 64) {
            get_scale_min_k4(is + 0, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            get_scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}

/* Q6_K block: ql[128], qh[64], scales[16] int8, d. */
static void deq_q6_k(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 210) {
        const float d = rd_f16(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int n = 0; n < QK_K; n += 128) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

/* OCP FP8 E4M3 ("e4m3fn"): s eeee mmm, exponent bias 7, subnormals at exponent 0, no
 * infinities, s1111111 NaN; 448 the largest finite value. */
float ms_f8e4m3_to_f32(uint8_t v) {
    const int e = (v >> 3) & 15, m = v & 7;
    float x;
    if (e == 15 && m == 7)
        x = NAN;
    else if (e == 0)
        x = ldexpf((float)m, -9); /* m/8 * 2^-6 */
    else
        x = ldexpf((float)(8 + m), e - 10); /* (1 + m/8) * 2^(e-7) */
    return v & 0x80 ? -x : x;
}

/* Round to nearest even, saturating at +-448 (NaN stays NaN). */
uint8_t ms_f32_to_f8e4m3(float f) {
    if (isnan(f)) return 0x7f;
    uint8_t s = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a >= 448.0f) return s | 0x7e;
    /* candidates are the 127 finite magnitudes in order: pick by bisection on the decoded value */
    int lo = 0, hi = 0x7e;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (ms_f8e4m3_to_f32((uint8_t)mid) <= a)
            lo = mid;
        else
            hi = mid;
    }
    float dl = a - ms_f8e4m3_to_f32((uint8_t)lo), dh = ms_f8e4m3_to_f32((uint8_t)hi) - a;
    int q = dl < dh ? lo : dh < dl ? hi : (lo & 1 ? hi : lo);
    return s | (uint8_t)q;
}

void ms_dequantize_row(ms_type t, const void *src, float *dst, int64_t n) {
    const type_traits *tt = traits((int)t);
    assert(tt && n >= 0 && n % tt->blck == 0);
    const uint8_t *b = src;
    const int64_t nb = n / tt->blck;
    switch (t) {
    case MS_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case MS_TYPE_F16:
        pthread_once(&f16_once, f16_table_init);
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = f16_table[h];
        }
        break;
    case MS_TYPE_F8_E4M3:
        for (int64_t i = 0; i < n; i++)
            dst[i] = ms_f8e4m3_to_f32(b[i]);
        break;
    case MS_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, b + 2 * i, 2);
            dst[i] = ms_bf16_to_f32(h);
        }
        break;
    case MS_TYPE_Q4_0:
        deq_q4_0(b, dst, nb);
        break;
    case MS_TYPE_Q4_1:
        deq_q4_1(b, dst, nb);
        break;
    case MS_TYPE_Q5_0:
        deq_q5_0(b, dst, nb);
        break;
    case MS_TYPE_Q5_1:
        deq_q5_1(b, dst, nb);
        break;
    case MS_TYPE_Q8_0:
        deq_q8_0(b, dst, nb);
        break;
    case MS_TYPE_MXFP4:
        deq_mxfp4(b, dst, nb);
        break;
    case MS_TYPE_MXFP4_HF: /* the codes at exponent 127 (scale 1) */
        for (int64_t i = 0; i < nb; i++) {
            static const uint8_t one = 127;
            ms_dequantize_row_mxfp4_hf(b + i * (QK / 2), &one, dst + i * QK, QK);
        }
        break;
    case MS_TYPE_Q2_K:
        deq_q2_k(b, dst, nb);
        break;
    case MS_TYPE_Q3_K:
        deq_q3_k(b, dst, nb);
        break;
    case MS_TYPE_Q4_K:
        deq_q4_k(b, dst, nb);
        break;
    case MS_TYPE_Q5_K:
        deq_q5_k(b, dst, nb);
        break;
    case MS_TYPE_Q6_K:
        deq_q6_k(b, dst, nb);
        break;
    }
}

void ms_mat_dequantize_row(const ms_mat *w, int64_t r, float *dst) {
    assert(r >= 0 && r < w->rows);
    const uint8_t *src = w->data + (size_t)r * w->row_bytes;
    if (w->type == MS_TYPE_MXFP4_HF && w->escale) {
        ms_dequantize_row_mxfp4_hf(src, w->escale + r * w->scale_ld, dst, w->cols);
        return;
    }
    ms_dequantize_row(w->type, src, dst, w->cols);
    if (w->type == MS_TYPE_F8_E4M3 && w->scale) /* one scale per 128 x 128 block */
        for (int64_t i = 0; i < w->cols; i++)
            dst[i] *= w->scale[(r / 128) * w->scale_ld + i / 128];
}

/* ---------------------------------------------------------------------------------------
 * Quantization: ggml's quantize_row_*_ref, step for step (the float operations and their
 * order decide which integer each value rounds to, so they are kept as they are). */

#define GROUP_MAX_EPS 1e-15f
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

static inline void wr_f16(uint8_t *p, float f) {
    uint16_t h = ms_f32_to_f16(f);
    memcpy(p, &h, 2);
}

static void q_q4_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 18) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            const float v = x[j];
            if (amax < fabsf(v)) {
                amax = fabsf(v);
                max = v;
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QK / 2 + j] * id;
            const uint8_t xi0 = MIN(15, (int8_t)(x0 + 8.5f));
            const uint8_t xi1 = MIN(15, (int8_t)(x1 + 8.5f));
            b[2 + j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void q_q4_1(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 20) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        wr_f16(b + 2, min);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[QK / 2 + j] - min) * id;
            const uint8_t xi0 = MIN(15, (int8_t)(x0 + 0.5f));
            const uint8_t xi1 = MIN(15, (int8_t)(x1 + 0.5f));
            b[4 + j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

static void q_q5_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 22) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            const float v = x[j];
            if (amax < fabsf(v)) {
                amax = fabsf(v);
                max = v;
            }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = x[j] * id, x1 = x[QK / 2 + j] * id;
            const uint8_t xi0 = MIN(31, (int8_t)(x0 + 16.5f));
            const uint8_t xi1 = MIN(31, (int8_t)(x1 + 16.5f));
            b[6 + j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << j;
            qh |= ((xi1 & 0x10u) >> 4) << (j + QK / 2);
        }
        memcpy(b + 2, &qh, 4);
    }
}

static void q_q5_1(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 24) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        wr_f16(b + 2, min);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = (x[j] - min) * id, x1 = (x[QK / 2 + j] - min) * id;
            const uint8_t xi0 = (uint8_t)(x0 + 0.5f);
            const uint8_t xi1 = (uint8_t)(x1 + 0.5f);
            b[8 + j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << j;
            qh |= ((xi1 & 0x10u) >> 4) << (j + QK / 2);
        }
        memcpy(b + 4, &qh, 4);
    }
}

static void q_q8_0(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 34) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = MAX(amax, fabsf(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        wr_f16(b, d);
        for (int j = 0; j < QK; j++)
            b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* ggml's best_index_mxfp4: the first code with the smallest |kvalue * e - x| (a NaN x keeps
 * code 0). */
static inline int best_index_mxfp4(float x, float e) {
    int best = 0;
    float best_err = fabsf(kvalues_mxfp4[0] * e - x);
    for (int i = 1; i < 16; i++) {
        const float err = fabsf(kvalues_mxfp4[i] * e - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

/* quantize_row_mxfp4_ref: e = floor(log2(amax)) - 2 + 127 (so amax / 2^(e-127) < 8, the
 * largest code 6 being 12 halves), 0 for an all-zero block. ggml converts that float to
 * uint8_t directly; for finite amax the value is an integer in [-24, 253] and x86 keeps the
 * low byte of the int32 conversion, which is what the int cast here does without the
 * undefined float-to-unsigned conversion. An infinite amax gives 0 there (cvttss2si's
 * 0x80000000), and so here. NaNs never win the amax comparison. */
static void q_mxfp4(const float *x, uint8_t *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK, b += 1 + QK / 2) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        uint8_t e = 0;
        if (amax > 0.0f && isfinite(amax)) e = (uint8_t)((int)floorf(log2f(amax)) - 2 + 127);
        const float d = e8m0_to_f32_half(e);
        b[0] = e;
        for (int j = 0; j < QK / 2; j++)
            b[1 + j] =
                (uint8_t)(best_index_mxfp4(x[j], d) | best_index_mxfp4(x[j + QK / 2], d) << 4);
    }
}

/* Round to nearest (ties to even) through the float mantissa, as ggml does. */
static inline int nearest_int(float fval) {
    assert(fabsf(fval) <= 4194303.f);
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

/* Symmetric scale search (Q6_K): L[i] in [0, 2*nmax), returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
        }
        return 1 / iscale;
    }
    int return_early = 0;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = 1;
    }
#define QX_WEIGHT(i)                                                                               \
    (rmse_type == 1   ? x[i] * x[i]                                                                \
     : rmse_type == 2 ? 1                                                                          \
     : rmse_type == 3 ? fabsf(x[i])                                                                \
                      : sqrtf(fabsf(x[i])))
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = QX_WEIGHT(i);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = MAX(-nmax, MIN(nmax - 1, l));
            float w = QX_WEIGHT(i);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
#undef QX_WEIGHT
    return scale;
}

/* Symmetric search with iterative refinement (Q3_K). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L, int do_rmse) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (do_rmse) {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * x[i]);
            l = MAX(-nmax, MIN(nmax - 1, l));
            L[i] = (int8_t)l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; itry++) {
            int n_changed = 0;
            for (int i = 0; i < n; i++) {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * L[i];
                if (slx > 0) {
                    float sl2 = suml2 - w * L[i] * L[i];
                    int new_l = nearest_int(x[i] * sl2 / slx);
                    new_l = MAX(-nmax, MIN(nmax - 1, new_l));
                    if (new_l != L[i]) {
                        slx += w * x[i] * new_l;
                        sl2 += w * new_l * new_l;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = (int8_t)new_l;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed++;
                        }
                    }
                }
            }
            if (!n_changed) break;
        }
        for (int i = 0; i < n; i++)
            L[i] = (int8_t)(L[i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
    }
    return 1 / iscale;
}

/* Asymmetric (scale, min) search over weighted error (Q2_K, Q4_K, Q5_K). Returns the scale
 * and stores -min in *the_min; L[i] in [0, nmax]. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAX(0, MIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_int(iscale * (x[i] - min));
            l = MAX(0, MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; i++)
                    L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

static void q_q2_k(const float *x, uint8_t *b, int64_t nb) {
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 84) {
        uint8_t *ysc = b, *qs = b + 16;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                ysc[j] = (uint8_t)nearest_int(iscale * scales[j]);
            wr_f16(b + 80, max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; j++)
                ysc[j] = 0;
            wr_f16(b + 80, 0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++) {
                int l = nearest_int(iscale * mins[j]);
                ysc[j] |= (uint8_t)(l << 4);
            }
            wr_f16(b + 82, max_min / q4scale);
        } else {
            wr_f16(b + 82, 0.f);
        }
        const float yd = rd_f16(b + 80), ydmin = rd_f16(b + 82);
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = yd * (ysc[j] & 0xF);
            if (!d) continue;
            const float dm = ydmin * (ysc[j] >> 4);
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)MAX(0, MIN(3, l));
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                          (L[j + l + 96] << 6));
    }
}

static void q_q3_k(const float *x, uint8_t *b, int64_t nb) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 110) {
        uint8_t *hmask = b, *qs = b + 32, *ysc = b + 96;
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, 1);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(ysc, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)(MAX(-32, MIN(31, l)) + 32);
                if (j < 8)
                    ysc[j] = l & 0xF;
                else
                    ysc[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                ysc[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            wr_f16(b + 108, 1 / iscale);
        } else {
            wr_f16(b + 108, 0.f);
        }
        const float yd = rd_f16(b + 108);
        for (int j = 0; j < QK_K / 16; j++) {
            int8_t sc = (int8_t)(j < 8 ? ysc[j] & 0xF : ysc[j - 8] >> 4);
            sc = (int8_t)((sc | (((ysc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
            float d = yd * sc;
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = MAX(-4, MIN(3, l));
                L[16 * j + ii] = (int8_t)(l + 4);
            }
        }
        memset(hmask, 0, QK_K / 8);
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < QK_K; j++) {
            if (L[j] > 3) {
                hmask[m] |= hm;
                L[j] -= 4;
            }
            if (++m == QK_K / 8) {
                m = 0;
                hm <<= 1;
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                          (L[j + l + 96] << 6));
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per 32-element sub-block scale and min, then
 * 6-bit quantized scales/mins packed as get_scale_min_k4 reads them. Writes d, dmin and the
 * 12 scale bytes at b and the levels into L. */
static void qk_scales_mins(const float *x, uint8_t *b, uint8_t *L, int nmax, float rmin,
                           int nstep) {
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    uint8_t *ysc = b + 4;
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        ls = MIN(63, ls);
        lm = MIN(63, lm);
        if (j < 4) {
            ysc[j] = ls;
            ysc[j + 4] = lm;
        } else {
            ysc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            ysc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            ysc[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    wr_f16(b, max_scale / 63.f);
    wr_f16(b + 2, max_min / 63.f);
    const float yd = rd_f16(b), ydmin = rd_f16(b + 2);
    uint8_t sc, m;
    for (int j = 0; j < QK_K / 32; j++) {
        get_scale_min_k4(j, ysc, &sc, &m);
        const float d = yd * sc;
        if (!d) continue;
        const float dm = ydmin * m;
        for (int ii = 0; ii < 32; ii++) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
        }
    }
}

static void q_q4_k(const float *x, uint8_t *b, int64_t nb) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 144) {
        memset(b + 4, 0, K_SCALE_SIZE);
        qk_scales_mins(x, b, L, 15, -1.f, 20);
        uint8_t *q = b + 16;
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

static void q_q5_k(const float *x, uint8_t *b, int64_t nb) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 176) {
        memset(b + 4, 0, K_SCALE_SIZE);
        qk_scales_mins(x, b, L, 31, -0.5f, 15);
        uint8_t *qh = b + 16, *ql = b + 48;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int n = 0; n < QK_K; n += 64) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                int l2 = L[n + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 <<= 2;
            m2 <<= 2;
            ql += 32;
        }
    }
}

static void q_q6_k(const float *x, uint8_t *b, int64_t nb) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K, b += 210) {
        uint8_t *ql = b, *qh = b + 128;
        int8_t *ysc = (int8_t *)(b + 192);
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(b, 0, 210);
            continue;
        }
        float iscale = -128.f / max_scale;
        wr_f16(b + 208, 1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++)
            ysc[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));
        const float yd = rd_f16(b + 208);
        for (int j = 0; j < QK_K / 16; j++) {
            float d = yd * ysc[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = MAX(-32, MIN(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

int ms_quantize_row(ms_type t, const float *src, void *dst, int64_t n) {
    const type_traits *tt = traits((int)t);
    if (!tt || n < 0 || n % tt->blck != 0) return MS_ERR_INPUT;
    uint8_t *b = dst;
    const int64_t nb = n / tt->blck;
    switch (t) {
    case MS_TYPE_F32:
        memcpy(dst, src, (size_t)n * 4);
        break;
    case MS_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            wr_f16(b + 2 * i, src[i]);
        break;
    case MS_TYPE_F8_E4M3:
        for (int64_t i = 0; i < n; i++)
            b[i] = ms_f32_to_f8e4m3(src[i]);
        break;
    case MS_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = ms_f32_to_bf16(src[i]);
            memcpy(b + 2 * i, &h, 2);
        }
        break;
    case MS_TYPE_Q4_0:
        q_q4_0(src, b, nb);
        break;
    case MS_TYPE_Q4_1:
        q_q4_1(src, b, nb);
        break;
    case MS_TYPE_Q5_0:
        q_q5_0(src, b, nb);
        break;
    case MS_TYPE_Q5_1:
        q_q5_1(src, b, nb);
        break;
    case MS_TYPE_Q8_0:
        q_q8_0(src, b, nb);
        break;
    case MS_TYPE_MXFP4:
        q_mxfp4(src, b, nb);
        break;
    case MS_TYPE_Q2_K:
        q_q2_k(src, b, nb);
        break;
    case MS_TYPE_Q3_K:
        q_q3_k(src, b, nb);
        break;
    case MS_TYPE_Q4_K:
        q_q4_k(src, b, nb);
        break;
    case MS_TYPE_Q5_K:
        q_q5_k(src, b, nb);
        break;
    case MS_TYPE_Q6_K:
        q_q6_k(src, b, nb);
        break;
    case MS_TYPE_MXFP4_HF: /* its exponents live apart: the fixture writer quantizes MXFP4 */
        return MS_ERR_INPUT;
    }
    return 0;
}
