/* forward_dequant.c — dequantization of weight rows into the forward pass's f32 staging
 * blocks, with AVX2 paths (AVX-512 for F16, Q8_0, Q4_K, Q6_K, MXFP4_HF: 16 lanes) for the
 * common types (F16 with F16C, BF16, Q8_0, Q4_K, Q6_K, MXFP4, and MXFP4_HF: Hugging Face's
 * layout of MXFP4) and ms_dequantize_row (engine/quant.c, ggml's reference) for everything
 * else.
 *
 * The fast paths are bit-identical to the reference: the same float operations in the same
 * order (a product then a difference, never a fused multiply-add), only several lanes at a
 * time. tests/test_forward.c checks every type against ms_dequantize_row with memcmp, and
 * MXFP4_HF rows against ggml's layout of the same codes and exponents. */
#include "forward_int.h"

#include <assert.h>
#include <string.h>

#if defined(__AVX2__)
#include <immintrin.h>

/* 8 unsigned bytes -> 8 floats */
static inline __m256 u8x8_to_ps(__m128i v) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
}
/* 8 signed bytes -> 8 floats */
static inline __m256 i8x8_to_ps(__m128i v) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

static inline float rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
#if defined(__F16C__)
    return _cvtsh_ss(h); /* exact, like ms_f16_to_f32 (NaNs come out quiet in both) */
#else
    return ms_f16_to_f32(h);
#endif
}

#if defined(__F16C__)
/* F16: the hardware conversion (VCVTPH2PS) is exact, so it equals ms_f16_to_f32 bit for bit
 * on every finite, infinite and subnormal value. 32 values per step keep four conversions in
 * flight. */
static void deq_f16(const uint8_t *b, float *y, int64_t n) {
    int64_t i = 0;
#if defined(__AVX512F__)
    for (; i + 32 <= n; i += 32) {
        const __m256i *p = (const __m256i *)(const void *)(b + 2 * i);
        __m512 a0 = _mm512_cvtph_ps(_mm256_loadu_si256(p));
        __m512 a1 = _mm512_cvtph_ps(_mm256_loadu_si256(p + 1));
        _mm512_storeu_ps(y + i, a0);
        _mm512_storeu_ps(y + i + 16, a1);
    }
#endif
    for (; i + 32 <= n; i += 32) {
        const __m128i *p = (const __m128i *)(const void *)(b + 2 * i);
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128(p));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128(p + 1));
        __m256 a2 = _mm256_cvtph_ps(_mm_loadu_si128(p + 2));
        __m256 a3 = _mm256_cvtph_ps(_mm_loadu_si128(p + 3));
        _mm256_storeu_ps(y + i, a0);
        _mm256_storeu_ps(y + i + 8, a1);
        _mm256_storeu_ps(y + i + 16, a2);
        _mm256_storeu_ps(y + i + 24, a3);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(b + 2 * i))));
    for (; i < n; i++)
        y[i] = rd_f16(b + 2 * i);
}
#endif

/* BF16: the upper half of an f32 (Hugging Face checkpoints). */
static void deq_bf16(const uint8_t *b, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(b + 2 * i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(w));
    }
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, b + 2 * i, 2);
        y[i] = ms_bf16_to_f32(h);
    }
}

/* Q8_0 block (34 bytes): f16 d, 32 int8. y = q * d. */
static void deq_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += 32) {
#if defined(__AVX512F__)
        const __m512 d16 = _mm512_set1_ps(rd_f16(b));
        for (int j = 0; j < 32; j += 16) {
            __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(b + 2 + j));
            _mm512_storeu_ps(y + j,
                             _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d16));
        }
        continue;
