/* test_tokenizer_bpe.c — byte-level BPE tests that need the tokenizer's inside:
 *   tojson VOCAB.gguf DIR PRETOK NORMALIZER IGNORE_MERGES [FLAGS]
 *       (FLAGS: "lstrip,rstrip,single_word" for the user-defined added tokens) writes
 * DIR/tokenizer.json (+ tokenizer_config.json) of the GGUF's vocabulary and merges with the given
 * pre_tokenizer and normalizer (JSON text, "null" for none): a Hugging Face file of the same
 * vocabulary, for tokenizers.js to tokenize as the reference. edge VOCAB.gguf      hand-derived
 * cases (invalid UTF-8, decoding, display, errors) errors DIR           malformed tokenizer.json
 * files: MS_ERR_INPUT and one line naming the file fuzz DIR N           the tokenizer.json loader
 * on N mutated files: no crash, clean errors */
#include "engine.h"
#include "gguf.h"
#include "tokenizer_impl.h"
#include "tokenizer_int.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstest.h"

static ms_tokenizer *open_or_die(const char *path) {
    ms_tokenizer *t = NULL;
    char err[1024];
    if (ms_tokenizer_open(&t, path, err, sizeof err)) {
        fprintf(stderr, "cannot open tokenizer: %s\n", err);
        exit(1);
    }
    return t;
}

static void write_file(const char *path, const char *text) {
    mstest_put(path, text, strlen(text));
}

typedef struct merge {
    float prio;
    int32_t l, r;
} merge;

static int cmp_merge(const void *a, const void *b) {
    const merge *x = a, *y = b;
    return x->prio > y->prio ? -1 : x->prio < y->prio;
}

static int cmd_tojson(const char *vocab, const char *dir, const char *pretok, const char *norm,
                      int ignore_merges, const char *flags) {
    ms_tokenizer *t = open_or_die(vocab);
    if (!t->byte_level) {
        fprintf(stderr, "%s is not a byte-level vocabulary\n", vocab);
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < t->n_vocab; i++) {
        if (t->types[i] != MS_TOK_CONTROL && t->types[i] != MS_TOK_USER_DEFINED) continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", ms_tok_piece(t, i));
        int user = t->types[i] == MS_TOK_USER_DEFINED; /* flags from the form, for these */
        cJSON_AddBoolToObject(a, "single_word", user && strstr(flags, "single_word") != NULL);
        cJSON_AddBoolToObject(a, "lstrip", user && strstr(flags, "lstrip") != NULL);
        cJSON_AddBoolToObject(a, "rstrip", user && strstr(flags, "rstrip") != NULL);
        cJSON_AddBoolToObject(a, "normalized", t->types[i] == MS_TOK_USER_DEFINED);
        cJSON_AddBoolToObject(a, "special", t->types[i] == MS_TOK_CONTROL);
        cJSON_AddItemToArray(added, a);
    }
    cJSON *nz = cJSON_Parse(norm), *pt = cJSON_Parse(pretok);
    if (!nz || !pt) {
        fprintf(stderr, "bad normalizer or pre-tokenizer JSON\n");
        return 1;
    }
    cJSON_AddItemToObject(root, "normalizer", nz);
    cJSON_AddItemToObject(root, "pre_tokenizer", pt);
    cJSON *pp = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(pp, "type", "ByteLevel");
    cJSON_AddBoolToObject(pp, "add_prefix_space", 1);
    cJSON_AddBoolToObject(pp, "trim_offsets", 0);
    cJSON_AddBoolToObject(pp, "use_regex", 1);
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddBoolToObject(dec, "add_prefix_space", 1);
    cJSON_AddBoolToObject(dec, "trim_offsets", 1);
    cJSON_AddBoolToObject(dec, "use_regex", 1);
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", ignore_merges);
    cJSON *v = cJSON_AddObjectToObject(model, "vocab");
    for (int i = 0; i < t->n_vocab; i++)
        if (t->types[i] == MS_TOK_NORMAL) cJSON_AddNumberToObject(v, ms_tok_piece(t, i), i);
    /* The merges in rank order, back out of the pair table (priority = -rank). */
    merge *m = malloc((size_t)(t->n_pairs + 1) * sizeof *m);
    int64_t nm = 0;
    for (uint64_t i = 0; i <= t->pair_mask; i++) {
        if (t->pairs[i].key == UINT64_MAX) continue;
        m[nm++] = (merge){t->pairs[i].prio, (int32_t)(t->pairs[i].key >> 32),
                          (int32_t)(t->pairs[i].key & 0xFFFFFFFFu)};
    }
    qsort(m, (size_t)nm, sizeof *m, cmp_merge);
    cJSON *ms = cJSON_AddArrayToObject(model, "merges");
    for (int64_t i = 0; i < nm; i++) {
        cJSON *pr = cJSON_CreateArray();
        cJSON_AddItemToArray(pr, cJSON_CreateString(ms_tok_piece(t, m[i].l)));
        cJSON_AddItemToArray(pr, cJSON_CreateString(ms_tok_piece(t, m[i].r)));
        cJSON_AddItemToArray(ms, pr);
    }
    free(m);
    char *text = cJSON_PrintUnformatted(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_file(path, text);
    free(text);
    cJSON_Delete(root);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"add_bos_token\": false, \"add_eos_token\": false}\n");
    ms_tokenizer_free(t);
    return 0;
}

