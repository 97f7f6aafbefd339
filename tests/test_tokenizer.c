/* test_tokenizer.c — checks of the SentencePiece-BPE tokenizer against independent results.
 *
 *   test_tokenizer vectors VOCAB.gguf CASES.inp CASES.out TMPDIR
 *       llama.cpp's own vectors (tests/test-tokenizer-0 format: cases separated by
 *       "\n__ggml_vocab_test__\n", ids without BOS) from the GGUF vocabulary, from a
 *       tokenizer.json written by ms_tokenizer_write_json (Prepend+Replace form) and from the
 *       same file rewritten in the Metaspace pre-tokenizer form, whose expected ids follow from
 *       Hugging Face's rule (no "▁" prepended when the text already starts with a space).
 *   test_tokenizer roundtrip VOCAB.gguf TEXTS TMPDIR
 *       text -> ids -> text equality for every case of TEXTS (same separator), through both
 *       the GGUF and the tokenizer.json tokenizer, with and without BOS.
 *   test_tokenizer edge VOCAB.gguf
 *       hand-derived cases: empty input, invalid UTF-8 (llama.cpp's lead-byte symbols become
 *       byte tokens), characters split across byte tokens, display of single tokens.
 *   test_tokenizer fuzz VOCAB.gguf TMPDIR
 *       random byte strings and random piece soups: no crash, ids in range, deterministic,
 *       detokenized text is valid UTF-8, and GGUF and tokenizer.json agree on valid UTF-8.
 *   test_tokenizer json MODEL CASES.inp CASES.out
 *       one tokenizer (a tokenizer.json folder) against expected ids, e.g. those of Hugging
 *       Face's tokenizers.js (tests/oracle/tokenize_hf_oracle.mjs).
 *   test_tokenizer errors TMPDIR
 *       hand-made broken tokenizer.json files fail with MS_ERR_INPUT and a message. */
#include "engine.h"
#include "tokenizer_int.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mstest.h"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) exit(2);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Cases of a test-tokenizer-0 file: split at "\n__ggml_vocab_test__\n" like llama.cpp. */
typedef struct cases {
    char **text;
    size_t *len;
    int n;
} cases;

static cases read_cases(const char *path) {
    size_t len;
    char *raw = read_file(path, &len);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    cases c = {0};
    int cap = 0;
    size_t pos = 0;
    while (pos < len) {
        char *next = memmem(raw + pos, len - pos, sep, sizeof sep - 1);
        size_t end = next ? (size_t)(next - raw) : len;
        if (c.n == cap) {
            cap = cap ? cap * 2 : 64;
            c.text = realloc(c.text, (size_t)cap * sizeof *c.text);
            c.len = realloc(c.len, (size_t)cap * sizeof *c.len);
        }
        c.len[c.n] = end - pos;
        c.text[c.n] = malloc(end - pos + 1);
        memcpy(c.text[c.n], raw + pos, end - pos);
        c.text[c.n][end - pos] = 0;
        c.n++;
        if (!next) break;
        pos = end + sizeof sep - 1;
    }
    free(raw);
    return c;
}

typedef struct idlist {
    int32_t *v;
    int64_t n;
} idlist;

static idlist *read_expected(const char *path, int *n_out) {
    size_t len;
    char *raw = read_file(path, &len);
    int cap = 64, n = 0;
    idlist *out = calloc((size_t)cap, sizeof *out);
    char *save = NULL;
    /* One line per case; empty lines are cases with no ids (strtok would skip them). */
    char *p = raw;
    (void)save;
    while (p < raw + len) {
        char *nl = memchr(p, '\n', (size_t)(raw + len - p));
        char *end = nl ? nl : raw + len;
        *end = 0;
        if (n == cap) {
            cap *= 2;
            out = realloc(out, (size_t)cap * sizeof *out);
        }
        idlist l = {malloc(sizeof(int32_t) * (size_t)(end - p + 1)), 0};
        char *q = p;
        while (q < end) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            l.v[l.n++] = (int32_t)v;
            q = e;
        }
        out[n++] = l;
        p = end + 1;
    }
    free(raw);
    *n_out = n;
    return out;
}

static void print_ids(const char *what, const int32_t *v, int64_t n) {
    fprintf(stderr, "  %s:", what);
    for (int64_t i = 0; i < n; i++)
        fprintf(stderr, " %d", v[i]);
    fputc('\n', stderr);
}

