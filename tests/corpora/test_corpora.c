/* test_corpora.c — corpus readers on fixtures this test writes into DIR: text folders, JSONL,
 * zstd JSONL (several frames, long lines), The Pile's format with set-name selection and
 * seeded sampling, the manifest, UTF-8 validation, and the table of bad inputs (each must
 * fail with file:line, and with skip_bad be skipped and counted).
 * usage: test_corpora DIR */
#include "corpora.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "../mstest.h"

static const char *dir;

static char *pth(const char *name) {
    return mstest_path(dir, name);
}

static void put(const char *name, const void *data, size_t n) {
    mstest_put(pth(name), data, n);
}

static void puts_(const char *name, const char *s) {
    put(name, s, strlen(s));
}

/* Writes data as zstd, split into `frames` independent frames. */
static void put_zst(const char *name, const char *data, size_t n, int frames) {
    FILE *f = fopen(pth(name), "wb");
    size_t step = (n + (size_t)frames - 1) / (size_t)frames;
    for (size_t off = 0; off < n; off += step) {
        size_t m = n - off < step ? n - off : step;
        size_t cap = ZSTD_compressBound(m);
        void *out = malloc(cap);
        size_t z = ZSTD_compress(out, cap, data + off, m, 3);
        if (ZSTD_isError(z)) exit(1);
        fwrite(out, 1, z, f);
        free(out);
    }
    fclose(f);
}

typedef struct got {
    int n;
    int domain[400];
    char source[400][160];
    char text[400][64];
    int rc;
    int64_t skipped;
    char err[512];
} got;

/* Reads a whole corpus. */
static void read_all(got *g, const char *manifest, const char *const *files, int nf,
                     const char *field, int skip_bad) {
    memset(g, 0, sizeof *g);
    ms_corpus_opts o = {manifest, files, nf, field, skip_bad};
    ms_corpus *c = NULL;
    g->rc = ms_corpus_open(&c, &o, g->err, sizeof g->err);
    if (g->rc) return;
    ms_doc d;
    int r;
    while ((r = ms_corpus_next(c, &d, g->err, sizeof g->err)) == 1) {
        if (g->n < 400) {
            g->domain[g->n] = d.domain;
            snprintf(g->source[g->n], sizeof g->source[0], "%s", d.source);
            snprintf(g->text[g->n], sizeof g->text[0], "%s", d.text);
            CHECK(strlen(d.text) == d.len, "len");
        }
        g->n++;
    }
    g->rc = r < 0 ? -r : 0;
    g->skipped = ms_corpus_n_skipped(c);
    ms_corpus_close(c);
}

static void test_utf8(void) {
    static const struct {
        const char *s;
        size_t n, want;
    } t[] = {
        {"plain ascii", 11, 11},
        {"caf\xc3\xa9", 5, 5},
        {"\xe2\x82\xac \xf0\x9f\x98\x80", 8, 8}, /* euro sign, emoji */
        {"\xf4\x8f\xbf\xbf", 4, 4},              /* U+10FFFF */
        {"ab\xc0\x80", 4, 2},                    /* overlong NUL */
        {"\xc1\xbf", 2, 0},                      /* overlong */
        {"\xe0\x80\xaf", 3, 0},                  /* overlong 3-byte */
        {"x\xed\xa0\x80", 4, 1},                 /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},              /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"ok\x80", 3, 2},        /* lone continuation */
        {"\xe2\x82", 2, 0},      /* truncated */
        {"a\xe2\x28\xa1", 4, 1}, /* bad continuation */
        {"\xff", 1, 0},
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t v = ms_utf8_valid_prefix(t[i].s, t[i].n);
        CHECK(v == t[i].want, "utf8 case %zu: %zu, want %zu", i, v, t[i].want);
    }
}

static void test_text_folder(void) {
    mkdir(pth("txt"), 0755);
    mkdir(pth("txt/sub"), 0755);
    puts_("txt/b.txt", "second");
    puts_("txt/a.txt", "first\nline two");
    puts_("txt/sub/c.txt", "third \xc3\xa9");
    puts_("txt/.hidden", "never");
    const char *files[] = {pth("txt")};
    got g;
    read_all(&g, NULL, files, 1, NULL, 0);
    CHECK(g.rc == 0 && g.n == 3, "folder: rc %d n %d %s", g.rc, g.n, g.err);
    CHECK(!strcmp(g.text[0], "first\nline two") && !strcmp(g.text[1], "second") &&
              !strcmp(g.text[2], "third \xc3\xa9"),
          "folder order/text");
    CHECK(strstr(g.source[2], "txt/sub/c.txt") != NULL, "source %s", g.source[2]);
}