static int32_t *tok(const ms_tokenizer *t, const char *s, size_t n, int64_t *nn) {
    int32_t *ids = NULL;
    if (ms_tokenize(t, s, n, 0, &ids, nn)) {
        fail("ms_tokenize failed");
        *nn = 0;
    }
    return ids;
}

/* The ids of a and of b are the same. */
static void expect_same(const ms_tokenizer *t, const char *label, const char *a, size_t an,
                        const char *b, size_t bn) {
    int64_t n1, n2;
    int32_t *x = tok(t, a, an, &n1), *y = tok(t, b, bn, &n2);
    if (n1 != n2 || (n1 && memcmp(x, y, (size_t)n1 * sizeof *x) != 0))
        fail("%s: %lld ids vs %lld ids", label, (long long)n1, (long long)n2);
    free(x);
    free(y);
}

static void expect_roundtrip(const ms_tokenizer *t, const char *text) {
    int64_t n;
    int32_t *ids = tok(t, text, strlen(text), &n);
    size_t need = ms_detokenize(t, ids, n, NULL, 0);
    char *out = malloc(need + 1);
    ms_detokenize(t, ids, n, out, need + 1);
    if (strcmp(out, text) != 0) fail("round trip of '%s' gave '%s'", text, out);
    /* spans: the concatenation of the token texts is the text, and each piece of text
     * belongs to one token */
    int64_t *offs = malloc((size_t)(n + 1) * sizeof *offs);
    char *sp = ms_detokenize_spans(t, ids, n, 1, offs);
    if (!sp || strcmp(sp, text) != 0 || offs[n] != (int64_t)strlen(text))
        fail("spans of '%s'", text);
    for (int64_t i = 0; i < n; i++)
        if (offs[i] > offs[i + 1]) fail("spans of '%s' are not ordered", text);
    free(sp);
    free(offs);
    free(out);
    free(ids);
}

static void expect_display(const ms_tokenizer *t, const char *piece, const char *want) {
    int32_t id = -1;
    for (int i = 0; i < t->n_vocab && id < 0; i++)
        if (strcmp(ms_tok_piece(t, i), piece) == 0) id = i;
    if (id < 0) {
        fail("piece '%s' not in the vocabulary", piece);
        return;
    }
    char buf[64];
    ms_token_display(t, id, buf, sizeof buf);
    if (strcmp(buf, want) != 0) fail("display of '%s': '%s', want '%s'", piece, buf, want);
}

