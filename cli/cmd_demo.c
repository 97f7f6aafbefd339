/* cmd_demo.c — `moescope demo`: the built-in default. Takes the small trained MoE shipped in
 * models/demo-moe.gguf (tools/train_demo.py; or, with --random, builds a random-weight
 * Mixtral-architecture model with a fixed seed), captures the sample corpora of the Pile
 * domains shipped in corpora/samples/, analyzes the routes and writes the report, with nothing
 * to download. Each step is the same code path as the corresponding command. */
#include "cli.h"
#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const ms_command ms_cmd_capture, ms_cmd_report;

static const char usage[] =
    "usage: moescope demo [--out DIR] [--samples DIR] [--random] [--threads N] [-q|-v]\n"
    "\n"
    "Runs the whole analysis on the built-in default: a small Mixtral-architecture MoE trained\n"
    "for this demo on code, LaTeX, mathematics and prose (models/demo-moe.gguf: 4 layers,\n"
    "8 experts, top-2; docs/SAMPLES.md) over the held-out sample corpora of eight Pile\n"
    "domains, then writes DIR/report/index.html. Nothing is downloaded.\n"
    "\n"
    "  --out DIR       where to write (default: out/demo)\n"
    "  --random        use a random-weight model instead (32 layers, 8 experts, top-2;\n"
    "                  generated with a fixed seed into DIR/model/): the pipeline without\n"
    "                  learned routing, for comparison\n"
    "  --samples DIR   sample corpora with manifest.json (default: the source tree's\n"
    "                  corpora/samples)\n"
    "  --threads N     threads for the forward pass (default: all cores)\n"
    "  -q, -v          quieter, more detail\n";

static int run(int argc, char **argv);
const ms_command ms_cmd_demo = {
    "demo", "run the whole pipeline on the built-in sample (no download)", usage, run, 90};

/* Demo model: the Mixtral layer count (so layers 0, 15 and 31 exist as in the paper's
 * figures) at a width that captures the samples in well under a minute on two cores. */
static ms_fixture_opts demo_model(const char *vocab) {
    ms_fixture_opts o = {0};
    o.seed = 20240108; /* the Mixtral paper's arXiv submission date */
    o.d_model = 128;
    o.n_layer = 32;
    o.n_head = 4;
    o.n_head_kv = 2;
    o.d_ff = 256;
    o.n_expert = 8;
    o.n_expert_used = 2;
    o.n_ctx = 2048;
    o.rope_theta = 1e6f;
    o.norm_eps = 1e-5f;
    o.vocab_gguf = vocab;
    return o;
}

static int mkdirs(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* dst = a + b; non-zero when it does not fit. */
static int join(char *dst, size_t cap, const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na + nb + 1 > cap) return -1;
    memcpy(dst, a, na);
    memcpy(dst + na, b, nb + 1);
    return 0;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int run(int argc, char **argv) {
    static const struct option longs[] = {{"out", required_argument, 0, 'o'},
                                          {"samples", required_argument, 0, 's'},
                                          {"threads", required_argument, 0, 't'},
                                          {"random", no_argument, 0, 'r'},
                                          MS_COMMON_LONG_OPTS};
    const char *out = "out/demo", *samples = MOESCOPE_SOURCE_DIR "/corpora/samples";
    const char *threads = NULL;
    long nt = 0;
    int random_model = 0;
    ms_opt_begin();
    for (int c; (c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "o:s:t:", longs, NULL)) != -1;) {
        int r = ms_opt_common(&ms_cmd_demo, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 's':
            samples = optarg;
            break;
        case 'r':
            random_model = 1;
            break;
        case 't':
            threads = optarg;
            if (ms_parse_long(&ms_cmd_demo, "--threads", optarg, 1, 1024, &nt))
                return MS_EXIT_USAGE;
            break;
        }
    }
    if (optind < argc)
        return ms_usage_error(&ms_cmd_demo, "unexpected argument '%s'", argv[optind]);

    char manifest[4096], vocab[4096], model_dir[4096], model[4096], routes[4096], report[4096];
    if (join(manifest, sizeof manifest, samples, "/manifest.json") ||
        join(vocab, sizeof vocab, MOESCOPE_SOURCE_DIR,
             "/tests/data/vocab/ggml-vocab-llama-spm.gguf") ||
        join(model_dir, sizeof model_dir, out, "/model") ||
        (random_model ? join(model, sizeof model, model_dir, "/demo-mixtral-32x8.gguf")
                      : join(model, sizeof model, MOESCOPE_SOURCE_DIR, "/models/demo-moe.gguf")) ||
        join(routes, sizeof routes, out, "/routes.h5") ||
        join(report, sizeof report, out, "/report")) {
        ms_error("%s: path too long", out);
        return MS_EXIT_USAGE;
    }
    if (!random_model && !exists(model)) {
        ms_error("%s: the demo model is missing (run tools/train_demo.py, or give --random)",
                 model);
        return MS_EXIT_USAGE;
    }
    if (!exists(manifest)) {
        ms_error("%s: sample corpora not found (give --samples DIR)", manifest);
        return MS_EXIT_USAGE;
    }
    /* The store is replaced below: it must not be one of the inputs, under any name (checked
     * before anything is built or written). */
    const char *inputs[] = {manifest, vocab, model};
    int crc = ms_cli_check_output(routes, inputs, 3);
    if (crc) return crc;
    const char *dir = random_model ? model_dir : out; /* the random model is built there */
    if (mkdirs(dir) != 0) {
        int e = errno; /* a path the user cannot create is bad input; a full disk is not */
        ms_error("%s: cannot create directory: %s", dir, strerror(e));
        return e == ENOSPC || e == EIO || e == EDQUOT ? MS_EXIT_RUNTIME : MS_EXIT_USAGE;
    }

    char err[1024];
    if (!exists(model)) {
        ms_info("demo: building the demo model %s", model);
        ms_fixture_opts fo = demo_model(vocab);
        int rc = ms_fixture_write_gguf(&fo, MS_TYPE_Q8_0, model, err, sizeof err);
        if (rc) {
            ms_error("%s", err);
            return rc;
        }
    }

    ms_info("demo: capturing the sample corpora into %s", routes);
    remove(routes);
    char *cap[16];
    int n = 0;
    cap[n++] = "capture";
    cap[n++] = "--model";
    cap[n++] = model;
    cap[n++] = "--corpus";
    cap[n++] = manifest;
    cap[n++] = "--out";
    cap[n++] = routes;
    if (threads) {
        cap[n++] = "--threads";
        cap[n++] = (char *)threads;
    }
    cap[n] = NULL;
    int rc = ms_cmd_capture.run(n, cap);
    if (rc) return rc;

    ms_info("demo: analyzing and writing the report");
    char *rep[] = {"report", routes, "--out", report, NULL};
    rc = ms_cmd_report.run(4, rep);
    if (rc) return rc;

    printf("moescope demo: report written to %s/index.html\n"
           "  open it in a browser (no server needed); the route store is %s\n"
           "  try: %s show %s --doc 0 --layer %d\n",
           report, routes, ms_program, routes,
           random_model ? 15 : 2); /* a middle layer: of 32, or of the trained model's 4 */
    return MS_EXIT_OK;
}
