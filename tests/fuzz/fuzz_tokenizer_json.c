/* fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json reader (engine/
 * tokenizer_load.c, tokenizer_bpe.c: vocabulary, merges, added tokens, normalizers, Split
 * regexes compiled by Oniguruma, ByteLevel, Metaspace): any input either fails with one
 * "fuzz: ..." line, or yields a tokenizer whose ids for a few texts (the input itself, also
 * with special-token parsing, invalid UTF-8, whitespace runs) are in range, deterministic, and
 * decode to valid UTF-8. Built with clang -fsanitize=fuzzer,address,undefined by
 * tests/tokenizer_bpe.cmake; seeds in tests/fuzz/seeds_tokenizer, dictionary tokenizer.dict. */
#include "msutil.h"
#include "tokenizer_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const ms_tokenizer *t, const char *s, size_t n, unsigned flags) {
    int32_t *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    flags |= MS_TOKENIZE_BOS;
    if (ms_tokenize_ex(t, s, n, flags, &a, &na) != 0) return; /* out of memory only */
    if (ms_tokenize_ex(t, s, n, flags, &b, &nb) != 0 || na != nb ||
        (na && memcmp(a, b, (size_t)na * sizeof *a) != 0))
        abort();
    int nv = ms_tokenizer_n_vocab(t);
    for (int64_t i = 0; i < na; i++)
        if (a[i] < 0 || a[i] >= nv) abort();
    char out[512];
    size_t need = ms_detokenize(t, a, na, out, sizeof out);
    size_t got = strlen(out);
    if (got > need || ms_utf8_valid_prefix(out, got) != got) abort();
    for (int64_t i = 0; i < na && i < 64; i++) {
        ms_token_display(t, a[i], out, sizeof out);
        if (ms_utf8_valid_prefix(out, strlen(out)) != strlen(out)) abort();
    }
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ms_tokenizer *t = NULL;
    char err[512];
    err[0] = 0;
    if (ms_tokenizer_from_json_mem(&t, (const char *)data, size, "fuzz", err, sizeof err) != 0) {
        if (t || strncmp(err, "fuzz: ", 6) != 0 || strchr(err, '\n')) abort();
        return 0;
    }
    static const char *const texts[] = {"Hello world",
                                        "  a\r\n\n\tb  ",
                                        "\xFF\xC3(\xE2\x82",
                                        "123 4567 DON'T",
                                        "\xE6\xBC\xA2\xF0\x9F\xA6\x99",
                                        ""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        check_text(t, texts[i], strlen(texts[i]), 0);
    /* The input itself holds the added tokens' text: with special parsing they are cut out. */
    check_text(t, (const char *)data, size < 256 ? size : 256, 0);
    check_text(t, (const char *)data, size < 256 ? size : 256, MS_TOKENIZE_SPECIAL);
    char *d = ms_tokenizer_describe_json(t);
    if (!d) abort();
    free(d);
    ms_tokenizer_free(t);
    return 0;
}
