/* gemm.c — Y = X · Wᵀ over a packed f32 copy of W (kernels.h): a register-blocked outer-product
 * kernel (MR rows of X times one NR-column panel of W), with K cut into KC-long blocks so a
 * panel block stays in L1/L2; Y holds the running sums between K blocks (a float stored and
 * reloaded is exact, so the blocking does not change any element's fma chain).
 *
 * Paths: AVX-512F (one panel = 2 zmm), AVX2+FMA (4 ymm), and portable fmaf(); all give the same
 * bits because every element is the same sequence of correctly rounded fmas. */
#include "kernels.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define MR 8   /* rows of X per micro-kernel call */
#define KC 256 /* k per block: a panel block is KC·NR·4 = 32 KiB */

size_t ms_gemm_packed_elems(int64_t rows, int64_t cols) {
    int64_t np = (rows + MS_GEMM_NR - 1) / MS_GEMM_NR;
    return (size_t)np * (size_t)cols * MS_GEMM_NR;
}

#if defined(__AVX2__)
/* dst[kk * NR + c] = src[c * lds + kk] for an 8 x 8 block (c, kk < 8). */
static inline void transpose8(const float *src, int64_t lds, float *dst) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    const int NR = MS_GEMM_NR;
    _mm256_storeu_ps(dst + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

void ms_gemm_pack(const float *w, int64_t ldw, int64_t rows, int64_t cols, float *panel) {
    const int NR = MS_GEMM_NR;
    for (int64_t p0 = 0; p0 < rows; p0 += NR)
        ms_gemm_pack_part(w + (size_t)p0 * (size_t)ldw, ldw, rows - p0 < NR ? rows - p0 : NR, cols,
                          panel + (size_t)(p0 / NR) * (size_t)cols * NR);
}

void ms_gemm_pack_part(const float *w, int64_t ldw, int64_t nc, int64_t cols, float *dst) {
    const int NR = MS_GEMM_NR;
    int64_t k = 0;
#if defined(__AVX2__)
    if (nc == NR) /* whole panels: 8 x 8 blocks transposed in registers */
        for (; k + 8 <= cols; k += 8)
            for (int c0 = 0; c0 < NR; c0 += 8)
                transpose8(w + (size_t)c0 * (size_t)ldw + k, ldw, dst + (size_t)k * NR + c0);
#endif
    /* 8 k at a time: reads 8 consecutive floats of each row, writes 8 panel rows. */
    for (; k + 8 <= cols; k += 8) {
        for (int64_t c = 0; c < nc; c++) {
            const float *src = w + (size_t)c * (size_t)ldw + k;
            float *d = dst + (size_t)k * NR + c;
            for (int kk = 0; kk < 8; kk++)
                d[kk * NR] = src[kk];
        }
        for (int64_t c = nc; c < NR; c++)
            for (int kk = 0; kk < 8; kk++)
                dst[(size_t)(k + kk) * NR + c] = 0.0f;
    }
    for (; k < cols; k++)
        for (int64_t c = 0; c < NR; c++)
            dst[(size_t)k * NR + c] = c < nc ? w[(size_t)c * (size_t)ldw + k] : 0.0f;
}

#if defined(__AVX512F__)
/* y[i][0..nc) (+)= Σ_k x[i][k] · b[k][0..nc) for i < mr; first: start the chains from 0.
 * Always MR rows (16 zmm accumulators in registers); rows past mr repeat row mr - 1 and are not
 * stored, so a row's arithmetic never depends on mr. */
static void kern(int mr, int nc, int64_t kc, const float *x, int64_t ldx, const float *b, float *y,
                 int64_t ldy, int first) {
    const float *xr[MR];
    for (int i = 0; i < MR; i++)
        xr[i] = x + (i < mr ? i : mr - 1) * ldx;
    __mmask16 m0 = nc >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nc) - 1u);
    __mmask16 m1 = nc >= 32 ? (__mmask16)0xffff : nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1u) : 0;
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define DECL(i) __m512 c##i##0, c##i##1;
    ROWS(DECL)
