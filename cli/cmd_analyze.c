/* cmd_analyze.c — `moescope analyze`: the routing statistics of a route store (Mixtral §5,
 * OLMoE §5; definitions in docs/ANALYSIS.md) as JSON, tidy CSV and a summary on stdout with a
 * Table-5-style repetition table. */
#include "analysis.h"
#include "cli.h"
#include "dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const ms_command ms_cmd_analyze = {
    "analyze", "routing statistics of a route store (shares, repetition, divergence)",
    "usage: moescope analyze routes.h5 [--layers LIST] [--json out.json] [--csv DIR]\n"
    "\n"
    "Streams over the store and computes, per layer x domain x expert: the share of all\n"
    "top-k assignments (Mixtral Fig. 7), first- and second-choice shares (Fig. 9), the share\n"
    "of tokens whose top-k holds the expert (OLMoE Eq. 7), repetition of consecutive\n"
    "assignments (Table 5, Fig. 10) with random baselines, entropy, load balance, domain\n"
    "divergence (Jensen-Shannon, chi-square), co-activation (OLMoE Eq. 6) and vocabulary\n"
    "specialization (Eq. 8), with 95% bootstrap intervals over documents.\n"
    "Shares in JSON/CSV are fractions 0..1; the summary prints percent.\n"
    "\n"
    "options:\n"
    "  -l, --layers LIST   stored layers to analyse: all (default), 0,15,31, 0-3, first,last\n"
    "  -j, --json FILE     write the result as JSON (schema moescope-analysis v1; - = stdout)\n"
    "  -c, --csv DIR       write tidy CSV tables into DIR (created if missing)\n"
    "      --bootstrap B   bootstrap replicates for the intervals (default 200, 0 = none)\n"
    "      --seed S        bootstrap seed (default 1)\n"
    "      --top N         vocabulary: tokens listed per expert (default 10)\n"
    "      --no-vocab      skip vocabulary specialization\n"
    "      --chunk ROWS    token rows read at a time (default 65536)\n"
    "  -q, --quiet         no summary, no messages\n"
    "  -v, --verbose       more messages\n"
    "  -h, --help          this text\n"
    "\n"
    "docs/ANALYSIS.md defines every measure and the JSON schema.\n",
    run, 40};

typedef struct progress_ctx {
    ms_progress p;
    int64_t n_documents;
} progress_ctx;

static void on_progress(void *user, int64_t done, int64_t total) {
    progress_ctx *pc = user;
    ms_progress_update(&pc->p, done == total ? pc->n_documents : 0, done);
}

static void pct(double v) {
    if (isfinite(v))
        printf(" %6.1f", 100 * v);
    else
        printf("      -");
}

/* At most 6 layers in the Table-5 view: all when few, else first, middle and last. */
static int table_layers(const ms_analysis *a, int *sel) {
    if (a->n_layers <= 4) {
        for (int l = 0; l < a->n_layers; l++)
            sel[l] = l;
        return a->n_layers;
    }
    sel[0] = 0, sel[1] = a->n_layers / 2, sel[2] = a->n_layers - 1;
    return 3;
}