/* Hand-derived cases on the GPT-2 vocabulary (llama.cpp's ggml-vocab-gpt-2.gguf). */
static int cmd_edge(const char *vocab) {
    ms_tokenizer *t = open_or_die(vocab);
    if (!t->byte_level || t->add_space_prefix) fail("%s: not byte-level", vocab);
    /* Invalid UTF-8, llama.cpp's reading: a bad byte is U+FFFD; overlong forms decode. */
    expect_same(t, "lone 0xFF", "\xFF", 1, "\xEF\xBF\xBD", 3);
    expect_same(t, "cut sequence", "a\xC3", 2, "a\xEF\xBF\xBD", 4);
    expect_same(t, "two bad bytes", "\x80\x80", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 6);
    expect_same(t, "cut 3-byte + ASCII",
                "\xE2\x82"
                "x",
                3,
                "\xEF\xBF\xBD\xEF\xBF\xBD"
                "x",
                7);
    expect_same(t, "overlong slash",
                "a\xC0\xAF"
                "b",
                4, "a/b", 3);
    /* Every byte value alone gives one or more tokens whose text is that byte (or U+FFFD). */
    for (int b = 1; b < 256; b++) {
        char c = (char)b;
        int64_t n;
        int32_t *ids = tok(t, &c, 1, &n);
        if (n < 1) fail("byte 0x%02X gives no token", b);
        free(ids);
    }
    /* Decoding: the exact text back, also characters split across several tokens. */
    static const char *const texts[] = {
        "Hello world",
        "  two leading spaces, three trailing   ",
        "line\r\nbreaks\n\n\ttab",
        "emoji \xF0\x9F\xA6\x99 and \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9",
        "\xE6\xBC\xA2\xE5\xAD\x97 \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
        "DON'T 12345678901234567890",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
        expect_roundtrip(t, texts[i]);
    /* Display of single tokens: byte-level spelling made readable. */
    expect_display(t, "\xC4\xA0world", " world");          /* Ġworld */
    expect_display(t, "\xC4\x8A", "\n");                   /* Ċ */
    expect_display(t, "\xC3\xA2\xC4\xA2", "<0xE2><0x80>"); /* âĢ: bytes of a split character */
    /* describe */
    char *d = ms_tokenizer_describe_json(t);
    if (!d || !strstr(d, "\"byte-level-bpe\"") || !strstr(d, "\"gpt-2\""))
        fail("describe: %s", d ? d : "(null)");
    free(d);
    ms_tokenizer_free(t);
    printf("edge: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}

/* A copy of a vocabulary GGUF with another tokenizer.ggml.pre (for llama.cpp and moescope to
 * tokenize with a pre-tokenizer whose own vocabulary llama.cpp does not ship). */
static int cmd_repre(const char *src, const char *dst, const char *pre) {
    gguf_file *g;
    char err[1024];
    if (gguf_open(&g, src, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        gguf_str k = gguf_key_name(g, i);
        if (k.n == 18 && memcmp(k.p, "tokenizer.ggml.pre", 18) == 0) continue;
        gguf_w_copy_kv(w, g, i);
    }
    gguf_w_str(w, "tokenizer.ggml.pre", pre);
    int rc = gguf_writer_write(w, dst, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    gguf_writer_free(w);
    gguf_close(g);
    return rc != 0;
}

/* DIR/tokenizer.json (+ tokenizer_config.json) as ms_tokenizer_write_json writes it. */
static int cmd_writejson(const char *vocab, const char *dir) {
    ms_tokenizer *t = open_or_die(vocab);
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = ms_tokenizer_write_json(t, path, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    ms_tokenizer_free(t);
    return rc != 0;
}

/* DST.gguf with the tokenizer.ggml.* metadata ms_tokenizer_to_gguf writes. */
static int cmd_togguf(const char *vocab, const char *dst) {
    ms_tokenizer *t = open_or_die(vocab);
    char err[1024];
    gguf_writer *w = gguf_writer_new();
    gguf_w_str(w, "general.architecture", "llama");
    ms_tokenizer_to_gguf(t, w);
    int rc = gguf_writer_write(w, dst, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    gguf_writer_free(w);
    ms_tokenizer_free(t);
    return rc != 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "togguf") == 0) return cmd_togguf(argv[2], argv[3]);
    if (argc >= 4 && strcmp(argv[1], "writejson") == 0) return cmd_writejson(argv[2], argv[3]);
    if (argc >= 5 && strcmp(argv[1], "repre") == 0) return cmd_repre(argv[2], argv[3], argv[4]);
    if (argc >= 3 && strcmp(argv[1], "edge") == 0) return cmd_edge(argv[2]);
    if (argc >= 7 && strcmp(argv[1], "tojson") == 0)
        return cmd_tojson(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]),
                          argc >= 8 ? argv[7] : "");
    fprintf(stderr, "usage: test_tokenizer_bpe tojson|edge|errors|fuzz ...\n");
    return 2;
}
