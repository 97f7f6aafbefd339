/* test_samples_manifest.c — the demo's manifest (corpora/samples/manifest.json) read through
 * the corpora library exactly as the capture reads it: eight domains in the Mixtral figures'
 * order, 20 documents each, every text non-empty, valid UTF-8 and of its own Pile set (checked
 * by a marker each domain's documents carry), and the same documents on a second open. */
#include "corpora.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"ArXiv",         "DM Mathematics", "Github",
                                    "Gutenberg",     "PhilPapers",     "PubMed Abstracts",
                                    "StackExchange", "Wikipedia (en)"};
enum { N_DOMAINS = 8, WANT_DOCS = 20 };

/* A marker every document of the domain has, so a wrong pile_set_name filter shows. */
static int looks_right(int domain, const char *t) {
    switch (domain) {
    case 0:
        return strstr(t, "\\section") != NULL;
    case 1:
        return strstr(t, "?\n") != NULL || strstr(t, ".\n") != NULL;
    case 5:
        return strstr(t, "BACKGROUND:") != NULL;
    case 6:
        return strncmp(t, "Q:\n\n", 4) == 0;
    default:
        return 1;
    }
}

/* Reads the whole corpus; returns the number of failures, fills a checksum of the texts. */
static int read_all(const char *manifest, unsigned long *sum) {
    char err[512];
    ms_corpus *c;
    ms_corpus_opts o = {0};
    o.manifest = manifest;
    if (ms_corpus_open(&c, &o, err, sizeof err)) {
        printf("FAIL: open %s: %s\n", manifest, err);
        return 1;
    }
    int fails = 0, n = ms_corpus_n_domains(c);
    if (n != N_DOMAINS) {
        printf("FAIL: %d domains, want %d\n", n, N_DOMAINS);
        fails++;
    }
    for (int i = 0; i < n && i < N_DOMAINS; i++)
        if (strcmp(ms_corpus_domain(c, i), names[i])) {
            printf("FAIL: domain %d is '%s', want '%s'\n", i, ms_corpus_domain(c, i), names[i]);
            fails++;
        }
    int count[N_DOMAINS] = {0}, rc;
    ms_doc d;
    *sum = 5381;
    while ((rc = ms_corpus_next(c, &d, err, sizeof err)) == 1) {
        if (d.domain < 0 || d.domain >= N_DOMAINS) {
            printf("FAIL: document of domain %d\n", d.domain);
            fails++;
            continue;
        }
        count[d.domain]++;
        if (d.len == 0 || ms_utf8_valid_prefix(d.text, d.len) != d.len ||
            !looks_right(d.domain, d.text)) {
            printf("FAIL: %s: bad text for %s\n", d.source, names[d.domain]);
            fails++;
        }
        for (size_t k = 0; k < d.len; k++)
            *sum = *sum * 33 + (unsigned char)d.text[k];
    }
    if (rc < 0) {
        printf("FAIL: reading: %s\n", err);
        fails++;
    }
    for (int i = 0; i < N_DOMAINS; i++)
        if (count[i] != WANT_DOCS) {
            printf("FAIL: %s has %d documents, want %d\n", names[i], count[i], WANT_DOCS);
            fails++;
        }
    if (ms_corpus_n_skipped(c) != 0) {
        printf("FAIL: %lld documents skipped\n", (long long)ms_corpus_n_skipped(c));
        fails++;
    }
    ms_corpus_close(c);
    return fails;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_samples_manifest MANIFEST\n");
        return 2;
    }
    unsigned long a, b;
    int fails = read_all(argv[1], &a);
    fails += read_all(argv[1], &b);
    if (a != b) {
        printf("FAIL: two opens gave different documents\n");
        fails++;
    }
    printf("%d passed, %d failed\n", fails ? 0 : 1, fails);
    return fails ? 1 : 0;
}
