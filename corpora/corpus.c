/* corpus.c — documents by domain: the manifest (docs/CORPORA.md), its sources (text files,
 * folders, JSONL, zstd JSONL, The Pile with set-name selection), sampling and validation.
 *
 * Order and sampling. Documents come domain by domain in manifest order; inside a domain in
 * the order of its sources and, inside a source, of its lines. A domain with "docs": N keeps
 * a uniform sample of N of its documents: every candidate gets a pseudo-random key from
 * (seed, domain name, source path as written, line) and the N smallest keys win (bottom-k
 * sampling). The sample is therefore the same whatever the order in which files are read,
 * so all sampled domains are filled in one pass over each distinct file (The Pile's 22 sets
 * share one val.jsonl.zst), and memory is bounded by the samples. Domains without "docs" are
 * streamed when their turn comes.
 *
 * Bad input (malformed JSON line, two values on one line, missing text field, invalid UTF-8,
 * U+0000 in a text, empty file, corrupt zstd frame) stops with "<file>:<line>: <problem>", or
 * with skip_bad is skipped and counted. A source that is not a regular file (a FIFO would block
 * forever, /dev/zero be read without end) is refused when the corpus opens, also inside a
 * folder (by name: a folder means every file in it); read errors are MS_ERR_RUNTIME and never
 * skipped. Error lines pass through ms_text_safe (paths and domain names are data). */
#include "corpora.h"
#include "corpora_int.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* U+10FFFF in UTF-8: what a "\u0000" escape of a JSONL line is read as (parse_record). */
#define NUL_MARK "\xF4\x8F\xBF\xBF"

typedef struct src_file {
    char *path; /* as opened (relative to the working directory) */
    char *rel;  /* as written in the manifest (+ path inside a folder): hashed for sampling */
    int jsonl;  /* JSONL (plain or zstd); else one text document */
} src_file;

typedef struct sample {
    uint64_t key;
    int fpos;     /* position of its file in the domain's file list */
    int64_t line; /* line in the file (0 for a text file) */
    char *text;
    size_t len;
    char *source;
} sample;

typedef struct domain {
    char *name;
    char **sources; /* as written */
    int n_sources;
    char *text_field;
    char **pile; /* pile_set_name filters (any matches) */
    int n_pile;
    int64_t docs; /* sample size; 0: all documents */
    src_file *files;
    int n_files, cap_files;
    sample *smp; /* max-heap by key while sampling; then sorted by (fpos, line) */
    int64_t n_smp;
} domain;

struct ms_corpus {
    char *name;
    char *manifest_path; /* as given (NULL without a manifest) */
    uint64_t seed;
    int64_t max_tokens;
    int skip_bad;
    domain *dom;
    int n_dom;
    char *manifest_json;
    int64_t n_skipped;
    /* Emission state. */
    int cur_dom;
    int64_t cur_smp;
    int cur_file; /* streaming: file of cur_dom being read */
    ms_lines lr;
    int lr_open;
    int64_t lr_records; /* non-blank lines seen in the open file */
    char *text, *source;
};

/* ---------------------------------------------------------------------------------------
 * Small helpers. */

static char *join_path(const char *dir, const char *p) {
    if (p[0] == '/' || !dir || !dir[0] || !strcmp(dir, ".")) return strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, p);
    return s;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static int is_jsonl_name(const char *p) {
    return ends_with(p, ".jsonl") || ends_with(p, ".json") || ends_with(p, ".ndjson") ||
           ends_with(p, ".zst") || ends_with(p, ".zstd");
}

static void domain_free(domain *d) {
    free(d->name);
    for (int i = 0; i < d->n_sources; i++)
        free(d->sources[i]);
    free(d->sources);
    free(d->text_field);
    for (int i = 0; i < d->n_pile; i++)
        free(d->pile[i]);
    free(d->pile);
    for (int i = 0; i < d->n_files; i++) {
        free(d->files[i].path);
        free(d->files[i].rel);
    }
    free(d->files);
    for (int64_t i = 0; i < d->n_smp; i++) {
        free(d->smp[i].text);
        free(d->smp[i].source);
    }
    free(d->smp);
}

void ms_corpus_close(ms_corpus *c) {
    if (!c) return;
    for (int i = 0; i < c->n_dom; i++)
        domain_free(&c->dom[i]);
    free(c->dom);
    if (c->lr_open) ms_lines_close(&c->lr);
    free(c->name);
    free(c->manifest_path);
    free(c->manifest_json);
    free(c->text);
    free(c->source);
    free(c);
}

/* ---------------------------------------------------------------------------------------
 * Sources: files and folders (recursively, sorted by name, hidden files skipped). */

static int add_file(domain *d, const char *path, const char *rel) {
    if (d->n_files == d->cap_files) { /* doubling: a folder may hold 100,000 files */
        if (d->cap_files > INT_MAX / 2) return -1;
        int cap = d->cap_files ? d->cap_files * 2 : 16;
        src_file *nf = realloc(d->files, sizeof *nf * (size_t)cap);
        if (!nf) return -1;
        d->files = nf;
        d->cap_files = cap;
    }
    src_file *f = d->files + d->n_files;
    f->path = strdup(path);
    f->rel = strdup(rel);
    if (!f->path || !f->rel) {
        free(f->path);
        free(f->rel);
        return -1;
    }
    f->jsonl = is_jsonl_name(path) || ms_is_zstd_file(path);
    d->n_files++;
    return 0;
}

/* What an errno from stat/open says: the path is unusable as given (2) or the system failed
 * (1), as ms_open_regular decides. */