/* The Pile fixture: 60 lines over four sets, written as multi-frame zstd. Line i (1-based)
 * has text "doc<i>" and set sets[i % 4]. */
static const char *const sets[4] = {"ArXiv", "Github", "PubMed Abstracts", "DM Mathematics"};

static void write_pile(void) {
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    for (int i = 1; i <= 60; i++)
        n += (size_t)snprintf(b + n, cap - n,
                              "{\"text\": \"doc%d\", \"meta\": {\"pile_set_name\": \"%s\"}}\n", i,
                              sets[i % 4]);
    put_zst("pile.jsonl.zst", b, n, 3);
    put("pile.jsonl", b, n);
    free(b);
}

static void test_pile(void) {
    write_pile();
    puts_("pile.json", "{\"name\": \"pile\", \"seed\": 7, \"max_tokens_per_doc\": 512,\n"
                       " \"domains\": [\n"
                       "  {\"name\": \"code\", \"sources\": \"pile.jsonl.zst\", "
                       "\"pile_set_name\": \"GitHub\"},\n"
                       "  {\"name\": \"arxiv\", \"sources\": [\"pile.jsonl.zst\"], "
                       "\"pile_set_name\": \"arxiv\", \"docs\": 4},\n"
                       "  {\"name\": \"math\", \"sources\": [\"pile.jsonl.zst\"], "
                       "\"pile_set_name\": [\"DM Mathematics\"], \"docs\": 100}\n"
                       " ]}\n");
    got g;
    read_all(&g, pth("pile.json"), NULL, 0, NULL, 0);
    CHECK(g.rc == 0, "pile: %s", g.err);
    /* code: every line with i % 4 == 1 (Github), in order: 1, 5, ..., 57 (15 docs). */
    int k = 0;
    for (int i = 1; i <= 60; i++)
        if (i % 4 == 1) {
            char want[32], src[64];
            snprintf(want, sizeof want, "doc%d", i);
            snprintf(src, sizeof src, "pile.jsonl.zst:%d", i);
            CHECK(k < g.n && g.domain[k] == 0 && !strcmp(g.text[k], want) &&
                      strstr(g.source[k], src),
                  "code doc %d: %s %s", k, g.text[k], g.source[k]);
            k++;
        }
    /* arxiv: 4 of the 15 ArXiv lines (i % 4 == 0), increasing. */
    int last = 0;
    for (int j = 0; j < 4; j++, k++) {
        int i = 0;
        CHECK(k < g.n && g.domain[k] == 1 && sscanf(g.text[k], "doc%d", &i) == 1 && i % 4 == 0 &&
                  i > last,
              "arxiv sample %d: %s", j, g.text[k]);
        last = i;
    }
    /* math: fewer lines than "docs": all 15 (i % 4 == 3). */
    int nm = 0;
    for (; k < g.n; k++) {
        int i = 0;
        CHECK(g.domain[k] == 2 && sscanf(g.text[k], "doc%d", &i) == 1 && i % 4 == 3, "math");
        nm++;
    }
    CHECK(nm == 15 && g.n == 34, "math %d, total %d", nm, g.n);

    /* Determinism, and independence from the other domains: the arxiv sample alone, listed
     * first, from the plain (uncompressed) copy with the same path as written... the key
     * uses the path as written, so use the same file. */
    got g2;
    puts_("pile2.json", "{\"seed\": 7, \"domains\": [\n"
                        "  {\"name\": \"arxiv\", \"sources\": \"pile.jsonl.zst\", "
                        "\"pile_set_name\": \"ArXiv\", \"docs\": 4}]}");
    read_all(&g2, pth("pile2.json"), NULL, 0, NULL, 0);
    CHECK(g2.rc == 0 && g2.n == 4, "pile2: %s", g2.err);
    for (int j = 0; j < 4 && j < g2.n; j++)
        CHECK(!strcmp(g2.text[j], g.text[15 + j]), "sample differs: %s vs %s", g2.text[j],
              g.text[15 + j]);
    /* Another seed draws another sample (4 of 15: equal by chance with p = 1/1365). */
    puts_("pile3.json", "{\"seed\": 8, \"domains\": [\n"
                        "  {\"name\": \"arxiv\", \"sources\": \"pile.jsonl.zst\", "
                        "\"pile_set_name\": \"ArXiv\", \"docs\": 4}]}");
    got g3;
    read_all(&g3, pth("pile3.json"), NULL, 0, NULL, 0);
    int same = g3.n == 4;
    for (int j = 0; j < 4 && same; j++)
        same = !strcmp(g3.text[j], g2.text[j]);
    CHECK(g3.rc == 0 && !same, "seed 8 gave the seed-7 sample");

    /* The manifest is normalised and carries max_tokens_per_doc. */
    ms_corpus_opts o = {pth("pile.json"), NULL, 0, NULL, 0};
    ms_corpus *c = NULL;
    char err[256];
    CHECK(ms_corpus_open(&c, &o, err, sizeof err) == 0, "open: %s", err);
    if (c) {
        CHECK(ms_corpus_max_tokens_per_doc(c) == 512, "max tokens");
        CHECK(ms_corpus_n_domains(c) == 3 && !strcmp(ms_corpus_domain(c, 2), "math"), "domains");
        CHECK(strstr(ms_corpus_manifest_json(c), "\"pile_set_name\":[\"GitHub\"]") != NULL,
              "manifest json %s", ms_corpus_manifest_json(c));
        CHECK(ms_corpus_n_docs_hint(c) == 0, "hint with a streamed domain");
        ms_corpus_close(c);
    }
}