#endif
        const __m256 d = _mm256_set1_ps(rd_f16(b));
        for (int j = 0; j < 32; j += 8) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(b + 2 + j));
            _mm256_storeu_ps(y + j, _mm256_mul_ps(i8x8_to_ps(q), d));
        }
    }
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* Q4_K block (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of
 * nibbles. Per 64 values: y = d*sc1 * lo - dmin*m1 (32), then d*sc2 * hi - dmin*m2 (32). */
static void deq_q4_k(const uint8_t *b, float *y, int64_t nb) {
    const __m128i lo_mask = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; i++, b += 144) {
        const float d = rd_f16(b), dmin = rd_f16(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
#if defined(__AVX512F__)
        /* the 8 six-bit scales and mins at once (bytes 0-7 of u: sc[0..7], 8-15: m[0..7], as
         * scale_min_k4 gives them), then d*sc and dmin*m as 8 products each: the reference's
         * roundings, one vector multiply instead of 16 scalar ones */
        uint32_t u[4];
        memcpy(u, scales, 12);
        const uint32_t k1 = 0x3f3f3f3fu, k2 = 0x0f0f0f0fu, k3 = 0x03030303u;
        u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
        const uint32_t mins_lo = u[1] & k1;
        u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
        u[2] = mins_lo;
        u[0] &= k1;
        const __m128i scm = _mm_loadu_si128((const __m128i *)(const void *)u);
        float dsc[8], mm[8];
        _mm256_storeu_ps(
            dsc, _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(scm))));
        _mm256_storeu_ps(
            mm, _mm256_mul_ps(_mm256_set1_ps(dmin),
                              _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(scm, 8)))));
        /* per sub-block, the 16 values a nibble can take, d*sc*q - dmin*m for q = 0..15 (the
         * same two roundings per value), looked up per weight with one permute */
        const __m512 q16 = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int j = 0; j < 4; j++, q += 32, y += 64) {
            const __m512 tab1 = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(dsc[2 * j]), q16),
                                              _mm512_set1_ps(mm[2 * j]));
            const __m512 tab2 = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(dsc[2 * j + 1]), q16),
                                              _mm512_set1_ps(mm[2 * j + 1]));
            for (int h = 0; h < 32; h += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(q + h));
                __m512i l = _mm512_cvtepu8_epi32(_mm_and_si128(v, lo_mask));
                __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(v, 4), lo_mask));
                _mm512_storeu_ps(y + h, _mm512_permutexvar_ps(l, tab1));
                _mm512_storeu_ps(y + 32 + h, _mm512_permutexvar_ps(hi, tab2));
            }
        }
#else
        for (int j = 0; j < 4; j++, q += 32) {
            uint8_t sc, m;
            scale_min_k4(2 * j, scales, &sc, &m);
            const __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(dmin * m);
            scale_min_k4(2 * j + 1, scales, &sc, &m);
            const __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(dmin * m);
            for (int h = 0; h < 32; h += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(q + h));
                __m128i lo = _mm_and_si128(v, lo_mask);
                __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), lo_mask);
                __m256 l0 = u8x8_to_ps(lo), l1 = u8x8_to_ps(_mm_srli_si128(lo, 8));
                __m256 h0 = u8x8_to_ps(hi), h1 = u8x8_to_ps(_mm_srli_si128(hi, 8));
                _mm256_storeu_ps(y + h, _mm256_sub_ps(_mm256_mul_ps(d1, l0), m1));
                _mm256_storeu_ps(y + h + 8, _mm256_sub_ps(_mm256_mul_ps(d1, l1), m1));
                _mm256_storeu_ps(y + 32 + h, _mm256_sub_ps(_mm256_mul_ps(d2, h0), m2));
                _mm256_storeu_ps(y + 32 + h + 8, _mm256_sub_ps(_mm256_mul_ps(d2, h1), m2));
            }
            y += 64;
        }
#endif
    }
}

/* Q6_K block (210 bytes): ql[128], qh[64], int8 scales[16], f16 d. For each half of 128:
 * q1..q4 from nibbles of ql and 2-bit pieces of qh, minus 32; y = (d * sc) * q. */
static void deq_q6_k(const uint8_t *b, float *y, int64_t nb) {
    const __m128i m4 = _mm_set1_epi8(0x0F), m2 = _mm_set1_epi8(3), k32 = _mm_set1_epi8(32);
    for (int64_t i = 0; i < nb; i++, b += 210) {
        const float d = rd_f16(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l += 16) {
                const int is = l / 16;
                __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(ql + l));
                __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(ql + l + 32));
                __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(qh + l));
                /* byte shifts through 16-bit lanes, masked so nothing leaks across bytes */
                __m128i h0 = _mm_slli_epi16(_mm_and_si128(h, m2), 4);
                __m128i h1 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 2), m2), 4);
                __m128i h2 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 4), m2), 4);
                __m128i h3 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 6), m2), 4);
                __m128i q[4];
                q[0] = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(a, m4), h0), k32);
                q[1] = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(c, m4), h1), k32);
                q[2] = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4), h2), k32);
                q[3] = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), m4), h3), k32);
#if defined(__AVX512F__)
                for (int s = 0; s < 4; s++)
                    _mm512_storeu_ps(y + 32 * s + l,
                                     _mm512_mul_ps(_mm512_set1_ps(d * sc[is + 2 * s]),
                                                   _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q[s]))));
                continue;
#endif
                for (int s = 0; s < 4; s++) {
                    const __m256 ds = _mm256_set1_ps(d * sc[is + 2 * s]);
                    float *o = y + 32 * s + l;
                    _mm256_storeu_ps(o, _mm256_mul_ps(ds, i8x8_to_ps(q[s])));
                    _mm256_storeu_ps(o + 8, _mm256_mul_ps(ds, i8x8_to_ps(_mm_srli_si128(q[s], 8))));
                }
            }
        }
    }
}