#undef DECL
    if (first) {
#define ZERO(i) c##i##0 = c##i##1 = _mm512_setzero_ps();
        ROWS(ZERO)
#undef ZERO
    } else {
#define LOAD(i)                                                                                    \
    c##i##0 = _mm512_maskz_loadu_ps(m0, y + (i < mr ? i : 0) * ldy);                               \
    c##i##1 = _mm512_maskz_loadu_ps(m1, y + (i < mr ? i : 0) * ldy + 16);
        ROWS(LOAD)
#undef LOAD
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + k * MS_GEMM_NR);
        __m512 b1 = _mm512_loadu_ps(b + k * MS_GEMM_NR + 16);
#define FMA(i)                                                                                     \
    {                                                                                              \
        __m512 a = _mm512_set1_ps(xr[i][k]);                                                       \
        c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                                                 \
        c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);                                                 \
    }
        ROWS(FMA)
#undef FMA
    }
#define STORE(i)                                                                                   \
    if (i < mr) {                                                                                  \
        _mm512_mask_storeu_ps(y + i * ldy, m0, c##i##0);                                           \
        _mm512_mask_storeu_ps(y + i * ldy + 16, m1, c##i##1);                                      \
    }
    ROWS(STORE)
#undef STORE
#undef ROWS
}
#elif defined(__AVX2__) && defined(__FMA__)
#define KERN_MR_AVX2 3 /* 3 rows x 4 ymm = 12 accumulators */
static inline __attribute__((always_inline)) void kern(int mr, int nc, int64_t kc, const float *x,
                                                       int64_t ldx, const float *b, float *y,
                                                       int64_t ldy, int first) {
    for (int i0 = 0; i0 < mr; i0 += KERN_MR_AVX2) {
        int r = mr - i0 < KERN_MR_AVX2 ? mr - i0 : KERN_MR_AVX2;
        __m256 acc[KERN_MR_AVX2][4];
        float tmp[KERN_MR_AVX2][MS_GEMM_NR];
        for (int i = 0; i < r; i++)
            for (int v = 0; v < 4; v++) {
                if (first) {
                    acc[i][v] = _mm256_setzero_ps();
                } else if (nc == MS_GEMM_NR) {
                    acc[i][v] = _mm256_loadu_ps(y + (i0 + i) * ldy + 8 * v);
                } else {
                    for (int c = 0; c < 8; c++)
                        tmp[i][8 * v + c] = 8 * v + c < nc ? y[(i0 + i) * ldy + 8 * v + c] : 0.0f;
                    acc[i][v] = _mm256_loadu_ps(&tmp[i][8 * v]);
                }
            }
        const float *xr = x + i0 * ldx;
        for (int64_t k = 0; k < kc; k++) {
            const float *bk = b + k * MS_GEMM_NR;
            __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
            __m256 b2 = _mm256_loadu_ps(bk + 16), b3 = _mm256_loadu_ps(bk + 24);
            for (int i = 0; i < r; i++) {
                __m256 a = _mm256_broadcast_ss(xr + i * ldx + k);
                acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
                acc[i][2] = _mm256_fmadd_ps(a, b2, acc[i][2]);
                acc[i][3] = _mm256_fmadd_ps(a, b3, acc[i][3]);
            }
        }
        for (int i = 0; i < r; i++) {
            if (nc == MS_GEMM_NR) {
                for (int v = 0; v < 4; v++)
                    _mm256_storeu_ps(y + (i0 + i) * ldy + 8 * v, acc[i][v]);
            } else {
                for (int v = 0; v < 4; v++)
                    _mm256_storeu_ps(&tmp[i][8 * v], acc[i][v]);
                memcpy(y + (i0 + i) * ldy, tmp[i], (size_t)nc * sizeof(float));
            }
        }
    }
}
#else
static void kern(int mr, int nc, int64_t kc, const float *x, int64_t ldx, const float *b, float *y,
                 int64_t ldy, int first) {
    for (int i = 0; i < mr; i++)
        for (int c = 0; c < nc; c++) {
            float acc = first ? 0.0f : y[i * ldy + c];
            for (int64_t k = 0; k < kc; k++)
                acc = fmaf(x[i * ldx + k], b[k * MS_GEMM_NR + c], acc);
            y[i * ldy + c] = acc;
        }
}
#endif

/* The micro-kernel with a constant row count (so its accumulators live in registers). */
static void kern_rows(int mr, int nc, int64_t kc, const float *x, int64_t ldx, const float *b,
                      float *y, int64_t ldy, int first) {
#if defined(__AVX512F__)
    kern(mr, nc, kc, x, ldx, b, y, ldy, first);
#else
    switch (mr) {
#define KCASE(R)                                                                                   \
    case R:                                                                                        \
        kern(R, nc, kc, x, ldx, b, y, ldy, first);                                                 \
        break;
        KCASE(1)
        KCASE(2)
        KCASE(3)
        KCASE(4)
        KCASE(5)
        KCASE(6)
        KCASE(7)
        KCASE(8)
#undef KCASE
    default:
        break;
    }
#endif
}

void ms_gemm_packed(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx,
                    const float *panel, float *y, int64_t ldy) {
    const int64_t NR = MS_GEMM_NR, np = (rows + NR - 1) / NR;
    if (cols == 0) {
        for (int64_t i = 0; i < m; i++)
            memset(y + i * ldy, 0, (size_t)rows * sizeof(float));
        return;
    }
    for (int64_t k0 = 0; k0 < cols; k0 += KC) {
        int64_t kc = cols - k0 < KC ? cols - k0 : KC;
        for (int64_t i0 = 0; i0 < m; i0 += MR) {
            int mr = (int)(m - i0 < MR ? m - i0 : MR);
            for (int64_t p = 0; p < np; p++) {
                int nc = (int)(rows - p * NR < NR ? rows - p * NR : NR);
                kern_rows(mr, nc, kc, x + i0 * ldx + k0, ldx,
                          panel + ((size_t)p * (size_t)cols + (size_t)k0) * NR,
                          y + i0 * ldy + p * NR, ldy, k0 == 0);
            }
        }
    }
}

/* ----------------------------------------------------------------------------------------
 * The dot-product kernel (kernels.h, ms_gemm_dot_*): W's rows in their own layout, 16 lanes
 * along k. part holds, per (token t, row r), 16 running sums: part[(t·DOT_NR + r)·16 + l]
 * sums x[t][k]·w[r][k] over k ≡ l (mod 16) as one fma chain in k order from +0. */

#define DOT_NR MS_GEMM_DOT_ROWS
#define DOT_L  16
#define DOT_MT 3 /* tokens per register block: 3 x 8 rows = 24 zmm accumulators */

static size_t dot_part_elems(int64_t m) {
    return (size_t)m * DOT_NR * DOT_L;
}

size_t ms_gemm_dot_scratch_elems(void) {
    return DOT_NR * MS_GEMM_DOT_KC + (MS_GEMM_DOT_RB / DOT_NR) * dot_part_elems(MS_GEMM_DOT_MB);
}

/* The k tail (kc not a multiple of 16): lane (k mod 16), scalar fmaf, on part. */
static void dot_tail(int nt, int64_t k16, int64_t kc, const float *x, int64_t ldx,
                     const float *const *wr, float *part) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < DOT_NR; r++) {
            float *p = part + ((size_t)t * DOT_NR + (size_t)r) * DOT_L;
            for (int64_t k = k16; k < kc; k++)
                p[k % DOT_L] = fmaf(x[t * ldx + k], wr[r][k], p[k % DOT_L]);
        }
}