static int same(const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

static ms_tokenizer *open_or_die(const char *path) {
    ms_tokenizer *t = NULL;
    char err[512];
    int rc = ms_tokenizer_open(&t, path, err, sizeof err);
    if (rc) {
        fprintf(stderr, "cannot open tokenizer: %s\n", err);
        exit(1);
    }
    return t;
}

/* Flags of the "jsonx" command: MS_TOKENIZE_SPECIAL, MS_TOKENIZE_ORIGINAL_REGEX. */
static unsigned tok_special;

static void check_case(const ms_tokenizer *t, const char *label, int i, const char *text,
                       size_t len, const int32_t *want, int64_t n_want) {
    int32_t *ids;
    int64_t n;
    if (ms_tokenize_ex(t, text, len, tok_special, &ids, &n)) {
        fail("%s case %d: ms_tokenize failed", label, i);
        return;
    }
    if (!same(ids, n, want, n_want)) {
        fail("%s case %d: '%s'", label, i, text);
        print_ids("want", want, n_want);
        print_ids("got ", ids, n);
    }
    /* With BOS: exactly BOS followed by the same ids. */
    int32_t *ids2;
    int64_t n2;
    if (ms_tokenize_ex(t, text, len, tok_special | MS_TOKENIZE_BOS, &ids2, &n2) == 0) {
        int bos = ms_tokenizer_adds_bos(t);
        if (n2 != n + bos || (bos && ids2[0] != ms_tokenizer_bos(t)) ||
            !same(ids2 + bos, n2 - bos, ids, n))
            fail("%s case %d: add_bos result is not BOS + ids", label, i);
        free(ids2);
    }
    free(ids);
}

static void write_json_or_die(const ms_tokenizer *t, const char *dir) {
    mkdir(dir, 0755);
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (ms_tokenizer_write_json(t, path, err, sizeof err)) {
        fprintf(stderr, "write_json: %s\n", err);
        exit(1);
    }
}

/* Writes j (then freed) as OUTDIR/tokenizer.json and copies DIR/tokenizer_config.json there. */
static void write_tokenizer_dir(cJSON *j, const char *dir, const char *outdir) {
    char path[1024];
    size_t len;
    mkdir(outdir, 0755);
    char *text = cJSON_PrintUnformatted(j);
    snprintf(path, sizeof path, "%s/tokenizer.json", outdir);
    mstest_put(path, text, strlen(text));
    free(text);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    char *raw = read_file(path, &len);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", outdir);
    mstest_put(path, raw, len);
    free(raw);
}

/* Rewrites DIR/tokenizer.json into OUTDIR in the Metaspace form: no normalizer, a Metaspace
 * pre-tokenizer with the given prepend scheme and split flag. */
static void write_metaspace_form(const char *dir, const char *outdir, const char *scheme,
                                 int split) {
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *raw = read_file(path, &len);
    cJSON *j = cJSON_Parse(raw);
    free(raw);
    cJSON_ReplaceItemInObject(j, "normalizer", cJSON_CreateNull());
    cJSON *pt = cJSON_CreateObject();
    cJSON_AddStringToObject(pt, "type", "Metaspace");
    cJSON_AddStringToObject(pt, "replacement", "\xE2\x96\x81");
    cJSON_AddStringToObject(pt, "prepend_scheme", scheme);
    cJSON_AddBoolToObject(pt, "split", split);
    cJSON_ReplaceItemInObject(j, "pre_tokenizer", pt);
    /* Newer tokenizers write merges as pairs of strings: exercise that form too. */
    cJSON *merges = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "model"), "merges");
    cJSON *pairs = cJSON_CreateArray();
    cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        cJSON *pr = cJSON_CreateArray();
        char *a = strndup(s, (size_t)(sp - s));
        cJSON_AddItemToArray(pr, cJSON_CreateString(a));
        cJSON_AddItemToArray(pr, cJSON_CreateString(sp + 1));
        free(a);
        cJSON_AddItemToArray(pairs, pr);
    }
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "model"), "merges", pairs);
    /* The config says nothing of spaces; copy it. */
    write_tokenizer_dir(j, dir, outdir);
}

/* Variants of DIR/tokenizer.json for the Hugging Face oracle, in OUTDIR: kind 0 shuffles
 * a fifth of the merge rules and drops every seventh (merge ranks no longer follow scores:
 * only rank semantics gives Hugging Face's ids); kind 1 turns byte_fallback off (unknown
 * characters become <unk>, fused). */
static void write_variant(const char *dir, const char *outdir, int kind) {
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    char *raw = read_file(path, &len);
    cJSON *j = cJSON_Parse(raw);
    free(raw);
    cJSON *model = cJSON_GetObjectItem(j, "model");
    if (kind == 0) {
        cJSON *merges = cJSON_GetObjectItem(model, "merges");
        int n = cJSON_GetArraySize(merges);
        char **m = malloc((size_t)n * sizeof *m);
        for (int i = 0; i < n; i++)
            m[i] = strdup(cJSON_GetArrayItem(merges, i)->valuestring);
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (int k = 0; k < n / 10; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int a = (int)(x % (uint64_t)n), b = (int)((x >> 32) % (uint64_t)n);
            char *tmp = m[a];
            m[a] = m[b];
            m[b] = tmp;
        }
        cJSON *out = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            if (i % 7 != 3) cJSON_AddItemToArray(out, cJSON_CreateString(m[i]));
            free(m[i]);
        }
        free(m);
        cJSON_ReplaceItemInObject(model, "merges", out);
    } else {
        cJSON_ReplaceItemInObject(model, "byte_fallback", cJSON_CreateFalse());
        cJSON_ReplaceItemInObject(model, "fuse_unk", cJSON_CreateTrue());
    }
    write_tokenizer_dir(j, dir, outdir);
}

