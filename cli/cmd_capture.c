/* cmd_capture.c — `moescope capture`: runs the model over a corpus and records the router's
 * decisions into an HDF5 route store (docs/ROUTE_STORE.md). Glue only: corpora/ yields
 * documents, the engine tokenizes and runs routing-only forward passes window by window, the
 * collector (probes/) keeps the chosen layers' decisions and the store writes whole documents,
 * flushed per batch. With --resume the store's committed documents are checked against the
 * corpus and skipped, and the capture continues where it stopped. */
#include "cli.h"
#include "corpora.h"
#include "dist.h"
#include "engine.h"
#include "msutil.h"
#include "probes.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const ms_command ms_cmd_capture;

static const char usage[] =
    "usage: moescope capture --model MODEL --corpus (MANIFEST | FILE...) --out ROUTES.h5\n"
    "                        [--layers all|LIST] [--logits] [--threads N] [--resume]\n"
    "                        [--window N] [--skip-bad] [--max-docs N] [--text-field F]\n"
    "                        [--batch N] [--no-pack] [--special] [--original-regex]\n"
    "                        [--profile] [-q] [-v]\n"
    "\n"
    "Runs the model over every document of the corpus and stores, per token and chosen layer,\n"
    "the router's top-k experts (rank order) and their weights in an HDF5 route store\n"
    "(format: docs/ROUTE_STORE.md; corpora and manifests: docs/CORPORA.md).\n"
    "\n"
    "options:\n"
    "  --model MODEL    a .gguf file or a Hugging Face folder (or one of its .safetensors)\n"
    "  --corpus SRC     a manifest (.json) or corpus files: text files, folders (one document\n"
    "                   per file), .jsonl, .jsonl.zst; more files may follow as arguments.\n"
    "                   Without a manifest each file (or folder) is one domain named by its stem\n"
    "  --out FILE       the route store to write (replaced unless --resume; a file that is\n"
    "                   not a route store, or is one of the inputs, is refused)\n"
    "  --layers L       'all' (default), '0,15,31', '0-3,7', 'first,middle,last'\n"
    "  --logits         also store the router logits over all experts (T x L x E floats)\n"
    "  --threads N      worker threads (default: all cores; results do not depend on it)\n"
    "  --resume         continue an interrupted capture into FILE (same model, corpus and\n"
    "                   options): its committed documents are kept and skipped\n"
    "  --window N       tokens per forward pass (default 2048); longer documents are cut into\n"
    "                   independent windows whose positions restart at 0\n"
    "  --skip-bad       skip and count bad corpus records instead of stopping\n"
    "  --max-docs N     stop when the store holds N documents\n"
    "  --text-field F   JSONL field holding the text, for files given without a manifest\n"
    "                   (default \"text\")\n"
    "  --batch N        flush the store every N documents (default: every 16384 tokens,\n"
    "                   512 documents or 30 seconds, whichever comes first)\n"
    "  --no-pack        one document window per forward pass (default: windows shorter than\n"
    "                   --window share a pass, each with its own positions and attention;\n"
    "                   the stored routes are the same either way, packing is faster)\n"
    "  --special        the text of control tokens (<|start|>, <|message|>, <s>, ...) in the\n"
    "                   documents becomes those tokens, as in chat transcripts written in the\n"
    "                   model's template (gpt-oss's harmony format); default: plain text\n"
    "  --original-regex GGUF gpt-4o (GPT-OSS): split the text with the model's own pattern, as\n"
    "                   it was trained (tiktoken, its tokenizer.json), not llama.cpp's rewrite\n"
    "                   of it (they differ on combining marks and non-ASCII upper/lower case)\n"
    "  --profile        print time per stage at the end (forward-pass stages, corpus\n"
    "                   reading, tokenization, HDF5 writing)\n"
    "  -q, -v, -h       quiet, verbose, this help\n"
    "\n"
    "Each document is tokenized once (BOS first if the model adds it), truncated to the\n"
    "manifest's max_tokens_per_doc, then cut into windows. Progress (documents, tokens,\n"
    "tokens/s, ETA) goes to stderr. The store is flushed after every batch of documents; after\n"
    "a crash or Ctrl-C, run the same command with --resume.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* The command line as one shell-quoted string (for the store's provenance). */
static char *join_command(int argc, char **argv) {
    size_t n = 16;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) * 4 + 3;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "moescope");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int plain = a[0] != '\0';
        for (const char *c = a; *c && plain; c++)
            plain =
                strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+@%",
                       *c) != NULL;
        *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", a);
            continue;
        }
        *p++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'')
                p += sprintf(p, "'\\''");
            else
                *p++ = *c;
        }
        *p++ = '\'';
    }
    *p = '\0';
    return s;
}

static int is_manifest(const char *path) {
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".json") == 0;
}

/* Per-document buffers, grown as needed: (n) tokens and positions, (n, L, k) ids and
 * weights, (n, L, E) logits. */
typedef struct docbuf {
    int64_t cap;
    int32_t *pos, *ids;
    float *w, *lg;
} docbuf;

