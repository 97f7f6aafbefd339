/* tokenizer_int.h — engine-private constructors of the tokenizer, used by the model loader
 * (model.c) and the fixture writer (fixture.c). Implemented in tokenizer*.c. */
#ifndef MS_TOKENIZER_INT_H
#define MS_TOKENIZER_INT_H

#include "engine.h"
#include "gguf.h"

/* From GGUF metadata (tokenizer.ggml.model "llama": tokens, scores, token_type, bos/eos/unk
 * ids, add_bos_token, add_space_prefix). Errors name the file and the key. */
int ms_tokenizer_from_gguf(ms_tokenizer **out, const gguf_file *g, char *err, size_t errlen);
/* From a Hugging Face tokenizer.json (+ tokenizer_config.json beside it when present). */
int ms_tokenizer_from_json_file(ms_tokenizer **out, const char *path, char *err, size_t errlen);
/* The same from a tokenizer.json held in memory (no tokenizer_config.json); name is used in
 * messages. For the fuzz target. */
int ms_tokenizer_from_json_mem(ms_tokenizer **out, const char *data, size_t len, const char *name,
                               char *err, size_t errlen);
/* Writes a Hugging Face tokenizer.json (BPE, byte_fallback, merges derived from the
 * vocabulary as transformers' LlamaConverter does) describing the same tokenizer, and a
 * tokenizer_config.json beside it. */
int ms_tokenizer_write_json(const ms_tokenizer *t, const char *path, char *err, size_t errlen);
/* Copies the tokenizer.ggml.* metadata of t into a GGUF writer (for fixture files). */
void ms_tokenizer_to_gguf(const ms_tokenizer *t, gguf_writer *w);

#endif