static int io_status(int e) {
    return e == ENOMEM || e == EMFILE || e == ENFILE || e == EIO ? MS_ERR_RUNTIME : MS_ERR_INPUT;
}

static const char *kind_name(mode_t m) {
    return S_ISFIFO(m)   ? "a named pipe (FIFO)"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "an unknown kind of file";
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folders one source has walked (device, inode): a symbolic link back to an ancestor is
 * named as a loop (not "nested too deep" 32 levels down), two links to one folder would
 * repeat its documents, and layers of folders each linking twice to the next would make the
 * walk exponential. */
typedef struct dirset {
    dev_t *dev;
    ino_t *ino;
    size_t n, cap;
} dirset;

/* 1: added; 0: already there; -1: out of memory. */
static int dirset_add(dirset *v, const struct stat *st) {
    for (size_t i = 0; i < v->n; i++)
        if (v->dev[i] == st->st_dev && v->ino[i] == st->st_ino) return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        dev_t *nd = realloc(v->dev, sizeof *nd * cap);
        if (!nd) return -1;
        v->dev = nd;
        ino_t *ni = realloc(v->ino, sizeof *ni * cap);
        if (!ni) return -1;
        v->ino = ni;
        v->cap = cap;
    }
    v->dev[v->n] = st->st_dev;
    v->ino[v->n] = st->st_ino;
    v->n++;
    return 1;
}

static int add_source(domain *d, const char *path, const char *rel, int depth, dirset *seen,
                      char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s (a source of domain \"%s\")", path, strerror(e), d->name);
        return io_status(e);
    }
    if (!S_ISDIR(st.st_mode)) {
        /* A FIFO would block the capture forever (and a device be read without end); inside a
         * folder it is refused too, by name, rather than skipped: the user asked for the whole
         * folder and would not know that something was left out. */
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s: is %s, not a regular file (a source of domain \"%s\")", path,
                     kind_name(st.st_mode), d->name);
            return MS_ERR_INPUT;
        }
        if (add_file(d, path, rel)) goto oom;
        return 0;
    }
    if (depth > 32) {
        snprintf(err, errlen, "%s: folders nested too deep", path);
        return MS_ERR_INPUT;
    }
    int fresh = dirset_add(seen, &st);
    if (fresh < 0) goto oom;
    if (!fresh) {
        snprintf(err, errlen,
                 "%s: a folder reached twice inside one source (a symbolic link loop, or two "
                 "links to one folder; a source of domain \"%s\")",
                 path, d->name);
        return MS_ERR_INPUT;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return io_status(e);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    for (;;) {
        errno = 0;
        if (!(e = readdir(dir))) {
            if (errno) {
                int en = errno;
                snprintf(err, errlen, "%s: cannot list the folder: %s", path, strerror(en));
                rc = MS_ERR_RUNTIME;
            }
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, sizeof *nn * cap);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(dir);
    if (rc == 0) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p = join_path(path, names[i]), *r = join_path(rel, names[i]);
        if (!p || !r)
            rc = -1;
        else
            rc = add_source(d, p, r, depth + 1, seen, err, errlen);
        free(p);
        free(r);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == -1) goto oom;
    return rc;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
    return MS_ERR_RUNTIME;
}

/* A source as the manifest or command line names it: a file, or a folder walked once. */
static int add_source_top(domain *d, const char *path, const char *rel, char *err, size_t errlen) {
    dirset seen = {0};
    int rc = add_source(d, path, rel, 0, &seen, err, errlen);
    free(seen.dev);
    free(seen.ino);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Bad input. */

/* Reports a bad record: with skip_bad counts it and returns 0 (go on), else writes the
 * message and returns MS_ERR_INPUT. */
static int bad_input(ms_corpus *c, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad_input(ms_corpus *c, char *err, size_t errlen, const char *fmt, ...) {
    if (c->skip_bad) {
        c->n_skipped++;
        return 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return MS_ERR_INPUT;
}

/* What a JSON record means for a domain. Returns 1 (document: *text, *len), 0 (not this
 * domain's: pile_set_name differs), or -1 (bad: reason in why). */
static int record_text(const domain *d, const cJSON *obj, int nul_marked, const char **text,
                       size_t *len, char *why, size_t whylen) {
    if (d->n_pile > 0) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "meta");
        const cJSON *set =
            cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "pile_set_name") : NULL;
        if (!cJSON_IsString(set)) {
            snprintf(why, whylen, "no string meta.pile_set_name (needed by domain \"%s\")",
                     d->name);
            return -1;
        }
        int hit = 0;
        for (int i = 0; i < d->n_pile && !hit; i++)
            hit = strcasecmp(set->valuestring, d->pile[i]) == 0; /* Github == GitHub */
        if (!hit) return 0;
    }
    /* The field may be a dotted path ("meta.body"). */
    const cJSON *v = obj;
    const char *f = d->text_field;
    char part[128];
    while (v && *f) {
        const char *dot = strchr(f, '.');
        size_t n = dot ? (size_t)(dot - f) : strlen(f);
        if (n >= sizeof part) n = sizeof part - 1;
        memcpy(part, f, n);
        part[n] = '\0';
        v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, part) : NULL;
        f = dot ? dot + 1 : f + strlen(f);
    }
    if (!cJSON_IsString(v)) {
        snprintf(why, whylen, "no string field \"%s\"", d->text_field);
        return -1;
    }
    *text = v->valuestring;
    *len = strlen(v->valuestring);
    size_t ok = ms_utf8_valid_prefix(*text, *len);
    if (ok != *len) {
        snprintf(why, whylen, "invalid UTF-8 at byte %zu of field \"%s\"", ok, d->text_field);
        return -1;
    }
    if (nul_marked) {
        const char *m = memmem(*text, *len, NUL_MARK, sizeof NUL_MARK - 1);
        if (m) {
            snprintf(why, whylen,
                     "field \"%s\" holds \\u0000 (U+0000) at byte %zu; a document cannot "
                     "hold NUL",
                     d->text_field, (size_t)(m - *text));
            return -1;
        }
    }
    return 1;
}

