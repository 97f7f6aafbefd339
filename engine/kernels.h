/* kernels.h — engine-private matrix kernel: Y = X · Wᵀ in f32 for a weight matrix of any
 * stored type once its rows are f32 (forward.c dequantizes a tile of rows, packs it here and
 * multiplies).
 *
 * Why our own kernel and not OpenBLAS's sgemm: OpenBLAS's result for a row of Y depends on how
 * many rows X has (measured on 0.3.21, Haswell and SkylakeX/Cooperlake kernels: the rows of a
 * 1..16-row product differ in the last bits from the same rows inside a 70-row product), so a
 * token's activations would depend on which other tokens share its window and its experts.
 * Here every element of Y is one chain of fused multiply-adds in k order, starting from 0:
 *     y[i][j] = fma(x[i][K-1], w[j][K-1], ... fma(x[i][1], w[j][1], x[i][0]·w[j][0]))
 * whatever m, the row offset, the tiling, the vector width (AVX-512, AVX2 or scalar fmaf) or
 * the thread. So results are bit-identical for any batch composition: the precondition for
 * packing several documents into one window (ms_forward_packed) with routes identical to one
 * document per pass. */
#ifndef MS_KERNELS_H
#define MS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Columns of W per packed panel. */
#define MS_GEMM_NR 32

/* Floats a packed copy of (rows, cols) needs: ceil(rows / NR) panels of (cols, NR). */
size_t ms_gemm_packed_elems(int64_t rows, int64_t cols);
/* Packs W (rows, cols), row stride ldw floats, into panels: panel p holds
 * panel[(p·cols + k)·NR + c] = W[p·NR + c][k], zero for rows past the end. */
void ms_gemm_pack(const float *w, int64_t ldw, int64_t rows, int64_t cols, float *panel);
/* The columns [k0, k0 + cols) of one panel from nc <= NR rows of W (row stride ldw, starting at
 * column k0): dst = panel + (p·total_cols + k0)·NR. Lets a caller dequantize a few blocks of
 * NR rows at a time (in L1) and pack them, instead of a whole f32 tile. */
void ms_gemm_pack_part(const float *w, int64_t ldw, int64_t nc, int64_t cols, float *dst);
/* Y (m, rows) = X (m, cols) · Wᵀ for a packed W; X row stride ldx, Y row stride ldy. */
void ms_gemm_packed(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx,
                    const float *panel, float *y, int64_t ldy);

#endif
