/* cmd_make_corpus.c — `moescope make-corpus`: writes Pile-format JSONL (one
 * {"text": ..., "meta": {"pile_set_name": ...}} a line) from the project's generators and
 * sources, so the committed sample corpora (corpora/samples/, docs/SAMPLES.md) are
 * reproducible byte for byte: `dm-math` runs the DM Mathematics generator; `pile` assembles a
 * folder of hand-written documents (DIR/<domain>/NN.txt, the set named in DIR/<domain>/SET_NAME)
 * and appends generated DM Mathematics documents. */
#include "cli.h"
#include "corpora.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const ms_command ms_cmd_make_corpus;

static const char usage[] =
    "usage: moescope make-corpus dm-math [--seed S] [--docs N] --out FILE\n"
    "       moescope make-corpus pile --src DIR [--dm-docs N] [--seed S] --out FILE\n"
    "\n"
    "Writes Pile-format JSONL: one {\"text\": ..., \"meta\": {\"pile_set_name\": ...}} a line.\n"
    "\n"
    "  dm-math        N generated documents (default 32) of DM Mathematics question/answer\n"
    "                 pairs, one module per document (algebra, arithmetic, polynomials,\n"
    "                 calculus, numbers, measurement, probability, sequences, comparison).\n"
    "  pile           every DIR/<domain>/*.txt (name order; trailing whitespace removed) as one\n"
    "                 document of the set named in DIR/<domain>/SET_NAME, domains in name\n"
    "                 order, then --dm-docs generated DM Mathematics documents (default 0).\n"
    "\n"
    "options:\n"
    "  --seed S       generator seed (default 1); document i depends only on (S, i)\n"
    "  --docs N       dm-math: number of documents (default 32)\n"
    "  --dm-docs N    pile: generated DM Mathematics documents to append (default 0)\n"
    "  --src DIR      pile: the folder of domain folders\n"
    "  --out FILE     output file, '-' for stdout\n"
    "  -q, -v, -h     quiet, verbose, this help\n"
    "\n"
    "The demo's sample: moescope make-corpus pile --src corpora/samples/src --dm-docs 32 \\\n"
    "                     --seed 1 --out corpora/samples/pile_sample.jsonl\n";

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) and no NUL. */
static size_t utf8_bad_offset(const unsigned char *s, size_t n) {
    const char *nul = memchr(s, 0, n);
    size_t lim = nul ? (size_t)(nul - (const char *)s) : n;
    size_t ok = ms_utf8_valid_prefix((const char *)s, lim);
    return ok < lim ? ok : nul ? lim : n;
}

/* One JSONL line; returns 0 or MS_EXIT_RUNTIME after printing the error. */
static int write_doc(FILE *out, const char *outname, const char *text, const char *set) {
    cJSON *o = cJSON_CreateObject(), *meta = NULL;
    char *line = NULL;
    if (o && cJSON_AddStringToObject(o, "text", text) &&
        (meta = cJSON_AddObjectToObject(o, "meta")) &&
        cJSON_AddStringToObject(meta, "pile_set_name", set))
        line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) {
        ms_error("%s: out of memory", outname);
        return MS_EXIT_RUNTIME;
    }
    int bad = fputs(line, out) < 0 || fputc('\n', out) == EOF;
    cJSON_free(line);
    if (bad) {
        ms_error("%s: %s", outname, strerror(errno));
        return MS_EXIT_RUNTIME;
    }
    return 0;
}

