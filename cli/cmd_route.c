/* cmd_route.c — `moescope route`: a quick look at the router's choices for a text without
 * HDF5. Runs routing-only forward passes (no lm_head, no last-layer experts) with a probe that
 * keeps the top-k experts and weights of the chosen layers, then prints one line per token
 * (or one JSON document). The format is documented in the usage text. */
#include "cli.h"
#include "engine.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

extern const ms_command ms_cmd_route;

static const char usage[] =
    "usage: moescope route --model MODEL [--file F | TEXT] [--layers L] [--json]\n"
    "                      [--threads N] [--window N] [--no-bos] [--special]\n"
    "                      [--original-regex]\n"
    "\n"
    "Prints, per token, its top-k experts (rank order, first choice first) and their weights\n"
    "at the chosen layers.\n"
    "\n"
    "options:\n"
    "  --model MODEL  a .gguf file or a Hugging Face folder (or one of its .safetensors)\n"
    "  --file F       read the text from F (else TEXT, the one positional argument)\n"
    "  --layers L     'all' (default), '0,15,31', '0-3,7', 'first,middle,last'\n"
    "  --json         one JSON object instead of lines\n"
    "  --threads N    worker threads (default: all cores; results do not depend on it)\n"
    "  --window N     tokens per forward pass (default 2048); longer texts are cut into\n"
    "                 independent windows (positions restart at 0 in each)\n"
    "  --no-bos       do not prepend BOS even when the model's tokenizer adds it\n"
    "  --special      the text of control tokens (<|start|>, <s>, ...) becomes those tokens,\n"
    "                 as in a chat transcript in the model's template; default: plain text\n"
    "  --original-regex\n"
    "                 GGUF gpt-4o (GPT-OSS): split with the model's own pattern (tiktoken's,\n"
    "                 its tokenizer.json's), not llama.cpp's rewrite of it\n"
    "  -q, -v, -h     quiet, verbose, this help\n"
    "\n"
    "Line format: two header lines '# tokens<TAB>N' and '# experts<TAB>E<TAB>k<TAB>K', then\n"
    "one line per token, tab-separated:\n"
    "  pos<TAB>id<TAB>piece<TAB>L<l>: e1(w1) e2(w2) ...<TAB>L<l'>: ...\n"
    "pos counts from 0 over the whole text; the piece is the token's text, escaped (\\\\ \\t \\n\n"
    "\\r, \\xHH for other control bytes); weights are the ones the layer applies, 4 decimals.\n"
    "JSON: {\"n_tokens\", \"n_expert\", \"k\", \"layers\": [l...], \"tokens\": [{\"pos\", \"id\",\n"
    "\"piece\", \"experts\": [[e1, e2] per layer], \"weights\": [[w1, w2] per layer]}]}.\n";

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

typedef struct route_keep {
    const int *slot; /* [n_layer] index among the chosen layers, or -1 */
    int n_sel, k;
    int32_t *ids; /* (window, n_sel, k) */
    float *w;     /* (window, n_sel, k) */
} route_keep;