/* One JSONL record. cJSON ends strings at NUL, so text after a "\u0000" escape would be
 * silently lost: each such escape is first rewritten as U+10FFFF ("\uDBFF\uDFFF", a
 * noncharacter) and record_text() refuses a text holding it (*nul_marked says the line needed
 * it; a line that also holds a genuine U+10FFFF is then refused too, conservatively). The
 * line must hold exactly one JSON object: a second value after it (two objects on one line,
 * or records separated by a lone "\r", which is not a line end in JSONL) is an error, never
 * silently dropped. Returns the object, or NULL with the reason in why. */
static cJSON *parse_record(const char *line, size_t n, int *nul_marked, char *why, size_t whylen) {
    *nul_marked = 0;
    const char *z = memchr(line, '\0', n);
    if (z) {
        snprintf(why, whylen, "malformed JSON line (a NUL byte at byte %zu)", (size_t)(z - line));
        return NULL;
    }
    size_t nesc = 0;
    for (size_t i = 0; i + 5 < n; i++)
        if (line[i] == '\\') {
            if (line[i + 1] == 'u' && !memcmp(line + i + 2, "0000", 4)) nesc++;
            i++; /* the escaped character is never the start of an escape */
        }
    char *copy = NULL;
    if (nesc) {
        copy = malloc(n + nesc * 6 + 1);
        if (!copy) {
            snprintf(why, whylen, "out of memory");
            return NULL;
        }
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (line[i] == '\\' && i + 5 < n && line[i + 1] == 'u' &&
                !memcmp(line + i + 2, "0000", 4)) {
                memcpy(copy + o, "\\uDBFF\\uDFFF", 12);
                o += 12;
                i += 5;
                continue;
            }
            copy[o++] = line[i];
            if (line[i] == '\\' && i + 1 < n) copy[o++] = line[++i];
        }
        copy[o] = '\0';
        line = copy;
        n = o;
        *nul_marked = 1;
    }
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, n, &end, 0);
    if (obj && cJSON_IsObject(obj)) {
        const char *p = end, *e = line + n;
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < e) {
            int cr = memchr(end, '\r', (size_t)(p - end)) != NULL;
            /* (The offset is in the rewritten line when it held "\u0000": approximate.) */
            int value = strchr("{[\"-0123456789tfn", *p) != NULL;
            snprintf(why, whylen, "%s (at byte %zu%s)",
                     value ? "two JSON values on one line" : "text after the JSON object",
                     (size_t)(p - line),
                     cr ? "; a lone \\r does not end a JSONL line, only \\n or \\r\\n do" : "");
            cJSON_Delete(obj);
            obj = NULL;
        }
    } else {
        snprintf(why, whylen, "malformed JSON line");
        cJSON_Delete(obj);
        obj = NULL;
    }
    free(copy);
    return obj;
}

/* Reads a whole text file (one document). Returns 1 with *text (malloc'ed), 0 after a bad
 * file was skipped, or -MS_ERR_*. */
