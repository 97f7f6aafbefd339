/* cmd_eval.c — `moescope eval`: a quick check that a checkpoint is loaded right. Runs the
 * forward pass over a text and prints the next-token distribution after it (top N tokens with
 * their pieces and probabilities) and, with --nll, the log-likelihood of every token given
 * the ones before it, with the total and mean NLL and the perplexity.
 *
 * Long texts are cut into consecutive windows of --window tokens; each window is an
 * independent forward pass (positions restart at 0), so the first token of a window is not
 * scored. Output formats are documented in the usage text (stable, tab-separated). */
#include "cli.h"
#include "engine.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

extern const ms_command ms_cmd_eval;

static const char usage[] =
    "usage: moescope eval --model MODEL [--file F | TEXT] [--top N] [--nll] [--json]\n"
    "                     [--threads N] [--window N] [--no-bos] [--special]\n"
    "                     [--original-regex]\n"
    "\n"
    "Runs the model over the text and prints the next-token probabilities after it.\n"
    "\n"
    "options:\n"
    "  --model MODEL  a .gguf file or a Hugging Face folder (or one of its .safetensors)\n"
    "  --file F       read the text from F (else TEXT, the one positional argument)\n"
    "  --top N        next tokens to list (default 10)\n"
    "  --nll          also score every token: log-probability given the tokens before it\n"
    "  --json         one JSON object instead of the text tables\n"
    "  --threads N    worker threads (default: all cores; results do not depend on it)\n"
    "  --window N     tokens per forward pass (default 2048); with --nll longer texts are\n"
    "                 cut into independent windows (the first token of each is not scored),\n"
    "                 else the distribution is computed over the last N tokens\n"
    "  --no-bos       do not prepend BOS even when the model's tokenizer adds it\n"
    "  --special      the text of control tokens (<|start|>, <s>, ...) becomes those tokens,\n"
    "                 as in a chat transcript in the model's template; default: plain text\n"
    "  --original-regex\n"
    "                 GGUF gpt-4o (GPT-OSS): split with the model's own pattern (tiktoken's,\n"
    "                 its tokenizer.json's), not llama.cpp's rewrite of it\n"
    "  -q, -v, -h     quiet, verbose (timings per stage), this help\n"
    "\n"
    "Text output (tab-separated; pieces escaped: \\\\ \\t \\n \\r and \\xHH for other\n"
    "control bytes):\n"
    "  # tokens<TAB>N\n"
    "  rank<TAB>id<TAB>prob<TAB>piece            (N lines: the next-token distribution)\n"
    "  with --nll, then:\n"
    "  pos<TAB>id<TAB>logprob<TAB>piece          (one line per scored token)\n"
    "  # total_nll<TAB>X / # mean_nll<TAB>X / # perplexity<TAB>X / # scored<TAB>N\n"
    "JSON: {\"n_tokens\", \"top\": [{\"rank\",\"id\",\"prob\",\"piece\"}], and with --nll\n"
    "\"nll\": [{\"pos\",\"id\",\"logprob\"}], \"total_nll\", \"mean_nll\", \"perplexity\"}.\n";

/* Writes s escaped for a tab-separated field. */
static void put_escaped(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02X", *p);
        else
            fputc(*p, f);
    }
}

