/* cmd_inspect.c — `moescope inspect MODEL`: opens a GGUF file or Hugging Face folder and prints
 * what moescope sees: architecture, hyper-parameters, total and active parameter counts,
 * weight types, files, the tokenizer and the tensor table (--json for machines). A file that
 * fails validation gives one error line naming the file and exit status 2. */
#include "cli.h"
#include "engine.h"
#include "msutil.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

extern const ms_command ms_cmd_inspect;

/* GPT-OSS's additions to the block line: sinks, biases, clamped SwiGLU, which layers slide. */
static void inspect_oai(const ms_model *m) {
    const ms_hparams *hp = ms_model_hparams(m);
    printf(" attention sinks; o/router/expert biases; SwiGLU clamped at %g (alpha %g);"
           " sliding-window layers:",
           (double)hp->swiglu_limit, (double)hp->swiglu_alpha);
    for (int il = 0; il < hp->n_layer; il++)
        if (!ms_model_layer(m, il)->blk.full_attn) printf(" %d", il);
    printf(";");
}

static const char usage[] =
    "usage: moescope inspect [--json] [--no-tensors] MODEL\n"
    "\n"
    "Describes a model: a .gguf file, a Hugging Face folder (config.json + safetensors), or a\n"
    ".safetensors file inside one. Every tensor the forward pass needs is checked (present,\n"
    "expected shape, supported type); a bad file gives one error line and exit status 2.\n"
    "\n"
    "options:\n"
    "  --json          one JSON object: the model description (as stored in route stores)\n"
    "                  plus a \"tensors\" array\n"
    "  --no-tensors    leave out the tensor table\n"
    "  -q, -v, -h      quiet, verbose, this help\n";

static void human(char *buf, size_t n, double v, const char *unit) {
    const char *suffix[] = {"", "K", "M", "G", "T"};
    int i = 0;
    while (v >= 1000 && i < 4)
        v /= 1000, i++;
    snprintf(buf, n, i ? "%.2f %s%s" : "%.0f %s%s", v, suffix[i], unit);
}

/* Names, paths and tokenizer fields come from the model's files: shown through ms_text_safe so
 * no escape sequence or control character reaches the terminal (buf: one per argument). */
enum { SAFE_CAP = 4 * 1024 };
static const char *safe(const char *s, char *buf) {
    return ms_text_safe(s ? s : "", buf, SAFE_CAP);
}

static void print_tensor_table(const ms_model *m) {
    int n = ms_model_n_tensors(m);
    size_t w = 4;
    char sb[SAFE_CAP];
    for (int i = 0; i < n; i++) {
        size_t l = strlen(safe(ms_model_tensor(m, i)->name, sb));
        if (l > w) w = l;
    }
    printf("\ntensors (%d; shapes in ggml order, innermost first):\n", n);
    printf("  %-*s  %-6s  %-24s  %12s  %s\n", (int)w, "name", "type", "shape", "bytes", "file");
    for (int i = 0; i < n; i++) {
        const ms_tensor_info *t = ms_model_tensor(m, i);
        char shape[64] = "", *p = shape;
        for (int d = 0; d < t->n_dims; d++)
            p += snprintf(p, sizeof shape - (size_t)(p - shape), "%s%" PRId64, d ? " x " : "",
                          t->ne[d]);
        if (!t->n_dims) snprintf(shape, sizeof shape, "scalar");
        printf("  %-*s  %-6s  %-24s  %12zu  %d\n", (int)w, safe(t->name, sb),
               t->type >= 0 ? ms_type_name(t->type) : "other", shape, t->nbytes, t->file);
    }
}

static int print_json(const ms_model *m, int tensors) {
    char *s = ms_model_describe_json(m);
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    free(s);
    if (!o) {
        ms_error("out of memory");
        return MS_EXIT_RUNTIME;
    }
    if (tensors) {
        cJSON *a = cJSON_AddArrayToObject(o, "tensors");
        for (int i = 0; i < ms_model_n_tensors(m); i++) {
            const ms_tensor_info *t = ms_model_tensor(m, i);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", t->name);
            cJSON_AddStringToObject(e, "type", t->type >= 0 ? ms_type_name(t->type) : "other");
            cJSON *ne = cJSON_AddArrayToObject(e, "ne");
            for (int d = 0; d < t->n_dims; d++)
                cJSON_AddItemToArray(ne, cJSON_CreateNumber((double)t->ne[d]));
            cJSON_AddNumberToObject(e, "bytes", (double)t->nbytes);
            cJSON_AddNumberToObject(e, "offset", (double)t->offset);
            cJSON_AddNumberToObject(e, "file", t->file);
            cJSON_AddItemToArray(a, e);
        }
    }
    char *text = ms_utf8_fix_take(cJSON_Print(o)); /* tensor names from the file */
    cJSON_Delete(o);
    if (!text) {
        ms_error("out of memory");
        return MS_EXIT_RUNTIME;
    }
    puts(text);
    free(text);
    return MS_EXIT_OK;
}

