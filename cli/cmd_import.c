/* cmd_import.c — `moescope import`: routing captured by GPU engines (vLLM, SGLang, Hugging
 * Face transformers) or exported NumPy arrays, written as a route store. Parses options and
 * calls ms_import (probes/import.c); docs/IMPORT.md has the layouts and engine scripts. */
#include "cli.h"
#include "msutil.h"
#include "probes.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

extern const ms_command ms_cmd_import;

static const char usage[] =
    "usage: moescope import --out ROUTES.h5 [options] INPUT...\n"
    "\n"
    "Writes a route store from routing recorded elsewhere (docs/IMPORT.md). INPUT is\n"
    "  FILE.npz          NumPy arrays by name (numpy.savez / savez_compressed)\n"
    "  NAME=FILE.npy     one array (FILE.npy alone is named by its stem)\n"
    "  FILE.jsonl        one engine response per line: token_ids, routed_experts (a list\n"
    "                    (tokens, layers, k), or base64 of int32 as SGLang returns it), domain\n"
    "Arrays: tokens (T,), experts (T, L, k) ints; optional weights (T, L, k) and logits\n"
    "(T, L, E) floats (logits alone: experts are their top-k), doc_lengths (D,) or doc (T,),\n"
    "doc_domain (D,), domains and sources (strings), pos (T,), layers (L,), rank_order.\n"
    "Everything is checked before anything is written: a bad input is one error line naming\n"
    "the file and the array (exit 2) and no output. OUT is written under a temporary name\n"
    "and renamed when complete; it may be nothing, an empty file or a route store.\n"
    "\n"
    "options:\n"
    "  -o, --out FILE        the store to write\n"
    "  --model M             GGUF file, HF folder or config.json: E, k, layers, vocabulary and\n"
    "                        the store's model description\n"
    "  --n-expert E, --k K, --n-layers N\n"
    "                        the model's shape when no --model is given\n"
    "  --layers LIST         model layers the arrays hold, e.g. 0,15,31 or 0-31 (default:\n"
    "                        the layers array, else 0..L-1)\n"
    "  --rank-order R        rank | sorted | unknown: whether expert ids are in the router's\n"
    "                        rank order (default: the rank_order array, else unknown; experts\n"
    "                        chosen here from logits are always rank)\n"
    "  --domain NAME         domain of documents that give none (default: default)\n"
    "  --domains A,B,...     JSONL: the domains in this order (others are refused)\n"
    "  --norm-topk yes|no    experts from logits: renormalise the k weights (default: model)\n"
    "  --window N            positions restart every N tokens (the engine's context)\n"
    "  -q, -v, -h            quiet, verbose, this help\n";

static char *join_command(int argc, char **argv) {
    size_t n = 16;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *cl = malloc(n);
    if (!cl) return NULL;
    strcpy(cl, "moescope");
    for (int i = 0; i < argc; i++)
        strcat(strcat(cl, " "), argv[i]);
    return cl;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_import;
    static const struct option longopts[] = {
        {"out", required_argument, 0, 'o'},        {"model", required_argument, 0, 'm'},
        {"n-expert", required_argument, 0, 'E'},   {"k", required_argument, 0, 'K'},
        {"n-layers", required_argument, 0, 'N'},   {"layers", required_argument, 0, 'l'},
        {"rank-order", required_argument, 0, 'r'}, {"domain", required_argument, 0, 'd'},
        {"domains", required_argument, 0, 'D'},    {"norm-topk", required_argument, 0, 'n'},
        {"window", required_argument, 0, 'w'},     MS_COMMON_LONG_OPTS};
    ms_import_opts o = {0};
    o.norm_topk = -1;
    const char *domains_arg = NULL;
    long v = 0;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "o:", longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'o':
            o.out = optarg;
            break;
        case 'm':
            o.model_path = optarg;
            break;
        case 'E':
            if ((r = ms_parse_long(cmd, "--n-expert", optarg, 1, 65536, &v))) return r;
            o.n_expert = (int)v;
            break;
        case 'K':
            if ((r = ms_parse_long(cmd, "--k", optarg, 1, 65536, &v))) return r;
            o.k = (int)v;
            break;
        case 'N':
            if ((r = ms_parse_long(cmd, "--n-layers", optarg, 1, 4096, &v))) return r;
            o.n_layer = (int)v;
            break;
        case 'l':
            o.layers = optarg;
            break;
        case 'r':
            if (strcmp(optarg, "rank") && strcmp(optarg, "sorted") && strcmp(optarg, "unknown"))
                return ms_usage_error(cmd, "--rank-order must be rank, sorted or unknown");
            o.rank_order = optarg;
            break;
        case 'd':
            o.domain = optarg;
            break;
        case 'D':
            domains_arg = optarg;
            break;
        case 'n':
            if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
                return ms_usage_error(cmd, "--norm-topk must be yes or no");
            o.norm_topk = strcmp(optarg, "yes") == 0;
            break;
        case 'w':
            if ((r = ms_parse_long(cmd, "--window", optarg, 1, 1L << 30, &v))) return r;
            o.window = v;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (!o.out) return ms_usage_error(cmd, "--out FILE is required");
    if (strcmp(o.out, "-") == 0)
        return ms_usage_error(cmd, "--out: a route store cannot be written to stdout");
    if (optind >= argc) return ms_usage_error(cmd, "give the arrays or JSONL files to import");
    o.inputs = (const char *const *)argv + optind;
    o.n_inputs = argc - optind;
    /* Every file read: the inputs (NAME=FILE names FILE) and the model. */
    const char **files = calloc((size_t)o.n_inputs + 1, sizeof *files);
    char *doms = domains_arg ? strdup(domains_arg) : NULL;
    const char **dl = NULL;
    char *cl = join_command(argc, argv);
    int rc = MS_EXIT_OK;
    if (!files || !cl || (domains_arg && !doms)) {
        ms_error("import: out of memory");
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    for (int i = 0; i < o.n_inputs; i++) {
        const char *eq = strchr(o.inputs[i], '=');
        files[i] = eq && eq != o.inputs[i] ? eq + 1 : o.inputs[i];
    }
    files[o.n_inputs] = o.model_path;
    if ((rc = ms_cli_check_output(o.out, files, o.n_inputs + 1))) goto done;
    if (doms) {
        int n = 1;
        for (const char *p = doms; *p; p++)
            n += *p == ',';
        if (!(dl = calloc((size_t)n, sizeof *dl))) {
            ms_error("import: out of memory");
            rc = MS_EXIT_RUNTIME;
            goto done;
        }
        char *save = NULL;
        for (char *t = strtok_r(doms, ",", &save); t; t = strtok_r(NULL, ",", &save))
            dl[o.n_domains++] = t;
        if (o.n_domains == 0) {
            rc = ms_usage_error(cmd, "--domains needs at least one name");
            goto done;
        }
        o.domains = dl;
    }
    o.command_line = cl;
    signal(SIGXFSZ, SIG_IGN); /* as capture: a file-size limit is a write error, not a kill */
    char err[1024];
    int r = ms_import(&o, err, sizeof err);
    if (r) {
        ms_error("%s", err);
        rc = r == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    } else {
        ms_info("%s: imported", o.out);
    }
done:
    free(files);
    free(doms);
    free(dl);
    free(cl);
    return rc;
}

const ms_command ms_cmd_import = {
    "import", "write a route store from vLLM/SGLang/HF routing arrays", usage, run, 37};
