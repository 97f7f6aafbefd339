/* tokenizer_togguf.c — writes a tokenizer as GGUF tokenizer.ggml.* metadata (for fixture
 * models). Kept apart from the readers so that programs which only read vocabularies do not
 * need the GGUF writer.
 *
 * A tokenizer read from tokenizer.json is written with scores derived from its merge ranks
 * (minus the best rank of a rule producing the piece), which gives llama.cpp's score-based
 * merging the same order; the Metaspace "first" prefix form has no GGUF equivalent and is
 * written as add_space_prefix. */
#include "tokenizer_impl.h"
#include "tokenizer_int.h"

#include <stdlib.h>

void ms_tokenizer_to_gguf(const ms_tokenizer *t, gguf_writer *w) {
    int n = t->n_vocab;
    const char **pieces = malloc((size_t)n * sizeof *pieces);
    int32_t *types = malloc((size_t)n * sizeof *types);
    if (!pieces || !types) {
        free(pieces);
        free(types);
        return;
    }
    for (int i = 0; i < n; i++) {
        pieces[i] = ms_tok_piece(t, i);
        types[i] = t->types[i] ? t->types[i] : MS_TOK_UNUSED;
    }
    gguf_w_str(w, "tokenizer.ggml.model", "llama");
    gguf_w_str(w, "tokenizer.ggml.pre", "default");
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", pieces, (uint64_t)n);
    gguf_w_arr_f32(w, "tokenizer.ggml.scores", t->scores, (uint64_t)n);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (t->bos >= 0) gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos);
    if (t->eos >= 0) gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos);
    if (t->unk >= 0) gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk);
    if (t->pad >= 0) gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad);
    gguf_w_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos);
    gguf_w_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos);
    gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", t->add_space_prefix);
    free(pieces);
    free(types);
}
