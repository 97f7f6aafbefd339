/* cmd_diff.c — `moescope diff a.h5 b.h5`: per layer, how often two route stores of the same
 * tokens agree on the first choice and on the top-k set (docs/ANALYSIS.md). */
#include "analysis.h"
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const ms_command ms_cmd_diff = {
    "diff", "agreement of two route stores of the same tokens, per layer",
    "usage: moescope diff a.h5 b.h5 [--layers LIST] [--json out.json]\n"
    "\n"
    "Compares the routing of two stores captured on the same tokens (e.g. a quantized and a\n"
    "full-precision model): per layer, the fraction of tokens whose first choice agrees,\n"
    "whose top-k sets are equal, and the mean top-k overlap |A n B|/k. Fails (exit 2) when\n"
    "the stores' token ids, documents or positions differ.\n"
    "\n"
    "options:\n"
    "  -l, --layers LIST   layers to compare (default: every layer stored in both)\n"
    "  -j, --json FILE     write the result as JSON (schema moescope-diff v1; - = stdout)\n"
    "  -q, --quiet         no table\n"
    "  -v, --verbose       more messages\n"
    "  -h, --help          this text\n",
    run, 45};

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_diff;
    static const struct option lo[] = {{"layers", required_argument, 0, 'l'},
                                       {"json", required_argument, 0, 'j'},
                                       MS_COMMON_LONG_OPTS};
    const char *layers_s = NULL, *json = NULL;
    ms_opt_begin();
    int c, rc;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "l:j:", lo, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'l':
            layers_s = optarg;
            break;
        case 'j':
            json = optarg;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (optind + 2 != argc) return ms_usage_error(cmd, "expected two route stores");
    const char *pa = argv[optind], *pb = argv[optind + 1];
    const char *inputs[] = {pa, pb};
    char err[1024];
    if ((rc = ms_cli_check_output(json, inputs, 2))) return rc;
    int *layers = NULL, n_layers = 0;
    if (layers_s && strcmp(layers_s, "all") != 0) {
        ms_routes *r = NULL;
        if ((rc = ms_routes_open(&r, pa, err, sizeof err))) {
            ms_error("%s", err);
            return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
        }
        const ms_routes_info *info = ms_routes_info_get(r);
        int top = 0;
        for (int i = 0; i < info->n_layers; i++)
            if (info->layers[i] + 1 > top) top = info->layers[i] + 1;
        ms_routes_close(r);
        if ((rc = ms_parse_layers(cmd, layers_s, top, &layers, &n_layers))) return rc;
    }
    ms_diff *d = NULL;
    rc = ms_routes_diff(&d, pa, pb, layers, layers ? n_layers : 0, 0, err, sizeof err);
    free(layers);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    int status = MS_EXIT_OK;
    if (json) {
        char *s = ms_diff_json_string(d, pa, pb), *t;
        size_t n = s ? strlen(s) : 0;
        if (s && (t = realloc(s, n + 2)))
            s = t, s[n++] = '\n', s[n] = '\0';
        else
            free(s), s = NULL;
        if (!s) {
            ms_error("%s: out of memory formatting JSON", json);
            status = MS_EXIT_RUNTIME;
        } else {
            status = ms_cli_write_file(json, s, n);
        }
        free(s);
    }
    if (ms_verbosity >= 1 && !(json && !strcmp(json, "-"))) {
        ms_print_text(stdout, pa, 0);
        printf(" vs ");
        ms_print_text(stdout, pb, 0);
        printf(": %lld tokens, E=%d, top-%d\n", (long long)d->n_tokens, d->n_expert, d->k);
        printf("  layer  first choice agrees  top-k set agrees  mean top-k overlap\n");
        for (int l = 0; l < d->n_layers; l++) {
            if (d->rank_order)
                printf("  %5d  %18.2f%%", d->layers[l].layer, 100 * d->layers[l].first_agree_rate);
            else
                printf("  %5d  %19s", d->layers[l].layer, "unavailable");
            printf("  %15.2f%%  %17.2f%%\n", 100 * d->layers[l].topk_set_agree_rate,
                   100 * d->layers[l].topk_overlap_mean);
        }
        if (!d->rank_order)
            printf("  (first choice: unavailable, expert ids not in rank order; docs/IMPORT.md)\n");
    }
    ms_diff_free(d);
    return status;
}