static int keep_routes(void *user, const ms_route_event *ev) {
    route_keep *rk = user;
    int s = rk->slot[ev->layer];
    if (s < 0) return 0;
    for (int64_t t = 0; t < ev->n_tokens; t++) {
        size_t o = ((size_t)t * (size_t)rk->n_sel + (size_t)s) * (size_t)rk->k;
        memcpy(rk->ids + o, ev->ids + t * ev->k, (size_t)rk->k * sizeof(int32_t));
        memcpy(rk->w + o, ev->weights + t * ev->k, (size_t)rk->k * sizeof(float));
    }
    return 0;
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_route;
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},    {"file", required_argument, 0, 'f'},
        {"layers", required_argument, 0, 'L'},   {"json", no_argument, 0, 'j'},
        {"threads", required_argument, 0, 't'},  {"window", required_argument, 0, 'w'},
        {"no-bos", no_argument, 0, 'b'},         {"special", no_argument, 0, 'S'},
        {"original-regex", no_argument, 0, 'O'}, MS_COMMON_LONG_OPTS};
    const char *model_path = NULL, *file = NULL, *layers_arg = "all";
    long threads = 0, window = 2048;
    int json = 0, no_bos = 0;
    unsigned flags = 0;
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
        case 'L':
            layers_arg = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 't':
            if (ms_parse_long(cmd, "--threads", optarg, 1, 256, &threads)) return MS_EXIT_USAGE;
            break;
        case 'w':
            if (ms_parse_long(cmd, "--window", optarg, 1, 1 << 20, &window)) return MS_EXIT_USAGE;
            break;
        case 'b':
            no_bos = 1;
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
    int *sel = NULL, *slot = NULL;
    int n_sel = 0;
    route_keep rk = {0};
    cJSON *root = NULL;
    int64_t n = 0;
    int rc;
    ms_model_opts mo = {model_path};
    if ((rc = ms_model_open(&m, &mo, err, sizeof err)) != 0) {
        ms_error("%s", err);
        goto done;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    if ((rc = ms_parse_model_layers(cmd, layers_arg, hp->n_layer, m, ms_model_layer_routes, &sel,
                                    &n_sel)) != 0)
        goto done;
    const ms_tokenizer *tk = ms_model_tokenizer(m);
    if (!tk) {
        ms_error("%s: the model has no tokenizer", model_path);
        rc = MS_EXIT_USAGE;
        goto done;
    }
    if (ms_tokenize_ex(tk, text, len, flags | (no_bos ? 0 : MS_TOKENIZE_BOS), &ids, &n) != 0) {
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
    int k = hp->n_expert_used;
    slot = malloc((size_t)hp->n_layer * sizeof *slot);
    rk.ids = malloc((size_t)win * (size_t)n_sel * (size_t)k * sizeof(int32_t));
    rk.w = malloc((size_t)win * (size_t)n_sel * (size_t)k * sizeof(float));
    if (!slot || !rk.ids || !rk.w) {
        ms_error("route: out of memory");
        rc = MS_EXIT_RUNTIME;
        goto done;
    }
    for (int l = 0; l < hp->n_layer; l++)
        slot[l] = -1;
    for (int s = 0; s < n_sel; s++)
        slot[sel[s]] = s;
    rk.slot = slot;
    rk.n_sel = n_sel;
    rk.k = k;
    ms_engine_opts eo = {(int)threads, win, 0};
    if ((rc = ms_engine_open(&e, m, &eo, err, sizeof err)) != 0) {
        ms_error("%s", err);
        goto done;
    }

    cJSON *jtok = NULL;
    if (json) {
        root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "n_tokens", (double)n);
        cJSON_AddNumberToObject(root, "n_expert", hp->n_expert);
        cJSON_AddNumberToObject(root, "k", k);
        cJSON_AddItemToObject(root, "layers", cJSON_CreateIntArray(sel, n_sel));
        jtok = cJSON_AddArrayToObject(root, "tokens");
    } else {
        printf("# tokens\t%lld\n# experts\t%d\tk\t%d\n", (long long)n, hp->n_expert, k);
    }
    char piece[256];
    for (int64_t w0 = 0; w0 < n; w0 += win) {
        int64_t wn = n - w0 < win ? n - w0 : win;
        if ((rc = ms_forward(e, ids + w0, wn, keep_routes, &rk, NULL, err, sizeof err)) != 0) {
            ms_error("%s", err);
            goto done;
        }
        for (int64_t i = 0; i < wn; i++) {
            int32_t id = ids[w0 + i];
            ms_token_display(tk, id, piece, sizeof piece);
            const int32_t *ti = rk.ids + (size_t)i * (size_t)n_sel * (size_t)k;
            const float *tw = rk.w + (size_t)i * (size_t)n_sel * (size_t)k;
            if (json) {
                cJSON *o = cJSON_CreateObject(), *je = cJSON_CreateArray();
                cJSON *jw = cJSON_CreateArray();
                cJSON_AddNumberToObject(o, "pos", (double)(w0 + i));
                cJSON_AddNumberToObject(o, "id", id);
                cJSON_AddStringToObject(o, "piece", piece);
                for (int s = 0; s < n_sel; s++) {
                    cJSON *a = cJSON_CreateArray(), *b = cJSON_CreateArray();
                    for (int r = 0; r < k; r++) {
                        cJSON_AddItemToArray(a, cJSON_CreateNumber(ti[s * k + r]));
                        cJSON_AddItemToArray(b, cJSON_CreateNumber(tw[s * k + r]));
                    }
                    cJSON_AddItemToArray(je, a);
                    cJSON_AddItemToArray(jw, b);
                }
                cJSON_AddItemToObject(o, "experts", je);
                cJSON_AddItemToObject(o, "weights", jw);
                cJSON_AddItemToArray(jtok, o);
            } else {
                printf("%lld\t%d\t", (long long)(w0 + i), id);
                put_escaped(stdout, piece);
                for (int s = 0; s < n_sel; s++) {
                    printf("\tL%d:", sel[s]);
                    for (int r = 0; r < k; r++)
                        printf(" %d(%.4f)", ti[s * k + r], tw[s * k + r]);
                }
                putchar('\n');
            }
        }
    }
    if (json) {
        char *s = ms_utf8_fix_take(cJSON_PrintUnformatted(root)); /* pieces from the vocab */
        if (s) puts(s);
        free(s);
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(rk.ids);
    free(rk.w);
    free(slot);
    free(sel);
    free(ids);
    ms_engine_close(e);
    ms_model_close(m);
    free(text);
    return rc;
}

const ms_command ms_cmd_route = {"route", "print each token's experts and weights per layer", usage,
                                 run, 31};