static void print_text(const ms_model *m, const char *path, int tensors) {
    const ms_hparams *hp = ms_model_hparams(m);
    char a[32], b[32], sb[SAFE_CAP];
    printf("model        %s\n", safe(path, sb));
    printf("name         %s\n", safe(ms_model_name(m), sb));
    printf("format       %s\n", hp->format == MS_FORMAT_GGUF ? "GGUF" : "Hugging Face safetensors");
    if (hp->format == MS_FORMAT_GGUF)
        printf("architecture %s (GGUF \"%s\" with experts)\n", safe(hp->arch, sb),
               ms_model_file_arch(m));
    else
        printf("architecture %s (%s)\n", safe(hp->arch, sb), ms_model_file_arch(m));
    printf("vocabulary   %d\n", hp->n_vocab);
    printf("d_model      %d\n", hp->d_model);
    printf("layers       %d\n", hp->n_layer);
    printf("heads        %d (kv heads %d, head size %d)\n", hp->n_head, hp->n_head_kv, hp->d_head);
    if (hp->mla)
        printf("latent attn  q low-rank %d, kv low-rank %d, head nope %d + rope %d, value %d, "
               "kq scale %g\n",
               hp->q_lora_rank, hp->kv_lora_rank, hp->d_head_nope, hp->d_head_rope, hp->d_head_v,
               (double)hp->attn_scale);
    printf("ff           %d per expert\n", hp->d_ff);
    if (hp->router == MS_ROUTER_DS_SOFTMAX || hp->router == MS_ROUTER_DS_SIGMOID) {
        printf("experts      %d, %d per token, router %s/top-k/%s", hp->n_expert, hp->n_expert_used,
               hp->router == MS_ROUTER_DS_SIGMOID ? "sigmoid" : "softmax",
               hp->expert_weights_norm ? "renorm" : "no-renorm");
        if (hp->n_group > 1) printf(", %d of %d expert groups", hp->topk_group, hp->n_group);
    } else
        printf("experts      %d, %d per token, router softmax/top-k/%s", hp->n_expert,
               hp->n_expert_used,
               hp->router == MS_ROUTER_SOFTMAX_TOPK_RENORM ? "renorm"
               : hp->router == MS_ROUTER_SOFTMAX_TOPK      ? "no-renorm"
                                                      : "renorm (top-k on logits, softmax over k)");
    if (hp->format == MS_FORMAT_GGUF)
        printf(", %s tensors", ms_model_stacked_experts(m) ? "stacked" : "per-expert");
    for (int il = 0; il < hp->n_layer; il++) /* gpt-oss HF folders as released */
        if (ms_model_layer_routes(m, il)) {
            if (ms_model_layer(m, il)->w_gate[0].type == MS_TYPE_MXFP4_HF)
                printf(", MXFP4 (*_blocks, *_scales) read in place");
            else if (ms_model_copied_bytes(m))
                printf(", %s experts transposed into copies at open (%.1f MB)",
                       ms_type_name(ms_model_layer(m, il)->w_gate[0].type),
                       (double)ms_model_copied_bytes(m) / 1e6);
            break;
        }
    printf("\n");
    {
        /* what the layers add to Mixtral's block (engine.h ms_block), when anything */
        const ms_block *b0 = &ms_model_layer(m, 0)->blk;
        int n_dense = 0;
        for (int il = 0; il < hp->n_layer; il++)
            n_dense += !ms_model_layer_routes(m, il);
        if (b0->qk_norm || b0->qkv_bias || hp->d_ff_shared || n_dense || hp->logit_scale > 0) {
            printf("blocks      ");
            if (b0->qk_norm)
                printf(" QK-norm %s;", b0->qk_norm == MS_QK_NORM_FULL ? "over q/k" : "per head");
            if (b0->qkv_bias) printf(" q/k/v biases;");
            if (hp->d_ff_shared)
                printf(" shared expert (ff %d, %s);", hp->d_ff_shared,
                       ms_model_layer(m, hp->n_layer - 1)->blk.shared_nogate ? "no gate"
                                                                             : "sigmoid gate");
            if (hp->expert_weights_scale != 0.0f && hp->expert_weights_scale != 1.0f)
                printf(" routed weights x %g;", hp->expert_weights_scale);
            if (n_dense) {
                printf(" dense MLP layers (ff %d):", hp->d_ff_dense);
                for (int il = 0; il < hp->n_layer; il++)
                    if (!ms_model_layer_routes(m, il)) printf(" %d", il);
                printf(";");
            }
            if (hp->logit_scale > 0)
                printf(" multipliers embedding %g, attention %g, residual %g, logits 1/%g;",
                       hp->embd_scale, hp->attn_scale, hp->residual_scale, hp->logit_scale);
            if (b0->attn_sinks) inspect_oai(m);
            printf("\n");
        }
    }
    printf("context      %d (sliding window %s", hp->n_ctx_train, hp->sliding_window ? "" : "none");
    if (hp->sliding_window) printf("%d", hp->sliding_window);
    printf(")\n");
    printf("rope         theta %g, %s", (double)hp->rope_theta,
           hp->mla                        ? "adjacent pairs"
           : hp->rope == MS_ROPE_ADJACENT ? "adjacent pairs (GGUF q/k permuted)"
                                          : "half split (Hugging Face)");
    if (hp->n_rot) printf(", %d of %d dims rotated", hp->n_rot, hp->d_head);
    if (hp->rope_yarn)
        printf(", YaRN factor %g over %d", 1.0 / (double)hp->rope_freq_scale, hp->rope_orig_ctx);
    else if (hp->rope_freq_scale > 0.0f && hp->rope_freq_scale != 1.0f)
        printf(", linear scaling factor %g", 1.0 / (double)hp->rope_freq_scale);
    printf("\n");
    printf("norm eps     %g\n", (double)hp->norm_eps);
    printf("embeddings   %s\n",
           hp->tied_embeddings ? "tied (lm_head = token embeddings)" : "separate lm_head");
    int64_t total, active;
    ms_model_param_counts(m, &total, &active);
    human(a, sizeof a, (double)total, "");
    human(b, sizeof b, (double)active, "");
    printf("parameters   %s total (%" PRId64 "), %s active per token (%" PRId64 ")\n", a, total, b,
           active);

    /* weight types, in order of first appearance */
    int n = ms_model_n_tensors(m);
    printf("weights     ");
    for (int i = 0; i < n; i++) {
        int ty = ms_model_tensor(m, i)->type;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = ms_model_tensor(m, j)->type == ty;
        if (seen) continue;
        int cnt = 0;
        double bytes = 0;
        for (int j = i; j < n; j++)
            if (ms_model_tensor(m, j)->type == ty)
                cnt++, bytes += (double)ms_model_tensor(m, j)->nbytes;
        human(a, sizeof a, bytes, "B");
        printf(" %s: %d tensors %s;", ty >= 0 ? ms_type_name(ty) : "other", cnt, a);
    }
    printf("\n");
    for (int i = 0; i < ms_model_n_files(m); i++) {
        uint64_t sz = 0;
        const char *f = ms_model_file(m, i, &sz);
        human(a, sizeof a, (double)sz, "B");
        int np = ms_model_split_parts(m);
        if (i < np && np > 1)
            printf("%s %d: %s (%s, part %d of %d)\n", i ? "             file" : "files        file",
                   i, safe(f, sb), a, i + 1, np);
        else
            printf("%s %d: %s (%s)\n", i ? "             file" : "files        file", i,
                   safe(f, sb), a);
    }
    const ms_tokenizer *tok = ms_model_tokenizer(m);
    if (tok) {
        char *s = ms_tokenizer_describe_json(tok);
        cJSON *o = s ? cJSON_Parse(s) : NULL;
        printf("tokenizer   ");
        for (cJSON *e = o ? o->child : NULL; e; e = e->next) {
            char *v = cJSON_PrintUnformatted(e), sv[SAFE_CAP];
            printf(" %s=%s", safe(e->string ? e->string : "?", sb), safe(v ? v : "?", sv));
            free(v);
        }
        printf("\n");
        cJSON_Delete(o);
        free(s);
    } else {
        printf("tokenizer    none\n");
    }
    if (tensors) print_tensor_table(m);
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_inspect;
    static const struct option longopts[] = {
        {"json", no_argument, 0, 'j'}, {"no-tensors", no_argument, 0, 'n'}, MS_COMMON_LONG_OPTS};
    int json = 0, tensors = 1;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS, longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        if (c == 'j')
            json = 1;
        else if (c == 'n')
            tensors = 0;
        else
            return ms_usage_error(cmd, "unexpected option");
    }
    if (optind != argc - 1) return ms_usage_error(cmd, "expected one MODEL path");
    const char *path = argv[optind];
    ms_model_opts mo = {.path = path};
    ms_model *m = NULL;
    char err[512] = "";
    int rc = ms_model_open(&m, &mo, err, sizeof err);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    if (json)
        rc = print_json(m, tensors);
    else
        print_text(m, path, tensors);
    ms_model_close(m);
    return rc;
}

const ms_command ms_cmd_inspect = {"inspect", "describe a model file (GGUF or Hugging Face folder)",
                                   usage, run, 20};
