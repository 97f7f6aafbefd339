/* cmd_make_model.c — `moescope make-model`: writes a random-weight model of one MoE family
 * (Mixtral by default; deterministic from --seed) as a GGUF file or a Hugging Face folder, for
 * tests, the demo and benchmarks. Both formats written with the same options hold the same
 * weights. */
#include "cli.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>

extern const ms_command ms_cmd_make_model;

static const char usage[] =
    "usage: moescope make-model --out PATH [--format gguf|hf] [--type TYPE] [--seed N]\n"
    "                           [--d-model N] [--layers N] [--heads N] [--kv-heads N] [--ff N]\n"
    "                           [--experts N] [--k N] [--ctx N] [--sliding-window N]\n"
    "                           [--rope-theta X] [--norm-eps X] [--weight-scale X] [--tied]\n"
    "                           [--per-expert-tensors] [--shard-mb X] [--vocab GGUF]\n"
    "                           [--arch A] [--head-dim N] [--shared-ff N] [--dense-lead N]\n"
    "                           [--shared-experts N] [--yarn FACTOR] [--q-lora N] [--kv-lora N]\n"
    "                           [--rope-dim N] [--v-head-dim N] [--kv-b-fused]\n"
    "                           [--sigmoid-router] [--groups N] [--groups-used N] [--expert-norm]\n"
    "\n"
    "Writes a random-weight model of one MoE family. Weights depend only on the seed and the\n"
    "shapes, so a GGUF file and a Hugging Face folder made with the same options describe the\n"
    "same model (up to the storage type).\n"
    "\n"
    "options:\n"
    "  --out PATH          output: a .gguf file, or a folder for --format hf\n"
    "  --format F          gguf or hf (default: gguf when PATH ends in .gguf, else hf)\n"
    "  --type T            gguf: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K\n"
    "                      Q6_K Q4_K_M MXFP4 (default F32); hf: F32 F16 BF16 F8_E4M3, and MXFP4\n"
    "                      for gpt-oss (the release's *_blocks/*_scales experts) (default\n"
    "                      F32). MXFP4: routed experts MXFP4, everything else F32; F8_E4M3:\n"
    "                      linear weights FP8 with 128x128 block scales, the rest BF16\n"
    "  --seed N            random seed (default 1)\n"
    "  --d-model N         hidden size (default 64)\n"
    "  --layers N          layers (default 4)\n"
    "  --heads N           attention heads (default 4)\n"
    "  --kv-heads N        key/value heads (default 2)\n"
    "  --ff N              expert intermediate size (default 128)\n"
    "  --experts N         experts per layer (default 8)\n"
    "  --k N               experts used per token (default 2)\n"
    "  --ctx N             context length recorded in the file (default 4096)\n"
    "  --sliding-window N  attention window recorded in the file (default 0: none)\n"
    "  --rope-theta X      RoPE base (default 1e6)\n"
    "  --yarn FACTOR       YaRN RoPE scaling by FACTOR, the original context being --ctx\n"
    "  --norm-eps X        RMSNorm epsilon (default 1e-5)\n"
    "  --weight-scale X    std of the weight matrices (default 1/sqrt(fan-in))\n"
    "  --tied              no separate output matrix (lm_head = token embeddings)\n"
    "  --per-expert-tensors  gguf: one tensor per expert (blk.N.ffn_gate.M.weight) instead of\n"
    "                      stacked ffn_*_exps tensors\n"
    "  --shard-mb X        hf: split the weights into shards of at most X MiB (a tensor larger\n"
    "                      than X gets a shard of its own) + model.safetensors.index.json\n"
    "  --arch A            family: mixtral (default), olmoe, qwen2moe, qwen3moe, granitemoe,\n"
    "                      deepseek (GGUF only), deepseek2, gpt-oss (sliding window 128\n"
    "                      unless given; --type MXFP4 stores its experts MXFP4)\n"
    "                      (docs/MODELS.md: what each adds)\n"
    "  --head-dim N        head size (default d-model/heads; not for mixtral)\n"
    "  --shared-ff N       qwen2moe: shared expert's intermediate size (default --ff)\n"
    "  --dense-lead N      deepseek: leading dense layers of width k x ff (default 0)\n"
    "  --shared-experts N  deepseek: shared experts, each of width ff (default 2)\n"
    "  --q-lora N          deepseek2: q low-rank path of rank N (default 0: one q matrix)\n"
    "  --kv-lora N         deepseek2: compressed kv size (default 32)\n"
    "  --rope-dim N        deepseek2: rope part of each query/key head (default 16; --head-dim\n"
    "                      is the other part)\n"
    "  --v-head-dim N      deepseek2: value head size (default: --head-dim)\n"
    "  --kv-b-fused        deepseek2: one attn_kv_b tensor (older files) instead of the split\n"
    "                      attn_k_b / attn_v_b\n"
    "  --sigmoid-router    deepseek2: V3 router (sigmoid scores, a selection bias exp_probs_b)\n"
    "                      instead of V2's softmax\n"
    "  --groups N          deepseek2: expert groups for group-limited selection (default none)\n"
    "  --groups-used N     deepseek2: groups a token may use (with --groups)\n"
    "  --expert-norm       deepseek2: renormalise the k weights (expert_weights_norm)\n"
    "  --vocab GGUF        vocabulary source (default tests/data/vocab/ggml-vocab-llama-spm.gguf\n"
    "                      of the source tree, 32000 tokens)\n"
    "  -q, -v, -h          quiet, verbose, this help\n"
    "\n"
    "Rows shorter than a K-quant block (256) are stored Q8_0 (or F16). Norms and the router\n"
    "are always F32 in GGUF files.\n";

