/* fuzz_hfconfig.c — libFuzzer target for the Hugging Face config.json parser (engine/
 * hfconfig.c): any input either fails with one "fuzz: ..." line or yields a configuration
 * whose sizes are positive and consistent (heads divide, k <= E, even head size). Built with
 * clang -fsanitize=fuzzer,address,undefined by tests/model.cmake; seeds in
 * tests/fuzz/seeds_hfconfig, dictionary hfconfig.dict. */
#include "safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hf_config c;
    char err[256];
    err[0] = 0;
    if (hf_config_parse(&c, (const char *)data, size, "fuzz", err, sizeof err) != 0) {
        if (strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')) abort();
        return 0;
    }
    if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 ||
        c.num_hidden_layers <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
        c.num_attention_heads % c.num_key_value_heads || c.head_dim <= 0 || c.head_dim % 2 ||
        c.num_local_experts <= 0 || c.num_local_experts > MS_MAX_EXPERTS ||
        c.num_experts_per_tok <= 0 || c.num_experts_per_tok > c.num_local_experts ||
        !(c.rope_theta > 0) || !(c.rms_norm_eps > 0) || c.sliding_window < 0)
        abort();
    return 0;
}