static int read_text_file(ms_corpus *c, const src_file *f, char **text, size_t *len, char *err,
                          size_t errlen) {
    *text = NULL;
    int st = 0;
    FILE *fp = ms_fopen_regular(f->path, &st, err, errlen);
    if (!fp) return -st;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    int too_big = 0, rerrno = 0;
    while (b) {
        if (cap - n < 2) {
            too_big = cap >= ((size_t)1 << 31);
            char *nb = too_big ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        errno = 0;
        size_t got = fread(b + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) {
            rerrno = errno;
            break;
        }
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (too_big) {
        snprintf(err, errlen, "%s: larger than 2 GiB, too large for one document", f->path);
        return -MS_ERR_INPUT;
    }
    if (!b) {
        snprintf(err, errlen, "%s: out of memory", f->path);
        return -MS_ERR_RUNTIME;
    }
    if (rerr) {
        free(b);
        snprintf(err, errlen, "%s: read error: %s", f->path, strerror(rerrno ? rerrno : EIO));
        return -MS_ERR_RUNTIME;
    }
    b[n] = '\0';
    if (n == 0) {
        free(b);
        int r = bad_input(c, err, errlen, "%s: empty file", f->path);
        return -r;
    }
    size_t ok = ms_utf8_valid_prefix(b, n);
    if (ok != n) {
        /* Line of the bad byte, for the message. */
        int64_t line = 1;
        for (size_t i = 0; i < ok; i++)
            line += b[i] == '\n';
        free(b);
        int r = bad_input(c, err, errlen, "%s:%lld: invalid UTF-8 at byte %zu", f->path,
                          (long long)line, ok);
        return -r;
    }
    const char *z = memchr(b, '\0', n);
    if (z) { /* documents are NUL-terminated strings: the rest would be silently lost */
        int64_t line = 1;
        for (const char *p = b; p < z; p++)
            line += *p == '\n';
        size_t at = (size_t)(z - b);
        free(b);
        int r =
            bad_input(c, err, errlen, "%s:%lld: a NUL byte at byte %zu; a document cannot hold NUL",
                      f->path, (long long)line, at);
        return -r;
    }
    *text = b;
    *len = n;
    return 1;
}

static char *make_source(const src_file *f, int64_t line) {
    if (line <= 0) return strdup(f->path);
    size_t n = strlen(f->path) + 24;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s:%lld", f->path, (long long)line);
    return s;
}

/* ---------------------------------------------------------------------------------------
 * Sampling (bottom-k by key, a max-heap of the domain's current sample). */

static void heap_down(sample *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].key > h[m].key) m = l;
        if (r < n && h[r].key > h[m].key) m = r;
        if (m == i) return;
        sample t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(sample *h, int64_t i) {
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (h[p].key >= h[i].key) return;
        sample t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Offers a candidate; copies the text only if it enters the sample. 0 or -1 (memory). */
static int offer(domain *d, uint64_t key, int fpos, int64_t line, const src_file *f,
                 const char *text, size_t len) {
    if (d->n_smp == d->docs && (d->docs == 0 || key >= d->smp[0].key)) return 0;
    char *t = malloc(len + 1), *s = make_source(f, line);
    if (!t || !s) {
        free(t);
        free(s);
        return -1;
    }
    memcpy(t, text, len);
    t[len] = '\0';
    sample e = {key, fpos, line, t, len, s};
    if (d->n_smp == d->docs) { /* replace the largest key */
        free(d->smp[0].text);
        free(d->smp[0].source);
        d->smp[0] = e;
        heap_down(d->smp, d->n_smp, 0);
    } else {
        d->smp[d->n_smp] = e;
        heap_up(d->smp, d->n_smp);
        d->n_smp++;
    }
    return 0;
}

/* The key of a candidate: a function of (seed, domain name, source path as written, line)
 * only, so a domain's sample does not change when other domains are added or reordered. */
static uint64_t sample_key(const ms_corpus *c, int di, const src_file *f, int64_t line) {
    return mix64(mix64(c->seed ^ hash_str(c->dom[di].name)) ^ hash_str(f->rel) ^
                 mix64((uint64_t)line * 0x9E3779B97F4A7C15ULL));
}

static int cmp_sample(const void *a, const void *b) {
    const sample *x = a, *y = b;
    if (x->fpos != y->fpos) return x->fpos < y->fpos ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* One pass over one file for all sampled domains that read it: fpos[i] is the file's first
 * position in domain i's list, or -1 when domain i does not sample it. */
static int sample_file(ms_corpus *c, const src_file *f, const int *fpos, char *err, size_t errlen) {
    if (!f->jsonl) {
        char *text = NULL;
        size_t len = 0;
        int r = read_text_file(c, f, &text, &len, err, errlen);
        if (r <= 0) return -r;
        int rc = 0;
        for (int i = 0; i < c->n_dom && !rc; i++)
            if (fpos[i] >= 0 &&
                offer(&c->dom[i], sample_key(c, i, f, 0), fpos[i], 0, f, text, len) < 0) {
                snprintf(err, errlen, "%s: out of memory for the sample", f->path);
                rc = MS_ERR_RUNTIME;
            }
        free(text);
        return rc;
    }
    ms_lines lr;
    int rc = ms_lines_open(&lr, f->path, err, errlen);
    if (rc) return rc;
    int64_t records = 0;
    char *line;
    size_t n;
    for (;;) {
        int r = ms_lines_next(&lr, &line, &n, err, errlen);
        if (r == 0) break;
        if (r != 1) {
            /* Corrupt zstd: the rest of this file is lost; a read error stops. */
            if (r == MS_ERR_INPUT && c->skip_bad)
                c->n_skipped++;
            else
                rc = r;
            records = -1; /* already reported: not also "empty" */
            break;
        }
        if (n == 0 || strspn(line, " \t") == n) continue;
        records++;
        int nul_marked;
        char pwhy[192];
        cJSON *obj = parse_record(line, n, &nul_marked, pwhy, sizeof pwhy);
        if (!obj) {
            if ((rc = bad_input(c, err, errlen, "%s:%lld: %s", f->path, (long long)lr.line_no,
                                pwhy)))
                break;
            continue;
        }
        int was_bad = 0;
        for (int i = 0; i < c->n_dom && !rc; i++) {
            if (fpos[i] < 0) continue;
            const char *text;
            size_t len;
            char why[192];
            int m = record_text(&c->dom[i], obj, nul_marked, &text, &len, why, sizeof why);
            if (m < 0) {
                if (!was_bad)
                    rc = bad_input(c, err, errlen, "%s:%lld: %s", f->path, (long long)lr.line_no,
                                   why);
                was_bad = 1;
            } else if (m == 1 && offer(&c->dom[i], sample_key(c, i, f, lr.line_no), fpos[i],
                                       lr.line_no, f, text, len) < 0) {
                snprintf(err, errlen, "%s: out of memory for the sample", f->path);
                rc = MS_ERR_RUNTIME;
            }
        }
        cJSON_Delete(obj);
        if (rc) break;
    }
    if (rc == 0 && records == 0) rc = bad_input(c, err, errlen, "%s: empty file", f->path);
    ms_lines_close(&lr);
    return rc;
}

/* A mention of a file by a sampled domain (sample_all): path, domain, position in the
 * domain's list, and the rank of the mention (domains in order, then their files). */
typedef struct fref {
    const char *path;
    int dom, pos;
    size_t order;
} fref;

typedef struct fgroup {
    size_t start, count; /* refs[start, start+count) name the same path */
    size_t order;        /* of the first mention */
} fgroup;

static int cmp_fref_path(const void *a, const void *b) {
    const fref *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_fgroup_order(const void *a, const void *b) {
    const fgroup *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int sample_all(ms_corpus *c, char *err, size_t errlen) {
    for (int i = 0; i < c->n_dom; i++) {
        domain *d = &c->dom[i];
        if (d->docs <= 0) continue;
        d->smp = calloc((size_t)d->docs, sizeof *d->smp);
        if (!d->smp) {
            snprintf(err, errlen, "domain \"%s\": out of memory for a sample of %lld", d->name,
                     (long long)d->docs);
            return MS_ERR_RUNTIME;
        }
    }
    /* Each distinct file once, in order of first mention: the (path, mention) list sorted by
     * path groups a file's mentions, so this is O(F log F) in the number F of files (a folder
     * of 100,000 documents), not O(F^2). */
    size_t nref = 0;
    for (int i = 0; i < c->n_dom; i++)
        if (c->dom[i].docs > 0) nref += (size_t)c->dom[i].n_files;
    fref *refs = malloc(sizeof *refs * (nref ? nref : 1));
    int *fpos = malloc(sizeof *fpos * (size_t)c->n_dom);
    if (!refs || !fpos) {
        free(refs);
        free(fpos);
        snprintf(err, errlen, "corpus: out of memory");
        return MS_ERR_RUNTIME;
    }
    nref = 0;
    for (int i = 0; i < c->n_dom; i++)
        for (int j = 0; c->dom[i].docs > 0 && j < c->dom[i].n_files; j++) {
            refs[nref] = (fref){c->dom[i].files[j].path, i, j, nref};
            nref++;
        }
    qsort(refs, nref, sizeof *refs, cmp_fref_path);
    /* Groups of equal paths (members in order of mention), then groups in order of first
     * mention. */
    fgroup *groups = malloc(sizeof *groups * (nref ? nref : 1));
    if (!groups) {
        free(refs);
        free(fpos);
        snprintf(err, errlen, "corpus: out of memory");
        return MS_ERR_RUNTIME;
    }
    size_t ngroup = 0;
    for (size_t a = 0; a < nref;) {
        size_t b = a + 1;
        while (b < nref && !strcmp(refs[b].path, refs[a].path))
            b++;
        groups[ngroup++] = (fgroup){a, b - a, refs[a].order};
        a = b;
    }
    qsort(groups, ngroup, sizeof *groups, cmp_fgroup_order);
    int rc = 0;
    for (size_t g = 0; g < ngroup && !rc; g++) {
        for (int i = 0; i < c->n_dom; i++)
            fpos[i] = -1;
        for (size_t k = groups[g].start; k < groups[g].start + groups[g].count; k++)
            if (fpos[refs[k].dom] < 0) fpos[refs[k].dom] = refs[k].pos;
        const fref *first = &refs[groups[g].start];
        rc = sample_file(c, &c->dom[first->dom].files[first->pos], fpos, err, errlen);
    }
    free(groups);
    free(refs);
    free(fpos);
    if (rc) return rc;
    for (int i = 0; i < c->n_dom; i++)
        if (c->dom[i].n_smp > 0)
            qsort(c->dom[i].smp, (size_t)c->dom[i].n_smp, sizeof(sample), cmp_sample);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Manifest. */

static int get_strings(const cJSON *v, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    if (cJSON_IsString(v)) {
        *out = malloc(sizeof **out);
        if (!*out || !((*out)[0] = strdup(v->valuestring))) return -1;
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v)) return -2;
    int m = cJSON_GetArraySize(v);
    *out = calloc((size_t)(m ? m : 1), sizeof **out);
    if (!*out) return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return -2;
        if (!((*out)[*n] = strdup(e->valuestring))) return -1;
        (*n)++;
    }
    return 0;
}

/* A non-negative integer field, or -1 when absent; -2 when not a non-negative integer. */
static int64_t get_count(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -2;
    return (int64_t)v->valuedouble;
}

static int check_keys(const cJSON *obj, const char *const *allowed, const char *where,
                      const char *path, char *err, size_t errlen) {
    const cJSON *e;
    cJSON_ArrayForEach(e, obj) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(e->string, allowed[i]);
        if (!ok) {
            snprintf(err, errlen, "%s: %sunknown key \"%s\"", path, where, e->string);
            return MS_ERR_INPUT;
        }
        /* cJSON keeps both and reads the first; Python's json the last: refuse the doubt. */
        for (const cJSON *p = obj->child; p != e; p = p->next)
            if (!strcmp(p->string, e->string)) {
                snprintf(err, errlen, "%s: %skey \"%s\" appears twice", path, where, e->string);
                return MS_ERR_INPUT;
            }
    }
    return 0;
}

static int parse_manifest(ms_corpus *c, const char *path, char *err, size_t errlen) {
    int st = 0;
    FILE *fp = ms_fopen_regular(path, &st, err, errlen);
    if (!fp) return st;
    char *txt = NULL;
    size_t n = 0, cap = 0;
    int rerrno = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *t = cap <= ((size_t)64 << 20) ? realloc(txt, cap) : NULL;
            if (!t) {
                free(txt);
                fclose(fp);
                snprintf(err, errlen, "%s: manifest too large", path);
                return MS_ERR_INPUT;
            }
            txt = t;
        }
        errno = 0;
        size_t got = fread(txt + n, 1, cap - n - 1, fp);
        n += got;
        if (got == 0) {
            rerrno = errno;
            break;
        }
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        free(txt);
        snprintf(err, errlen, "%s: read error: %s", path, strerror(rerrno ? rerrno : EIO));
        return MS_ERR_RUNTIME;
    }
    txt[n] = '\0';
    /* Exactly one JSON value, no NUL byte and no "\u0000" (cJSON would cut a name there). */
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(txt, n, &end, 0);
    const char *bad = NULL;
    if (root) {
        const char *p = end;
        while (p < txt + n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < txt + n) bad = p;
    }
    const char *zero = memchr(txt, '\0', n);
    if (!root || bad || zero) {
        const char *at = zero ? zero : bad ? bad : end;
        int64_t line = 1;
        for (const char *p = txt; at && p < at && p < txt + n; p++)
            line += *p == '\n';
        free(txt);
        cJSON_Delete(root);
        snprintf(err, errlen, "%s:%lld: malformed JSON%s", path, (long long)line,
                 zero  ? " (a NUL byte)"
                 : bad ? " (something follows the manifest's object)"
                       : "");
        return MS_ERR_INPUT;
    }
    int nul_esc = 0;
    for (size_t i = 0; i + 5 < n && !nul_esc; i++)
        if (txt[i] == '\\') {
            nul_esc = txt[i + 1] == 'u' && !memcmp(txt + i + 2, "0000", 4);
            i++;
        }
    free(txt);
    if (nul_esc) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s: a string holds \\u0000 (U+0000), which no name or path can hold",
                 path);
        return MS_ERR_INPUT;
    }
    int rc = 0;
    char *dir = strdup(path);
    if (!dir) {
        cJSON_Delete(root);
        snprintf(err, errlen, "%s: out of memory", path);
        return MS_ERR_RUNTIME;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");

    static const char *const top_keys[] = {
        "name", "seed", "max_tokens_per_doc", "docs_per_domain", "domains", "description", NULL};
    static const char *const dom_keys[] = {"name", "sources",     "text_field", "pile_set_name",
                                           "docs", "description", NULL};
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: the manifest must be a JSON object", path);
        rc = MS_ERR_INPUT;
        goto out;
    }
    if ((rc = check_keys(root, top_keys, "", path, err, errlen))) goto out;
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    c->name = strdup(cJSON_IsString(nm) ? nm->valuestring : "corpus");
    int64_t seed = get_count(root, "seed"), mt = get_count(root, "max_tokens_per_doc"),
            dpd = get_count(root, "docs_per_domain");
    if (seed == -2 || mt == -2 || dpd == -2) {
        snprintf(err, errlen,
                 "%s: seed, max_tokens_per_doc and docs_per_domain must be non-negative "
                 "integers",
                 path);
        rc = MS_ERR_INPUT;
        goto out;
    }
    c->seed = seed > 0 ? (uint64_t)seed : 0;
    c->max_tokens = mt > 0 ? mt : 0;
    const cJSON *doms = cJSON_GetObjectItemCaseSensitive(root, "domains");
    int nd = cJSON_IsArray(doms) ? cJSON_GetArraySize(doms) : 0;
    if (nd < 1) {
        snprintf(err, errlen, "%s: \"domains\" must be a non-empty array", path);
        rc = MS_ERR_INPUT;
        goto out;
    }
    c->dom = calloc((size_t)nd, sizeof *c->dom);
    if (!c->dom) {
        rc = MS_ERR_RUNTIME;
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const cJSON *dj;
    cJSON_ArrayForEach(dj, doms) {
        int i = c->n_dom;
        domain *d = &c->dom[i];
        c->n_dom++;
        char where[64];
        snprintf(where, sizeof where, "domains[%d]: ", i);
        if (!cJSON_IsObject(dj)) {
            snprintf(err, errlen, "%s: %snot an object", path, where);
            rc = MS_ERR_INPUT;
            goto out;
        }
        if ((rc = check_keys(dj, dom_keys, where, path, err, errlen))) goto out;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(dj, "name");
        if (!cJSON_IsString(v) || !v->valuestring[0]) {
            snprintf(err, errlen, "%s: %s\"name\" must be a non-empty string", path, where);
            rc = MS_ERR_INPUT;
            goto out;
        }
        d->name = strdup(v->valuestring);
        for (int j = 0; j < i; j++)
            if (!strcmp(c->dom[j].name, d->name)) {
                snprintf(err, errlen, "%s: %sdomain \"%s\" appears twice", path, where, d->name);
                rc = MS_ERR_INPUT;
                goto out;
            }
        int g = get_strings(cJSON_GetObjectItemCaseSensitive(dj, "sources"), &d->sources,
                            &d->n_sources);
        if (g == -2 || d->n_sources == 0) {
            snprintf(err, errlen, "%s: %s\"sources\" must be a path or a non-empty list of paths",
                     path, where);
            rc = MS_ERR_INPUT;
            goto out;
        }
        v = cJSON_GetObjectItemCaseSensitive(dj, "text_field");
        if (v && (!cJSON_IsString(v) || !v->valuestring[0])) {
            snprintf(err, errlen, "%s: %s\"text_field\" must be a non-empty string", path, where);
            rc = MS_ERR_INPUT;
            goto out;
        }
        d->text_field = strdup(v ? v->valuestring : "text");
        v = cJSON_GetObjectItemCaseSensitive(dj, "pile_set_name");
        if (v && get_strings(v, &d->pile, &d->n_pile) == -2) {
            snprintf(err, errlen, "%s: %s\"pile_set_name\" must be a string or list of strings",
                     path, where);
            rc = MS_ERR_INPUT;
            goto out;
        }
        int64_t docs = get_count(dj, "docs");
        if (docs == -2) {
            snprintf(err, errlen, "%s: %s\"docs\" must be a non-negative integer", path, where);
            rc = MS_ERR_INPUT;
            goto out;
        }
        d->docs = docs >= 0 ? docs : dpd > 0 ? dpd : 0;
        if (!d->name || !d->text_field) {
            rc = MS_ERR_RUNTIME;
            snprintf(err, errlen, "%s: out of memory", path);
            goto out;
        }
        for (int j = 0; j < d->n_sources && !rc; j++) {
            char *p = join_path(dir, d->sources[j]);
            if (!p)
                rc = MS_ERR_RUNTIME;
            else
                rc = add_source_top(d, p, d->sources[j], err, errlen);
            free(p);
        }
        if (rc) goto out;
    }
out:
    free(dir);
    cJSON_Delete(root);
    return rc;
}

