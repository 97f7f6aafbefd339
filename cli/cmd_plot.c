/* cmd_plot.c — `moescope plot`: the routing figures (Mixtral Fig. 7, 9, 10, share and
 * co-activation heatmaps) from a route store or a saved analysis JSON, drawn by gnuplot. */
#include "analysis.h"
#include "cli.h"
#include "plots.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const ms_command ms_cmd_plot = {
    "plot", "draw the routing figures (PNG/SVG/PDF) with gnuplot",
    "usage: moescope plot <routes.h5 | analysis.json> --out DIR [options]\n"
    "\n"
    "Draws Mixtral Fig. 7 (expert share per domain), Fig. 9 (first/second choice), Fig. 10\n"
    "(repetition per layer), per-domain layer x expert share heatmaps and the OLMoE\n"
    "co-activation heatmaps. Input is a route store (analysed on the fly) or the JSON of\n"
    "`moescope analyze --json`. Next to each image DIR holds its gnuplot script (.gp) and\n"
    "data (.dat): `cd DIR && gnuplot fig7_expert_share.gp` redraws it.\n"
    "\n"
    "options:\n"
    "  -o, --out DIR       output directory (created if missing)\n"
    "  -l, --layers LIST   layers of the per-layer panels (default 0,15,31 when analysed,\n"
    "                      else first,middle,last); e.g. 0,15,31 or first,last\n"
    "      --format LIST   png,svg,pdf (default png,svg)\n"
    "      --gnuplot PROG  gnuplot program (default $MOESCOPE_GNUPLOT, else gnuplot)\n"
    "      --bootstrap B   bootstrap replicates when analysing a store (default 200)\n"
    "  -q, --quiet         no messages\n"
    "  -v, --verbose       more messages\n"
    "  -h, --help          this text\n"
    "\n"
    "Needs gnuplot with the pngcairo and svg terminals (Debian: apt-get install gnuplot-nox).\n"
    "Without it the scripts and data are still written and the command exits 1.\n",
    run, 60};

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_plot;
    static const struct option lo[] = {
        {"out", required_argument, 0, 'o'},       {"layers", required_argument, 0, 'l'},
        {"format", required_argument, 0, 'F'},    {"gnuplot", required_argument, 0, 'G'},
        {"bootstrap", required_argument, 0, 'B'}, MS_COMMON_LONG_OPTS};
    const char *out = NULL, *layers_s = NULL, *gnuplot = NULL;
    int formats = 0;
    long bootstrap = -1;
    char err[1024];
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "o:l:", lo, NULL)) != -1) {
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
        case 'G':
            gnuplot = optarg;
            break;
        case 'F':
            if (ms_plot_formats_parse(optarg, &formats, err, sizeof err))
                return ms_usage_error(cmd, "%s", err);
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
    /* figure files written into DIR are refused when one is the input */
    int rc = ms_cli_check_output(NULL, (const char *const *)argv + optind, 1);
    if (rc) return rc;

    ms_analysis_opts ao;
    ms_analysis_opts_default(&ao);
    if (bootstrap >= 0) ao.bootstrap = (int)bootstrap;
    ao.vocabulary = 0; /* figures do not use it */
    ms_plot_analysis *a = NULL;
    rc = ms_plot_analysis_load(&a, argv[optind], &ao, NULL, err, sizeof err);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    int *layers = NULL, n_layers = 0;
    if (layers_s) {
        const int *al;
        int nal = ms_plot_analysis_layers(a, &al);
        if (!strcmp(layers_s, "all")) { /* every analysed layer */
            if ((layers = malloc(sizeof *layers * (size_t)nal)))
                memcpy(layers, al, sizeof *layers * (size_t)nal);
            n_layers = layers ? nal : 0;
        } else if ((rc = ms_parse_layers(cmd, layers_s, al[nal - 1] + 1, &layers, &n_layers))) {
            ms_plot_analysis_free(a);
            return rc;
        }
    }
    ms_plot_opts po = {out, gnuplot, formats, layers, n_layers};
    ms_plot_result res;
    rc = ms_plot_figures(a, &po, &res, err, sizeof err);
    free(layers);
    ms_plot_analysis_free(a);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    int status = MS_EXIT_OK;
    if (!res.gnuplot_ok) {
        ms_error("%s", res.why);
        ms_info("wrote the gnuplot scripts and data of %d figures to %s/ (run them once "
                "gnuplot is installed)",
                res.n_figures, out);
        status = MS_EXIT_RUNTIME;
    } else {
        for (int i = 0; i < res.n_figures; i++)
            ms_debug("%s/%s", out, res.figures[i].name);
        ms_info("wrote %d figures to %s/", res.n_figures, out);
    }
    ms_plot_result_free(&res);
    return status;
}
