/* test_quant.c — a small tool that exposes engine/quant.c to the oracle script
 * (tests/quant_oracle.py), which compares its output bit for bit with independent
 * implementations (gguf-py's numpy quants and ggml's reference C code from llama.cpp's
 * source), plus self-checks that need no oracle.
 *
 *   test_quant deq TYPE IN OUT    raw blocks of TYPE in IN -> float32 values in OUT
 *   test_quant quant TYPE IN OUT  float32 values in IN -> raw blocks of TYPE in OUT
 *   test_quant self               geometry, f16/bf16 conversions, round-trip error bounds
 * TYPE is a ggml type name (F16, Q4_K, ...). Exit status 0 on success. */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstest.h"

static const ms_type all_types[] = {MS_TYPE_F32,  MS_TYPE_F16,  MS_TYPE_BF16, MS_TYPE_Q4_0,
                                    MS_TYPE_Q4_1, MS_TYPE_Q5_0, MS_TYPE_Q5_1, MS_TYPE_Q8_0,
                                    MS_TYPE_Q2_K, MS_TYPE_Q3_K, MS_TYPE_Q4_K, MS_TYPE_Q5_K,
                                    MS_TYPE_Q6_K, MS_TYPE_MXFP4};
#define N_TYPES (int)(sizeof all_types / sizeof all_types[0])

static int type_by_name(const char *s, ms_type *t) {
    for (int i = 0; i < N_TYPES; i++)
        if (strcmp(ms_type_name((int)all_types[i]), s) == 0) {
            *t = all_types[i];
            return 0;
        }
    return -1;
}

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int cmd_deq(const char *tn, const char *in, const char *out) {
    ms_type t;
    size_t n;
    if (type_by_name(tn, &t)) return fprintf(stderr, "unknown type %s\n", tn), 2;
    uint8_t *src = read_all(in, &n);
    if (!src) return fprintf(stderr, "%s: cannot read\n", in), 2;
    size_t bb = ms_type_block_bytes(t);
    if (n % bb) return fprintf(stderr, "%s: not whole blocks\n", in), 2;
    int64_t ne = (int64_t)(n / bb) * ms_type_block_elems(t);
    float *dst = malloc((size_t)ne * 4 + 4);
    ms_dequantize_row(t, src, dst, ne);
    int rc = write_all(out, dst, (size_t)ne * 4);
    free(src);
    free(dst);
    return rc ? 1 : 0;
}