/* Sampling is uniform: over 400 seeds, each of 15 candidates is drawn 400*4/15 ~ 107 times. */
static void test_uniform(void) {
    int count[61] = {0};
    for (int seed = 0; seed < 400; seed++) {
        char m[256];
        snprintf(m, sizeof m,
                 "{\"seed\": %d, \"domains\": [{\"name\": \"a\", \"sources\": \"pile.jsonl\","
                 " \"pile_set_name\": \"ArXiv\", \"docs\": 4}]}",
                 seed);
        puts_("u.json", m);
        got g;
        read_all(&g, pth("u.json"), NULL, 0, NULL, 0);
        for (int j = 0; j < g.n; j++) {
            int i = 0;
            if (sscanf(g.text[j], "doc%d", &i) == 1 && i >= 0 && i <= 60) count[i]++;
        }
    }
    /* Binomial(400, 4/15): mean 106.7, sd 8.8; 6 sd bounds never fail by chance. */
    for (int i = 4; i <= 60; i += 4)
        CHECK(count[i] > 53 && count[i] < 160, "candidate %d drawn %d times", i, count[i]);
}

static void test_jsonl_fields(void) {
    puts_("f.jsonl", "{\"content\": \"one\", \"meta\": {\"body\": \"b1\"}}\n"
                     "\n"
                     "{\"content\": \"two \\u00e9\\n\", \"meta\": {\"body\": \"b2\"}}\r\n"
                     "{\"content\": \"three\", \"meta\": {\"body\": \"b3\"}}");
    const char *files[] = {pth("f.jsonl")};
    got g;
    read_all(&g, NULL, files, 1, "content", 0);
    CHECK(g.rc == 0 && g.n == 3 && !strcmp(g.text[1], "two \xc3\xa9\n") &&
              !strcmp(g.text[2], "three"),
          "content field: %d %d %s", g.rc, g.n, g.err);
    CHECK(strstr(g.source[1], "f.jsonl:3") && strstr(g.source[2], "f.jsonl:4"), "line numbers %s",
          g.source[1]);
    read_all(&g, NULL, files, 1, "meta.body", 0);
    CHECK(g.rc == 0 && g.n == 3 && !strcmp(g.text[0], "b1"), "dotted field");
    /* Files with the same stem share a domain. */
    mkdir(pth("other"), 0755);
    puts_("other/f.txt", "plain");
    const char *two[] = {pth("f.jsonl"), pth("other/f.txt")};
    ms_corpus_opts o = {NULL, two, 2, "content", 0};
    ms_corpus *c = NULL;
    char err[256];
    CHECK(ms_corpus_open(&c, &o, err, sizeof err) == 0 && ms_corpus_n_domains(c) == 1 &&
              !strcmp(ms_corpus_domain(c, 0), "f"),
          "stems");
    ms_corpus_close(c);
}