static int cmd_vectors(const char *vocab, const char *inp, const char *out, const char *tmp) {
    cases c = read_cases(inp);
    int n_exp;
    idlist *exp = read_expected(out, &n_exp);
    /* llama.cpp's reader: the .out file has one more (empty) line when it ends with '\n'. */
    if (n_exp < c.n) {
        fprintf(stderr, "%s has %d cases, %s has %d lines\n", inp, c.n, out, n_exp);
        return 1;
    }
    ms_tokenizer *g = open_or_die(vocab);
    for (int i = 0; i < c.n; i++)
        check_case(g, "gguf", i, c.text[i], c.len[i], exp[i].v, exp[i].n);
    printf("gguf: %d cases\n", c.n);

    char dir[1024], mdir[1024], sdir[1024];
    snprintf(dir, sizeof dir, "%s/hf-prepend", tmp);
    write_json_or_die(g, dir);
    ms_tokenizer *j = open_or_die(dir);
    for (int i = 0; i < c.n; i++)
        check_case(j, "tokenizer.json", i, c.text[i], c.len[i], exp[i].v, exp[i].n);
    if (ms_tokenizer_n_vocab(j) != ms_tokenizer_n_vocab(g) ||
        ms_tokenizer_bos(j) != ms_tokenizer_bos(g) || ms_tokenizer_eos(j) != ms_tokenizer_eos(g) ||
        ms_tokenizer_adds_bos(j) != ms_tokenizer_adds_bos(g))
        fail("tokenizer.json: vocabulary size or special tokens differ from the GGUF");
    for (int32_t id = 0; id < ms_tokenizer_n_vocab(g); id++)
        if (strcmp(ms_token_piece(g, id), ms_token_piece(j, id)) != 0) {
            fail("tokenizer.json: piece %d differs", id);
            break;
        }
    printf("tokenizer.json (Prepend+Replace): %d cases\n", c.n);

    /* GGUF written back (ms_tokenizer_to_gguf): from the GGUF tokenizer (scores as read) and
     * from the tokenizer.json one (scores derived from merge ranks): same ids again. */
    for (int src = 0; src < 2; src++) {
        char gpath[1100], err[512];
        snprintf(gpath, sizeof gpath, "%s/vocab-from-%s.gguf", tmp, src ? "json" : "gguf");
        gguf_writer *w = gguf_writer_new();
        gguf_w_str(w, "general.architecture", "llama");
        ms_tokenizer_to_gguf(src ? j : g, w);
        if (gguf_writer_write(w, gpath, err, sizeof err)) {
            fail("gguf write: %s", err);
            gguf_writer_free(w);
            continue;
        }
        gguf_writer_free(w);
        ms_tokenizer *r = open_or_die(gpath);
        for (int i = 0; i < c.n; i++)
            check_case(r, src ? "gguf-from-json" : "gguf-from-gguf", i, c.text[i], c.len[i],
                       exp[i].v, exp[i].n);
        ms_tokenizer_free(r);
    }
    printf("GGUF metadata written back (from GGUF, from tokenizer.json): %d cases\n", c.n);

    /* Variants checked only against Hugging Face (tokenizer_hf_oracle). */
    snprintf(mdir, sizeof mdir, "%s/hf-shuffled", tmp);
    write_variant(dir, mdir, 0);
    snprintf(mdir, sizeof mdir, "%s/hf-nofallback", tmp);
    write_variant(dir, mdir, 1);

    /* Metaspace, prepend_scheme "first", split false: a case that starts with a space is
     * tokenized as the SentencePiece form tokenizes the text without that space (when that
     * text is not empty: then it is the lone "▁"). */
    snprintf(mdir, sizeof mdir, "%s/hf-metaspace", tmp);
    write_metaspace_form(dir, mdir, "first", 0);
    ms_tokenizer *m = open_or_die(mdir);
    int32_t meta_id = -1;
    for (int32_t id = 0; id < ms_tokenizer_n_vocab(g); id++)
        if (strcmp(ms_token_piece(g, id), "\xE2\x96\x81") == 0) meta_id = id;
    for (int i = 0; i < c.n; i++) {
        if (c.len[i] > 0 && c.text[i][0] == ' ') {
            int k = -1; /* the vector whose text is this one without its first space */
            for (int q = 0; q < c.n; q++)
                if (c.len[q] == c.len[i] - 1 && memcmp(c.text[q], c.text[i] + 1, c.len[q]) == 0)
                    k = q;
            if (c.len[i] == 1) {
                check_case(m, "metaspace", i, c.text[i], c.len[i], &meta_id, 1);
            } else if (k >= 0) {
                check_case(m, "metaspace", i, c.text[i], c.len[i], exp[k].v, exp[k].n);
            } else {
                int32_t *ids;
                int64_t n;
                ms_tokenize(g, c.text[i] + 1, c.len[i] - 1, 0, &ids, &n);
                check_case(m, "metaspace", i, c.text[i], c.len[i], ids, n);
                free(ids);
            }
        } else {
            check_case(m, "metaspace", i, c.text[i], c.len[i], exp[i].v, exp[i].n);
        }
    }
    printf("tokenizer.json (Metaspace first, split=false, merge pairs): %d cases\n", c.n);

    /* Metaspace split=true: tokenizers splits before each run of "▁" (MergedWithNext: a "▁"
     * after another "▁" stays in the same word), then tokenizes words one by one.
     * "Hello  world" -> "▁Hello" "▁▁world"; "   " -> "▁▁▁" (no prepend: starts with a space).
     * Ids from the vectors: "Hello world" (15043 3186), "  " (1678 = "▁▁▁"). */
    snprintf(sdir, sizeof sdir, "%s/hf-metaspace-split", tmp);
    write_metaspace_form(dir, sdir, "always", 1);
    ms_tokenizer *s = open_or_die(sdir);
    const int32_t want_split[] = {15043, meta_id, 3186};
    check_case(s, "metaspace-split", 0, "Hello  world", 12, want_split, 3);
    const int32_t want_sp[] = {1678};
    check_case(s, "metaspace-split", 1, "   ", 3, want_sp, 1);
    /* and without split the same texts merge across spaces as SentencePiece does */
    const int32_t want_4[] = {268}; /* "▁▁▁▁": prefix + three spaces */
    check_case(g, "gguf", -1, "   ", 3, want_4, 1);

    ms_tokenizer_free(s);
    ms_tokenizer_free(m);
    ms_tokenizer_free(j);
    ms_tokenizer_free(g);
    for (int i = 0; i < c.n; i++)
        free(c.text[i]);
    for (int i = 0; i < n_exp; i++)
        free(exp[i].v);
    free(c.text);
    free(c.len);
    free(exp);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}

