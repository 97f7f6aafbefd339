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
#include <string.h>

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
    if (t->byte_level) {
        /* gpt2: merges "a b" in rank order. A tokenizer read from tokenizer.json has no GGUF
         * pre-type: its name "tokenizer.json" makes the reader refuse the file, loudly. */
        gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
        gguf_w_str(w, "tokenizer.ggml.pre", t->pre_name);
        int32_t *ml = NULL, *mr = NULL;
        int64_t nm = 0;
        char **ms = NULL;
        if (ms_tok_merges_ranked(t, &ml, &mr, &nm) == 0 &&
            (ms = calloc((size_t)nm + 1, sizeof *ms)) != NULL) {
            for (int64_t i = 0; i < nm; i++) {
                size_t a = t->piece_len[ml[i]], b = t->piece_len[mr[i]];
                if (!(ms[i] = malloc(a + b + 2))) break;
                memcpy(ms[i], ms_tok_piece(t, ml[i]), a);
                ms[i][a] = ' ';
                memcpy(ms[i] + a + 1, ms_tok_piece(t, mr[i]), b + 1);
            }
            gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)ms, (uint64_t)nm);
        }
        for (int64_t i = 0; ms && i < nm; i++)
            free(ms[i]);
        free(ms);
        free(ml);
        free(mr);
    } else {
        gguf_w_str(w, "tokenizer.ggml.model", "llama");
        gguf_w_str(w, "tokenizer.ggml.pre", "default");
        gguf_w_arr_f32(w, "tokenizer.ggml.scores", t->scores, (uint64_t)n);
    }
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", pieces, (uint64_t)n);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (t->bos >= 0) gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos);
    if (t->eos >= 0) gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos);
    if (t->unk >= 0) gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)t->unk);
    if (t->pad >= 0) gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad);
    gguf_w_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos);
    gguf_w_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos);
    if (!t->byte_level) gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", t->add_space_prefix);
    free(pieces);
    free(types);
}