#if defined(__AVX512F__)
/* NT tokens x 8 rows over kc columns (NT a constant: the loops unroll and the NT x 8
 * accumulators stay in registers; 24 zmm for NT = 3). */
static inline __attribute__((always_inline)) void dot_nt(const int NT, int64_t kc, const float *x,
                                                         int64_t ldx, const float *const *wr,
                                                         float *part, int first) {
    __m512 a[3][DOT_NR];
#pragma GCC unroll 3
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 8
        for (int r = 0; r < DOT_NR; r++)
            a[t][r] =
                first ? _mm512_setzero_ps() : _mm512_loadu_ps(part + (t * DOT_NR + r) * DOT_L);
    int64_t k = 0;
    for (; k + DOT_L <= kc; k += DOT_L) {
        __m512 v[3];
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++)
            v[t] = _mm512_loadu_ps(x + t * ldx + k);
#pragma GCC unroll 8
        for (int r = 0; r < DOT_NR; r++) {
            __m512 w = _mm512_loadu_ps(wr[r] + k);
            __asm__("" : "+v"(w)); /* one load per row, not one folded into each fma */
#pragma GCC unroll 3
            for (int t = 0; t < NT; t++)
                a[t][r] = _mm512_fmadd_ps(v[t], w, a[t][r]);
        }
    }