/* Files given directly: one domain per file stem (or folder name); same stems share one. */
static int from_files(ms_corpus *c, const ms_corpus_opts *o, char *err, size_t errlen) {
    if (o->n_files < 1) {
        snprintf(err, errlen, "corpus: no manifest and no files");
        return MS_ERR_INPUT;
    }
    c->name = strdup("files");
    c->dom = calloc((size_t)o->n_files, sizeof *c->dom);
    if (!c->dom || !c->name) {
        snprintf(err, errlen, "corpus: out of memory");
        return MS_ERR_RUNTIME;
    }
    static const char *const exts[] = {".jsonl.zst", ".jsonl.zstd", ".json.zst", ".zst", ".jsonl",
                                       ".ndjson",    ".json",       ".txt",      NULL};
    for (int i = 0; i < o->n_files; i++) {
        const char *p = o->files[i];
        size_t pl = strlen(p);
        while (pl > 1 && p[pl - 1] == '/')
            pl--;
        const char *base = p;
        for (size_t j = 0; j < pl; j++)
            if (p[j] == '/') base = p + j + 1;
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(p + pl - base), base);
        for (int e = 0; exts[e]; e++)
            if (ends_with(stem, exts[e]) && strlen(stem) > strlen(exts[e])) {
                stem[strlen(stem) - strlen(exts[e])] = '\0';
                break;
            }
        domain *d = NULL;
        for (int j = 0; j < c->n_dom && !d; j++)
            if (!strcmp(c->dom[j].name, stem)) d = &c->dom[j];
        if (!d) {
            d = &c->dom[c->n_dom++];
            d->name = strdup(stem);
            d->text_field = strdup(o->text_field ? o->text_field : "text");
            if (!d->name || !d->text_field) {
                snprintf(err, errlen, "corpus: out of memory");
                return MS_ERR_RUNTIME;
            }
        }
        char **s = realloc(d->sources, sizeof *s * (size_t)(d->n_sources + 1));
        if (!s || !(s[d->n_sources] = strdup(p))) {
            if (s) d->sources = s;
            snprintf(err, errlen, "corpus: out of memory");
            return MS_ERR_RUNTIME;
        }
        d->sources = s;
        d->n_sources++;
        int rc = add_source_top(d, p, p, err, errlen);
        if (rc) return rc;
    }
    return 0;
}

