/* cmd_report.c — `moescope report`: analyse a route store and write DIR/index.html with
 * every figure, the Table 5 comparison with the Mixtral paper, summary statistics,
 * coloured-token samples and provenance. Works without gnuplot (page without figures). */
#include "analysis.h"
#include "cli.h"
#include "plots.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const ms_command ms_cmd_report = {
    "report", "analyse a route store and write an HTML report with all figures",
    "usage: moescope report <routes.h5 | analysis.json> --out DIR [options]\n"
    "\n"
    "Writes DIR/index.html: the figures of `moescope plot`, the repetition table next to the\n"
    "Mixtral paper's Table 5, summary statistics, documents with tokens coloured by their\n"
    "expert (Fig. 8) and provenance (model, corpus, commands). The page is self-contained\n"
    "(open it from disk, no server or network). DIR also holds analysis.json and each\n"
    "figure's gnuplot script and data. Without gnuplot the page is written without figures\n"
    "and says why (install: apt-get install gnuplot-nox).\n"
    "\n"
    "options:\n"
    "  -o, --out DIR         output directory (created if missing)\n"
    "  -l, --layers LIST     layers of the per-layer panels, tables and token views\n"
    "                        (default 0,15,31 when stored, else first,middle,last)\n"
    "  -d, --doc LIST        documents for the token view (default: the first of each\n"
    "                        domain, up to 6)\n"
    "      --max-tokens N    tokens shown per document (default 400)\n"
    "  -m, --model PATH      tokenizer source for token text: .gguf, tokenizer.json or\n"
    "                        model folder (default: the model file recorded in the store)\n"
    "      --pdf             also write PDF figures\n"
    "      --format LIST     png,svg,pdf (default png,svg)\n"
    "      --gnuplot PROG    gnuplot program (default $MOESCOPE_GNUPLOT, else gnuplot)\n"
    "      --bootstrap B     bootstrap replicates of the intervals (default 200)\n"
    "  -q, --quiet           no messages\n"
    "  -v, --verbose         more messages\n"
    "  -h, --help            this text\n",
    run, 64};

/* The first non-empty document of each domain, up to `max` (scans at most 1e6 rows). */
static int default_docs(ms_routes *r, int max, int64_t **out, int *n) {
    const ms_routes_info *in = ms_routes_info_get(r);
    int64_t *v = malloc((size_t)max * sizeof *v);
    char *seen = calloc((size_t)in->n_domains + 1, 1);
    if (!v || !seen) {
        free(v);
        free(seen);
        return MS_EXIT_RUNTIME;
    }
    *n = 0;
    for (int64_t d = 0; d < in->n_documents && d < 1000000 && *n < max; d++) {
        int dom;
        int64_t first, nt;
        const char *src;
        if (ms_routes_document(r, d, &dom, &first, &nt, &src)) break;
        if (nt <= 0 || dom < 0 || dom >= in->n_domains || seen[dom]) continue;
        seen[dom] = 1;
        v[(*n)++] = d;
    }
    free(seen);
    *out = v;
    return 0;
}

