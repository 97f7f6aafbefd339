/* cmd_merge.c — `moescope merge`: concatenates route stores that hold consecutive runs of one
 * corpus' documents (the per-rank stores of `mpirun -n N moescope capture`, or captures of
 * document ranges run as separate jobs) into one store, document by document through the
 * serial reader and writer. The result's datasets are those of a single capture over all the
 * documents (docs/SCALING.md). Also used by capture's last step under mpirun (dist.h). */
#include "cli.h"
#include "dist.h"
#include "msutil.h"
#include "probes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ms_command ms_cmd_merge;

static const char usage[] =
    "usage: moescope merge --out ROUTES.h5 [--window N] STORE.h5...\n"
    "\n"
    "Writes one route store holding the documents of the given stores, in the order given.\n"
    "The stores must come from the same model, layers, logits choice and corpus domains\n"
    "(e.g. the routes.h5.rank-R-of-N files of an interrupted `mpirun moescope capture`,\n"
    "or captures of consecutive document ranges run as separate jobs). Only committed\n"
    "documents are copied. The output is written under a temporary name next to OUT\n"
    "(.OUT.tmp.PID.N) and renamed when complete; OUT may not be one of the stores.\n"
    "\n"
    "options:\n"
    "  -o, --out FILE   the store to write (replaced)\n"
    "  --window N       record N as the store's window attribute (the captures' --window;\n"
    "                   default: the first store's)\n"
    "  -q, -v, -h       quiet, verbose, this help\n";