static char *normalised_json(const ms_corpus *c) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "name", c->name ? c->name : "");
    cJSON_AddNumberToObject(r, "seed", (double)c->seed);
    cJSON_AddNumberToObject(r, "max_tokens_per_doc", (double)c->max_tokens);
    cJSON *ds = cJSON_AddArrayToObject(r, "domains");
    for (int i = 0; ds && i < c->n_dom; i++) {
        const domain *d = &c->dom[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(ds, o);
        cJSON_AddStringToObject(o, "name", d->name);
        cJSON *s = cJSON_AddArrayToObject(o, "sources");
        for (int j = 0; s && j < d->n_sources; j++)
            cJSON_AddItemToArray(s, cJSON_CreateString(d->sources[j]));
        cJSON_AddStringToObject(o, "text_field", d->text_field);
        if (d->n_pile) {
            cJSON *p = cJSON_AddArrayToObject(o, "pile_set_name");
            for (int j = 0; p && j < d->n_pile; j++)
                cJSON_AddItemToArray(p, cJSON_CreateString(d->pile[j]));
        }
        cJSON_AddNumberToObject(o, "docs", (double)d->docs);
        cJSON_AddNumberToObject(o, "files", d->n_files);
    }
    char *out = ms_utf8_fix_take(cJSON_PrintUnformatted(r)); /* names from files */
    cJSON_Delete(r);
    return out;
}