static void roundtrip_one(const ms_tokenizer *t, const char *label, int i, const char *text,
                          size_t len) {
    for (int bos = 0; bos < 2; bos++) {
        int32_t *ids;
        int64_t n;
        if (ms_tokenize(t, text, len, bos, &ids, &n)) {
            fail("%s %d: tokenize failed", label, i);
            return;
        }
        size_t need = ms_detokenize(t, ids, n, NULL, 0);
        char *back = malloc(need + 1);
        size_t got = ms_detokenize(t, ids, n, back, need + 1);
        if (got != need || need != len || memcmp(back, text, len) != 0) {
            fail("%s %d (bos=%d): round trip differs (%zu -> %zu bytes)", label, i, bos, len, need);
            fprintf(stderr, "  in : '%.200s'\n  out: '%.200s'\n", text, back);
        }
        /* Truncated output stays NUL-terminated, a prefix, and never cuts a character. */
        if (need > 3) {
            char small[8];
            size_t r = ms_detokenize(t, ids, n, small, sizeof small);
            size_t sl = strlen(small);
            if (r != need || sl >= sizeof small || memcmp(small, text, sl) != 0 ||
                (sl < len && ((unsigned char)text[sl] & 0xC0) == 0x80))
                fail("%s %d: truncated detokenize is not a clean prefix", label, i);
        }
        free(back);
        free(ids);
    }
}

static int cmd_roundtrip(const char *vocab, const char *texts, const char *tmp) {
    cases c = read_cases(texts);
    ms_tokenizer *g = open_or_die(vocab);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/hf-roundtrip", tmp);
    write_json_or_die(g, dir);
    ms_tokenizer *j = open_or_die(dir);
    int64_t total = 0;
    for (int i = 0; i < c.n; i++) {
        roundtrip_one(g, "gguf", i, c.text[i], c.len[i]);
        roundtrip_one(j, "tokenizer.json", i, c.text[i], c.len[i]);
        int32_t *a, *b;
        int64_t na, nb;
        ms_tokenize(g, c.text[i], c.len[i], 1, &a, &na);
        ms_tokenize(j, c.text[i], c.len[i], 1, &b, &nb);
        if (!same(a, na, b, nb)) fail("roundtrip text %d: GGUF and tokenizer.json ids differ", i);
        total += na;
        free(a);
        free(b);
    }
    printf("round trip: %d texts, %lld tokens: %s\n", c.n, (long long)total,
           failures ? "FAILED" : "ok");
    ms_tokenizer_free(j);
    ms_tokenizer_free(g);
    for (int i = 0; i < c.n; i++)
        free(c.text[i]);
    free(c.text);
    free(c.len);
    return failures != 0;
}

static void expect_ids(const ms_tokenizer *t, const char *label, const char *text, size_t len,
                       int bos, const int32_t *want, int64_t n_want) {
    int32_t *ids;
    int64_t n;
    if (ms_tokenize(t, text, len, bos, &ids, &n)) {
        fail("%s: tokenize failed", label);
        return;
    }
    if (!same(ids, n, want, n_want)) {
        fail("%s", label);
        print_ids("want", want, n_want);
        print_ids("got ", ids, n);
    }
    free(ids);
}

static void expect_text(const char *label, const char *got, const char *want) {
    if (strcmp(got, want) != 0) fail("%s: got '%s', want '%s'", label, got, want);
}

static int utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80                 ? 1
                   : c >= 0xC2 && c <= 0xDF ? 2
                   : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
        if (!k || i + k > n) return 0;
        unsigned cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

