/* gemm_roof.c — the kernel roofline at the Mixtral-layer shapes of the forward pass, for
 * bench/shapes.py: Y (M, N) = X (M, K) · Wᵀ (W stored (N, K), an f32 weight tile) with OpenBLAS
 * sgemm (one thread) and with moescope's kernels (engine/gemm.c: the packed kernel with its
 * packing, and the multiply alone; the dot-product kernel the forward pass uses, on f32 rows).
 * GFLOP per CPU second of the process (robust on a shared machine), best of 3 rounds of about
 * SECONDS each.
 *
 * usage: gemm_roof [SECONDS_PER_SHAPE]   (one JSON line per shape) */
#include "kernels.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 0.5;
    static const struct {
        const char *name;
        int m, n, k;
    } shapes[] = {{"expert gate/up tile", 128, 64, 4096},
                  {"expert down tile", 128, 64, 14336},
                  {"q projection tile", 512, 64, 4096},
                  {"expert gate/up tile, 32 tokens", 32, 64, 4096},
                  {"Qwen3 expert gate/up tile, 20 tokens", 20, 128, 2048},
                  {"Qwen3 expert down tile, 20 tokens", 20, 320, 768},
                  {"Qwen3 q projection tile", 512, 128, 2048}};
    openblas_set_num_threads(1);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        float *x = malloc(sizeof(float) * (size_t)m * (size_t)k);
        float *w = malloc(sizeof(float) * (size_t)n * (size_t)k);
        float *y = malloc(sizeof(float) * (size_t)m * (size_t)n);
        float *p = malloc(sizeof(float) * ms_gemm_packed_elems(n, k));
        float *part = malloc(sizeof(float) * ms_gemm_dot_scratch_elems());
        if (!x || !w || !y || !p || !part) return 1;
        for (size_t i = 0; i < (size_t)m * (size_t)k; i++)
            x[i] = (float)(i % 13) * 0.01f - 0.06f;
        for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
            w[i] = (float)(i % 7) * 0.02f - 0.06f;
        double fl = 2.0 * m * n * k, best[4] = {1e30, 1e30, 1e30, 1e30};
        int reps = (int)(budget * 50e9 / fl) + 1;
        for (int round = 0; round < 3; round++) {
            double t0 = cpu_s();
            for (int r = 0; r < reps; r++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k,
                            0.0f, y, n);
            double t1 = cpu_s();
            for (int r = 0; r < reps; r++) {
                ms_gemm_pack(w, k, n, k, p);
                ms_gemm_packed(m, n, k, x, k, p, y, n);
            }
            double t2 = cpu_s();
            for (int r = 0; r < reps; r++)
                ms_gemm_packed(m, n, k, x, k, p, y, n);
            double t3 = cpu_s();
            for (int r = 0; r < reps; r++)
                ms_gemm_dot(m, n, k, x, k, w, k, y, n, part);
            double t4 = cpu_s(), d[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
            for (int i = 0; i < 4; i++)
                if (d[i] < best[i]) best[i] = d[i];
        }
        printf("{\"shape\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"openblas\":%.1f,\"ours_pack\":%.1f,"
               "\"ours\":%.1f,\"dot\":%.1f,\"openblas_core\":\"%s\"}\n",
               shapes[s].name, m, n, k, fl * reps / best[0] / 1e9, fl * reps / best[1] / 1e9,
               fl * reps / best[2] / 1e9, fl * reps / best[3] / 1e9, openblas_get_corename());
        free(x);
        free(w);
        free(y);
        free(p);
        free(part);
    }
    return 0;
}
