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

static int failures;
#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

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
                                 {2, 100, 1},   {30, 16, 520}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        one_shape(shapes[i][0], shapes[i][1], shapes[i][2]);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("gemm: all shapes bit-identical to the fmaf chain and row-invariant\n");
    return 0;
}
