/* test_gemm.c — the engine's f32 kernel (engine/gemm.c): every element of Y = X·Wᵀ equals the
 * scalar fmaf chain in k order bit for bit, for shapes that exercise every tail (rows not a
 * multiple of the panel width, m not a multiple of the register block, k not a multiple of the
 * K block or of 8), and a row's result does not depend on how many rows are multiplied with it
 * or where they start (what packing documents into one window relies on). */
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstest.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void ref(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx, const float *w,
                int64_t ldw, float *y, int64_t ldy) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < rows; j++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < cols; k++)
                acc = fmaf(x[i * ldx + k], w[j * ldw + k], acc);
            y[i * ldy + j] = acc;
        }
}

/* The dot kernel's order, written out: 16 lanes (k mod 16), each an fmaf chain from +0, then
 * the pairwise lane sum kernels.h states. */
static void ref_dot(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx,
                    const float *w, int64_t ldw, float *y, int64_t ldy) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < rows; j++) {
            float lane[16] = {0};
            for (int64_t k = 0; k < cols; k++)
                lane[k % 16] = fmaf(x[i * ldx + k], w[j * ldw + k], lane[k % 16]);
            for (int l = 0; l < 8; l++)
                lane[l] += lane[l + 8];
            for (int l = 0; l < 4; l++)
                lane[l] += lane[l + 4];
            for (int l = 0; l < 2; l++)
                lane[l] += lane[l + 2];
            y[i * ldy + j] = lane[0] + lane[1];
        }
}

/* ms_gemm_dot: equal to ref_dot, row-invariant, and independent of the row block (a product
 * over rows [8, rows) only equals the same columns of the whole). */
static void dot_shape(int64_t m, int64_t rows, int64_t cols, const float *x, int64_t ldx,
                      const float *w, int64_t ldw, int64_t ldy) {
    float *part = malloc(sizeof(float) * ms_gemm_dot_scratch_elems());
    float *y = calloc((size_t)(m * ldy), sizeof(float));
    float *yr = calloc((size_t)(m * ldy), sizeof(float));
    float *y1 = calloc((size_t)ldy, sizeof(float));
    ms_gemm_dot(m, rows, cols, x, ldx, w, ldw, y, ldy, part);
    ref_dot(m, rows, cols, x, ldx, w, ldw, yr, ldy);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        bad += memcmp(y + i * ldy, yr + i * ldy, sizeof(float) * (size_t)ldy) != 0; /* + gaps */
    CHECK(bad == 0, "dot: m %lld rows %lld cols %lld: %d rows differ from the lane chains",
          (long long)m, (long long)rows, (long long)cols, bad);
    for (int64_t i = 0; i < m; i++) {
        ms_gemm_dot(1, rows, cols, x + i * ldx, ldx, w, ldw, y1, ldy, part);
        CHECK(memcmp(y1, y + i * ldy, sizeof(float) * (size_t)rows) == 0,
              "dot: m %lld rows %lld cols %lld: row %lld alone differs", (long long)m,
              (long long)rows, (long long)cols, (long long)i);
    }
    for (int64_t s = 1; s < m; s += 2) {
        float *ys = calloc((size_t)(m * ldy), sizeof(float));
        ms_gemm_dot(s, rows, cols, x, ldx, w, ldw, ys, ldy, part);
        ms_gemm_dot(m - s, rows, cols, x + s * ldx, ldx, w, ldw, ys + s * ldy, ldy, part);
        for (int64_t i = 0; i < m; i++)
            CHECK(memcmp(ys + i * ldy, y + i * ldy, sizeof(float) * (size_t)rows) == 0,
                  "dot: split at %lld: row %lld differs", (long long)s, (long long)i);
        free(ys);
    }
    if (rows > 8) { /* rows 3.. alone: blocks of 8 start elsewhere */
        float *ys = calloc((size_t)(m * ldy), sizeof(float));
        ms_gemm_dot(m, rows - 3, cols, x, ldx, w + 3 * ldw, ldw, ys, ldy, part);
        for (int64_t i = 0; i < m; i++)
            CHECK(memcmp(ys + i * ldy, y + i * ldy + 3, sizeof(float) * (size_t)(rows - 3)) == 0,
                  "dot: rows from 3: row %lld differs", (long long)i);
        free(ys);
    }
    free(part);
    free(y);
    free(yr);
    free(y1);
}

static void one_shape(int64_t m, int64_t rows, int64_t cols) {
    int64_t ldx = cols + 3, ldw = cols + 1, ldy = rows + 5;
    float *x = malloc(sizeof(float) * (size_t)(m * ldx));
    float *w = malloc(sizeof(float) * (size_t)(rows * ldw));
    float *p = malloc(sizeof(float) * ms_gemm_packed_elems(rows, cols));
    float *y = malloc(sizeof(float) * (size_t)(m * ldy));
    float *yr = malloc(sizeof(float) * (size_t)(m * ldy));
    float *y1 = malloc(sizeof(float) * (size_t)ldy);
    for (int64_t i = 0; i < m * ldx; i++)
        x[i] = frand();
    for (int64_t i = 0; i < rows * ldw; i++)
        w[i] = frand();
    memset(y, 0, sizeof(float) * (size_t)(m * ldy));
    memset(yr, 0, sizeof(float) * (size_t)(m * ldy));
    ms_gemm_pack(w, ldw, rows, cols, p);
    ms_gemm_packed(m, rows, cols, x, ldx, p, y, ldy);
    ref(m, rows, cols, x, ldx, w, ldw, yr, ldy);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        bad += memcmp(y + i * ldy, yr + i * ldy, sizeof(float) * (size_t)rows) != 0;
    CHECK(bad == 0, "m %lld rows %lld cols %lld: %d rows differ from the fmaf chain", (long long)m,
          (long long)rows, (long long)cols, bad);
    /* each row alone, and every split of the rows into two products */
    for (int64_t i = 0; i < m; i++) {
        ms_gemm_packed(1, rows, cols, x + i * ldx, ldx, p, y1, ldy);
        CHECK(memcmp(y1, y + i * ldy, sizeof(float) * (size_t)rows) == 0,
              "m %lld rows %lld cols %lld: row %lld alone differs", (long long)m, (long long)rows,
              (long long)cols, (long long)i);
    }
    for (int64_t s = 1; s < m; s += 3) {
        float *ys = calloc((size_t)(m * ldy), sizeof(float));
        ms_gemm_packed(s, rows, cols, x, ldx, p, ys, ldy);
        ms_gemm_packed(m - s, rows, cols, x + s * ldx, ldx, p, ys + s * ldy, ldy);
        for (int64_t i = 0; i < m; i++)
            CHECK(memcmp(ys + i * ldy, y + i * ldy, sizeof(float) * (size_t)rows) == 0,
                  "split at %lld: row %lld differs", (long long)s, (long long)i);
        free(ys);
    }
    dot_shape(m, rows, cols, x, ldx, w, ldw, ldy);
    free(x);
    free(w);
    free(p);
    free(y);
    free(yr);
    free(y1);
}

int main(void) {
    const int64_t shapes[][3] = {{1, 1, 1},     {3, 5, 7},     {8, 32, 8},    {9, 33, 257},
                                 {17, 64, 512}, {20, 31, 300}, {7, 96, 1024}, {13, 40, 64},
                                 {2, 100, 1},   {30, 16, 520}, {5, 9, 1040},  {4, 17, 1551},
                                 {19, 24, 2048}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        one_shape(shapes[i][0], shapes[i][1], shapes[i][2]);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("gemm: all shapes bit-identical to the fmaf chain and row-invariant\n");
    return 0;
}