static int same_str(const char *a, const char *b) {
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* 0 when store b can follow store a in one capture; else prints why and returns 2. */
static int compatible(const ms_routes_info *a, const ms_routes_info *b, const char *path) {
    const char *what = NULL;
    if (a->n_layers != b->n_layers || a->k != b->k || a->n_expert != b->n_expert)
        what = "layers, experts or k";
    else if (memcmp(a->layers, b->layers, sizeof(int) * (size_t)a->n_layers) != 0)
        what = "stored layers";
    else if (a->has_logits != b->has_logits)
        what = "logits choice";
    else if (a->rank_order != b->rank_order)
        what = "expert id order (rank_order)";
    else if (!same_str(a->model_json, b->model_json) ||
             !same_str(a->tokenizer_json, b->tokenizer_json))
        what = "model";
    else if (!same_str(a->manifest_json, b->manifest_json))
        what = "corpus manifest";
    else if (a->n_domains != b->n_domains)
        what = "domains";
    for (int i = 0; !what && i < a->n_domains; i++)
        if (!same_str(a->domains[i], b->domains[i])) what = "domains";
    if (!what) return 0;
    ms_error("%s: cannot merge: its %s differ from the first store's", path, what);
    return MS_EXIT_USAGE;
}

/* The store writer's messages name the temporary file; the user named out. */
static void store_error(const char *err, const char *tmp, const char *out) {
    size_t n = tmp ? strlen(tmp) : 0;
    if (n && strncmp(err, tmp, n) == 0)
        ms_error("%s%s", out, err + n);
    else
        ms_error("%s", err);
}

int ms_merge_stores(const char *out, const char *const *in, int n_in, const char *command_line,
                    int64_t window) {
    char err[512];
    int rc = 0;
    ms_routes **r = calloc((size_t)n_in, sizeof *r);
    ms_store *s = NULL;
    /* The store is written under a temporary name of ms_outfile's (reserved with O_EXCL in
     * out's directory, so it is never a user's file) and renamed over out once closed. */
    ms_outfile of = {0};
    const char *tmp = NULL;
    /* one document's rows: (n) tokens and positions, (n, L, k) ids and weights, (n, L, E) */
    int64_t cap = 0;
    int32_t *tok = NULL, *pos = NULL, *ids = NULL;
    float *w = NULL, *lg = NULL;
    if (!r || n_in < 1) {
        ms_error("merge: out of memory");
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        int orc = ms_routes_open(&r[i], in[i], err, sizeof err);
        if (orc) {
            ms_error("%s", err);
            rc = orc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
            goto done;
        }
        if (i && (rc = compatible(ms_routes_info_get(r[0]), ms_routes_info_get(r[i]), in[i])))
            goto done;
    }
    int orc = ms_outfile_open(&of, out, err, sizeof err);
    if (!orc && of.f == stdout) {
        snprintf(err, sizeof err, "%s: a route store cannot be written to stdout", out);
        orc = MS_ERR_INPUT;
    }
    if (orc) {
        ms_error("%s", err);
        rc = orc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    fclose(of.f); /* HDF5 writes the file by name */
    of.f = NULL;
    tmp = of.tmp;
    const ms_routes_info *i0 = ms_routes_info_get(r[0]);
    const int64_t lk = (int64_t)i0->n_layers * i0->k, le = (int64_t)i0->n_layers * i0->n_expert;
    ms_store_create_opts so = {.path = tmp,
                               .layers = i0->layers,
                               .n_layers = i0->n_layers,
                               .n_expert = i0->n_expert,
                               .k = i0->k,
                               .with_logits = i0->has_logits,
                               .domains = i0->domains,
                               .n_domains = i0->n_domains,
                               .model_json = i0->model_json,
                               .tokenizer_json = i0->tokenizer_json,
                               .manifest_json = i0->manifest_json,
                               .command_line = command_line ? command_line : i0->command_line,
                               .window = window > 0 ? window : i0->window,
                               .rank_order = i0->rank_order ? "rank" : "unknown"};
    int crc = ms_store_create(&s, &so, err, sizeof err);
    if (crc) {
        store_error(err, tmp, out);
        rc = crc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    int64_t batch_tokens = 0, batch_docs = 0;
    for (int i = 0; i < n_in && !rc; i++) {
        const ms_routes_info *info = ms_routes_info_get(r[i]);
        for (int64_t d = 0; d < info->n_documents && !rc; d++) {
            int dom = 0;
            int64_t first = 0, n = 0;
            const char *src = NULL;
            if (ms_routes_document(r[i], d, &dom, &first, &n, &src)) {
                ms_error("%s: cannot read document %lld", in[i], (long long)d);
                rc = MS_EXIT_RUNTIME;
                break;
            }
            if (n > cap) {
                int64_t c = cap ? cap : 4096;
                while (c < n)
                    c *= 2;
                free(tok), free(pos), free(ids), free(w), free(lg);
                tok = malloc(sizeof *tok * (size_t)c), pos = malloc(sizeof *pos * (size_t)c);
                ids = malloc(sizeof *ids * (size_t)(c * lk));
                w = malloc(sizeof *w * (size_t)(c * lk));
                lg = i0->has_logits ? malloc(sizeof *lg * (size_t)(c * le)) : NULL;
                cap = c;
                if (!tok || !pos || !ids || !w || (i0->has_logits && !lg)) {
                    ms_error("%s: out of memory for a document of %lld tokens", in[i],
                             (long long)n);
                    cap = 0;
                    rc = MS_EXIT_RUNTIME;
                    break;
                }
            }
            int rq = n > 0 ? ms_routes_read(r[i], first, n, tok, NULL, pos, ids, w,
                                            i0->has_logits ? lg : NULL, err, sizeof err)
                           : 0;
            if (rq) { /* a corrupt input (non-finite logits) is a bad input, not an I/O error */
                ms_error("%s", err);
                rc = rq == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
                break;
            }
            if (ms_store_append(s, dom, src ? src : "", tok, pos, n, ids, w,
                                i0->has_logits ? lg : NULL, err, sizeof err)) {
                store_error(err, tmp, out);
                rc = MS_EXIT_RUNTIME;
                break;
            }
            batch_tokens += n, batch_docs++;
            if (batch_tokens >= 65536 || batch_docs >= 512) {
                if (ms_store_flush(s, err, sizeof err)) {
                    store_error(err, tmp, out);
                    rc = MS_EXIT_RUNTIME;
                }
                batch_tokens = batch_docs = 0;
            }
        }
    }
    if (s) {
        int64_t nd = ms_store_n_documents(s), nt = ms_store_n_tokens(s);
        int cr = ms_store_close(s, err, sizeof err);
        s = NULL;
        if (cr && !rc) {
            store_error(err, tmp, out);
            rc = MS_EXIT_RUNTIME;
        }
        if (!rc && rename(tmp, out) != 0) {
            ms_error("%s: write failed: %s", out, strerror(errno));
            rc = MS_EXIT_RUNTIME;
        }
        if (!rc) {
            free(of.tmp); /* renamed: nothing to remove */
            of.tmp = NULL;
            ms_info("%s: %lld documents, %lld tokens from %d stores", out, (long long)nd,
                    (long long)nt, n_in);
        }
    }
done:
    ms_outfile_abort(&of);
    if (r)
        for (int i = 0; i < n_in; i++)
            ms_routes_close(r[i]);
    free(r);
    free(tok), free(pos), free(ids), free(w), free(lg);
    return rc;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_merge;
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"window", required_argument, 0, 'w'},
                                             MS_COMMON_LONG_OPTS};
    const char *out = NULL;
    long window = 0;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "o:", longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        if (c == 'o')
            out = optarg;
        else if (c == 'w') {
            if ((r = ms_parse_long(cmd, "--window", optarg, 1, 1 << 20, &window))) return r;
        } else
            return ms_usage_error(cmd, "unexpected option");
    }
    if (!out) return ms_usage_error(cmd, "--out FILE is required");
    if (optind >= argc) return ms_usage_error(cmd, "give the stores to merge");
    int rc = ms_cli_check_output(out, (const char *const *)argv + optind, argc - optind);
    if (rc) return rc;
    size_t n = 16;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *cl = malloc(n);
    if (!cl) return MS_EXIT_RUNTIME;
    strcpy(cl, "moescope");
    for (int i = 0; i < argc; i++)
        strcat(strcat(cl, " "), argv[i]);
    rc = ms_merge_stores(out, (const char *const *)argv + optind, argc - optind, cl, window);
    free(cl);
    return rc;
}

const ms_command ms_cmd_merge = {"merge", "concatenate route stores of consecutive documents",
                                 usage, run, 36};
