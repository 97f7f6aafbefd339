/* forward_bench.c — times moescope's forward pass inside one process, as llama.cpp's side of
 * bench/forward_bench.sh is timed: the model is opened once, the window runs REPEATS times
 * and the best pass counts (later passes find the mmapped weights already paged in).
 *
 * usage: forward_bench MODEL IDS.json THREADS [REPEATS] [routing]
 *   IDS.json: a JSON array of token ids. "routing": routing-only passes (no logits).
 * Prints one JSON line: best wall and CPU seconds of a pass, tokens/s, per-stage profile. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A flat JSON array of integers; returns the count or -1. */
static int64_t read_ids(const char *path, int32_t **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int64_t n = 0, cap = 1024;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    int c;
    while (ids && (c = fgetc(f)) != EOF) {
        if (c < '0' || c > '9') continue;
        long v = c - '0';
        while ((c = fgetc(f)) != EOF && c >= '0' && c <= '9')
            v = v * 10 + (c - '0');
        if (n == cap) {
            int32_t *g = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            if (!g) break;
            ids = g;
        }
        ids[n++] = (int32_t)v;
    }
    fclose(f);
    *out = ids;
    return ids ? n : -1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: forward_bench MODEL IDS.json THREADS [REPEATS] [routing]\n");
        return 2;
    }
    int threads = atoi(argv[3]), repeats = argc > 4 ? atoi(argv[4]) : 3;
    int routing = argc > 5 && !strcmp(argv[5], "routing");
    int32_t *ids = NULL;
    int64_t n = read_ids(argv[2], &ids);
    if (n < 1) {
        fprintf(stderr, "%s: no token ids\n", argv[2]);
        return 2;
    }
    char err[512];
    ms_model *m;
    ms_model_opts mo = {argv[1]};
    if (ms_model_open(&m, &mo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    ms_engine_opts eo = {threads, n, routing ? 0 : MS_LOGITS_LAST};
    ms_engine *e;
    if (ms_engine_open(&e, m, &eo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *logits = malloc((size_t)hp->n_vocab * sizeof(float));
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < repeats; r++) {
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (ms_forward(e, ids, n, NULL, NULL, routing ? NULL : logits, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        double w = clock_s(CLOCK_MONOTONIC) - w0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (w < best) best = w;
        if (c < best_cpu) best_cpu = c;
    }
    ms_profile p;
    ms_engine_profile(e, &p);
    printf("{\"engine\":\"moescope\",\"tokens\":%lld,\"threads\":%d,\"mode\":\"%s\","
           "\"best_seconds\":%.3f,\"best_cpu_seconds\":%.3f,\"tokens_per_second\":%.1f,"
           "\"profile_all_passes\":{\"attention\":%.3f,\"router\":%.3f,\"experts\":%.3f,"
           "\"lm_head\":%.3f,\"other\":%.3f,\"dequant_cpu\":%.3f}}\n",
           (long long)n, threads, routing ? "routing" : "logits", best, best_cpu, (double)n / best,
           p.attention, p.router, p.experts, p.lm_head, p.other, p.dequant);
    free(logits);
    free(ids);
    ms_engine_close(e);
    ms_model_close(m);
    return 0;
}