static int docbuf_reserve(docbuf *b, int64_t n, int64_t lk, int64_t le, int logits) {
    if (n <= b->cap) return 0;
    int64_t cap = b->cap ? b->cap : 4096;
    while (cap < n)
        cap *= 2;
    int32_t *pos = realloc(b->pos, sizeof *pos * (size_t)cap);
    if (pos) b->pos = pos;
    int32_t *ids = realloc(b->ids, sizeof *ids * (size_t)(cap * lk));
    if (ids) b->ids = ids;
    float *w = realloc(b->w, sizeof *w * (size_t)(cap * lk));
    if (w) b->w = w;
    float *lg = logits ? realloc(b->lg, sizeof *lg * (size_t)(cap * le)) : NULL;
    if (lg) b->lg = lg;
    if (!pos || !ids || !w || (logits && !lg)) return -1;
    b->cap = cap;
    return 0;
}

/* Packing (--pack): documents wait here until all their windows have run; windows shorter
 * than --window share forward passes (ms_forward_packed), which give every token the routes
 * it gets alone in its own window, so the store is the same with or without packing. */
typedef struct pdoc {
    int domain;
    char *source;
    int32_t *ids; /* (n) tokens */
    int64_t n;
    int left; /* windows not yet run */
    docbuf db;
} pdoc;

typedef struct packq {
    pdoc **docs; /* [head, count) waiting, in corpus order */
    int64_t head, count, cap;
    /* the forward pass being filled: segment s is tokens [w0, w0 + wn) of docs[seg_doc] */
    int64_t *seg_doc, *seg_w0, *seg_len;
    int32_t *tok; /* (window) the segments' tokens, concatenated */
    int64_t n_segs, n_tok, window;
    int64_t passes, windows; /* forward passes run, document windows they held (--profile) */
} packq;

static void pdoc_free(pdoc *d) {
    if (!d) return;
    free(d->source);
    free(d->ids);
    free(d->db.pos);
    free(d->db.ids);
    free(d->db.w);
    free(d->db.lg);
    free(d);
}

static int packq_init(packq *q, int64_t window) {
    memset(q, 0, sizeof *q);
    q->window = window;
    q->seg_doc = malloc(sizeof *q->seg_doc * (size_t)window);
    q->seg_w0 = malloc(sizeof *q->seg_w0 * (size_t)window);
    q->seg_len = malloc(sizeof *q->seg_len * (size_t)window);
    q->tok = malloc(sizeof *q->tok * (size_t)window);
    return q->seg_doc && q->seg_w0 && q->seg_len && q->tok ? 0 : -1;
}

static void packq_free(packq *q) {
    for (int64_t i = q->head; i < q->count; i++)
        pdoc_free(q->docs[i]);
    free(q->docs);
    free(q->seg_doc);
    free(q->seg_w0);
    free(q->seg_len);
    free(q->tok);
    memset(q, 0, sizeof *q);
}

/* A new waiting document (zeroed) at the end of the queue. */
static int pack_push(packq *q, pdoc **out) {
    if (q->count == q->cap) {
        int64_t nc = q->cap ? 2 * q->cap : 64;
        pdoc **g = realloc(q->docs, sizeof *g * (size_t)nc);
        if (!g) return -1;
        q->docs = g;
        q->cap = nc;
    }
    pdoc *d = calloc(1, sizeof *d);
    if (!d) return -1;
    q->docs[q->count++] = d;
    *out = d;
    return 0;
}

/* Adds window [w0, w0 + wn) of docs[doc] to the pass (the caller checked that it fits). */
static void pack_add(packq *q, int64_t doc, int64_t w0, int64_t wn) {
    pdoc *d = q->docs[doc];
    q->seg_doc[q->n_segs] = doc;
    q->seg_w0[q->n_segs] = w0;
    q->seg_len[q->n_segs] = wn;
    memcpy(q->tok + q->n_tok, d->ids + w0, sizeof *q->tok * (size_t)wn);
    q->n_segs++;
    q->n_tok += wn;
    d->left++;
}

/* Runs the pass being filled (solo NULL), or only the window solo = {doc, w0, wn} (a full
 * window: it runs at once and leaves the pass being filled alone), and hands each segment's
 * routes to its document. 0, or an exit status with failmsg set. */