/* ggml_e8m0_to_fp32_half: 2^(e-128) exactly (e 0 and 1 subnormal, 255 is 2^127). */
static inline float e8m0_half(uint8_t e) {
    const uint32_t bits = e < 2 ? (uint32_t)0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* MXFP4 block (17 bytes): e8m0 e, 16 bytes of E2M1 codes (low nibbles elements 0..15).
 * The 16-entry doubled E2M1 table is one PSHUFB; y = int8 value * 2^(e-128) exactly as
 * ggml's dequantize_row_mxfp4 (an exact int8->float conversion, then one product). */
static void deq_mxfp4(const uint8_t *b, float *y, int64_t nb) {
    const __m128i tbl = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; i++, b += 17, y += 32) {
        const __m256 d = _mm256_set1_ps(e8m0_half(b[0]));
        const __m128i qs = _mm_loadu_si128((const __m128i *)(const void *)(b + 1));
        const __m128i lo = _mm_shuffle_epi8(tbl, _mm_and_si128(qs, m4));
        const __m128i hi = _mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(qs, 4), m4));
        _mm256_storeu_ps(y, _mm256_mul_ps(i8x8_to_ps(lo), d));
        _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8x8_to_ps(_mm_srli_si128(lo, 8)), d));
        _mm256_storeu_ps(y + 16, _mm256_mul_ps(i8x8_to_ps(hi), d));
        _mm256_storeu_ps(y + 24, _mm256_mul_ps(i8x8_to_ps(_mm_srli_si128(hi, 8)), d));
    }
}

/* MXFP4 as Hugging Face stores it: 16 bytes of codes per block, byte j holding elements 2j
 * (low nibble) and 2j+1 (high), the block exponents e[] apart. The two nibble tables
 * interleave back into element order with one unpack each; then the same exact int8->float
 * conversion and one product by 2^(e-128) as deq_mxfp4, so the floats are its floats. */
static void deq_mxfp4_hf(const uint8_t *q, const uint8_t *e, float *y, int64_t nb) {
    const __m128i tbl = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < nb; i++, q += 16, y += 32) {
        const __m128i qs = _mm_loadu_si128((const __m128i *)(const void *)q);
        const __m128i lo = _mm_shuffle_epi8(tbl, _mm_and_si128(qs, m4));
        const __m128i hi = _mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(qs, 4), m4));
        const __m128i v0 = _mm_unpacklo_epi8(lo, hi), v1 = _mm_unpackhi_epi8(lo, hi);
#if defined(__AVX512F__)
        const __m512 d16 = _mm512_set1_ps(e8m0_half(e[i]));
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v0)), d16));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v1)), d16));
#else
        const __m256 d = _mm256_set1_ps(e8m0_half(e[i]));
        _mm256_storeu_ps(y, _mm256_mul_ps(i8x8_to_ps(v0), d));
        _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8x8_to_ps(_mm_srli_si128(v0, 8)), d));
        _mm256_storeu_ps(y + 16, _mm256_mul_ps(i8x8_to_ps(v1), d));
        _mm256_storeu_ps(y + 24, _mm256_mul_ps(i8x8_to_ps(_mm_srli_si128(v1, 8)), d));
#endif
    }
}
#endif

void ms_fwd_dequant_mat_row(const ms_mat *w, const uint8_t *src, int64_t row, int64_t col0,
                            float *dst, int64_t n) {
    if (w->type == MS_TYPE_MXFP4_HF && w->escale) { /* the row's exponents from column col0 */
        const uint8_t *e = w->escale + row * w->scale_ld + col0 / 32;
        assert(col0 % 32 == 0 && n % 32 == 0);
#if defined(__AVX2__)
        deq_mxfp4_hf(src, e, dst, n / 32);
#else
        ms_dequantize_row_mxfp4_hf(src, e, dst, n);
#endif
        return;
    }
    ms_fwd_dequant_row(w->type, src, dst, n);
    if (!w->scale) return;
    /* FP8 block scales: one per 128 x 128 block */
    const float *s = w->scale + (row / 128) * w->scale_ld;
    for (int64_t i = 0; i < n; i++)
        dst[i] *= s[(col0 + i) / 128];
}

void ms_fwd_dequant_row(ms_type t, const uint8_t *src, float *dst, int64_t n) {
    if (t == MS_TYPE_F32) { /* a copy (src may be unaligned) */
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
#if defined(__AVX2__)
    switch (t) {
#if defined(__F16C__)
    case MS_TYPE_F16:
        deq_f16(src, dst, n);
        return;
#endif
    case MS_TYPE_BF16:
        deq_bf16(src, dst, n);
        return;
    case MS_TYPE_Q8_0:
        deq_q8_0(src, dst, n / 32);
        return;
    case MS_TYPE_Q4_K:
        deq_q4_k(src, dst, n / 256);
        return;
    case MS_TYPE_Q6_K:
        deq_q6_k(src, dst, n / 256);
        return;
    case MS_TYPE_MXFP4:
        deq_mxfp4(src, dst, n / 32);
        return;
    default:
        break;
    }
#endif
    ms_dequantize_row(t, src, dst, n);
}
