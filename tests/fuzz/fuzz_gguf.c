/* fuzz_gguf.c — libFuzzer target for the GGUF reader (engine/gguf.c): opens the input as a
 * GGUF image in memory and, when the reader accepts it, touches every key, value, array
 * element and tensor byte range it exposes, so AddressSanitizer sees any bad pointer.
 * Built with clang -fsanitize=fuzzer,address,undefined by tests/gguf.cmake; seed corpus in
 * tests/fuzz/seeds, dictionary tests/fuzz/gguf.dict. */
#include "gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *g;
    char err[256];
    err[0] = 0;
    if (gguf_open_mem(&g, data, size, "fuzz", err, sizeof err) != 0) {
        if (g != NULL || strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')) abort();
        return 0;
    }
    volatile uint64_t h = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str k = gguf_key_name(g, i);
        char key[300];
        if (k.n >= sizeof key) continue;
        memcpy(key, k.p, k.n);
        key[k.n] = 0;
        if (strlen(key) != k.n) continue; /* embedded NUL: not findable by name */
        if (gguf_find_key(g, key) != i) abort();
        int64_t v;
        double d;
        int b;
        gguf_str s;
        gguf_vtype et;
        uint64_t n;
        if (gguf_get_int(g, key, &v) == 0) h += (uint64_t)v;
        if (gguf_get_float(g, key, &d) == 0) h += d != d;
        if (gguf_get_bool(g, key, &b) == 0) h += (uint64_t)b;
        if (gguf_get_str(g, key, &s) == 0 && s.n) h += (uint8_t)s.p[s.n - 1];
        if (gguf_get_arr(g, key, &et, &n) == 0) {
            for (uint64_t j = 0; j < n && j < 64; j++) {
                uint64_t at = j == 63 ? n - 1 : j;
                if (et == GGUF_T_STRING) {
                    gguf_str e = gguf_arr_str(g, key, at);
                    if (e.n) h += (uint8_t)e.p[0] + (uint8_t)e.p[e.n - 1];
                } else if (et != GGUF_T_ARRAY) {
                    h += gguf_arr_float(g, key, at) != 0;
                    if (et != GGUF_T_FLOAT32 && et != GGUF_T_FLOAT64)
                        h += (uint64_t)gguf_arr_int(g, key, at);
                }
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const ms_tensor_info *t = gguf_tensor_info(g, i);
        const uint8_t *p = gguf_tensor_data(g, i);
        if (t->offset + t->nbytes > size || gguf_find_tensor(g, t->name) != i) abort();
        h += p[0] + p[t->nbytes - 1];
        /* Dequantize the first row: exercises the block decoders on file bytes. */
        float row[512];
        if (t->ne[0] <= 512) ms_dequantize_row((ms_type)t->type, p, row, t->ne[0]);
    }
    gguf_close(g);
    (void)h;
    return 0;
}