static int pack_run(packq *q, const int64_t *solo, ms_engine *e, ms_route_collector *col,
                    int n_layers, int64_t lk, int64_t le, int logits, char *failmsg,
                    size_t faillen) {
    char err[512];
    int64_t n_segs = solo ? 1 : q->n_segs, n_tok = solo ? solo[2] : q->n_tok;
    const int64_t *seg_doc = solo ? solo : q->seg_doc, *seg_w0 = solo ? solo + 1 : q->seg_w0;
    const int64_t *seg_len = solo ? solo + 2 : q->seg_len;
    const int32_t *tok = solo ? q->docs[solo[0]]->ids + solo[1] : q->tok;
    const char *src = q->docs[seg_doc[0]]->source;
    if (solo) q->docs[solo[0]]->left++;
    ms_collector_begin(col);
    int fr =
        ms_forward_packed(e, tok, seg_len, n_segs, ms_collector_hook, col, NULL, err, sizeof err);
    if (fr) {
        /* The engine's message names the model file first; the documents come after. */
        if (n_segs > 1)
            snprintf(failmsg, faillen, "%s (document %s and %lld more in its forward pass)",
                     col->err[0] ? col->err : err, src, (long long)(n_segs - 1));
        else
            snprintf(failmsg, faillen, "%s (document %s)", col->err[0] ? col->err : err, src);
        return fr == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    if (col->seen_mask_count != (uint64_t)n_layers || col->n_tokens != n_tok) {
        snprintf(failmsg, faillen,
                 "%s: the engine reported %llu of %d layers for %lld of %lld tokens", src,
                 (unsigned long long)col->seen_mask_count, n_layers, (long long)col->n_tokens,
                 (long long)n_tok);
        return MS_EXIT_RUNTIME;
    }
    int64_t o = 0;
    for (int64_t s = 0; s < n_segs; s++) {
        pdoc *d = q->docs[seg_doc[s]];
        int64_t w0 = seg_w0[s], wn = seg_len[s];
        for (int64_t i = 0; i < wn; i++)
            d->db.pos[w0 + i] = (int32_t)i;
        memcpy(d->db.ids + w0 * lk, col->ids + o * lk, sizeof *d->db.ids * (size_t)(wn * lk));
        memcpy(d->db.w + w0 * lk, col->weights + o * lk, sizeof *d->db.w * (size_t)(wn * lk));
        if (logits)
            memcpy(d->db.lg + w0 * le, col->logits + o * le, sizeof *d->db.lg * (size_t)(wn * le));
        o += wn;
        d->left--;
    }
    q->passes++;
    q->windows += n_segs;
    if (!solo) q->n_segs = q->n_tok = 0;
    return 0;
}

/* The last component of a path, without trailing slashes ("a/b/" -> "b"), malloc'ed. */
static char *path_base(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    size_t i = n;
    while (i > 0 && p[i - 1] != '/')
        i--;
    if (i == n) i = 0; /* "/" stays "/" */
    char *b = malloc(n - i + 1);
    if (b) {
        memcpy(b, p + i, n - i);
        b[n - i] = '\0';
    }
    return b;
}

/* What "the same model" means for --resume: the model description (arch, hyper-parameters,
 * weight types, its files' sizes) with every file named by its base name only and the name
 * without a directory (a file that exists is named by the base name of its real path), so
 * `m.gguf`, `./m.gguf`, `/abs/dir/m.gguf` or a symlink to it are the same model while a different
 * file (other weights give other sizes or hyper-parameters, or another name) is not. A malloc'ed
 * canonical JSON string, or NULL (out of memory, not JSON: then the raw text is compared). */
static char *model_identity(const char *json) {
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!o) return NULL;
    cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (cJSON_IsString(name) && name->valuestring) {
        char *b = path_base(name->valuestring);
        if (b) cJSON_SetValuestring(name, b);
        free(b);
    }
    /* "file_arch" (issue 17) follows from "arch" and "format": stores written before it existed
     * still resume with the same model */
    cJSON_DeleteItemFromObjectCaseSensitive(o, "file_arch");
    cJSON *files = cJSON_GetObjectItemCaseSensitive(o, "files"), *f;
    cJSON_ArrayForEach(f, files) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
        if (!cJSON_IsString(p) || !p->valuestring) continue;
        char *real = realpath(p->valuestring, NULL); /* through symlinks, when it resolves */
        char *b = path_base(real ? real : p->valuestring);
        free(real);
        if (b) cJSON_SetValuestring(p, b);
        free(b);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* 1 when the two model descriptions are the same model (model_identity). */
static int same_model(const char *a, const char *b) {
    char *ia = model_identity(a), *ib = model_identity(b);
    int same = ia && ib ? strcmp(ia, ib) == 0 : strcmp(a ? a : "", b ? b : "") == 0;
    free(ia);
    free(ib);
    return same;
}

/* --resume: the committed documents of the store must be the corpus' first documents. Reads
 * them from the corpus (skipping them) and compares domain and source. Returns 0 or an exit
 * status after printing the error; *n_done is the number of documents skipped. */
static int check_resume(const char *out, ms_corpus *corpus, const char *model_json,
                        int64_t *n_done) {
    char err[512];
    *n_done = 0;
    FILE *f = fopen(out, "rb");
    if (!f) return 0; /* nothing to resume: a new capture */
    fclose(f);
    ms_routes *r = NULL;
    int rc = ms_routes_open(&r, out, err, sizeof err);
    if (rc) {
        ms_error("%s (cannot resume it)", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    const ms_routes_info *in = ms_routes_info_get(r);
    if (model_json && !same_model(in->model_json, model_json)) {
        ms_error("%s: cannot resume: the store was made with another model (or model file)", out);
        ms_routes_close(r);
        return MS_EXIT_USAGE;
    }
    int nd = ms_corpus_n_domains(corpus);
    rc = 0;
    if (in->n_domains != nd) rc = 1;
    for (int i = 0; i < nd && !rc; i++)
        if (strcmp(in->domains[i], ms_corpus_domain(corpus, i)) != 0) rc = 1;
    if (rc) {
        ms_error("%s: cannot resume: the store's domains differ from the corpus'", out);
        ms_routes_close(r);
        return MS_EXIT_USAGE;
    }
    for (int64_t d = 0; d < in->n_documents; d++) {
        ms_doc doc;
        int got = ms_corpus_next(corpus, &doc, err, sizeof err);
        if (got < 0) {
            ms_error("%s", err);
            ms_routes_close(r);
            return got == -MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        }
        int dom = -1;
        const char *src = NULL;
        ms_routes_document(r, d, &dom, NULL, NULL, &src);
        if (got == 0 || dom != doc.domain || strcmp(src, doc.source) != 0) {
            ms_error("%s: cannot resume: stored document %lld (%s) is not the corpus' document "
                     "%lld (%s); was the corpus or the manifest changed?",
                     out, (long long)d, src, (long long)d, got ? doc.source : "end of corpus");
            ms_routes_close(r);
            return MS_EXIT_USAGE;
        }
    }
    *n_done = in->n_documents;
    ms_routes_close(r);
    return 0;
}

/* Refuses an --out that is one of the inputs, by device and inode: the model's files (GGUF,
 * safetensors shards, config.json, the index, tokenizer.json and the tokenizer_config.json
 * beside it), the model argument itself, the corpus arguments (manifest or files) and every
 * file the corpus reads (sources named inside a manifest, files of a folder). Returns 0 or an
 * exit status after printing the error. */
static int check_out_inputs(const char *out, const char *model_path, const ms_model *m,
                            const ms_corpus *corpus, const char *const *corpus_args, int n_corpus) {
    int nf = ms_model_n_files(m), n = 0;
    const char **in = calloc((size_t)(2 * nf + n_corpus + 1), sizeof *in);
    char **owned = calloc((size_t)nf + 1, sizeof *owned);
    char err[1024];
    int rc = 0;
    if (!in || !owned) {
        ms_error("capture: out of memory");
        free(in);
        free(owned);
        return MS_EXIT_RUNTIME;
    }
    in[n++] = model_path;
    for (int i = 0; i < nf; i++) {
        const char *f = ms_model_file(m, i, NULL);
        if (!f) continue;
        in[n++] = f;
        size_t l = strlen(f), t = strlen("tokenizer.json");
        if (l >= t && strcmp(f + l - t, "tokenizer.json") == 0 && (l == t || f[l - t - 1] == '/')) {
            owned[i] = malloc(l + 16);
            if (owned[i]) {
                snprintf(owned[i], l + 16, "%.*stokenizer_config.json", (int)(l - t), f);
                in[n++] = owned[i];
            }
        }
    }
    for (int i = 0; i < n_corpus; i++)
        in[n++] = corpus_args[i];
    if (ms_check_output(out, in, n, err, sizeof err) ||
        ms_corpus_check_output(corpus, out, err, sizeof err)) {
        ms_error("%s", err);
        rc = MS_EXIT_USAGE;
    }
    for (int i = 0; i < nf; i++)
        free(owned[i]);
    free(owned);
    free(in);
    return rc;
}

/* Under mpirun (docs/SCALING.md): every rank reads the corpus once (up to max_docs documents),
 * tokenizes every n-th document to learn its length, the lengths are summed over the ranks,
 * and the documents are cut into contiguous token-balanced ranges; this rank gets
 * [*first, *end). Deterministic, so a --resume run finds the same ranges. Returns an exit
 * status (errors printed). */
static int plan_ranks(ms_corpus *corpus, const ms_tokenizer *tk, unsigned tok_flags,
                      int64_t max_tok, long max_docs, int64_t *first, int64_t *end,
                      int64_t *total) {
    const int rank = ms_dist_rank(), size = ms_dist_size();
    char err[512];
    int64_t n = 0, cap = 0, *cost = NULL, *bounds = NULL;
    int rc = 0;
    for (;;) {
        if (max_docs > 0 && n >= max_docs) break;
        ms_doc doc;
        int got = ms_corpus_next(corpus, &doc, err, sizeof err);
        if (got == 0) break;
        if (got < 0) {
            ms_error("%s", err);
            rc = got == -MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            int64_t *c = realloc(cost, sizeof *c * (size_t)cap);
            if (!c) {
                ms_error("capture: out of memory planning %lld documents", (long long)cap);
                rc = MS_EXIT_RUNTIME;
                break;
            }
            cost = c;
        }
        cost[n] = 0;
        if (n % size == rank) {
            int32_t *ids = NULL;
            int64_t nt = 0;
            if (ms_tokenize_ex(tk, doc.text, doc.len, tok_flags, &ids, &nt) != 0) {
                ms_error("%s: tokenization failed", doc.source);
                rc = MS_EXIT_RUNTIME;
                free(ids);
                break;
            }
            free(ids);
            cost[n] = max_tok > 0 && nt > max_tok ? max_tok : nt;
        }
        n++;
    }
    /* Every rank read the same corpus: same document count, else the files differ. */
    int64_t agree[2] = {n, -n};
    if (ms_dist_allreduce(agree, 2, MS_DIST_MAX_I64) || agree[0] != -agree[1]) {
        if (!rc)
            ms_error("capture: the ranks see different corpora (%lld to %lld documents)",
                     (long long)-agree[1], (long long)agree[0]);
        rc = rc ? rc : MS_EXIT_RUNTIME;
    }
    if (!rc && ms_dist_allreduce(cost, n, MS_DIST_SUM_I64)) rc = MS_EXIT_RUNTIME;
    bounds = rc ? NULL : malloc(sizeof *bounds * (size_t)(size + 1));
    if (!rc && !bounds) rc = MS_EXIT_RUNTIME;
    if (!rc) {
        ms_dist_partition(cost, n, size, bounds);
        *first = bounds[rank], *end = bounds[rank + 1], *total = n;
        int64_t tok = 0;
        for (int64_t i = *first; i < *end; i++)
            tok += cost[i];
        ms_debug("rank %d of %d: documents %lld..%lld (%lld tokens)", rank, size, (long long)*first,
                 (long long)*end, (long long)tok);
    }
    free(cost), free(bounds);
    return rc;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_capture;
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'},
                                             {"corpus", required_argument, 0, 'c'},
                                             {"out", required_argument, 0, 'o'},
                                             {"layers", required_argument, 0, 'L'},
                                             {"logits", no_argument, 0, 'g'},
                                             {"threads", required_argument, 0, 't'},
                                             {"resume", no_argument, 0, 'r'},
                                             {"window", required_argument, 0, 'w'},
                                             {"skip-bad", no_argument, 0, 's'},
                                             {"max-docs", required_argument, 0, 'n'},
                                             {"text-field", required_argument, 0, 'F'},
                                             {"profile", no_argument, 0, 'p'},
                                             {"batch", required_argument, 0, 'B'},
                                             {"no-pack", no_argument, 0, 'P'},
                                             {"special", no_argument, 0, 'S'},
                                             {"original-regex", no_argument, 0, 'O'},
                                             MS_COMMON_LONG_OPTS};
    const char *model_path = NULL, *out = NULL, *layers_arg = "all", *text_field = NULL;
    const char **corpus_args = calloc((size_t)argc + 1, sizeof *corpus_args);
    int n_corpus = 0, logits = 0, resume = 0, skip_bad = 0, profile = 0, pack = 1;
    unsigned tok_flags = MS_TOKENIZE_BOS;      /* --special, --original-regex add theirs */
    double t_read = 0, t_tok = 0, t_store = 0; /* --profile: seconds outside the engine */
    long threads = 0, window = 2048, max_docs = 0, batch = 0;
    if (!corpus_args) return MS_EXIT_RUNTIME;
    /* A file-size limit (ulimit -f) must make write() fail with EFBIG, reported like a full
     * disk, instead of killing the capture mid-write. */
    signal(SIGXFSZ, SIG_IGN);
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS, longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) {
            free(corpus_args);
            return r;
        }
        if (r == -1) continue;
        switch (c) {
        case 'm':
            model_path = optarg;
            break;
        case 'c':
            corpus_args[n_corpus++] = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'L':
            layers_arg = optarg;
            break;
        case 'g':
            logits = 1;
            break;
        case 't':
            r = ms_parse_long(cmd, "--threads", optarg, 1, 1024, &threads);
            break;
        case 'r':
            resume = 1;
            break;
        case 'w':
            r = ms_parse_long(cmd, "--window", optarg, 1, 1 << 20, &window);
            break;
        case 's':
            skip_bad = 1;
            break;
        case 'n':
            r = ms_parse_long(cmd, "--max-docs", optarg, 1, 2000000000L, &max_docs);
            break;
        case 'F':
            text_field = optarg;
            break;
        case 'p':
            profile = 1;
            break;
        case 'P':
            pack = 0;
            break;
        case 'S':
            tok_flags |= MS_TOKENIZE_SPECIAL;
            break;
        case 'O':
            tok_flags |= MS_TOKENIZE_ORIGINAL_REGEX;
            break;
        case 'B':
            r = ms_parse_long(cmd, "--batch", optarg, 1, 1000000, &batch);
            break;
        default:
            r = ms_usage_error(cmd, "unexpected option");
        }
        if (r > 0) {
            free(corpus_args);
            return r;
        }
    }
    for (int i = optind; i < argc; i++)
        corpus_args[n_corpus++] = argv[i];
    int rc = 0;
    if (!model_path)
        rc = ms_usage_error(cmd, "--model MODEL is required");
    else if (!out)
        rc = ms_usage_error(cmd, "--out FILE is required");
    else if (n_corpus == 0)
        rc = ms_usage_error(cmd, "--corpus MANIFEST or FILE... is required");
    else if (n_corpus > 1 && is_manifest(corpus_args[0]))
        rc = ms_usage_error(cmd, "a manifest (%s) is the whole corpus: give no other files",
                            corpus_args[0]);
    if (rc) {
        free(corpus_args);
        return rc;
    }
    /* Under mpirun this rank captures its document range into OUT.rank-R-of-N (a serial
     * store, resumable on its own); at the end rank 0 merges the ranks' stores into OUT. */
    const int n_ranks = ms_dist_begin();
    int all_done = 0; /* under mpirun: --resume found OUT complete */
    /* no fork() in an MPI rank (ms_routes_guard) */
    if (ms_dist_mpi()) ms_routes_guard(0);
    const char *final_out = out;
    char *rank_out = n_ranks > 1 ? ms_dist_rank_path(out, ms_dist_rank(), n_ranks) : NULL;
    if (n_ranks > 1) out = rank_out;

    char err[512];
    ms_corpus *corpus = NULL;
    ms_model *m = NULL;
    ms_engine *e = NULL;
    ms_store *store = NULL;
    ms_store_lock *lock = NULL;
    ms_route_collector col;
    memset(&col, 0, sizeof col);
    packq q;
    memset(&q, 0, sizeof q);
    int *layers = NULL, n_layers = 0;
    char *cmdline = NULL, *model_json = NULL, *tok_json = NULL;
    ms_progress prog;
    int progress_on = 0;
    char failmsg[1024] = "";

    /* The corpus first: sampling reads the sources once, and bad input is found early. */
    ms_corpus_opts co = {is_manifest(corpus_args[0]) ? corpus_args[0] : NULL, corpus_args, n_corpus,
                         text_field, skip_bad};
    if ((rc = ms_corpus_open(&corpus, &co, err, sizeof err))) {
        ms_error("%s", err);
        rc = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    ms_model_opts mo = {model_path};
    if ((rc = ms_model_open(&m, &mo, err, sizeof err))) {
        ms_error("%s", err);
        rc = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    const ms_tokenizer *tk = ms_model_tokenizer(m);
    if (!tk) {
        ms_error("%s: the model has no tokenizer", model_path);
        rc = MS_EXIT_USAGE;
        goto done;
    }
    if ((rc = ms_parse_model_layers(cmd, layers_arg, hp->n_layer, m, ms_model_layer_routes, &layers,
                                    &n_layers)))
        goto done;
    /* Nothing is written before the output is known not to be an input and the store's lock
     * is held: a second capture of the same store stops here, before touching the file. */
    if ((rc = check_out_inputs(final_out, model_path, m, corpus, (const char *const *)corpus_args,
                               n_corpus)) ||
        (out && out != final_out &&
         (rc = check_out_inputs(out, model_path, m, corpus, (const char *const *)corpus_args,
                                n_corpus))))
        goto done;
    if (out && (rc = ms_store_lock_take(&lock, out, err, sizeof err))) {
        ms_error("%s", err);
        rc = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    if (n_ranks > 1) { /* plan, read the corpus again from the start, skip to this range */
        int64_t first = 0, end = 0, total = 0;
        if (!out) {
            ms_error("capture: out of memory");
            rc = MS_EXIT_RUNTIME;
            goto done;
        }
        rc = plan_ranks(corpus, tk, tok_flags, ms_corpus_max_tokens_per_doc(corpus), max_docs,
                        &first, &end, &total);
        if (!rc && resume) {
            /* --resume after a finished run: the rank stores were merged and removed; OUT holds
             * every planned document of this model. Then there is nothing to do (all agree). */
            int complete = 0;
            if (access(out, F_OK) != 0 && access(final_out, F_OK) == 0) {
                ms_routes *fr = NULL;
                char *mj = ms_model_describe_json(m);
                if (mj && ms_routes_open(&fr, final_out, err, sizeof err) == 0) {
                    const ms_routes_info *fi = ms_routes_info_get(fr);
                    complete = fi->n_documents == total && same_model(fi->model_json, mj);
                    ms_routes_close(fr);
                }
                free(mj);
            }
            if (ms_dist_max_int(!complete) == 0) {
                ms_info("%s already holds all %lld documents: nothing to do", final_out,
                        (long long)total);
                all_done = 1;
                goto done;
            }
        }
        ms_corpus_close(corpus);
        corpus = NULL;
        if (!rc && (rc = ms_corpus_open(&corpus, &co, err, sizeof err))) {
            ms_error("%s", err);
            rc = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        }
        for (int64_t i = 0; i < first && !rc; i++) {
            ms_doc doc;
            int got = ms_corpus_next(corpus, &doc, err, sizeof err);
            if (got <= 0) {
                ms_error("%s", got ? err : "capture: the corpus ended early");
                rc = got == -MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
            }
        }
        if (rc) goto done;
        max_docs = (long)(end - first); /* this rank's store holds its range only */
    }
    const int E = hp->n_expert, k = hp->n_expert_used;
    const int64_t lk = (int64_t)n_layers * k, le = (int64_t)n_layers * E;

    int64_t done_docs = 0;
    model_json = ms_model_describe_json(m);
    if (resume && (rc = check_resume(out, corpus, model_json, &done_docs))) goto done;
    if (max_docs > 0 && done_docs >= max_docs) {
        ms_info("%s already holds %lld documents (--max-docs %ld): nothing to do", out,
                (long long)done_docs, max_docs);
        goto done;
    }

    if (threads == 0 && n_ranks > 1) { /* ranks on one node share its cores */
        long cores = sysconf(_SC_NPROCESSORS_ONLN), local = ms_dist_local_size();
        threads = cores / local > 1 ? cores / local : 1;
    }
    ms_engine_opts eo = {(int)threads, window, 0};
    if ((rc = ms_engine_open(&e, m, &eo, err, sizeof err))) {
        ms_error("%s", err);
        rc = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    if (packq_init(&q, window)) {
        ms_error("capture: out of memory for a window of %ld tokens", window);
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    if ((rc = ms_collector_init(&col, layers, n_layers, E, k, window, logits, err, sizeof err))) {
        ms_error("%s", err);
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    cmdline = join_command(argc, argv);
    tok_json = ms_tokenizer_describe_json(tk);
    /* The store says how the documents were tokenized. */
    const char *extra =
        tok_flags & MS_TOKENIZE_SPECIAL
            ? (tok_flags & MS_TOKENIZE_ORIGINAL_REGEX
                   ? ",\"parse_special\":true,\"original_regex\":true}"
                   : ",\"parse_special\":true}")
            : (tok_flags & MS_TOKENIZE_ORIGINAL_REGEX ? ",\"original_regex\":true}" : NULL);
    size_t tl = tok_json ? strlen(tok_json) : 0;
    if (extra && tl && tok_json[tl - 1] == '}') {
        char *tj = realloc(tok_json, tl + strlen(extra) + 1);
        if (tj) {
            memcpy(tj + tl - 1, extra, strlen(extra) + 1);
            tok_json = tj;
        }
    }
    const char *const *domains_list = NULL;
    const char **dl = calloc((size_t)ms_corpus_n_domains(corpus), sizeof *dl);
    for (int i = 0; dl && i < ms_corpus_n_domains(corpus); i++)
        dl[i] = ms_corpus_domain(corpus, i);
    domains_list = dl;
    ms_store_create_opts so = {out,
                               layers,
                               n_layers,
                               E,
                               k,
                               logits,
                               domains_list,
                               ms_corpus_n_domains(corpus),
                               model_json,
                               tok_json,
                               ms_corpus_manifest_json(corpus),
                               cmdline,
                               resume,
                               window,
                               "rank"};
    if (!dl) snprintf(err, sizeof err, "capture: out of memory");
    rc = dl ? ms_store_create(&store, &so, err, sizeof err) : MS_ERR_RUNTIME;
    free(dl);
    if (rc) {
        ms_error("%s", err);
        rc = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    if (ms_store_n_documents(store) != done_docs) {
        ms_error("%s: cannot resume: the store holds %lld documents, expected %lld", out,
                 (long long)ms_store_n_documents(store), (long long)done_docs);
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    if (done_docs > 0)
        ms_info("resuming %s after %lld documents (%lld tokens)", out, (long long)done_docs,
                (long long)ms_store_n_tokens(store));

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t hint = ms_corpus_n_docs_hint(corpus);
    int64_t total = hint > 0 ? hint - done_docs : 0;
    if (max_docs > 0 && (total == 0 || total > max_docs - done_docs)) total = max_docs - done_docs;
    ms_progress_begin(&prog, "capture", total, 0);
    progress_on = 1;
    const int64_t max_tok = ms_corpus_max_tokens_per_doc(corpus);
    int64_t docs = 0, tokens = 0, batch_tokens = 0, batch_docs = 0;
    double last_flush = ms_now();
    int eof = 0;
    for (;;) {
        /* documents whose windows have all run go to the store, in corpus order */
        while (q.head < q.count && q.docs[q.head]->left == 0) {
            pdoc *d = q.docs[q.head];
            double t2 = ms_now();
            int ar = ms_store_append(store, d->domain, d->source, d->ids, d->db.pos, d->n,
                                     d->db.ids, d->db.w, logits ? d->db.lg : NULL, err, sizeof err);
            if (ar) {
                snprintf(failmsg, sizeof failmsg, "%s", err);
                rc = MS_EXIT_RUNTIME;
                break;
            }
            docs++;
            tokens += d->n;
            batch_docs++;
            batch_tokens += d->n;
            pdoc_free(d);
            q.docs[q.head++] = NULL;
            /* A batch: enough tokens to fill chunks, or documents, or time since the last
             * flush. */
            double now = ms_now();
            if (batch > 0
                    ? batch_docs >= batch
                    : (batch_tokens >= 16384 || batch_docs >= 512 || now - last_flush >= 30.0)) {
                if (ms_store_flush(store, err, sizeof err)) {
                    snprintf(failmsg, sizeof failmsg, "%s", err);
                    rc = MS_EXIT_RUNTIME;
                    break;
                }
                batch_docs = batch_tokens = 0;
                last_flush = now;
            }
            t_store += ms_now() - t2;
            ms_progress_update(&prog, docs, tokens);
        }
        if (rc || eof) break;
        if (q.head == q.count) q.head = q.count = 0;
        if (stop_requested) {
            snprintf(failmsg, sizeof failmsg,
                     "interrupted: %lld documents are in %s; continue with --resume",
                     (long long)ms_store_n_documents(store), out);
            rc = MS_EXIT_RUNTIME;
            break;
        }
        int got = 0;
        ms_doc doc;
        if (!((max_docs > 0 || n_ranks > 1) &&
              ms_store_n_documents(store) + (q.count - q.head) >= max_docs)) {
            double t0 = ms_now();
            got = ms_corpus_next(corpus, &doc, err, sizeof err);
            t_read += ms_now() - t0;
        }
        if (got < 0) {
            snprintf(failmsg, sizeof failmsg, "%s", err);
            rc = got == -MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
            break;
        }
        if (got == 0) { /* no more documents: run what is packed, store it, stop */
            eof = 1;
            if (q.n_segs > 0 && (rc = pack_run(&q, NULL, e, &col, n_layers, lk, le, logits, failmsg,
                                               sizeof failmsg)))
                break;
            continue;
        }
        double t1 = ms_now();
        pdoc *d = NULL;
        int64_t n = 0;
        if (pack_push(&q, &d) != 0) {
            snprintf(failmsg, sizeof failmsg, "%s: out of memory", doc.source);
            rc = MS_EXIT_RUNTIME;
            break;
        }
        d->domain = doc.domain;
        d->source = strdup(doc.source);
        if (!d->source || ms_tokenize_ex(tk, doc.text, doc.len, tok_flags, &d->ids, &n) != 0) {
            snprintf(failmsg, sizeof failmsg, "%s: tokenization failed", doc.source);
            rc = MS_EXIT_RUNTIME;
            break;
        }
        t_tok += ms_now() - t1;
        if (max_tok > 0 && n > max_tok) n = max_tok;
        d->n = n;
        if (docbuf_reserve(&d->db, n > 0 ? n : 1, lk, le, logits)) {
            snprintf(failmsg, sizeof failmsg, "%s: out of memory for %lld tokens", doc.source,
                     (long long)n);
            rc = MS_EXIT_RUNTIME;
            break;
        }
        /* Full windows run at once; shorter ones (short documents, the tails of long ones) join
         * the pass being filled, which runs first when they do not fit (--no-pack: every
         * window runs alone). */
        for (int64_t w0 = 0; w0 < n && rc == 0; w0 += window) {
            int64_t wn = n - w0 < window ? n - w0 : window;
            if (!pack || wn == window) {
                int64_t solo[3] = {q.count - 1, w0, wn};
                rc = pack_run(&q, solo, e, &col, n_layers, lk, le, logits, failmsg, sizeof failmsg);
                continue;
            }
            if (q.n_segs > 0 && q.n_tok + wn > window)
                rc = pack_run(&q, NULL, e, &col, n_layers, lk, le, logits, failmsg, sizeof failmsg);
            if (rc == 0) pack_add(&q, q.count - 1, w0, wn);
        }
        if (rc) break;
    }
    if (progress_on) ms_progress_end(&prog);
    progress_on = 0;
    if (failmsg[0]) ms_error("%s", failmsg); /* after the progress summary: the last line */
    {
        int64_t stored = ms_store_n_documents(store);
        double t3 = ms_now();
        int cr = ms_store_close(store, err, sizeof err);
        t_store += ms_now() - t3;
        store = NULL;
        if (cr) {
            ms_error("%s", err);
            if (!rc) rc = MS_EXIT_RUNTIME;
        } else if (rc == 0) {
            ms_info("%s: %lld documents (%lld new), %lld bad records skipped", out,
                    (long long)stored, (long long)docs, (long long)ms_corpus_n_skipped(corpus));
        }
    }
    if (profile && e) {
        ms_profile pr;
        ms_engine_profile(e, &pr);
        fprintf(stderr,
                "profile: attention %.2fs, router %.2fs, experts %.2fs, dequant %.2fs (cpu), "
                "lm_head %.2fs, other %.2fs, %lld tokens; corpus reading %.2fs, "
                "tokenization %.2fs, route store (HDF5) %.2fs; %lld windows in %lld forward "
                "passes\n",
                pr.attention, pr.router, pr.experts, pr.dequant, pr.lm_head, pr.other,
                (long long)pr.tokens, t_read, t_tok, t_store, (long long)q.windows,
                (long long)q.passes);
    }
done:
    if (progress_on) ms_progress_end(&prog);
    if (store) {
        char e2[512];
        if (ms_store_close(store, e2, sizeof e2) && !rc) {
            ms_error("%s", e2);
            rc = MS_EXIT_RUNTIME;
        }
    }
    ms_store_lock_release(lock); /* the store is closed */
    lock = NULL;
    packq_free(&q);
    ms_collector_free(&col);
    free(layers);
    free(cmdline);
    free(model_json);
    free(tok_json);
    ms_engine_close(e);
    ms_model_close(m);
    ms_corpus_close(corpus);
    if (n_ranks > 1 && !all_done) {
        /* A failed rank stops them all; the ranks' stores keep their committed documents. */
        if (rc) ms_dist_abort(rc);
        ms_dist_barrier();
        if (ms_dist_rank() == 0) {
            char **parts = calloc((size_t)n_ranks, sizeof *parts);
            cmdline = join_command(argc, argv);
            for (int r = 0; parts && r < n_ranks; r++)
                parts[r] = ms_dist_rank_path(final_out, r, n_ranks);
            double t0 = ms_now();
            rc = parts && cmdline ? ms_merge_stores(final_out, (const char *const *)parts, n_ranks,
                                                    cmdline, window)
                                  : MS_EXIT_RUNTIME;
            if (!rc)
                ms_info("merged %d rank stores into %s in %.2f s", n_ranks, final_out,
                        ms_now() - t0);
            for (int r = 0; parts && r < n_ranks; r++) {
                if (!rc) remove(parts[r]);
                free(parts[r]);
            }
            free(parts);
            free(cmdline);
        }
        rc = ms_dist_max_int(rc);
    }
    free(rank_out);
    free(corpus_args);
    return rc;
}

const ms_command ms_cmd_capture = {"capture", "run a model over corpora, store routing in HDF5",
                                   usage, run, 35};
