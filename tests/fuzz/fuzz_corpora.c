/* fuzz_corpora.c — libFuzzer target for the corpus readers: the input's first byte picks what
 * the rest is (a JSONL/zstd source read through a Pile-filtering sampled manifest, the same
 * source streamed, a manifest, or a text file); every document is read to the end, with and
 * without skip_bad. Any crash, leak or sanitizer report is a bug; errors are expected. Seeds
 * (seeds_corpora/) include two values on a line, lone-CR lines, \u0000 and NUL bytes, zstd
 * with skippable frames (pzstd's output, truncated ones) and manifests with trailing data. */
#include "corpora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const uint8_t *d, size_t n) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n) fwrite(d, 1, n, f);
    fclose(f);
}

static void drain(const char *manifest, const char *file, int skip) {
    char p[128], err[256];
    snprintf(p, sizeof p, "%s/%s", dir, manifest ? manifest : file);
    const char *files[1] = {p};
    ms_corpus_opts o = {manifest ? p : NULL, files, 1, "text", skip};
    ms_corpus *c = NULL;
    if (ms_corpus_open(&c, &o, err, sizeof err)) return;
    ms_doc d;
    int n = 0;
    /* Every document is whole (no NUL cuts it: U+0000 is refused) and valid UTF-8. */
    while (ms_corpus_next(c, &d, err, sizeof err) == 1 && n++ < 100000)
        if (strlen(d.text) != d.len || ms_utf8_valid_prefix(d.text, d.len) != d.len) abort();
    ms_corpus_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_corpora.%d", (int)getpid());
        char cmd[96];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        if (system(cmd) != 0) abort();
        static const char m[] =
            "{\"seed\": 3, \"domains\": [{\"name\": \"a\", \"sources\": \"src.jsonl\", "
            "\"pile_set_name\": [\"ArXiv\", \"github\"], \"docs\": 3}, {\"name\": \"b\", "
            "\"sources\": \"src.jsonl\", \"text_field\": \"meta.t\"}]}";
        put("m.json", (const uint8_t *)m, sizeof m - 1);
    }
    if (size < 1) return 0;
    int mode = data[0] % 4;
    data++;
    size--;
    switch (mode) {
    case 0:
    case 1:
        put("src.jsonl", data, size);
        drain(mode == 0 ? "m.json" : NULL, "src.jsonl", 0);
        drain(mode == 0 ? "m.json" : NULL, "src.jsonl", 1);
        break;
    case 2:
        put("src.jsonl", (const uint8_t *)"{\"text\": \"x\"}\n", 14);
        put("fz.json", data, size);
        drain("fz.json", NULL, 1);
        break;
    default:
        put("doc.txt", data, size);
        drain(NULL, "doc.txt", 0);
        (void)ms_utf8_valid_prefix((const char *)data, size);
        break;
    }
    return 0;
}
