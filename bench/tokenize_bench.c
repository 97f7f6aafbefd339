/* tokenize_bench.c — throughput of ms_tokenize (MB/s of input text, CPU time of this process
 * and wall time; best of 3) for the GGUF tokenizer and for a tokenizer.json of the same
 * vocabulary, on whole files (one document each) and on 100 KB documents. Built and run by
 * bench/tokenize.sh. */
#include "engine.h"
#include "tokenizer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void run(const ms_tokenizer *t, const char *label, const char *name, const char *text,
                size_t len, size_t doc) {
    double best_cpu = 1e30, best_wall = 1e30;
    int64_t tokens = 0;
    for (int rep = 0; rep < 3; rep++) {
        double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
        tokens = 0;
        for (size_t off = 0; off < len; off += doc) {
            size_t n = len - off < doc ? len - off : doc;
            int32_t *ids;
            int64_t k;
            if (ms_tokenize(t, text + off, n, 0, &ids, &k)) exit(1);
            tokens += k;
            free(ids);
        }
        double c = now(CLOCK_PROCESS_CPUTIME_ID) - c0, w = now(CLOCK_MONOTONIC) - w0;
        if (c < best_cpu) best_cpu = c;
        if (w < best_wall) best_wall = w;
    }
    char docs[32];
    if (doc >= len)
        snprintf(docs, sizeof docs, "whole");
    else
        snprintf(docs, sizeof docs, "%zu KB", doc / 1000);
    printf("%-15s %-10s %-8s %10zu %10lld %9.1f %9.1f %10.2f\n", label, name, docs, len,
           (long long)tokens, (double)len / best_cpu / 1e6, (double)len / best_wall / 1e6,
           (double)tokens / best_cpu / 1e6);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tokenize_bench VOCAB.gguf WORKDIR FILE...\n");
        return 2;
    }
    char err[512], jpath[1024];
    ms_tokenizer *g = NULL, *j = NULL;
    if (ms_tokenizer_open(&g, argv[1], err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    snprintf(jpath, sizeof jpath, "%s/tokenizer.json", argv[2]);
    /* The tokenizer.json writer writes the SentencePiece form: not for byte-level vocabularies */
    if (!ms_tokenizer_byte_level(g) && (ms_tokenizer_write_json(g, jpath, err, sizeof err) ||
                                        ms_tokenizer_open(&j, jpath, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%-15s %-10s %-8s %10s %10s %9s %9s %10s\n", "tokenizer", "corpus", "docs", "bytes",
           "tokens", "MB/s cpu", "MB/s wall", "Mtok/s cpu");
    for (int i = 3; i < argc; i++) {
        size_t len;
        char *text = slurp(argv[i], &len);
        if (!text) {
            fprintf(stderr, "cannot read %s\n", argv[i]);
            return 1;
        }
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        run(g, "gguf", name, text, len, len);
        if (j) run(j, "tokenizer.json", name, text, len, len);
        if (len > 200000) run(g, "gguf", name, text, len, 100000);
        free(text);
    }
    ms_tokenizer_free(j);
    ms_tokenizer_free(g);
    return 0;
}
