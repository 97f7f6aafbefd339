/* cmd_show.c — `moescope show`: one document's text with each token coloured by its
 * first-choice expert at a layer (Mixtral Fig. 8), in the terminal or as an HTML page. */
#include "cli.h"
#include "plots.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(int argc, char **argv);

const ms_command ms_cmd_show = {
    "show", "print a document with tokens coloured by their expert (terminal or HTML)",
    "usage: moescope show <routes.h5> [--doc N] [--layer L] [options]\n"
    "\n"
    "Prints document N of the route store with every token's background coloured by its\n"
    "first-choice expert at layer L (Mixtral Fig. 8), with a legend of expert colours.\n"
    "Token text comes from the tokenizer of the model the store was captured with (the\n"
    "model file recorded in the store, or --model); without it tokens are shown as ids.\n"
    "\n"
    "options:\n"
    "  -d, --doc LIST        documents (rows of /documents; default 0); the terminal view\n"
    "                        shows the first, --html all of them\n"
    "  -l, --layer LIST      model layers (default: first, middle and last stored); the\n"
    "                        terminal view shows the first, --html all of them\n"
    "  -m, --model PATH      tokenizer source: .gguf, tokenizer.json or model folder\n"
    "      --html FILE       write a self-contained HTML page (hover: id, experts,\n"
    "                        weights; - = stdout)\n"
    "      --color WHEN      auto (default: when stdout is a terminal and NO_COLOR is unset),\n"
    "                        always, never (never prints \"text[expert]\")\n"
    "      --max-tokens N    tokens shown per document (default 2000)\n"
    "  -q, --quiet           no messages\n"
    "  -v, --verbose         more messages\n"
    "  -h, --help            this text\n",
    run, 62};

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_show;
    static const struct option lo[] = {
        {"doc", required_argument, 0, 'd'},        {"layer", required_argument, 0, 'l'},
        {"layers", required_argument, 0, 'l'},     {"model", required_argument, 0, 'm'},
        {"html", required_argument, 0, 'H'},       {"color", required_argument, 0, 'C'},
        {"max-tokens", required_argument, 0, 'T'}, MS_COMMON_LONG_OPTS};
    const char *docs_s = NULL, *layers_s = NULL, *model = NULL, *html = NULL, *color_s = "auto";
    long max_tokens = 2000;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "d:l:m:", lo, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'd':
            docs_s = optarg;
            break;
        case 'l':
            layers_s = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 'H':
            html = optarg;
            break;
        case 'C':
            color_s = optarg;
            break;
        case 'T':
            if (ms_parse_long(cmd, "--max-tokens", optarg, 1, 100000000L, &max_tokens))
                return MS_EXIT_USAGE;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (optind + 1 != argc) return ms_usage_error(cmd, "expected one route store");
    int color;
    if (!strcmp(color_s, "always"))
        color = 1;
    else if (!strcmp(color_s, "never"))
        color = 0;
    else if (!strcmp(color_s, "auto")) {
        const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
        color = isatty(1) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
    } else
        return ms_usage_error(cmd, "--color: '%s' is not auto, always or never", color_s);

    const char *path = argv[optind];
    const char *inputs[] = {path, model};
    char err[1024];
    ms_routes *r = NULL;
    int rc = ms_cli_check_output(html, inputs, 2);
    if (rc) return rc;
    rc = ms_routes_open(&r, path, err, sizeof err);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    const ms_routes_info *in = ms_routes_info_get(r);
    int64_t *docs = NULL;
    int n_docs = 0, *layers = NULL, n_layers = 0, status = MS_EXIT_OK;
    ms_tokenizer *tok = NULL;
    char *out = NULL;
    if (docs_s && (status = ms_parse_index_list(cmd, "--doc", docs_s, &docs, &n_docs))) goto done;
    if (layers_s && !strcmp(layers_s, "all")) { /* all stored layers, not 0..n-1 */
        layers = malloc(sizeof *layers * (size_t)in->n_layers);
        if (!layers) {
            status = MS_EXIT_RUNTIME;
            goto done;
        }
        memcpy(layers, in->layers, sizeof *layers * (size_t)in->n_layers);
        n_layers = in->n_layers;
    } else if (layers_s &&
               (status = ms_parse_layers(cmd, layers_s, in->layers[in->n_layers - 1] + 1, &layers,
                                         &n_layers)))
        goto done;
    char note[1024] = "";
    if (ms_plot_tokenizer_open(&tok, r, path, model, note, sizeof note)) {
        if (model) {
            ms_error("%s", note);
            status = MS_EXIT_USAGE;
            goto done;
        }
        ms_info("%s", note);
    }
    ms_token_view_opts vo = {layers, n_layers, docs, n_docs, max_tokens, tok};
    if (html) {
        rc = ms_token_view_html(r, &vo, 0, &out, err, sizeof err);
        if (!rc) {
            if ((status = ms_cli_write_file(html, out, strlen(out)))) goto done;
            if (strcmp(html, "-") != 0) ms_info("wrote %s", html);
        }
    } else {
        rc = ms_token_view_ansi(r, &vo, color, &out, err, sizeof err);
        if (!rc) fputs(out, stdout);
    }
    if (rc) {
        size_t pl = strlen(path); /* the reader's messages name the file already */
        if (strncmp(err, path, pl) == 0 && err[pl] == ':')
            ms_error("%s", err);
        else
            ms_error("%s: %s", path, err);
        status = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
done:
    free(out);
    free(docs);
    free(layers);
    ms_tokenizer_free(tok);
    ms_routes_close(r);
    return status;
}
