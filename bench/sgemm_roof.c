/* sgemm_roof.c — the machine's sgemm roofline at the shapes of the forward pass, for
 * bench/run.sh: C (M, N) = A (M, K) · Bᵀ (B stored (N, K), as the engine's weight tiles),
 * OpenBLAS single-threaded in one thread, then in two threads each running its own
 * single-threaded sgemm (how the engine's pool uses it), then OpenBLAS's own 2 threads.
 *
 * usage: sgemm_roof [SECONDS_PER_SHAPE]
 * Prints one JSON line per shape with GFLOP/s (wall; best of several runs). */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    int m, n, k, reps;
    float *a, *b, *c; /* (m, k), (n, k), (m, n) */
} job;

static void *run(void *arg) {
    job *j = arg;
    for (int r = 0; r < j->reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->m, j->n, j->k, 1.0f, j->a, j->k,
                    j->b, j->k, 0.0f, j->c, j->n);
    return NULL;
}

static float *fill(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* GFLOP/s of n_par threads each running reps sgemms (best of 3). */
static double gflops(int m, int n, int k, int n_par, int reps) {
    job jobs[2];
    pthread_t th[2];
    for (int i = 0; i < n_par; i++)
        jobs[i] =
            (job){m, n, k, reps, fill((size_t)m * k), fill((size_t)n * k), fill((size_t)m * n)};
    double best = 0.0;
    for (int trial = 0; trial < 3; trial++) {
        double t0 = now_s();
        for (int i = 1; i < n_par; i++)
            pthread_create(&th[i], NULL, run, &jobs[i]);
        run(&jobs[0]);
        for (int i = 1; i < n_par; i++)
            pthread_join(th[i], NULL);
        double g = 2.0 * m * n * (double)k * reps * n_par / (now_s() - t0) / 1e9;
        if (g > best) best = g;
    }
    for (int i = 0; i < n_par; i++) {
        free(jobs[i].a);
        free(jobs[i].b);
        free(jobs[i].c);
    }
    return best;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    /* (M tokens, N weight rows, K) of the 0.8B model with 512-token windows: expert tiles
     * (128 tokens per expert on average), the attention projections over a window, and a
     * whole expert matrix at once. */
    static const struct {
        const char *what;
        int m, n, k;
    } shapes[] = {
        {"expert gate/up tile", 128, 128, 1024}, {"expert down tile", 128, 64, 3584},
        {"q projection tile", 512, 128, 1024},   {"expert gate/up whole", 128, 3584, 1024},
        {"expert down whole", 128, 1024, 3584},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        openblas_set_num_threads(1);
        double one = gflops(m, n, k, 1, 1);
        int reps = (int)(secs * one * 1e9 / (2.0 * m * n * k));
        if (reps < 1) reps = 1;
        one = gflops(m, n, k, 1, reps);
        double two = gflops(m, n, k, 2, reps);
        openblas_set_num_threads(2);
        double ob2 = gflops(m, n, k, 1, reps);
        printf("{\"shape\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"gflops_1t\":%.1f,"
               "\"gflops_2x1t\":%.1f,\"gflops_openblas_2t\":%.1f}\n",
               shapes[s].what, m, n, k, one, two, ob2);
        fflush(stdout);
    }
    return 0;
}
