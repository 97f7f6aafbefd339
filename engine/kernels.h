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

/* The dot-product kernel, what the forward pass uses: W's rows stay in their own layout (f32 rows
 * straight from an F32 tensor, or a few rows dequantized into a small L1 staging area), so
 * nothing is packed. Every element of Y is 16 fma chains, lane l summing x[i][k]·w[j][k] over
 * k ≡ l (mod 16) in k order from +0, then a fixed pairwise sum of the 16 lanes:
 *     s[l] = p[l] + p[l+8] (l < 8); s[l] += s[l+4] (l < 4); s[l] += s[l+2] (l < 2); s[0] + s[1]
 * whatever m, the tiling, the K blocking, the vector width or the thread (AVX-512, AVX2 and
 * scalar fmaf give the same bits), so it keeps the row invariance above. */

/* Rows of W per block (the caller stages at most this many rows at a time). */
#define MS_GEMM_DOT_ROWS 8
/* Columns per block in ms_gemm_dot (and the staging width the forward pass uses): a multiple
 * of 16 and of every quantization block (256). */
#define MS_GEMM_DOT_KC 512

/* Tokens per block: a block's activations (MB x KC) and running sums stay in L2; each weight
 * row is staged once per MB tokens. */
#define MS_GEMM_DOT_MB 128
/* Rows per row block: for each KC columns of the activations (MB x KC, in L2), the row block's
 * 8-row groups are staged and multiplied in turn (order: tokens, row blocks, KC, 8 rows). */
#define MS_GEMM_DOT_RB 32

/* Stages rows [r0, r0 + nr) (nr <= 8), columns [k0, k0 + kc) of W as f32 into dst (nr, kc)
 * (row stride kc): dequantizes, converts or copies. */
typedef void (*ms_gemm_rows_fn)(void *ctx, int64_t r0, int nr, int64_t k0, int64_t kc, float *dst);

/* Floats of scratch ms_gemm_dot_run needs (per thread): the staged rows and the running sums. */
size_t ms_gemm_dot_scratch_elems(void);
/* Y (m, rows) = X (m, cols) · Wᵀ, W's rows staged by rows_fn in blocks of 8 rows x KC columns,
 * for MB tokens at a time. */
void ms_gemm_dot_run(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx,
                     ms_gemm_rows_fn rows_fn, void *ctx, float *y, int64_t ldy, float *scratch);
/* The same for an f32 W (stride ldw) in memory. */
void ms_gemm_dot(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx, const float *w,
                 int64_t ldw, float *y, int64_t ldy, float *scratch);

/* The block steps ms_gemm_dot_run is made of. part holds the running sums of the block's
 * tokens: 128 floats per token. Adds columns [k0, k0 + kc) of X (m rows, stride ldx, x
 * pointing at column k0) times nr <= 8 rows of W (stride ldw, w pointing at column k0) into
 * part; first: start from 0. k0 must be a multiple of 16 (the lane of column k is k mod 16),
 * so only the last block may have kc % 16. */
void ms_gemm_dot_block(int64_t m, int nr, int64_t kc, const float *x, int64_t ldx, const float *w,
                       int64_t ldw, float *part, int first);
/* y[i][r] (stride ldy) = the lane sum of part for i < m, r < nr. */
void ms_gemm_dot_finish(int64_t m, int nr, const float *part, float *y, int64_t ldy);

#endif