#pragma GCC unroll 3
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 8
        for (int r = 0; r < DOT_NR; r++)
            _mm512_storeu_ps(part + (t * DOT_NR + r) * DOT_L, a[t][r]);
    if (k < kc) dot_tail(NT, k, kc, x, ldx, wr, part);
}

static void dot_group(int nt, int64_t kc, const float *x, int64_t ldx, const float *const *wr,
                      float *part, int first) {
    if (nt == 3)
        dot_nt(3, kc, x, ldx, wr, part, first);
    else if (nt == 2)
        dot_nt(2, kc, x, ldx, wr, part, first);
    else
        dot_nt(1, kc, x, ldx, wr, part, first);
}
#elif defined(__AVX2__) && defined(__FMA__)
static void dot_group(int nt, int64_t kc, const float *x, int64_t ldx, const float *const *wr,
                      float *part, int first) {
    for (int t = 0; t < nt; t++) {
        const float *xt = x + t * ldx;
        for (int r = 0; r < DOT_NR; r += 2) {
            float *p = part + ((size_t)t * DOT_NR + (size_t)r) * DOT_L;
            __m256 a0, a1, b0, b1;
            if (first) {
                a0 = a1 = b0 = b1 = _mm256_setzero_ps();
            } else {
                a0 = _mm256_loadu_ps(p), a1 = _mm256_loadu_ps(p + 8);
                b0 = _mm256_loadu_ps(p + 16), b1 = _mm256_loadu_ps(p + 24);
            }
            const float *w0 = wr[r], *w1 = wr[r + 1];
            int64_t k = 0;
            for (; k + DOT_L <= kc; k += DOT_L) {
                __m256 v0 = _mm256_loadu_ps(xt + k), v1 = _mm256_loadu_ps(xt + k + 8);
                a0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w0 + k), a0);
                a1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(w0 + k + 8), a1);
                b0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(w1 + k), b0);
                b1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(w1 + k + 8), b1);
            }
            _mm256_storeu_ps(p, a0);
            _mm256_storeu_ps(p + 8, a1);
            _mm256_storeu_ps(p + 16, b0);
            _mm256_storeu_ps(p + 24, b1);
        }
    }
    int64_t k16 = kc / DOT_L * DOT_L;
    if (k16 < kc) dot_tail(nt, k16, kc, x, ldx, wr, part);
}
#else
static void dot_group(int nt, int64_t kc, const float *x, int64_t ldx, const float *const *wr,
                      float *part, int first) {
    if (first) memset(part, 0, (size_t)nt * DOT_NR * DOT_L * sizeof(float));
    dot_tail(nt, 0, kc, x, ldx, wr, part);
}
#endif

void ms_gemm_dot_block(int64_t m, int nr, int64_t kc, const float *x, int64_t ldx, const float *w,
                       int64_t ldw, float *part, int first) {
    const float *wr[DOT_NR];
    for (int r = 0; r < DOT_NR; r++)
        wr[r] = w + (r < nr ? r : nr - 1) * ldw;
    for (int64_t t0 = 0; t0 < m; t0 += DOT_MT) {
        int nt = (int)(m - t0 < DOT_MT ? m - t0 : DOT_MT);
        dot_group(nt, kc, x + t0 * ldx, ldx, wr, part + (size_t)t0 * DOT_NR * DOT_L, first);
    }
}

