/* quant_ggml_ref.c — oracle harness compiled at test time by tests/quant_oracle.py against
 * llama.cpp's own ggml/src/ggml-quants.c (from the source bundle): runs ggml's reference
 * quantize_row_*_ref / dequantize_row_* on files, like test_quant does with ours.
 *   quant_ggml_ref deq|quant TYPE IN OUT
 * Not part of the moescope build. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Symbols ggml-quants.c references from the rest of ggml (only its IQ paths use them). */
void ggml_abort(const char *file, int line, const char *fmt, ...);
void ggml_abort(const char *file, int line, const char *fmt, ...) {
    (void)fmt;
    fprintf(stderr, "ggml_abort %s:%d\n", file, line);
    abort();
}
size_t ggml_row_size(int type, int64_t ne);
size_t ggml_row_size(int type, int64_t ne) {
    (void)type, (void)ne;
    abort();
}
const char *ggml_type_name(int type);
const char *ggml_type_name(int type) {
    (void)type;
    return "?";
}
size_t ggml_type_size(int type);
size_t ggml_type_size(int type) {
    (void)type;
    abort();
}

#define DECL(n)                                                                                    \
    void quantize_row_##n##_ref(const float *, void *, int64_t);                                   \
    void dequantize_row_##n(const void *, float *, int64_t);
DECL(q4_0)
DECL(q4_1)
DECL(q5_0)
DECL(q5_1)
DECL(q8_0)
DECL(q2_K)
DECL(q3_K)
DECL(q4_K)
DECL(q5_K)
DECL(q6_K)
DECL(mxfp4)

static const struct {
    const char *name;
    int blck;
    int bytes;
    void (*q)(const float *, void *, int64_t);
    void (*d)(const void *, float *, int64_t);
} types[] = {
    {"Q4_0", 32, 18, quantize_row_q4_0_ref, dequantize_row_q4_0},
    {"Q4_1", 32, 20, quantize_row_q4_1_ref, dequantize_row_q4_1},
    {"Q5_0", 32, 22, quantize_row_q5_0_ref, dequantize_row_q5_0},
    {"Q5_1", 32, 24, quantize_row_q5_1_ref, dequantize_row_q5_1},
    {"Q8_0", 32, 34, quantize_row_q8_0_ref, dequantize_row_q8_0},
    {"Q2_K", 256, 84, quantize_row_q2_K_ref, dequantize_row_q2_K},
    {"Q3_K", 256, 110, quantize_row_q3_K_ref, dequantize_row_q3_K},
    {"Q4_K", 256, 144, quantize_row_q4_K_ref, dequantize_row_q4_K},
    {"Q5_K", 256, 176, quantize_row_q5_K_ref, dequantize_row_q5_K},
    {"Q6_K", 256, 210, quantize_row_q6_K_ref, dequantize_row_q6_K},
    {"MXFP4", 32, 17, quantize_row_mxfp4_ref, dequantize_row_mxfp4},
};

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    int k = -1;
    for (int i = 0; i < (int)(sizeof types / sizeof types[0]); i++)
        if (strcmp(types[i].name, argv[2]) == 0) k = i;
    if (k < 0) return 2;
    FILE *f = fopen(argv[3], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *in = malloc((size_t)n + 1);
    if (fread(in, 1, (size_t)n, f) != (size_t)n) return 2;
    fclose(f);
    void *out;
    size_t on;
    if (strcmp(argv[1], "deq") == 0) {
        int64_t ne = n / types[k].bytes * types[k].blck;
        on = (size_t)ne * 4;
        out = malloc(on + 1);
        types[k].d(in, out, ne);
    } else {
        int64_t ne = n / 4;
        on = (size_t)(ne / types[k].blck * types[k].bytes);
        out = calloc(1, on + 1);
        types[k].q((const float *)in, out, ne);
    }
    f = fopen(argv[4], "wb");
    if (!f || fwrite(out, 1, on, f) != on || fclose(f) != 0) return 1;
    return 0;
}
