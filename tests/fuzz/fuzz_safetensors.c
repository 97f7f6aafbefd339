/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser (engine/
 * safetensors.c): parses the input as a whole safetensors file image and, when the parser
 * accepts it, checks the promised invariants (every tensor's byte range inside the data
 * section, ranges tiling it, byte size = dtype size × shape) and touches every tensor byte so
 * AddressSanitizer sees any bad range. Built with clang -fsanitize=fuzzer,address,undefined by
 * tests/model.cmake; seeds in tests/fuzz/seeds_safetensors, dictionary safetensors.dict. */
#include "safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_header h;
    char err[256];
    err[0] = 0;
    if (st_parse(&h, data, size, "fuzz", err, sizeof err) != 0) {
        if (h.tensors || h.n_tensors || strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n'))
            abort();
        return 0;
    }
    if (h.data_start + h.data_size != size) abort();
    uint64_t covered = 0;
    volatile uint8_t x = 0;
    for (int64_t i = 0; i < h.n_tensors; i++) {
        const st_tensor *t = &h.tensors[i];
        if (t->begin > t->end || t->end > h.data_size || !t->name[0]) abort();
        if (t->n_dims < 0 || t->n_dims > ST_MAX_DIMS) abort();
        for (int d = 0; d < t->n_dims; d++)
            if (t->shape[d] < 0) abort();
        covered += t->end - t->begin;
        for (uint64_t b = t->begin; b < t->end; b++)
            x ^= data[h.data_start + b];
        if (st_find(&h, t->name) < 0) abort();
    }
    if (covered != h.data_size) abort();
    (void)x;
    st_header_free(&h);
    return 0;
}