/* Error lines carry paths and domain names from files: control characters and invalid UTF-8
 * are escaped (ms_text_safe) so that the line stays one printable, valid UTF-8 line. */
static int safe_err(int rc, char *err, size_t errlen) {
    if (rc && err && errlen > 0) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s", err);
        ms_text_safe(tmp, err, errlen);
    }
    return rc;
}

int ms_corpus_open(ms_corpus **out, const ms_corpus_opts *o, char *err, size_t errlen) {
    *out = NULL;
    ms_corpus *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "corpus: out of memory");
        return MS_ERR_RUNTIME;
    }
    c->skip_bad = o->skip_bad;
    if (o->manifest && !(c->manifest_path = strdup(o->manifest))) {
        free(c);
        snprintf(err, errlen, "corpus: out of memory");
        return MS_ERR_RUNTIME;
    }
    int rc =
        o->manifest ? parse_manifest(c, o->manifest, err, errlen) : from_files(c, o, err, errlen);
    if (!rc) rc = sample_all(c, err, errlen);
    if (!rc && !(c->manifest_json = normalised_json(c))) {
        snprintf(err, errlen, "corpus: out of memory");
        rc = MS_ERR_RUNTIME;
    }
    if (rc) {
        ms_corpus_close(c);
        return safe_err(rc, err, errlen);
    }
    *out = c;
    return 0;
}

int ms_corpus_n_domains(const ms_corpus *c) {
    return c->n_dom;
}

const char *ms_corpus_domain(const ms_corpus *c, int i) {
    return i >= 0 && i < c->n_dom ? c->dom[i].name : NULL;
}

const char *ms_corpus_manifest_json(const ms_corpus *c) {
    return c->manifest_json;
}