static int write_dm_math(FILE *out, const char *outname, uint64_t seed, long n) {
    char err[256];
    for (long i = 0; i < n; i++) {
        char *text;
        size_t len;
        int rc = ms_dm_math_doc(seed, i, &text, &len, err, sizeof err);
        if (rc) {
            ms_error("%s", err);
            return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        }
        rc = write_doc(out, outname, text, "DM Mathematics");
        free(text);
        if (rc) return rc;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_list(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Sorted names in dir (hidden ones skipped): directories when want_dirs, else regular files
 * ending in ".txt". Returns 0, or an exit status after printing the error. */
static int list_dir(const char *dir, int want_dirs, char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        ms_error("%s: %s", dir, strerror(errno));
        return MS_EXIT_USAGE;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(e->d_name);
        char *path = malloc(strlen(dir) + len + 2);
        if (!path) {
            rc = MS_EXIT_RUNTIME;
            break;
        }
        sprintf(path, "%s/%s", dir, e->d_name);
        struct stat st;
        int ok = stat(path, &st) == 0;
        free(path);
        if (!ok) continue;
        if (want_dirs ? !S_ISDIR(st.st_mode)
                      : !S_ISREG(st.st_mode) || len < 5 || strcmp(e->d_name + len - 4, ".txt"))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(*names, cap * sizeof *nv);
            if (!nv) {
                rc = MS_EXIT_RUNTIME;
                break;
            }
            *names = nv;
        }
        if (!((*names)[*n] = strdup(e->d_name))) {
            rc = MS_EXIT_RUNTIME;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc) {
        ms_error("%s: out of memory", dir);
        free_list(*names, *n);
        *names = NULL;
        *n = 0;
        return rc;
    }
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return 0;
}

/* The output file, so that no source is read that the output would replace. */
static const char *out_path;

/* Reads path, checks UTF-8, removes trailing whitespace. *text is malloc'ed. */
static int read_text(const char *path, char **text, int allow_empty) {
    size_t len;
    *text = NULL;
    int rc = ms_cli_check_output(out_path, &path, 1);
    if (rc) return rc;
    rc = ms_read_file(path, text, &len);
    if (rc) return rc;
    size_t bad = utf8_bad_offset((const unsigned char *)*text, len);
    if (bad < len) {
        ms_error("%s: invalid UTF-8 (or a NUL byte) at byte %zu", path, bad);
        free(*text);
        *text = NULL;
        return MS_EXIT_USAGE;
    }
    while (len && strchr(" \t\r\n", (*text)[len - 1]))
        len--;
    (*text)[len] = 0;
    if (!len && !allow_empty) {
        ms_error("%s: empty document", path);
        free(*text);
        *text = NULL;
        return MS_EXIT_USAGE;
    }
    return 0;
}

static int write_pile(FILE *out, const char *outname, const char *src) {
    char **domains;
    size_t nd;
    int rc = list_dir(src, 1, &domains, &nd);
    if (rc) return rc;
    if (!nd) {
        ms_error("%s: no domain folders", src);
        free_list(domains, nd);
        return MS_EXIT_USAGE;
    }
    for (size_t i = 0; i < nd && !rc; i++) {
        char *dir = malloc(strlen(src) + strlen(domains[i]) + 2);
        char *setpath = malloc(strlen(src) + strlen(domains[i]) + 12);
        char *set = NULL, **files = NULL;
        size_t nf = 0;
        if (!dir || !setpath) {
            ms_error("%s: out of memory", src);
            rc = MS_EXIT_RUNTIME;
            goto next;
        }
        sprintf(dir, "%s/%s", src, domains[i]);
        sprintf(setpath, "%s/SET_NAME", dir);
        if ((rc = read_text(setpath, &set, 0))) goto next;
        if (strchr(set, '\n')) {
            ms_error("%s: the set name must be one line", setpath);
            rc = MS_EXIT_USAGE;
            goto next;
        }
        if ((rc = list_dir(dir, 0, &files, &nf))) goto next;
        if (!nf) {
            ms_error("%s: no .txt documents", dir);
            rc = MS_EXIT_USAGE;
            goto next;
        }
        for (size_t j = 0; j < nf && !rc; j++) {
            char *path = malloc(strlen(dir) + strlen(files[j]) + 2), *text = NULL;
            if (!path) {
                ms_error("%s: out of memory", dir);
                rc = MS_EXIT_RUNTIME;
                break;
            }
            sprintf(path, "%s/%s", dir, files[j]);
            rc = read_text(path, &text, 0);
            if (!rc) rc = write_doc(out, outname, text, set);
            free(text);
            free(path);
        }
        ms_debug("%s: %zu documents of \"%s\"", dir, nf, set);
    next:
        free_list(files, nf);
        free(set);
        free(setpath);
        free(dir);
    }
    free_list(domains, nd);
    return rc;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_make_corpus;
    static const struct option longopts[] = {
        {"seed", required_argument, 0, 's'},    {"docs", required_argument, 0, 'n'},
        {"dm-docs", required_argument, 0, 'm'}, {"src", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},     MS_COMMON_LONG_OPTS};
    long seed = 1, docs = 32, dm_docs = 0;
    int have_docs = 0, have_dm_docs = 0;
    const char *src = NULL, *outname = NULL;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "o:", longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 's':
            if (ms_parse_long(cmd, "--seed", optarg, 0, 0x7fffffffL, &seed)) return MS_EXIT_USAGE;
            break;
        case 'n':
            if (ms_parse_long(cmd, "--docs", optarg, 0, 1000000, &docs)) return MS_EXIT_USAGE;
            have_docs = 1;
            break;
        case 'm':
            if (ms_parse_long(cmd, "--dm-docs", optarg, 0, 1000000, &dm_docs)) return MS_EXIT_USAGE;
            have_dm_docs = 1;
            break;
        case 'd':
            src = optarg;
            break;
        case 'o':
            outname = optarg;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (optind >= argc) return ms_usage_error(cmd, "missing what to make (dm-math or pile)");
    if (optind + 1 < argc) return ms_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *what = argv[optind];
    int pile = !strcmp(what, "pile");
    if (!pile && strcmp(what, "dm-math"))
        return ms_usage_error(cmd, "unknown corpus '%s' (dm-math or pile)", what);
    if (!outname) return ms_usage_error(cmd, "--out FILE is required");
    if (pile && !src) return ms_usage_error(cmd, "pile needs --src DIR");
    if (pile && have_docs) return ms_usage_error(cmd, "--docs is for dm-math (pile: --dm-docs)");
    if (!pile && (src || have_dm_docs))
        return ms_usage_error(cmd, "--src and --dm-docs are for pile");

    /* Written under a temporary name and renamed when complete: a failed run leaves the old
     * file (or nothing), and a source that is the output is refused before it is read. */
    char err[1024];
    ms_outfile of;
    int rc = ms_outfile_open(&of, outname, err, sizeof err);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    out_path = outname;
    rc = pile ? write_pile(of.f, outname, src) : 0;
    if (!rc) rc = write_dm_math(of.f, outname, (uint64_t)seed, pile ? dm_docs : docs);
    if (rc) {
        ms_outfile_abort(&of);
        return rc;
    }
    if (ms_outfile_commit(&of, err, sizeof err)) {
        ms_error("%s", err);
        return MS_EXIT_RUNTIME;
    }
    ms_debug("%s: written", outname);
    return MS_EXIT_OK;
}

const ms_command ms_cmd_make_corpus = {"make-corpus", "write the sample corpora as Pile JSONL",
                                       usage, run, 80};