static const double *sort_lp; /* the log-probabilities qsort's comparison reads */
static int by_prob(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (sort_lp[x] != sort_lp[y]) return sort_lp[x] > sort_lp[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* log-probabilities of row (n_vocab) into lp (double). */
static void log_softmax(const float *row, int V, double *lp) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++)
        if (row[i] > mx) mx = row[i];
    for (int i = 0; i < V; i++)
        sum += exp((double)row[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < V; i++)
        lp[i] = (double)row[i] - lse;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_eval;
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'},
                                             {"file", required_argument, 0, 'f'},
                                             {"top", required_argument, 0, 'n'},
                                             {"nll", no_argument, 0, 'l'},
                                             {"json", no_argument, 0, 'j'},
                                             {"threads", required_argument, 0, 't'},
                                             {"window", required_argument, 0, 'w'},
                                             {"no-bos", no_argument, 0, 'b'},
                                             {"special", no_argument, 0, 'S'},
                                             {"original-regex", no_argument, 0, 'O'},
                                             MS_COMMON_LONG_OPTS};
    const char *model_path = NULL, *file = NULL;
    long top = 10, threads = 0, window = 2048;
    int nll = 0, json = 0;
    /* --no-bos clears it, --special and --original-regex add theirs */
    unsigned flags = MS_TOKENIZE_BOS;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS, longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'm':
            model_path = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'n':
            if (ms_parse_long(cmd, "--top", optarg, 1, 1000000, &top)) return MS_EXIT_USAGE;
            break;
        case 'l':
            nll = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 't':
            if (ms_parse_long(cmd, "--threads", optarg, 1, 256, &threads)) return MS_EXIT_USAGE;
            break;
        case 'w':
            if (ms_parse_long(cmd, "--window", optarg, 2, 1 << 20, &window)) return MS_EXIT_USAGE;
            break;
        case 'b':
            flags &= ~(unsigned)MS_TOKENIZE_BOS;
            break;
        case 'S':
            flags |= MS_TOKENIZE_SPECIAL;
            break;
        case 'O':
            flags |= MS_TOKENIZE_ORIGINAL_REGEX;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (!model_path) return ms_usage_error(cmd, "--model MODEL is required");
    char *text = NULL;
    size_t len = 0;
    int rin = ms_input_text(cmd, file, argc, argv, &text, &len);
    if (rin) return rin;

    char err[512];
    ms_model *m = NULL;
    ms_engine *e = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    double *lp = NULL;
    int64_t n = 0;
    int rc;
    ms_model_opts mo = {model_path};
    if ((rc = ms_model_open(&m, &mo, err, sizeof err)) != 0) {
        ms_error("%s", err);
        goto done;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    const ms_tokenizer *tk = ms_model_tokenizer(m);
    if (!tk) {
        ms_error("%s: the model has no tokenizer", model_path);
        rc = MS_EXIT_USAGE;
        goto done;
    }
    if (ms_tokenize_ex(tk, text, len, flags, &ids, &n) != 0) {
        ms_error("%s: tokenization failed", file ? file : "TEXT");
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    if (n < 1) {
        ms_error("%s: the text has no tokens", file ? file : "TEXT");
        rc = MS_EXIT_USAGE;
        goto done;
    }
    int64_t win = n < window ? n : window;
    int V = hp->n_vocab;
    ms_engine_opts eo = {(int)threads, win, nll ? MS_LOGITS_ALL : MS_LOGITS_LAST};
    if ((rc = ms_engine_open(&e, m, &eo, err, sizeof err)) != 0) {
        ms_error("%s", err);
        goto done;
    }
    logits = malloc((size_t)(nll ? win : 1) * (size_t)V * sizeof(float));
    lp = malloc((size_t)V * sizeof(double));
    if (!logits || !lp) {
        ms_error("eval: out of memory for %lld x %d logits", (long long)win, V);
        rc = MS_EXIT_RUNTIME;
        goto done;
    }

    cJSON *root = json ? cJSON_CreateObject() : NULL, *jnll = NULL;
    if (json) {
        cJSON_AddNumberToObject(root, "n_tokens", (double)n);
        cJSON *jids = cJSON_AddArrayToObject(root, "ids");
        for (int64_t i = 0; i < n; i++)
            cJSON_AddItemToArray(jids, cJSON_CreateNumber(ids[i]));
        if (nll) jnll = cJSON_AddArrayToObject(root, "nll");
    } else {
        printf("# tokens\t%lld\n", (long long)n);
    }
    double total = 0;
    int64_t scored = 0;
    char piece[256];
    /* scored lines are buffered per window and printed after the top-N table */
    FILE *nll_out = (nll && !json) ? tmpfile() : NULL;
    if (nll && !json && !nll_out) {
        ms_error("eval: cannot create a temporary file");
        rc = MS_EXIT_RUNTIME;
        cJSON_Delete(root);
        goto done;
    }
    /* without --nll only the last window matters: the last `win` tokens */
    for (int64_t w0 = nll ? 0 : n - win; w0 < n; w0 += win) {
        int64_t wn = n - w0 < win ? n - w0 : win;
        if ((rc = ms_forward(e, ids + w0, wn, NULL, NULL, logits, err, sizeof err)) != 0) {
            ms_error("%s", err);
            cJSON_Delete(root);
            if (nll_out) fclose(nll_out);
            goto done;
        }
        if (!nll) continue;
        for (int64_t i = 1; i < wn; i++) {
            log_softmax(logits + (size_t)(i - 1) * (size_t)V, V, lp);
            int32_t id = ids[w0 + i];
            total -= lp[id];
            scored++;
            if (json) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "pos", (double)(w0 + i));
                cJSON_AddNumberToObject(o, "id", id);
                cJSON_AddNumberToObject(o, "logprob", lp[id]);
                cJSON_AddItemToArray(jnll, o);
            } else {
                ms_token_display(tk, id, piece, sizeof piece);
                fprintf(nll_out, "%lld\t%d\t%.6f\t", (long long)(w0 + i), id, lp[id]);
                put_escaped(nll_out, piece);
                fputc('\n', nll_out);
            }
        }
    }

    /* the next-token distribution after the text: the last row */
    const float *last = logits + (nll ? (size_t)((n - 1) % win) * (size_t)V : 0);
    log_softmax(last, V, lp);
    cJSON *jtop = json ? cJSON_AddArrayToObject(root, "top") : NULL;
    int ntop = top < V ? (int)top : V;
    int32_t *order = malloc((size_t)V * sizeof *order); /* [V] ids, best first */
    if (!order) {
        rc = MS_EXIT_RUNTIME;
        cJSON_Delete(root);
        if (nll_out) fclose(nll_out);
        goto done;
    }
    for (int i = 0; i < V; i++)
        order[i] = i;
    sort_lp = lp;
    qsort(order, (size_t)V, sizeof *order, by_prob); /* ties: lower id first */
    for (int r = 0; r < ntop; r++) {
        int best = order[r];
        ms_token_display(tk, best, piece, sizeof piece);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "rank", r + 1);
            cJSON_AddNumberToObject(o, "id", best);
            cJSON_AddNumberToObject(o, "prob", exp(lp[best]));
            cJSON_AddStringToObject(o, "piece", piece);
            cJSON_AddItemToArray(jtop, o);
        } else {
            printf("%d\t%d\t%.6f\t", r + 1, best, exp(lp[best]));
            put_escaped(stdout, piece);
            putchar('\n');
        }
    }
    free(order);
    double mean = scored ? total / (double)scored : 0.0;
    if (json) {
        if (nll) {
            cJSON_AddNumberToObject(root, "total_nll", total);
            cJSON_AddNumberToObject(root, "mean_nll", mean);
            cJSON_AddNumberToObject(root, "perplexity", exp(mean));
            cJSON_AddNumberToObject(root, "scored", (double)scored);
        }
        char *s = ms_utf8_fix_take(cJSON_Print(root)); /* pieces from the vocabulary */
        if (s) puts(s);
        free(s);
        cJSON_Delete(root);
    } else if (nll) {
        rewind(nll_out);
        char buf[4096];
        size_t r;
        while ((r = fread(buf, 1, sizeof buf, nll_out)) > 0)
            fwrite(buf, 1, r, stdout);
        fclose(nll_out);
        printf("# total_nll\t%.6f\n# mean_nll\t%.6f\n# perplexity\t%.6f\n# scored\t%lld\n", total,
               mean, exp(mean), (long long)scored);
    }
    if (ms_verbosity >= 2) {
        ms_profile p;
        ms_engine_profile(e, &p);
        ms_debug("profile: %lld tokens; attention %.3fs router %.3fs experts %.3fs lm_head %.3fs "
                 "other %.3fs (dequant %.3f cpu-s)",
                 (long long)p.tokens, p.attention, p.router, p.experts, p.lm_head, p.other,
                 p.dequant);
    }
    rc = 0;
done:
    free(lp);
    free(logits);
    free(ids);
    ms_engine_close(e);
    ms_model_close(m);
    free(text);
    return rc;
}

const ms_command ms_cmd_eval = {"eval", "next-token probabilities and log-likelihood of a text",
                                usage, run, 30};