void ms_gemm_dot_finish(int64_t m, int nr, const float *part, float *y, int64_t ldy) {
    for (int64_t t = 0; t < m; t++)
        for (int r = 0; r < nr; r++) {
#if defined(__AVX512F__)
            const float *q = part + ((size_t)t * DOT_NR + (size_t)r) * DOT_L;
            __m512 v = _mm512_loadu_ps(q);
            __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
            __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
            __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
            y[t * ldy + r] = _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
            continue;
#endif
            const float *p = part + ((size_t)t * DOT_NR + (size_t)r) * DOT_L;
            float s[8];
            for (int l = 0; l < 8; l++)
                s[l] = p[l] + p[l + 8];
            for (int l = 0; l < 4; l++)
                s[l] = s[l] + s[l + 4];
            for (int l = 0; l < 2; l++)
                s[l] = s[l] + s[l + 2];
            y[t * ldy + r] = s[0] + s[1];
        }
}

void ms_gemm_dot_run(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx,
                     ms_gemm_rows_fn rows_fn, void *ctx, float *y, int64_t ldy, float *scratch) {
    float *stage = scratch, *part = scratch + DOT_NR * MS_GEMM_DOT_KC;
    const int64_t RB = MS_GEMM_DOT_RB;
    for (int64_t t0 = 0; t0 < m; t0 += MS_GEMM_DOT_MB) {
        int64_t mb = m - t0 < MS_GEMM_DOT_MB ? m - t0 : MS_GEMM_DOT_MB;
        /* RB rows share each KC-column block of the activations (in L2), 8 at a time */
        for (int64_t b0 = 0; b0 < rows; b0 += RB) {
            int64_t b1 = rows - b0 < RB ? rows : b0 + RB;
            if (cols == 0)
                memset(part, 0, (size_t)(RB / DOT_NR) * dot_part_elems(mb) * sizeof(float));
            for (int64_t k0 = 0; k0 < cols; k0 += MS_GEMM_DOT_KC) {
                int64_t kc = cols - k0 < MS_GEMM_DOT_KC ? cols - k0 : MS_GEMM_DOT_KC;
                for (int64_t r0 = b0; r0 < b1; r0 += DOT_NR) {
                    int nr = (int)(b1 - r0 < DOT_NR ? b1 - r0 : DOT_NR);
                    rows_fn(ctx, r0, nr, k0, kc, stage);
                    ms_gemm_dot_block(mb, nr, kc, x + t0 * ldx + k0, ldx, stage, kc,
                                      part + (size_t)((r0 - b0) / DOT_NR) * dot_part_elems(mb),
                                      k0 == 0);
                }
            }
            for (int64_t r0 = b0; r0 < b1; r0 += DOT_NR)
                ms_gemm_dot_finish(mb, (int)(b1 - r0 < DOT_NR ? b1 - r0 : DOT_NR),
                                   part + (size_t)((r0 - b0) / DOT_NR) * dot_part_elems(mb),
                                   y + t0 * ldy + r0, ldy);
        }
    }
}

typedef struct f32_rows {
    const float *w;
    int64_t ldw;
} f32_rows;

/* rows copied into a contiguous block (rows a power of two apart would share L1 sets) */
static void copy_rows(void *ctx, int64_t r0, int nr, int64_t k0, int64_t kc, float *dst) {
    const f32_rows *f = ctx;
    for (int r = 0; r < nr; r++)
        memcpy(dst + r * kc, f->w + (r0 + r) * f->ldw + k0, (size_t)kc * sizeof(float));
}

void ms_gemm_dot(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx, const float *w,
                 int64_t ldw, float *y, int64_t ldy, float *scratch) {
    f32_rows f = {w, ldw};
    ms_gemm_dot_run(m, rows, cols, x, ldx, copy_rows, &f, y, ldy, scratch);
}