static const struct {
    const char *name;
    int type;
} types[] = {{"F32", MS_TYPE_F32},        {"F16", MS_TYPE_F16},          {"BF16", MS_TYPE_BF16},
             {"Q8_0", MS_TYPE_Q8_0},      {"Q4_0", MS_TYPE_Q4_0},        {"Q4_1", MS_TYPE_Q4_1},
             {"Q5_0", MS_TYPE_Q5_0},      {"Q5_1", MS_TYPE_Q5_1},        {"Q2_K", MS_TYPE_Q2_K},
             {"Q3_K", MS_TYPE_Q3_K},      {"Q4_K", MS_TYPE_Q4_K},        {"Q5_K", MS_TYPE_Q5_K},
             {"Q6_K", MS_TYPE_Q6_K},      {"Q4_K_M", MS_FIXTURE_Q4_K_M}, {"MXFP4", MS_TYPE_MXFP4},
             {"F8_E4M3", MS_TYPE_F8_E4M3}};

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_make_model;
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},
                                             {"format", required_argument, 0, 'f'},
                                             {"type", required_argument, 0, 't'},
                                             {"seed", required_argument, 0, 's'},
                                             {"d-model", required_argument, 0, 1},
                                             {"layers", required_argument, 0, 2},
                                             {"heads", required_argument, 0, 3},
                                             {"kv-heads", required_argument, 0, 4},
                                             {"ff", required_argument, 0, 5},
                                             {"experts", required_argument, 0, 6},
                                             {"k", required_argument, 0, 7},
                                             {"ctx", required_argument, 0, 8},
                                             {"sliding-window", required_argument, 0, 9},
                                             {"rope-theta", required_argument, 0, 10},
                                             {"norm-eps", required_argument, 0, 11},
                                             {"weight-scale", required_argument, 0, 12},
                                             {"tied", no_argument, 0, 13},
                                             {"per-expert-tensors", no_argument, 0, 14},
                                             {"shard-mb", required_argument, 0, 15},
                                             {"vocab", required_argument, 0, 16},
                                             {"arch", required_argument, 0, 17},
                                             {"head-dim", required_argument, 0, 18},
                                             {"shared-ff", required_argument, 0, 19},
                                             {"dense-lead", required_argument, 0, 20},
                                             {"shared-experts", required_argument, 0, 21},
                                             {"q-lora", required_argument, 0, 22},
                                             {"kv-lora", required_argument, 0, 23},
                                             {"rope-dim", required_argument, 0, 24},
                                             {"v-head-dim", required_argument, 0, 25},
                                             {"kv-b-fused", no_argument, 0, 26},
                                             {"sigmoid-router", no_argument, 0, 27},
                                             {"groups", required_argument, 0, 28},
                                             {"groups-used", required_argument, 0, 29},
                                             {"expert-norm", no_argument, 0, 30},
                                             {"yarn", required_argument, 0, 40},
                                             MS_COMMON_LONG_OPTS};
    ms_fixture_opts o = {.seed = 1,
                         .d_model = 64,
                         .n_layer = 4,
                         .n_head = 4,
                         .n_head_kv = 2,
                         .d_ff = 128,
                         .n_expert = 8,
                         .n_expert_used = 2,
                         .n_ctx = 4096,
                         .rope_theta = 1e6f,
                         .norm_eps = 1e-5f,
                         .vocab_gguf =
                             MOESCOPE_SOURCE_DIR "/tests/data/vocab/ggml-vocab-llama-spm.gguf"};
    const char *out = NULL, *format = NULL, *type_s = NULL;
    double shard_mb = 0;
    ms_opt_begin();
    int c;
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS, longopts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        long v = 0;
        double x = 0;
        int *field = NULL;
        long lo = 1, hi = 1L << 20;
        switch (c) {
        case 'o':
            out = optarg;
            continue;
        case 'f':
            format = optarg;
            continue;
        case 't':
            type_s = optarg;
            continue;
        case 's': {
            char *end;
            o.seed = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-')
                return ms_usage_error(cmd, "--seed: '%s' is not a whole number", optarg);
            continue;
        }
        case 1:
            field = &o.d_model, hi = 65536;
            break;
        case 2:
            field = &o.n_layer, hi = 1024;
            break;
        case 3:
            field = &o.n_head, hi = 4096;
            break;
        case 4:
            field = &o.n_head_kv, hi = 4096;
            break;
        case 5:
            field = &o.d_ff;
            break;
        case 6:
            field = &o.n_expert, hi = MS_MAX_EXPERTS;
            break;
        case 7:
            field = &o.n_expert_used, hi = MS_MAX_TOPK;
            break;
        case 8:
            field = &o.n_ctx, hi = 1L << 30;
            break;
        case 9:
            field = &o.sliding_window, lo = 0, hi = 1L << 30;
            break;
        case 10:
            if (ms_parse_double(cmd, "--rope-theta", optarg, 1e-3, 1e12, &x)) return MS_EXIT_USAGE;
            o.rope_theta = (float)x;
            continue;
        case 11:
            if (ms_parse_double(cmd, "--norm-eps", optarg, 1e-12, 1, &x)) return MS_EXIT_USAGE;
            o.norm_eps = (float)x;
            continue;
        case 12:
            if (ms_parse_double(cmd, "--weight-scale", optarg, 1e-6, 100, &x)) return MS_EXIT_USAGE;
            o.weight_scale = (float)x;
            continue;
        case 13:
            o.tied_embeddings = 1;
            continue;
        case 14:
            o.expert_layout = 1;
            continue;
        case 15:
            if (ms_parse_double(cmd, "--shard-mb", optarg, 0.001, 1 << 20, &shard_mb))
                return MS_EXIT_USAGE;
            continue;
        case 16:
            o.vocab_gguf = optarg;
            continue;
        case 40:
            if (ms_parse_double(cmd, "--yarn", optarg, 1.0, 1024, &x)) return MS_EXIT_USAGE;
            o.yarn_factor = (float)x;
            continue;
        case 17:
            o.arch = optarg;
            continue;
        case 18:
            field = &o.d_head, hi = 4096;
            break;
        case 19:
            field = &o.d_ff_shared;
            break;
        case 20:
            field = &o.n_dense_lead, lo = 0, hi = 1023;
            break;
        case 21:
            field = &o.n_shared, hi = 64;
            break;
        case 22:
            field = &o.q_lora_rank, lo = 0, hi = 4096;
            break;
        case 23:
            field = &o.kv_lora_rank, hi = 4096;
            break;
        case 24:
            field = &o.d_head_rope, hi = 1024;
            break;
        case 25:
            field = &o.d_head_v, hi = 4096;
            break;
        case 26:
            o.mla_kv_b_fused = 1;
            continue;
        case 27:
            o.router_sigmoid = 1;
            continue;
        case 28:
            field = &o.n_group, hi = MS_MAX_EXPERTS;
            break;
        case 29:
            field = &o.topk_group, hi = MS_MAX_EXPERTS;
            break;
        case 30:
            o.expert_weights_norm = 1;
            continue;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
        if (ms_parse_long(cmd, longopts[c + 3].name, optarg, lo, hi, &v)) return MS_EXIT_USAGE;
        *field = (int)v;
    }
    if (optind < argc) return ms_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out) return ms_usage_error(cmd, "--out is required");
    size_t ol = strlen(out);
    int gguf = format ? !strcmp(format, "gguf") : ol > 5 && !strcmp(out + ol - 5, ".gguf");
    if (format && !gguf && strcmp(format, "hf") != 0)
        return ms_usage_error(cmd, "--format: '%s' is not gguf or hf", format);
    int type = MS_TYPE_F32;
    if (type_s) {
        type = -1;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcmp(types[i].name, type_s)) type = types[i].type;
        if (type < 0) return ms_usage_error(cmd, "--type: unknown type '%s'", type_s);
    }
    if (!gguf && type != MS_TYPE_F32 && type != MS_TYPE_F16 && type != MS_TYPE_BF16 &&
        type != MS_TYPE_F8_E4M3 && !(type == MS_TYPE_MXFP4 && o.arch && !strcmp(o.arch, "gpt-oss")))
        return ms_usage_error(cmd, "--type: hf folders hold F32, F16, BF16 or F8_E4M3, not %s",
                              type_s);
    if (gguf && type == MS_TYPE_F8_E4M3)
        return ms_usage_error(cmd, "--type: F8_E4M3 is for hf folders (FP8 checkpoints)");
    if (gguf && shard_mb) return ms_usage_error(cmd, "--shard-mb applies to --format hf only");
    if (!gguf && o.expert_layout)
        return ms_usage_error(cmd, "--per-expert-tensors applies to --format gguf only");

    /* every file written (the GGUF, or each file of the folder) is refused when it is the
     * --vocab model */
    int rc = ms_cli_check_output(out, &o.vocab_gguf, 1);
    if (rc) return rc;
    char err[512] = "";
    rc = gguf ? ms_fixture_write_gguf(&o, (ms_type)type, out, err, sizeof err)
              : ms_fixture_write_hf(&o, (ms_type)type, out, (uint64_t)(shard_mb * 1048576.0), err,
                                    sizeof err);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    ms_info("wrote %s (%s, %s)", out, gguf ? "gguf" : "hf", type_s ? type_s : "F32");
    return MS_EXIT_OK;
}

const ms_command ms_cmd_make_model = {
    "make-model", "write a random-weight Mixtral-architecture model", usage, run, 60};