static int cmd_edge(const char *vocab) {
    ms_tokenizer *t = open_or_die(vocab);
    /* This vocabulary: <unk> 0, <s> 1, </s> 2, <0xXX> = 3 + XX, "▁" 29871. */
    const int32_t B = 3, META = 29871;
    expect_ids(t, "empty, no BOS", "", 0, 0, NULL, 0);
    const int32_t bos_only[] = {1};
    expect_ids(t, "empty gives BOS only", "", 0, 1, bos_only, 1);
    /* Invalid UTF-8, llama.cpp's rule: a symbol spans the length announced by its lead byte
     * (1 for ASCII and stray continuation bytes, 2 for 0xC*-0xD*, 3 for 0xE*, 4 for 0xF*),
     * clipped at the end; a symbol that is no piece becomes one byte token per byte. */
    const int32_t ff[] = {META, B + 0xFF};
    expect_ids(t, "lone 0xFF", "\xFF", 1, 0, ff, 2);
    const int32_t c3a[] = {META, B + 0xC3, B + 'A', 29890 /* "b" */};
    expect_ids(t, "0xC3 swallows the next byte",
               "\xC3"
               "Ab",
               3, 0, c3a, 4);
    const int32_t cont[] = {META, B + 0x80, B + 0x80};
    expect_ids(t, "stray continuation bytes", "\x80\x80", 2, 0, cont, 3);
    const int32_t trunc[] = {META, B + 0xE2, B + 0x82};
    expect_ids(t, "truncated 3-byte sequence at the end", "\xE2\x82", 2, 0, trunc, 3);
    /* A character outside the vocabulary: its UTF-8 bytes (U+1D11E, musical G clef). */
    const int32_t clef[] = {META, B + 0xF0, B + 0x9D, B + 0x84, B + 0x9E};
    expect_ids(t, "byte fallback of U+1D11E", "\xF0\x9D\x84\x9E", 4, 0, clef, 5);

    char buf[64];
    /* Detokenizing part of a split character gives U+FFFD; all of it gives the character. */
    ms_detokenize(t, clef, 3, buf, sizeof buf);
    expect_text("partial character", buf, "\xEF\xBF\xBD");
    ms_detokenize(t, clef, 5, buf, sizeof buf);
    expect_text("whole character", buf, "\xF0\x9D\x84\x9E");
    /* Invalid input comes back as U+FFFD per maximal invalid subpart. */
    int32_t *ids;
    int64_t n;
    ms_tokenize(t,
                "a\xFF"
                "b\xE2\x82"
                "c",
                6, 1, &ids, &n);
    ms_detokenize(t, ids, n, buf, sizeof buf);
    expect_text("invalid input detokenized", buf,
                "a\xEF\xBF\xBD"
                "b\xEF\xBF\xBD"
                "c");
    free(ids);
    /* Spans for coloured views: the split character belongs to the token completing it. */
    const int32_t mixed[] = {1, 15043, META, B + 0xF0, B + 0x9D, B + 0x84, B + 0x9E, B + 0xFF};
    int64_t offs[9];
    char *sp = ms_detokenize_spans(t, mixed, 8, 1, offs);
    const int64_t want_offs[9] = {0, 0, 5, 6, 6, 6, 6, 10, 13};
    if (!sp || strcmp(sp, "Hello \xF0\x9D\x84\x9E\xEF\xBF\xBD") != 0 ||
        memcmp(offs, want_offs, sizeof offs) != 0) {
        fail("ms_detokenize_spans: '%s'", sp ? sp : "(null)");
        for (int i = 0; i < 9; i++)
            fprintf(stderr, " %lld", (long long)offs[i]);
        fputc('\n', stderr);
    }
    free(sp);
    sp = ms_detokenize_spans(t, mixed + 1, 1, 0, offs);
    if (!sp || strcmp(sp, " Hello") != 0 || offs[0] != 0 || offs[1] != 6)
        fail("ms_detokenize_spans without strip");
    free(sp);
    /* Display of single tokens. */
    ms_token_display(t, B + 0xF0, buf, sizeof buf);
    expect_text("display <0xF0>", buf, "<0xF0>");
    ms_token_display(t, B + 'A', buf, sizeof buf);
    expect_text("display <0x41>", buf, "A");
    ms_token_display(t, 15043, buf, sizeof buf);
    expect_text("display \xE2\x96\x81Hello", buf, " Hello");
    ms_token_display(t, 1, buf, sizeof buf);
    expect_text("display <s>", buf, "<s>");
    ms_token_display(t, -5, buf, sizeof buf);
    expect_text("display out of range", buf, "");
    if (ms_token_piece(t, 32000) != NULL || strcmp(ms_token_piece(t, 15043), "\xE2\x96\x81Hello"))
        fail("ms_token_piece");
    /* Leading space: only one space of the first token is the prefix. */
    const int32_t hw[] = {META, 15043};
    ms_detokenize(t, hw, 2, buf, sizeof buf);
    expect_text("detokenize ▁ ▁Hello", buf, " Hello");
    ms_detokenize(t, hw + 1, 1, buf, sizeof buf);
    expect_text("detokenize ▁Hello", buf, "Hello");
    /* Control tokens have no text. */
    const int32_t ctl[] = {1, 15043, 2};
    ms_detokenize(t, ctl, 3, buf, sizeof buf);
    expect_text("detokenize <s> ▁Hello </s>", buf, "Hello");
    /* Special-token text in the input is plain text (llama.cpp parse_special=false). */
    const int32_t lt[] = {529, 29879, 29958}; /* "▁<", "s", ">" */
    expect_ids(t, "'<s>' is text", "<s>", 3, 0, lt, 3);
    char *js = ms_tokenizer_describe_json(t);
    cJSON *d = cJSON_Parse(js);
    if (!d || cJSON_GetObjectItem(d, "n_vocab")->valueint != 32000 ||
        !cJSON_IsTrue(cJSON_GetObjectItem(d, "add_bos")))
        fail("describe_json: %s", js);
    cJSON_Delete(d);
    free(js);
    ms_tokenizer_free(t);
    printf("edge cases: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmd_fuzz(const char *vocab, const char *tmp) {
    ms_tokenizer *g = open_or_die(vocab);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/hf-fuzz", tmp);
    write_json_or_die(g, dir);
    ms_tokenizer *j = open_or_die(dir);
    int nv = ms_tokenizer_n_vocab(g);
    char *text = malloc(1 << 16);
    char *back = malloc(1 << 20);
    int n_valid = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0, want = rnd() % 600;
        int mode = iter % 3;
        while (len < want) {
            if (mode == 0) { /* raw bytes */
                text[len++] = (char)(rnd() & 0xFF);
            } else { /* pieces of the vocabulary, spaces and runs of spaces */
                uint64_t r = rnd();
                if (r % 5 == 0) {
                    size_t k = 1 + (r >> 8) % (mode == 2 ? 40 : 3);
                    while (k-- && len < 60000)
                        text[len++] = (r >> 16) % 7 ? ' ' : '\n';
                    continue;
                }
                int32_t id = (int32_t)((r >> 8) % (uint64_t)nv);
                char piece[256];
                size_t pl = ms_token_display(g, id, piece, sizeof piece);
                if (pl >= sizeof piece) continue;
                memcpy(text + len, piece, pl);
                len += pl;
            }
        }
        int32_t *a, *a2, *b;
        int64_t na, na2, nb;
        if (ms_tokenize(g, text, len, 1, &a, &na) || ms_tokenize(g, text, len, 1, &a2, &na2)) {
            fail("fuzz %d: tokenize failed", iter);
            continue;
        }
        if (!same(a, na, a2, na2)) fail("fuzz %d: not deterministic", iter);
        for (int64_t i = 0; i < na; i++)
            if (a[i] < 0 || a[i] >= nv) fail("fuzz %d: id out of range", iter);
        size_t need = ms_detokenize(g, a, na, back, 1 << 20);
        /* (random bytes include NUL: the text length is need, not strlen) */
        if (need >= (1 << 20) || !utf8_ok((unsigned char *)back, need))
            fail("fuzz %d: detokenized text is not valid UTF-8", iter);
        if (utf8_ok((unsigned char *)text, len)) {
            n_valid++;
            if (need != len || memcmp(back, text, len) != 0) fail("fuzz %d: round trip", iter);
            ms_tokenize(j, text, len, 1, &b, &nb);
            if (!same(a, na, b, nb)) {
                fail("fuzz %d: GGUF and tokenizer.json differ", iter);
                print_ids("gguf", a, na);
                print_ids("json", b, nb);
            }
            free(b);
        }
        for (int64_t i = 0; i < na; i++) { /* display never breaks UTF-8 */
            char d[512];
            size_t dl = ms_token_display(g, a[i], d, sizeof d);
            if (dl < sizeof d && !utf8_ok((unsigned char *)d, dl)) fail("fuzz: display");
        }
        free(a);
        free(a2);
    }
    printf("fuzz: 3000 inputs (%d valid UTF-8): %s\n", n_valid, failures ? "FAILED" : "ok");
    free(text);
    free(back);
    ms_tokenizer_free(j);
    ms_tokenizer_free(g);
    return failures != 0;
}