static char *join_args(int argc, char **argv) {
    size_t n = strlen("moescope") + 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "moescope");
    for (int i = 0; i < argc; i++) {
        strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_report;
    static const struct option lo[] = {
        {"out", required_argument, 0, 'o'},       {"layers", required_argument, 0, 'l'},
        {"doc", required_argument, 0, 'd'},       {"max-tokens", required_argument, 0, 'T'},
        {"model", required_argument, 0, 'm'},     {"pdf", no_argument, 0, 'P'},
        {"format", required_argument, 0, 'F'},    {"gnuplot", required_argument, 0, 'G'},
        {"bootstrap", required_argument, 0, 'B'}, MS_COMMON_LONG_OPTS};
    const char *out = NULL, *layers_s = NULL, *docs_s = NULL, *model = NULL, *gnuplot = NULL;
    int formats = 0, pdf = 0;
    long max_tokens = 400, bootstrap = -1;
    char err[1024];
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "o:l:d:m:", lo, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'l':
            layers_s = optarg;
            break;
        case 'd':
            docs_s = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'G':
            gnuplot = optarg;
            break;
        case 'P':
            pdf = 1;
            break;
        case 'F':
            if (ms_plot_formats_parse(optarg, &formats, err, sizeof err))
                return ms_usage_error(cmd, "%s", err);
            break;
        case 'T':
            if (ms_parse_long(cmd, "--max-tokens", optarg, 1, 100000000L, &max_tokens))
                return MS_EXIT_USAGE;
            break;
        case 'B':
            if (ms_parse_long(cmd, "--bootstrap", optarg, 0, 100000, &bootstrap))
                return MS_EXIT_USAGE;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (optind + 1 != argc)
        return ms_usage_error(cmd, "expected one input (a route store or an analysis JSON)");
    if (!out) return ms_usage_error(cmd, "--out DIR is required");
    if (pdf) formats = (formats ? formats : MS_PLOT_PNG | MS_PLOT_SVG) | MS_PLOT_PDF;
    const char *path = argv[optind];
    /* every file written into DIR (index.html, analysis.json, figures) is refused when it is
     * the store, the analysis JSON or the model */
    const char *inputs[] = {path, model};
    int rc = ms_cli_check_output(NULL, inputs, 2);
    if (rc) return rc;

    char *cmdline = join_args(argc, argv);
    ms_analysis_opts ao;
    ms_analysis_opts_default(&ao);
    if (bootstrap >= 0) ao.bootstrap = (int)bootstrap;
    ao.command_line = cmdline;
    ms_plot_analysis *a = NULL;
    int is_store = 0, status = MS_EXIT_OK;
    ms_routes *r = NULL;
    ms_tokenizer *tok = NULL;
    int *layers = NULL, n_layers = 0;
    int64_t *docs = NULL;
    int n_docs = 0;
    char note[1024] = "";
    ms_info("analysing %s", path);
    rc = ms_plot_analysis_load(&a, path, &ao, &is_store, err, sizeof err);
    if (rc) {
        ms_error("%s", err);
        status = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    const int *al;
    int nal = ms_plot_analysis_layers(a, &al);
    if (layers_s && !strcmp(layers_s, "all")) { /* every analysed layer */
        if (!(layers = malloc(sizeof *layers * (size_t)nal))) {
            status = MS_EXIT_RUNTIME;
            goto done;
        }
        memcpy(layers, al, sizeof *layers * (size_t)nal);
        n_layers = nal;
    } else if (layers_s &&
               (status = ms_parse_layers(cmd, layers_s, al[nal - 1] + 1, &layers, &n_layers)))
        goto done;
    if (is_store) {
        if ((rc = ms_routes_open(&r, path, err, sizeof err))) {
            ms_error("%s", err);
            status = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
            goto done;
        }
        if (docs_s)
            status = ms_parse_index_list(cmd, "--doc", docs_s, &docs, &n_docs);
        else
            status = default_docs(r, 6, &docs, &n_docs);
        if (status) goto done;
        if (ms_plot_tokenizer_open(&tok, r, path, model, note, sizeof note)) {
            if (model) {
                ms_error("%s", note);
                status = MS_EXIT_USAGE;
                goto done;
            }
            ms_info("%s", note);
        }
    } else if (docs_s || model) {
        ms_info("--doc/--model ignored: the token view needs a route store, not analysis JSON");
    }

    /* Token views at the figure panel layers unless --layers says otherwise. */
    int dflt[3], n_dflt = 0;
    if (!layers) {
        int want[3] = {0, 15, 31}, have = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < nal; j++)
                have += al[j] == want[i];
        if (have == 3) {
            memcpy(dflt, want, sizeof want);
            n_dflt = 3;
        } else {
            int cand[3] = {al[0], al[nal / 2], al[nal - 1]};
            for (int i = 0; i < 3; i++)
                if (!n_dflt || dflt[n_dflt - 1] != cand[i]) dflt[n_dflt++] = cand[i];
        }
    }
    ms_report_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.plot = (ms_plot_opts){out, gnuplot, formats, layers, n_layers};
    ro.routes = r;
    ro.tokens = (ms_token_view_opts){
        layers ? layers : dflt, layers ? n_layers : n_dflt, docs, n_docs, max_tokens, tok};
    ro.tokenizer_note = tok ? NULL : note;
    ro.command_line = cmdline;
    ms_plot_result res;
    rc = ms_report_write(a, &ro, &res, err, sizeof err);
    if (rc) {
        ms_plot_result_free(&res); /* some failures (analysis.json refused) return it filled */
        ms_error("%s", err);
        status = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        goto done;
    }
    if (!res.gnuplot_ok)
        ms_info("warning: %s; the report has no figures (their scripts and data are in %s/)",
                res.why, out);
    ms_info("wrote %s/index.html (%d figures)", out, res.gnuplot_ok ? res.n_figures : 0);
    ms_plot_result_free(&res);
done:
    free(cmdline);
    free(layers);
    free(docs);
    ms_tokenizer_free(tok);
    if (r) ms_routes_close(r);
    ms_plot_analysis_free(a);
    return status;
}