static void test_long_lines(void) {
    /* A 300 KB line between short ones, in zstd: longer than any internal buffer. */
    size_t big = 300000;
    char *b = malloc(big + 200);
    size_t n = (size_t)sprintf(b, "{\"text\": \"short\"}\n{\"text\": \"");
    for (size_t i = 0; i < big; i++)
        b[n++] = (char)('a' + i % 26);
    n += (size_t)sprintf(b + n, "\"}\n{\"text\": \"end\"}\n");
    put_zst("long.jsonl.zst", b, n, 1);
    const char *files[] = {pth("long.jsonl.zst")};
    ms_corpus_opts o = {NULL, files, 1, NULL, 0};
    ms_corpus *c = NULL;
    char err[256];
    int rc = ms_corpus_open(&c, &o, err, sizeof err);
    CHECK(rc == 0, "long: %s", err);
    ms_doc d;
    int k = 0;
    while (c && ms_corpus_next(c, &d, err, sizeof err) == 1) {
        if (k == 1) CHECK(d.len == big && d.text[big - 1] == (char)('a' + (big - 1) % 26), "big");
        if (k == 2) CHECK(!strcmp(d.text, "end") && strstr(d.source, ":3"), "after big");
        k++;
    }
    CHECK(k == 3, "long: %d docs", k);
    ms_corpus_close(c);
    free(b);
}

/* The bad-input table: file content, how it is read, the message expected without skip_bad,
 * and the documents and skips expected with it. */
static void test_bad(void) {
    write_pile();
    /* Corrupt frame: flip bytes in the middle of a compressed file; truncated: cut it. */
    FILE *f = fopen(pth("pile.jsonl.zst"), "rb");
    static unsigned char z[1 << 16];
    size_t zn = fread(z, 1, sizeof z, f);
    fclose(f);
    static unsigned char zc[1 << 16];
    memcpy(zc, z, zn);
    for (size_t i = 20; i < 60 && i < zn; i++)
        zc[i] ^= 0x5a;
    put("corrupt.jsonl.zst", zc, zn);
    put("trunc.jsonl.zst", z, zn - 7);
    put("garbage.jsonl.zst", "\x28\xb5\x2f\xfd garbage after magic", 24);
    puts_("malformed.jsonl",
          "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\"\n{\"text\": \"d\"}\n");
    puts_("notext.jsonl", "{\"text\": \"a\"}\n{\"body\": \"b\"}\n{\"text\": 3}\n");
    puts_("badutf8.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"text\": \"c\"}\n"
                           "{\"text\": \"bad \xc3\x28 byte\"}\n");
    puts_("badutf8.txt", "line one\nline \xff two\n");
    puts_("empty.jsonl", "");
    puts_("blank.jsonl", "\n  \n\n");
    puts_("empty.txt", "");
    puts_("nometa.jsonl", "{\"text\": \"a\", \"meta\": {\"pile_set_name\": \"ArXiv\"}}\n"
                          "{\"text\": \"b\"}\n");
    puts_("array.jsonl", "[1, 2]\n{\"text\": \"ok\"}\n");
    static const struct {
        const char *file;
        const char *filter; /* pile_set_name, or NULL */
        const char *msg;    /* expected in the error */
        int docs_skip;      /* documents read with skip_bad */
        int skipped;
    } t[] = {
        {"malformed.jsonl", NULL, "malformed.jsonl:3: malformed JSON line", 3, 1},
        {"notext.jsonl", NULL, "notext.jsonl:2: no string field \"text\"", 1, 2},
        {"badutf8.jsonl", NULL, "badutf8.jsonl:4: invalid UTF-8 at byte 4", 3, 1},
        {"badutf8.txt", NULL, "badutf8.txt:2: invalid UTF-8 at byte 14", 0, 1},
        {"empty.jsonl", NULL, "empty.jsonl: empty file", 0, 1},
        {"blank.jsonl", NULL, "blank.jsonl: empty file", 0, 1},
        {"empty.txt", NULL, "empty.txt: empty file", 0, 1},
        {"corrupt.jsonl.zst", NULL, "corrupt.jsonl.zst: corrupt zstd data", -1, 1},
        {"trunc.jsonl.zst", NULL, "trunc.jsonl.zst: ", -1, 1},
        {"garbage.jsonl.zst", NULL, "garbage.jsonl.zst: corrupt zstd data after line 0", 0, 1},
        {"nometa.jsonl", "ArXiv", "nometa.jsonl:2: no string meta.pile_set_name", 1, 1},
        {"array.jsonl", NULL, "array.jsonl:1: malformed JSON line", 1, 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        /* Both paths: streamed (no "docs") and sampled ("docs": 1000). */
        for (int sampled = 0; sampled < 2; sampled++) {
            char m[512];
            snprintf(m, sizeof m, "{\"domains\": [{\"name\": \"d\", \"sources\": \"%s\"%s%s%s%s}]}",
                     t[i].file, t[i].filter ? ", \"pile_set_name\": \"" : "",
                     t[i].filter ? t[i].filter : "", t[i].filter ? "\"" : "",
                     sampled ? ", \"docs\": 1000" : "");
            puts_("bad.json", m);
            got g;
            read_all(&g, pth("bad.json"), NULL, 0, NULL, 0);
            CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, t[i].msg), "%s (sampled %d): rc %d: %s",
                  t[i].file, sampled, g.rc, g.err);
            if (sampled == 0) fprintf(stderr, "  %-20s -> %s\n", t[i].file, g.err);
            read_all(&g, pth("bad.json"), NULL, 0, NULL, 1);
            CHECK(g.rc == 0 && g.skipped == t[i].skipped &&
                      (t[i].docs_skip < 0 || g.n == t[i].docs_skip),
                  "%s skip_bad (sampled %d): rc %d, %d docs, %lld skipped: %s", t[i].file, sampled,
                  g.rc, g.n, (long long)g.skipped, g.err);
        }
    }
}