static void summary(const ms_analysis *a) {
    const int E = a->n_expert, D = a->n_domains;
    printf("route store ");
    ms_print_text(stdout, a->path, 0);
    printf(": %lld tokens, %lld documents, %d domains, E=%d experts, top-%d, "
           "%d of %d stored layers analysed\n",
           (long long)a->n_tokens, (long long)a->n_documents, D, E, a->k, a->n_layers,
           a->n_stored_layers);
    if (a->bootstrap > 0)
        printf("95%% intervals: Poisson bootstrap over documents, %d replicates, seed %llu\n",
               a->bootstrap, (unsigned long long)a->seed);
    for (int l = 0; l < a->n_layers; l++) {
        const ms_layer_stats *ls = &a->layers[l];
        printf("\nlayer %d — share of top-%d assignments, %% (Mixtral Fig. 7; uniform %.1f)\n",
               ls->layer, a->k, 100.0 / E);
        if (E <= 16) {
            printf("  %-20s", "domain");
            for (int e = 0; e < E; e++)
                printf("  e%-4d", e);
            printf("  entropy  max/mean\n");
            for (int d = 0; d <= D; d++) {
                const ms_domain_stats *s = d < D ? &ls->domains[d] : &ls->all;
                printf("  ");
                ms_print_text(stdout, d < D ? a->domains[d] : "(all)", 20);
                for (int e = 0; e < E; e++)
                    pct(s->share[e]);
                printf("  %6.3f  %7.3f\n", s->entropy_normalized, s->load_max_over_mean);
            }
        } else {
            for (int d = 0; d <= D; d++) {
                const ms_domain_stats *s = d < D ? &ls->domains[d] : &ls->all;
                int best = 0;
                for (int e = 1; e < E; e++)
                    if (s->share[e] > s->share[best]) best = e;
                printf("  ");
                ms_print_text(stdout, d < D ? a->domains[d] : "(all)", 20);
                printf(" top expert e%d %.1f%%  entropy %.3f  max/mean %.3f  cv %.3f\n", best,
                       100 * s->share[best], s->entropy_normalized, s->load_max_over_mean,
                       s->load_cv);
            }
        }
        double jmax = 0;
        for (int i = 0; i < D * D; i++)
            if (isfinite(ls->js_bits[i]) && ls->js_bits[i] > jmax) jmax = ls->js_bits[i];
        if (D > 1)
            printf("  domains: max Jensen-Shannon %.4f bits; chi-square (first choice) %.1f, "
                   "dof %d, p = %.3g\n",
                   jmax, ls->chi2, ls->chi2_dof, ls->chi2_p);
    }
    int sel[6], ns = table_layers(a, sel);
    printf("\nRepetition of consecutive assignments, %% (Mixtral Table 5)\n  %-20s", "domain");
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < ns; i++) {
            char h[32];
            snprintf(h, sizeof h, "%s L%d", m ? "1/2" : "1st", a->layers[sel[i]].layer);
            printf(" %9s", h);
        }
    printf("\n");
    for (int d = 0; d <= D; d++) {
        printf("  ");
        ms_print_text(stdout, d < D ? a->domains[d] : "(all)", 20);
        for (int m = 0; m < 2; m++)
            for (int i = 0; i < ns; i++) {
                const ms_layer_stats *ls = &a->layers[sel[i]];
                const ms_domain_stats *s = d < D ? &ls->domains[d] : &ls->all;
                printf("   ");
                if (s->n_pairs)
                    pct(m ? s->topk_intersect_rate : s->first_equal_rate);
                else
                    printf("      -");
            }
        printf("\n");
    }
    printf("  %-20s", "random baseline");
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < ns; i++) {
            printf("   ");
            pct(m ? a->baseline_repeat_topk : a->baseline_repeat_first);
        }
    printf("\n  (1st: first choice equal; 1/2: top-%d sets intersect; baselines 1/E and "
           "1-C(E-k,k)/C(E,k))\n",
           a->k);
    if (!a->rank_order)
        printf("  1st: unavailable (expert ids not in rank order; see docs/IMPORT.md)\n");
}

/* Under mpirun every rank reads its slice of the store; the counts are summed here. */
static int dist_reduce(void *user, void *buf, int64_t n, int kind) {
    (void)user;
    return ms_dist_allreduce(buf, n, kind);
}