static void expect_json_error(const char *tmp, const char *name, const char *json,
                              const char *fragment) {
    char dir[1024], path[1100], err[512] = "";
    snprintf(dir, sizeof dir, "%s/bad-%s", tmp, name);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    fputs(json, f);
    fclose(f);
    ms_tokenizer *t = NULL;
    int rc = ms_tokenizer_open(&t, path, err, sizeof err);
    if (rc != MS_ERR_INPUT || t != NULL || !strstr(err, fragment) || !strstr(err, path))
        fail("bad tokenizer.json '%s': rc %d, message '%s' (want '%s')", name, rc, err, fragment);
    ms_tokenizer_free(t);
}

static int cmd_errors(const char *tmp) {
#define META_NZ                                                                                    \
    "\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" "                             \
    "\"},\"content\":\"\xE2\x96\x81\"},"
    expect_json_error(tmp, "notjson", "{\"model\": ", "not valid JSON");
    expect_json_error(tmp, "nomodel", "{}", "no \"model\"");
    expect_json_error(tmp, "unigram", "{\"model\":{\"type\":\"Unigram\"}}", "Unigram");
    expect_json_error(tmp, "badid", "{" META_NZ "\"model\":{\"vocab\":{\"a\":-3},\"merges\":[]}}",
                      "not a valid id");
    expect_json_error(tmp, "badmerge",
                      "{" META_NZ "\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                      "not in the vocabulary");
    expect_json_error(tmp, "mergeform",
                      "{" META_NZ "\"model\":{\"vocab\":{\"a\":0,\"ab\":1},\"merges\":[\"ab\"]}}",
                      "not a pair");
    expect_json_error(tmp, "bytelevel",
                      "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
                      "\"ByteLevel\"},{\"type\":\"Punctuation\"}]},\"model\":{\"vocab\":{\"a\":0},"
                      "\"merges\":[]}}",
                      "Punctuation");
    expect_json_error(tmp, "nfkc",
                      "{\"normalizer\":{\"type\":\"NFKC\"},\"model\":{\"vocab\":{\"a\":0},"
                      "\"merges\":[]}}",
                      "NFKC");
    expect_json_error(tmp, "nospace", "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]}}",
                      "not a SentencePiece-style");
    ms_tokenizer *t = NULL;
    char err[512];
    if (ms_tokenizer_open(&t, "/nonexistent/tokenizer.json", err, sizeof err) != MS_ERR_INPUT || t)
        fail("missing file must be MS_ERR_INPUT");
    /* A minimal valid file: pieces a, b, ab; merge a b; BOS from the template. */
    expect_json_error(tmp, "dummy", "{", "not valid JSON");
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/tiny", tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    fputs("{\"added_tokens\":[{\"id\":0,\"content\":\"<s>\",\"special\":true}],"
          "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\","
          "\"prepend\":\"\xE2\x96\x81\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
          "\"content\":\"\xE2\x96\x81\"}]},\"post_processor\":{\"type\":\"TemplateProcessing\","
          "\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},{\"Sequence\":{\"id\":"
          "\"A\",\"type_id\":0}}]},\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":"
          "{\"<s>\":0,\"\xE2\x96\x81\":1,\"a\":2,\"b\":3,\"ab\":4,\"\xE2\x96\x81"
          "ab\":5},"
          "\"merges\":[\"a b\",\"\xE2\x96\x81 ab\"]}}",
          f);
    fclose(f);
    if (ms_tokenizer_open(&t, path, err, sizeof err)) {
        fail("tiny tokenizer.json: %s", err);
    } else {
        const int32_t want[] = {0, 5, 1, 2, 2}; /* <s> ▁ab ▁ a a */
        expect_ids(t, "tiny: merges by rank", "ab aa", 5, 1, want, 5);
        ms_tokenizer_free(t);
    }
    /* Byte mutations of the tiny file: any outcome but a crash or a half-made tokenizer. */
    size_t tlen;
    char *tiny = read_file(path, &tlen);
    char *mut = malloc(tlen + 1);
    int n_ok = 0;
    for (int iter = 0; iter < 1500; iter++) {
        memcpy(mut, tiny, tlen + 1);
        int k = 1 + (int)(rnd() % 4);
        for (int q = 0; q < k; q++) {
            uint64_t r = rnd();
            mut[r % tlen] = "\"{}[],: 0a\\\xE2\xFF"[(r >> 32) % 14];
        }
        snprintf(path, sizeof path, "%s/mut.json", dir);
        f = fopen(path, "wb");
        fwrite(mut, 1, tlen, f);
        fclose(f);
        int rc = ms_tokenizer_open(&t, path, err, sizeof err);
        if (rc == 0) {
            int32_t *ids;
            int64_t n;
            n_ok++;
            if (ms_tokenize(t, "ab aa \xFF", 7, 1, &ids, &n))
                fail("mutated: tokenize failed");
            else
                free(ids);
            ms_tokenizer_free(t);
        } else if ((rc != MS_ERR_INPUT && rc != MS_ERR_RUNTIME) || t != NULL || !err[0]) {
            fail("mutated tokenizer.json: rc %d without a clean failure", rc);
        }
    }
    free(mut);
    free(tiny);
    printf("mutated tokenizer.json: 1500 files, %d still valid\n", n_ok);

    /* Hand-made GGUF vocabularies. */
    static const char *const pieces[] = {"<unk>",
                                         "<s>",
                                         "</s>",
                                         "\xE2\x96\x81",
                                         "a",
                                         "b",
                                         "\xE2\x96\x81"
                                         "a",
                                         "ab",
                                         "\xE2\x96\x81"
                                         "ab",
                                         "<x>"};
    const float scores[] = {0, 0, 0, -1, -2, -3, -5, -4, -6, 0};
    const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 4}; /* <x>: user-defined */
    for (int variant = 0; variant < 7; variant++) {
        gguf_writer *w = gguf_writer_new();
        gguf_w_str(w, "general.architecture", "llama");
        if (variant != 0) gguf_w_str(w, "tokenizer.ggml.model", variant == 1 ? "bert" : "llama");
        if (variant == 2)
            gguf_w_arr_i32(w, "tokenizer.ggml.tokens", types, 10);
        else
            gguf_w_arr_str(w, "tokenizer.ggml.tokens", pieces, 10);
        gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, variant == 3 ? 9 : 10);
        if (variant == 4)
            gguf_w_arr_f32(w, "tokenizer.ggml.token_type", scores, 10);
        else
            gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, 10);
        if (variant == 6) gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 99);
        snprintf(path, sizeof path, "%s/v%d.gguf", dir, variant);
        if (gguf_writer_write(w, path, err, sizeof err)) fail("gguf writer: %s", err);
        gguf_writer_free(w);
        static const char *const want_err[] = {"no tokenizer.ggml.model", "is 'bert'",
                                               "not an array of strings", "scores must be",
                                               "token_type must be"};
        int rc = ms_tokenizer_open(&t, path, err, sizeof err);
        if (variant < 5) {
            if (rc != MS_ERR_INPUT || t || !strstr(err, want_err[variant]) || !strstr(err, path))
                fail("gguf variant %d: rc %d, '%s'", variant, rc, err);
            ms_tokenizer_free(t);
            continue;
        }
        if (rc) {
            fail("gguf variant %d: %s", variant, err);
            continue;
        }
        /* "ab a": ▁ab (score -6) loses to ab (-4)? pairs of "▁ a b ▁ a": ▁a (-5), ab (-4)
         * -> ab first, then ▁+ab = ▁ab (-6); then ▁ a -> ▁a. */
        const int32_t want_bos[] = {1, 8, 6};
        expect_ids(t, variant == 6 ? "gguf: BOS id out of range -> no BOS" : "tiny gguf", "ab a", 4,
                   1, variant == 6 ? want_bos + 1 : want_bos, variant == 6 ? 2 : 3);
        if (variant == 5) {
            /* A user-defined token is cut out first; each text fragment gets its "▁" (as
             * llama.cpp after a token fragment, and as HF's Prepend per split). */
            const int32_t want_user[] = {1, 6, 9, 3, 5}; /* <s> ▁a <x> ▁ b */
            expect_ids(t, "user-defined token", "a<x>b", 5, 1, want_user, 5);
            char jdir[1100];
            snprintf(jdir, sizeof jdir, "%s/tiny-user", dir);
            write_json_or_die(t, jdir);
            ms_tokenizer *tj = open_or_die(jdir);
            expect_ids(tj, "user-defined token (tokenizer.json)", "a<x>b", 5, 1, want_user, 5);
            expect_ids(tj, "tiny (tokenizer.json)", "ab a", 4, 1, want_bos, 3);
            ms_tokenizer_free(tj);
        }
        ms_tokenizer_free(t);
    }
    printf("error cases: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}

/* ids of one tokenizer (any source) against expected ids (e.g. Hugging Face's own). */
static int cmd_json(const char *model, const char *inp, const char *out) {
    cases c = read_cases(inp);
    int n_exp;
    idlist *exp = read_expected(out, &n_exp);
    if (n_exp < c.n) {
        fprintf(stderr, "%s has %d cases, %s has %d lines\n", inp, c.n, out, n_exp);
        return 1;
    }
    ms_tokenizer *t = open_or_die(model);
    int64_t total = 0;
    for (int i = 0; i < c.n; i++) {
        check_case(t, model, i, c.text[i], c.len[i], exp[i].v, exp[i].n);
        total += exp[i].n;
    }
    printf("%s: %d texts, %lld tokens: %s\n", model, c.n, (long long)total,
           failures ? "FAILED" : "ok");
    ms_tokenizer_free(t);
    for (int i = 0; i < c.n; i++)
        free(c.text[i]);
    for (int i = 0; i < n_exp; i++)
        free(exp[i].v);
    free(c.text);
    free(c.len);
    free(exp);
    return failures != 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "json") == 0) return cmd_json(argv[2], argv[3], argv[4]);
    if (argc >= 6 && strcmp(argv[1], "jsonx") == 0) { /* jsonx special|orig|special,orig ... */
        tok_special = (strstr(argv[2], "special") ? MS_TOKENIZE_SPECIAL : 0) |
                      (strstr(argv[2], "orig") ? MS_TOKENIZE_ORIGINAL_REGEX : 0);
        return cmd_json(argv[3], argv[4], argv[5]);
    }
    if (argc >= 6 && strcmp(argv[1], "vectors") == 0)
        return cmd_vectors(argv[2], argv[3], argv[4], argv[5]);
    if (argc >= 5 && strcmp(argv[1], "roundtrip") == 0)
        return cmd_roundtrip(argv[2], argv[3], argv[4]);
    if (argc >= 3 && strcmp(argv[1], "edge") == 0) return cmd_edge(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "fuzz") == 0) return cmd_fuzz(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "errors") == 0) return cmd_errors(argv[2]);
    fprintf(stderr, "usage: test_tokenizer json|jsonx|vectors|roundtrip|edge|fuzz|errors ...\n");
    return 2;
}
