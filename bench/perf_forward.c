/* perf_forward.c — the forward pass of `moescope capture` without its probes, tokenizer or
 * store, for bench/run.sh: the model is opened, then every window of WINDOWS.txt runs once as a
 * routing-only pass (no logits), exactly the windows capture ran. The probe overhead of
 * capture is its whole-process CPU time over this program's.
 *
 * usage: perf_forward MODEL WINDOWS.txt THREADS [hook|full|packed]
 *   WINDOWS.txt: one window per line, token ids separated by spaces.
 *   "hook": pass a route hook that copies every event's routes (what a probe minimally does).
 *   "full": the full forward pass llama.cpp's prompt processing does: every layer's experts
 *   and the lm_head logits of each window's last token (MS_LOGITS_LAST).
 *   "packed [N]": routing-only, lines packed greedily into passes of at most N tokens (default:
 *   the longest line) with ms_forward_packed, as capture packs short documents.
 * Prints one JSON line: tokens, windows, CPU and wall seconds of the passes, and the
 * engine's per-stage profile. */
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

typedef struct windows {
    int32_t *ids; /* (n) all tokens */
    int64_t *off; /* (n_win + 1) first token of each window */
    int64_t n, n_win, cap, cap_win;
} windows;

static int push(void **p, int64_t *cap, int64_t n, size_t size) {
    if (n < *cap) return 0;
    int64_t nc = *cap ? *cap * 2 : 1024;
    void *g = realloc(*p, (size_t)nc * size);
    if (!g) return -1;
    *p = g;
    *cap = nc;
    return 0;
}

static int read_windows(const char *path, windows *w) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    memset(w, 0, sizeof *w);
    int c, in_line = 0;
    if (push((void **)&w->off, &w->cap_win, 0, sizeof *w->off)) return -1;
    w->off[0] = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') {
            if (in_line) {
                if (push((void **)&w->off, &w->cap_win, w->n_win + 1, sizeof *w->off)) return -1;
                w->off[++w->n_win] = w->n;
            }
            in_line = 0;
            continue;
        }
        if (c < '0' || c > '9') continue;
        long v = c - '0';
        while ((c = fgetc(f)) != EOF && c >= '0' && c <= '9')
            v = v * 10 + (c - '0');
        if (push((void **)&w->ids, &w->cap, w->n, sizeof *w->ids)) return -1;
        w->ids[w->n++] = (int32_t)v;
        in_line = 1;
        if (c == '\n') {
            if (push((void **)&w->off, &w->cap_win, w->n_win + 1, sizeof *w->off)) return -1;
            w->off[++w->n_win] = w->n;
            in_line = 0;
        }
    }
    if (in_line) {
        if (push((void **)&w->off, &w->cap_win, w->n_win + 1, sizeof *w->off)) return -1;
        w->off[++w->n_win] = w->n;
    }
    fclose(f);
    return 0;
}

/* The least a probe does: copy the window's routes out. */
typedef struct sink {
    int32_t *ids;  /* (max_tokens * k) */
    float *w;      /* (max_tokens * k) */
    int64_t total; /* checksum, so the copies are not optimised away */
} sink;

static int copy_hook(void *user, const ms_route_event *ev) {
    sink *s = user;
    size_t n = (size_t)ev->n_tokens * (size_t)ev->k;
    memcpy(s->ids, ev->ids, n * sizeof *s->ids);
    memcpy(s->w, ev->weights, n * sizeof *s->w);
    s->total += s->ids[0];
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: perf_forward MODEL WINDOWS.txt THREADS [hook]\n");
        return 2;
    }
    int threads = atoi(argv[3]);
    int use_hook = argc > 4 && !strcmp(argv[4], "hook");
    int full = argc > 4 && !strcmp(argv[4], "full");
    int packed = argc > 4 && !strcmp(argv[4], "packed");
    windows w;
    if (read_windows(argv[2], &w) || w.n_win < 1) {
        fprintf(stderr, "%s: no windows\n", argv[2]);
        return 2;
    }
    int64_t max_len = 0;
    for (int64_t i = 0; i < w.n_win; i++)
        if (w.off[i + 1] - w.off[i] > max_len) max_len = w.off[i + 1] - w.off[i];
    char err[512];
    ms_model *m;
    ms_model_opts mo = {argv[1]};
    if (ms_model_open(&m, &mo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    if (packed && argc > 5 && atoll(argv[5]) > max_len) max_len = atoll(argv[5]);
    ms_engine_opts eo = {threads, max_len, full ? MS_LOGITS_LAST : 0};
    ms_engine *e;
    if (ms_engine_open(&e, m, &eo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sink s = {malloc((size_t)max_len * (size_t)hp->n_expert_used * sizeof(int32_t)),
              malloc((size_t)max_len * (size_t)hp->n_expert_used * sizeof(float)), 0};
    float *logits = full ? malloc(sizeof(float) * (size_t)hp->n_vocab) : NULL;
    int64_t *lens = malloc(sizeof(int64_t) * (size_t)w.n_win), passes = 0;
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int64_t i = 0; i < w.n_win;) {
        int64_t j = i + 1, n = w.off[i + 1] - w.off[i];
        lens[0] = n;
        while (packed && j < w.n_win && n + (w.off[j + 1] - w.off[j]) <= max_len) {
            lens[j - i] = w.off[j + 1] - w.off[j];
            n += lens[j - i];
            j++;
        }
        if (ms_forward_packed(e, w.ids + w.off[i], lens, j - i, use_hook ? copy_hook : NULL, &s,
                              logits, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        passes++;
        i = j;
    }
    double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    ms_profile p;
    ms_engine_profile(e, &p);
    printf("{\"engine\":\"moescope-forward\",\"tokens\":%lld,\"windows\":%lld,\"threads\":%d,"
           "\"hook\":%d,\"mode\":\"%s\",\"passes\":%lld,\"seconds\":%.3f,\"cpu_seconds\":%.3f,"
           "\"profile\":{\"attention\":%.3f,\"router\":%.3f,\"experts\":%.3f,"
           "\"lm_head\":%.3f,\"other\":%.3f,\"dequant_cpu\":%.3f}}\n",
           (long long)w.n, (long long)w.n_win, threads, use_hook,
           full     ? "full"
           : packed ? "packed"
                    : "routing",
           (long long)passes, wall, cpu, p.attention, p.router, p.experts, p.lm_head, p.other,
           p.dequant);
    free(logits);
    free(lens);
    free(s.ids);
    free(s.w);
    free(w.ids);
    free(w.off);
    ms_engine_close(e);
    ms_model_close(m);
    return 0;
}
