/* dequant_speed.c — dequantization throughput of engine/quant.c per weight type (elements
 * per second and source bytes per second over a 4096 x 1024 matrix, best of 5 passes).
 * Built and run by bench/dequant_speed.sh; not a test (no timed assertions). */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    static const ms_type types[] = {MS_TYPE_F16,  MS_TYPE_BF16, MS_TYPE_Q8_0, MS_TYPE_Q4_0,
                                    MS_TYPE_Q4_1, MS_TYPE_Q5_0, MS_TYPE_Q5_1, MS_TYPE_Q2_K,
                                    MS_TYPE_Q3_K, MS_TYPE_Q4_K, MS_TYPE_Q5_K, MS_TYPE_Q6_K};
    const int64_t cols = 4096, rows = 1024;
    float *x = malloc((size_t)(cols * rows) * 4), *y = malloc((size_t)cols * 4);
    uint8_t *q = malloc((size_t)(cols * rows) * 4);
    for (int64_t i = 0; i < cols * rows; i++)
        x[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    printf("%-6s %10s %10s\n", "type", "Melem/s", "MB/s(src)");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        size_t rb = ms_type_row_bytes(types[k], cols);
        for (int64_t r = 0; r < rows; r++)
            ms_quantize_row(types[k], x + r * cols, q + r * rb, cols);
        double best = 1e9;
        volatile float sink = 0;
        for (int pass = 0; pass < 5; pass++) {
            double t0 = now();
            for (int64_t r = 0; r < rows; r++) {
                ms_dequantize_row(types[k], q + r * rb, y, cols);
                sink += y[r % cols];
            }
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("%-6s %10.0f %10.0f\n", ms_type_name(types[k]), cols * rows / best / 1e6,
               (double)rb * rows / best / 1e6);
    }
    free(x);
    free(y);
    free(q);
    return 0;
}