static void test_manifest_errors(void) {
    static const struct {
        const char *text, *msg;
    } t[] = {
        {"{\"domains\": [{\"name\": \"a\", \"sources\": \"pile.jsonl\", \"doc\": 3}]}",
         "m.json: domains[0]: unknown key \"doc\""},
        {"{\"domains\": [{\"name\": \"a\", \"sources\": \"nope.jsonl\"}]}",
         "nope.jsonl: No such file"},
        {"{\"domains\": []}", "\"domains\" must be a non-empty array"},
        {"{\"domains\": [{\"sources\": \"pile.jsonl\"}]}", "\"name\" must be"},
        {"{\"domains\": [{\"name\": \"a\", \"sources\": \"pile.jsonl\", \"docs\": -1}]}",
         "\"docs\" must be"},
        {"{\"domains\": [{\"name\": \"a\", \"sources\": \"pile.jsonl\"},\n"
         "{\"name\": \"a\", \"sources\": \"pile.jsonl\"}]}",
         "appears twice"},
        {"{\"seed\": 1,\n \"domains\": [\n {\"name\": }]}", "m.json:3: malformed JSON"},
        {"{\"seed\": \"x\", \"domains\": [{\"name\": \"a\", \"sources\": \"pile.jsonl\"}]}",
         "non-negative integers"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        puts_("m.json", t[i].text);
        got g;
        read_all(&g, pth("m.json"), NULL, 0, NULL, 0);
        CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, t[i].msg), "manifest %zu: rc %d: %s", i, g.rc,
              g.err);
    }
    got g;
    read_all(&g, pth("missing-manifest.json"), NULL, 0, NULL, 0);
    CHECK(g.rc == MS_ERR_INPUT && strstr(g.err, "missing-manifest.json: No such file or directory"),
          "%s", g.err);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_corpora DIR\n");
        return 2;
    }
    dir = argv[1];
    mkdir(dir, 0755);
    test_utf8();
    test_text_folder();
    test_pile();
    test_uniform();
    test_jsonl_fields();
    test_long_lines();
    test_bad();
    test_manifest_errors();
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