static char *join_args(int argc, char **argv) {
    size_t n = strlen("moescope") + 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, "moescope");
    for (int i = 0; i < argc; i++)
        strcat(strcat(s, " "), argv[i]);
    return s;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_analyze;
    enum { O_BOOT = 256, O_SEED, O_TOP, O_NOVOCAB, O_CHUNK };
    static const struct option lo[] = {{"layers", required_argument, 0, 'l'},
                                       {"json", required_argument, 0, 'j'},
                                       {"csv", required_argument, 0, 'c'},
                                       {"bootstrap", required_argument, 0, O_BOOT},
                                       {"seed", required_argument, 0, O_SEED},
                                       {"top", required_argument, 0, O_TOP},
                                       {"no-vocab", no_argument, 0, O_NOVOCAB},
                                       {"chunk", required_argument, 0, O_CHUNK},
                                       MS_COMMON_LONG_OPTS};
    const char *layers_s = NULL, *json = NULL, *csv = NULL;
    ms_analysis_opts o;
    ms_analysis_opts_default(&o);
    char *cmdline = join_args(argc, argv);
    long v;
    ms_opt_begin();
    int c, rc;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "l:j:c:", lo, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return free(cmdline), r;
        if (r == -1) continue;
        switch (c) {
        case 'l':
            layers_s = optarg;
            break;
        case 'j':
            json = optarg;
            break;
        case 'c':
            csv = optarg;
            break;
        case O_BOOT:
            if (ms_parse_long(cmd, "--bootstrap", optarg, 0, 100000, &v))
                return free(cmdline), MS_EXIT_USAGE;
            o.bootstrap = (int)v;
            break;
        case O_SEED:
            if (ms_parse_long(cmd, "--seed", optarg, 0, 0x7fffffffL, &v))
                return free(cmdline), MS_EXIT_USAGE;
            o.seed = (uint64_t)v;
            break;
        case O_TOP:
            if (ms_parse_long(cmd, "--top", optarg, 1, 100000, &v))
                return free(cmdline), MS_EXIT_USAGE;
            o.top_n = (int)v;
            break;
        case O_NOVOCAB:
            o.vocabulary = 0;
            break;
        case O_CHUNK:
            if (ms_parse_long(cmd, "--chunk", optarg, 1, 1L << 26, &v))
                return free(cmdline), MS_EXIT_USAGE;
            o.chunk_rows = v;
            break;
        default:
            return free(cmdline), ms_usage_error(cmd, "unexpected option");
        }
    }
    if (optind + 1 != argc) {
        free(cmdline);
        return ms_usage_error(cmd, "expected one route store");
    }
    const char *path = argv[optind];
    char err[1024];
    /* before the analysis runs; the CSV tables are checked against the store as they are
     * written (ms_analysis_write_csv) */
    if ((rc = ms_cli_check_output(json, &path, 1))) return free(cmdline), rc;
    if (ms_dist_begin() > 1) {
        o.part = ms_dist_rank(), o.n_parts = ms_dist_size();
        o.reduce = dist_reduce;
    }
    /* no fork() in an MPI rank (ms_routes_guard) */
    if (ms_dist_mpi()) ms_routes_guard(0);
    ms_routes *r = NULL;
    rc = ms_routes_open(&r, path, err, sizeof err);
    if (ms_dist_max_int(rc) && !rc) { /* all ranks stop together */
        ms_routes_close(r);
        free(cmdline);
        return MS_EXIT_RUNTIME;
    }
    if (rc) {
        free(cmdline);
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    const ms_routes_info *info = ms_routes_info_get(r);
    int *layers = NULL, n_layers = 0;
    if (layers_s && strcmp(layers_s, "all") != 0) {
        /* names like first/middle/last refer to the stored layers' range */
        int top = 0;
        for (int i = 0; i < info->n_layers; i++)
            if (info->layers[i] + 1 > top) top = info->layers[i] + 1;
        if ((rc = ms_parse_layers(cmd, layers_s, top, &layers, &n_layers))) {
            ms_routes_close(r);
            free(cmdline);
            return rc;
        }
        o.layers = layers, o.n_layers = n_layers;
    }
    o.command_line = cmdline;
    progress_ctx pc;
    pc.n_documents = info->n_documents;
    ms_progress_begin(&pc.p, "analyze", info->n_documents, info->n_tokens);
    o.progress = on_progress, o.progress_user = &pc;
    ms_analysis *a = NULL;
    rc = ms_analysis_run_routes(&a, r, path, &o, err, sizeof err);
    ms_progress_end(&pc.p);
    ms_routes_close(r);
    free(layers);
    free(cmdline);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    int status = MS_EXIT_OK;
    if (ms_dist_rank() != 0) { /* rank 0 writes the result */
        ms_analysis_free(a);
        return status;
    }
    if (json && (rc = ms_analysis_write_json(a, json, err, sizeof err))) {
        ms_error("%s", err);
        status = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    if (!status && csv && (rc = ms_analysis_write_csv(a, csv, err, sizeof err))) {
        ms_error("%s", err);
        status = rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    if (!status && ms_verbosity >= 1 && !(json && !strcmp(json, "-"))) summary(a);
    if (!status && json && strcmp(json, "-")) ms_info("wrote %s", json);
    if (!status && csv) ms_info("wrote CSV tables to %s/", csv);
    ms_analysis_free(a);
    return status;
}