static int cmd_quant(const char *tn, const char *in, const char *out) {
    ms_type t;
    size_t n;
    if (type_by_name(tn, &t)) return fprintf(stderr, "unknown type %s\n", tn), 2;
    float *src = read_all(in, &n);
    if (!src) return fprintf(stderr, "%s: cannot read\n", in), 2;
    int64_t ne = (int64_t)(n / 4);
    if (ne % ms_type_block_elems(t)) return fprintf(stderr, "%s: not whole blocks\n", in), 2;
    size_t rb = ms_type_row_bytes(t, ne);
    uint8_t *dst = malloc(rb + 1);
    if (ms_quantize_row(t, src, dst, ne)) return fprintf(stderr, "no quantizer\n"), 1;
    int rc = write_all(out, dst, rb);
    free(src);
    free(dst);
    return rc ? 1 : 0;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static int cmd_self(void) {
    /* Block geometry from ggml's block structs (ggml-common.h), by hand. */
    static const struct {
        ms_type t;
        int64_t blck;
        size_t bytes;
        const char *name;
    } geo[] = {
        {MS_TYPE_F32, 1, 4, "F32"},       {MS_TYPE_F16, 1, 2, "F16"},
        {MS_TYPE_BF16, 1, 2, "BF16"},     {MS_TYPE_Q4_0, 32, 18, "Q4_0"},
        {MS_TYPE_Q4_1, 32, 20, "Q4_1"},   {MS_TYPE_Q5_0, 32, 22, "Q5_0"},
        {MS_TYPE_Q5_1, 32, 24, "Q5_1"},   {MS_TYPE_Q8_0, 32, 34, "Q8_0"},
        {MS_TYPE_Q2_K, 256, 84, "Q2_K"},  {MS_TYPE_Q3_K, 256, 110, "Q3_K"},
        {MS_TYPE_Q4_K, 256, 144, "Q4_K"}, {MS_TYPE_Q5_K, 256, 176, "Q5_K"},
        {MS_TYPE_Q6_K, 256, 210, "Q6_K"}, {MS_TYPE_MXFP4, 32, 17, "MXFP4"},
    };
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++) {
        CHECK(ms_type_supported((int)geo[i].t), "%s supported", geo[i].name);
        CHECK(ms_type_block_elems(geo[i].t) == geo[i].blck, "%s block elems", geo[i].name);
        CHECK(ms_type_block_bytes(geo[i].t) == geo[i].bytes, "%s block bytes", geo[i].name);
        CHECK(strcmp(ms_type_name((int)geo[i].t), geo[i].name) == 0, "%s name", geo[i].name);
        CHECK(ms_type_row_bytes(geo[i].t, geo[i].blck * 3) == geo[i].bytes * 3, "%s row",
              geo[i].name);
    }
    CHECK(!ms_type_supported(16) && !ms_type_supported(4) && !ms_type_supported(-1) &&
              !ms_type_supported(1000),
          "unsupported ids");
    CHECK(strcmp(ms_type_name(16), "IQ2_XXS") == 0, "IQ2_XXS name");
    CHECK(strcmp(ms_type_name(977), "type 977") == 0, "unknown name");

    /* MXFP4 by hand: e = 127 gives scale 2^-1 on the doubled E2M1 table (0, 1, .., 12), so the
     * E2M1 values themselves; e = 0 the subnormal 2^-128, e = 255 2^127 (ggml's
     * e8m0_to_fp32_half, which has no NaN). */
    {
        uint8_t blk[3 * 17] = {0};
        blk[0] = 127;
        for (int j = 0; j < 16; j++)
            blk[1 + j] = (uint8_t)(j | (15 - j) << 4);
        blk[17] = 0;
        blk[18] = 0x21; /* element 0 code 1 (0.5), element 16 code 2 (1.0) */
        blk[34] = 255;
        blk[35] = 0x97; /* element 0 code 7 (12 * 2^127 = inf), element 16 code 9 (-2^127) */
        static const float e2m1[16] = {0,  0.5f,  1,  1.5f,  2,  3,  4,  6,
                                       -0, -0.5f, -1, -1.5f, -2, -3, -4, -6};
        float y3[96];
        ms_dequantize_row(MS_TYPE_MXFP4, blk, y3, 96);
        for (int j = 0; j < 16; j++) {
            CHECK(y3[j] == e2m1[j] && y3[16 + j] == e2m1[15 - j], "mxfp4 code %d", j);
        }
        CHECK(y3[32] == 0x1p-128f && y3[48] == 0x1p-127f && y3[33] == 0, "mxfp4 e=0 scale");
        CHECK(isinf(y3[64]) && y3[64] > 0 && y3[80] == -0x1p127f, "mxfp4 e=255 scale");
        /* Quantizer: amax 3 -> e = floor(log2 3) - 2 + 127 = 126, codes exact. */
        float xq[32];
        for (int j = 0; j < 32; j++)
            xq[j] = e2m1[j % 16] * 0.5f;
        uint8_t qb[17];
        CHECK(ms_quantize_row(MS_TYPE_MXFP4, xq, qb, 32) == 0, "mxfp4 quantize");
        CHECK(qb[0] == 126, "mxfp4 exponent %d", qb[0]);
        float yq[32];
        ms_dequantize_row(MS_TYPE_MXFP4, qb, yq, 32);
        for (int j = 0; j < 32; j++)
            CHECK(yq[j] == xq[j], "mxfp4 exact value %d: %g != %g", j, (double)yq[j],
                  (double)xq[j]);
    }

    /* Half precision: hand-known encodings. */
    static const struct {
        uint16_t h;
        float f;
    } hv[] = {{0x0000, 0.0f},      {0x8000, -0.0f},           {0x3C00, 1.0f},
              {0xC000, -2.0f},     {0x7BFF, 65504.f},         {0x0001, 0x1p-24f},
              {0x0400, 0x1p-14f},  {0x3555, 0.333251953125f}, {0x7C00, INFINITY},
              {0xFC00, -INFINITY}, {0x03FF, 0x1.ff8p-15f}};
    for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++) {
        float f = ms_f16_to_f32(hv[i].h);
        CHECK(memcmp(&f, &hv[i].f, 4) == 0, "f16 %04x -> %g", hv[i].h, (double)f);
        CHECK(ms_f32_to_f16(hv[i].f) == hv[i].h, "f32 %g -> f16", (double)hv[i].f);
    }
    CHECK(isnan(ms_f16_to_f32(0x7E00)), "f16 NaN");
    CHECK((ms_f32_to_f16(NAN) & 0x7C00) == 0x7C00 && (ms_f32_to_f16(NAN) & 0x3FF), "NaN->f16");
    CHECK(ms_f32_to_f16(65520.f) == 0x7C00, "overflow to inf (ties to even)");
    CHECK(ms_f32_to_f16(1.0f + 0x1p-11f) == 0x3C00, "tie to even, down");
    CHECK(ms_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3C02, "tie to even, up");
    CHECK(ms_f32_to_bf16(1.0f) == 0x3F80 && ms_bf16_to_f32(0xC040) == -3.0f, "bf16 basic");
    CHECK(ms_f32_to_bf16(1.0f + 0x1p-8f) == 0x3F80, "bf16 tie to even down");
    CHECK(ms_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3F82, "bf16 tie to even up");
    /* Every finite half round-trips. */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ms_f16_to_f32((uint16_t)h);
        if (!isnan(f) && ms_f32_to_f16(f) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);

    /* Round trip: quantize then dequantize, relative RMS error within the type's budget. */
    enum { N = 256 * 16 };
    static float x[N], y[N];
    static uint8_t q[N * 4];
    static const struct {
        ms_type t;
        double max_rel_rms;
    } rt[] = {{MS_TYPE_F32, 0},     {MS_TYPE_F16, 1e-3},  {MS_TYPE_BF16, 5e-3},
              {MS_TYPE_Q8_0, 0.01}, {MS_TYPE_Q5_0, 0.05}, {MS_TYPE_Q5_1, 0.05},
              {MS_TYPE_Q4_0, 0.12}, {MS_TYPE_Q4_1, 0.1},  {MS_TYPE_Q6_K, 0.03},
              {MS_TYPE_Q5_K, 0.05}, {MS_TYPE_Q4_K, 0.1},  {MS_TYPE_Q3_K, 0.2},
              {MS_TYPE_Q2_K, 0.4},  {MS_TYPE_MXFP4, 0.2}};
    for (int i = 0; i < N; i++)
        x[i] = (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()));
    for (size_t k = 0; k < sizeof rt / sizeof rt[0]; k++) {
        memset(q, 0xAB, sizeof q);
        CHECK(ms_quantize_row(rt[k].t, x, q, N) == 0, "%s quantize", ms_type_name(rt[k].t));
        ms_dequantize_row(rt[k].t, q, y, N);
        double se = 0, sx = 0;
        for (int i = 0; i < N; i++) {
            se += (double)(y[i] - x[i]) * (y[i] - x[i]);
            sx += (double)x[i] * x[i];
        }
        double rel = sqrt(se / sx);
        printf("%-5s round-trip relative RMS error %.5f\n", ms_type_name(rt[k].t), rel);
        CHECK(rel <= rt[k].max_rel_rms, "%s round trip error %g > %g", ms_type_name(rt[k].t), rel,
              rt[k].max_rel_rms);
        /* All-zero input gives all-zero output. */
        float z[256] = {0}, zy[256];
        ms_quantize_row(rt[k].t, z, q, 256);
        ms_dequantize_row(rt[k].t, q, zy, 256);
        int nz = 0;
        for (int i = 0; i < 256; i++)
            nz += zy[i] != 0;
        CHECK(nz == 0, "%s zeros", ms_type_name(rt[k].t));
    }
    CHECK(ms_quantize_row((ms_type)16, x, q, 256) == MS_ERR_INPUT, "no IQ2_XXS quantizer");
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "deq") == 0) return cmd_deq(argv[2], argv[3], argv[4]);
    if (argc == 5 && strcmp(argv[1], "quant") == 0) return cmd_quant(argv[2], argv[3], argv[4]);
    if (argc == 2 && strcmp(argv[1], "self") == 0) return cmd_self();
    fprintf(stderr, "usage: test_quant deq|quant TYPE IN OUT | test_quant self\n");
    return 2;
}