int ms_corpus_n_files(const ms_corpus *c) {
    int n = c->manifest_path ? 1 : 0;
    for (int i = 0; i < c->n_dom; i++)
        n += c->dom[i].n_files;
    return n;
}

const char *ms_corpus_file(const ms_corpus *c, int i) {
    if (i < 0) return NULL;
    if (c->manifest_path) {
        if (i == 0) return c->manifest_path;
        i--;
    }
    for (int d = 0; d < c->n_dom; d++) {
        if (i < c->dom[d].n_files) return c->dom[d].files[i].path;
        i -= c->dom[d].n_files;
    }
    return NULL;
}

int ms_corpus_check_output(const ms_corpus *c, const char *out, char *err, size_t errlen) {
    struct stat so, sf;
    if (!out || !strcmp(out, "-") || stat(out, &so) != 0) return 0;
    int n = ms_corpus_n_files(c);
    for (int i = 0; i < n; i++) {
        const char *f = ms_corpus_file(c, i);
        if (stat(f, &sf) == 0 && sf.st_dev == so.st_dev && sf.st_ino == so.st_ino) {
            snprintf(err, errlen,
                     "%s: is the same file as the corpus file %s; refusing to overwrite it", out,
                     f);
            return safe_err(MS_ERR_INPUT, err, errlen);
        }
    }
    return 0;
}

int64_t ms_corpus_n_skipped(const ms_corpus *c) {
    return c->n_skipped;
}

int64_t ms_corpus_max_tokens_per_doc(const ms_corpus *c) {
    return c->max_tokens;
}

int64_t ms_corpus_n_docs_hint(const ms_corpus *c) {
    int64_t n = 0;
    for (int i = 0; i < c->n_dom; i++) {
        if (c->dom[i].docs <= 0) return 0;
        n += c->dom[i].n_smp;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------
 * Emission. */

static int emit(ms_corpus *c, ms_doc *d, int dom_index, const char *text, size_t len,
                const src_file *f, int64_t line, char *err, size_t errlen) {
    free(c->text);
    free(c->source);
    c->text = malloc(len + 1);
    c->source = make_source(f, line);
    if (!c->text || !c->source) {
        snprintf(err, errlen, "%s: out of memory", f->path);
        return -MS_ERR_RUNTIME;
    }
    memcpy(c->text, text, len);
    c->text[len] = '\0';
    d->domain = dom_index;
    d->source = c->source;
    d->text = c->text;
    d->len = len;
    return 1;
}

/* Next document of a streamed (unsampled) domain: 1, 0 when the domain is done, <0. */
static int stream_next(ms_corpus *c, ms_doc *doc, char *err, size_t errlen) {
    domain *d = &c->dom[c->cur_dom];
    while (c->cur_file < d->n_files) {
        const src_file *f = &d->files[c->cur_file];
        if (!f->jsonl) {
            c->cur_file++;
            char *text = NULL;
            size_t len = 0;
            int r = read_text_file(c, f, &text, &len, err, errlen);
            if (r < 0) return r;
            if (r == 0) continue;
            r = emit(c, doc, c->cur_dom, text, len, f, 0, err, errlen);
            free(text);
            return r;
        }
        if (!c->lr_open) {
            int r = ms_lines_open(&c->lr, f->path, err, errlen);
            if (r) return -r;
            c->lr_open = 1;
            c->lr_records = 0;
        }
        char *line;
        size_t n;
        int r = ms_lines_next(&c->lr, &line, &n, err, errlen);
        if (r != 1) {
            int64_t records = c->lr_records;
            ms_lines_close(&c->lr);
            c->lr_open = 0;
            c->cur_file++;
            if (r == MS_ERR_INPUT && c->skip_bad) {
                c->n_skipped++;
                continue;
            }
            if (r != 0) return -r;
            if (records == 0 && (r = bad_input(c, err, errlen, "%s: empty file", f->path)))
                return -r;
            continue;
        }
        if (n == 0 || strspn(line, " \t") == n) continue;
        c->lr_records++;
        int nul_marked;
        char pwhy[192];
        cJSON *obj = parse_record(line, n, &nul_marked, pwhy, sizeof pwhy);
        if (!obj) {
            if ((r = bad_input(c, err, errlen, "%s:%lld: %s", f->path, (long long)c->lr.line_no,
                               pwhy)))
                return -r;
            continue;
        }
        const char *text;
        size_t len;
        char why[192];
        int m = record_text(d, obj, nul_marked, &text, &len, why, sizeof why);
        if (m == 1)
            r = emit(c, doc, c->cur_dom, text, len, f, c->lr.line_no, err, errlen);
        else if (m < 0)
            r = -bad_input(c, err, errlen, "%s:%lld: %s", f->path, (long long)c->lr.line_no, why);
        else
            r = 0;
        cJSON_Delete(obj);
        if (r != 0) return r;
    }
    return 0;
}

int ms_corpus_next(ms_corpus *c, ms_doc *d, char *err, size_t errlen) {
    while (c->cur_dom < c->n_dom) {
        domain *dm = &c->dom[c->cur_dom];
        if (dm->docs > 0) {
            if (c->cur_smp < dm->n_smp) {
                sample *s = &dm->smp[c->cur_smp++];
                d->domain = c->cur_dom;
                d->source = s->source;
                d->text = s->text;
                d->len = s->len;
                return 1;
            }
        } else {
            int r = stream_next(c, d, err, errlen);
            if (r < 0) return -safe_err(-r, err, errlen);
            if (r != 0) return r;
        }
        c->cur_dom++;
        c->cur_smp = 0;
        c->cur_file = 0;
    }
    return 0;
}
