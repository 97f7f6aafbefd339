/* hfconfig.c — Hugging Face config.json of the registry's families (MixtralForCausalLM,
 * OlmoeForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, GraniteMoeForCausalLM).
 * Reads the fields the model description needs under each family's key names (arch.c), with
 * transformers' config-class defaults for optional ones, and rejects wrong JSON types, out-of-range
 * sizes, inconsistent head counts and features moescope does not implement (rope_scaling, other
 * activations) with a message naming the file and the field. */
#include "arch.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "invalid";
}

/* Integer field in [lo, hi]. Absent (or null when null_ok) leaves *out unchanged and returns
 * 0 unless required. */
static int get_int(const cJSON *root, const char *key, int required, int null_ok, long lo, long hi,
                   int *out, const char *name, char *err, size_t errlen) {
    const cJSON *v = st_json_get(root, key);
    if (!v || (null_ok && cJSON_IsNull(v))) {
        if (!required) return 0;
        st_errf(err, errlen, "%s: missing field '%s'", name, key);
        return MS_ERR_INPUT;
    }
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble) {
        st_errf(err, errlen, "%s: field '%s' must be an integer (got %s)", name, key,
                cJSON_IsNumber(v) ? "a fraction" : json_kind(v));
        return MS_ERR_INPUT;
    }
    if (!(v->valuedouble >= (double)lo && v->valuedouble <= (double)hi)) {
        st_errf(err, errlen, "%s: field '%s' = %.17g is outside [%ld, %ld]", name, key,
                v->valuedouble, lo, hi);
        return MS_ERR_INPUT;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int get_pos_double(const cJSON *root, const char *key, double *out, const char *name,
                          char *err, size_t errlen) {
    const cJSON *v = st_json_get(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) {
        st_errf(err, errlen, "%s: field '%s' must be a number (got %s)", name, key, json_kind(v));
        return MS_ERR_INPUT;
    }
    if (!(v->valuedouble > 0) || !isfinite(v->valuedouble)) {
        st_errf(err, errlen, "%s: field '%s' must be a positive number", name, key);
        return MS_ERR_INPUT;
    }
    *out = v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *root, const char *key, int *out, const char *name, char *err,
                    size_t errlen) {
    const cJSON *v = st_json_get(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) {
        st_errf(err, errlen, "%s: field '%s' must be a boolean (got %s)", name, key, json_kind(v));
        return MS_ERR_INPUT;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

/* GPT-OSS (transformers' GptOssConfig): sliding_window (default 128), layer_types (default:
 * even layers "sliding_attention", odd ones "full_attention", as llama.cpp's pattern), and
 * swiglu_limit (default 7). */
static int hf_oai_fields(const cJSON *root, hf_config *c, const char *name, char *err,
                         size_t errlen) {
    if (!c->sliding_window) c->sliding_window = 128;
    c->swiglu_limit = 7.0;
    if (get_pos_double(root, c->family->hf_keys[MS_K_SWIGLU_LIMIT], &c->swiglu_limit, name, err,
                       errlen))
        return MS_ERR_INPUT;
    for (int i = 0; i < c->num_hidden_layers; i++)
        c->full_attn[i] = i % 2 == 1;
    const cJSON *lt = st_json_get(root, "layer_types");
    if (!lt || cJSON_IsNull(lt)) return 0;
    int n = cJSON_IsArray(lt) ? cJSON_GetArraySize(lt) : -1;
    if (n != c->num_hidden_layers) {
        st_errf(err, errlen, "%s: field 'layer_types' must be an array of %d strings", name,
                c->num_hidden_layers);
        return MS_ERR_INPUT;
    }
    int i = 0;
    for (const cJSON *e = lt->child; e; e = e->next, i++) {
        const char *v = cJSON_IsString(e) ? e->valuestring : "";
        if (strcmp(v, "sliding_attention") != 0 && strcmp(v, "full_attention") != 0) {
            st_errf(err, errlen,
                    "%s: field 'layer_types' entry %d is not \"sliding_attention\" or "
                    "\"full_attention\"",
                    name, i);
            return MS_ERR_INPUT;
        }
        c->full_attn[i] = v[0] == 'f';
    }
    return 0;
}

/* rope_scaling, or transformers 5's rope_parameters: "default" (none), "linear" or "yarn" with
 * transformers' defaults (beta_fast 32, beta_slow 1, truncate true; attention_factor from
 * get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim), or get_mscale(factor)). */
static double yarn_get_mscale(double factor, double mscale) {
    return factor <= 1.0 ? 1.0 : 0.1 * mscale * log(factor) + 1.0;
}

static int rope_scaling(hf_config *c, const cJSON *root, const cJSON *rp, const char *name,
                        char *err, size_t errlen) {
    const cJSON *rs = st_json_get(root, "rope_scaling");
    const char *field = "rope_scaling";
    if (!rs || cJSON_IsNull(rs)) {
        rs = cJSON_IsObject(rp) ? rp : NULL;
        field = "rope_parameters";
    }
    c->rope_factor = 1.0;
    c->yarn_beta_fast = 32.0;
    c->yarn_beta_slow = 1.0;
    if (!rs) return 0;
    if (!cJSON_IsObject(rs)) {
        st_errf(err, errlen, "%s: field '%s' must be an object or null (got %s)", name, field,
                json_kind(rs));
        return MS_ERR_INPUT;
    }
    const cJSON *rt = st_json_get(rs, "rope_type");
    if (!rt || cJSON_IsNull(rt)) rt = st_json_get(rs, "type");
    const char *type = cJSON_IsString(rt) ? rt->valuestring : rt ? NULL : "default";
    if (!type || (strcmp(type, "default") && strcmp(type, "linear") && strcmp(type, "yarn"))) {
        st_errf(err, errlen, "%s: %s.rope_type must be \"default\", \"linear\" or \"yarn\"", name,
                field);
        return MS_ERR_INPUT;
    }
    if (!strcmp(type, "default")) return 0;
    c->rope_scaled = 1;
    c->rope_yarn = !strcmp(type, "yarn");
    double ms = 0, ms_all = 0, att = 0;
    if (get_pos_double(rs, "factor", &c->rope_factor, name, err, errlen) ||
        get_int(rs, "original_max_position_embeddings", 0, 1, 0, 1 << 30, &c->rope_orig_ctx, name,
                err, errlen) ||
        get_pos_double(rs, "beta_fast", &c->yarn_beta_fast, name, err, errlen) ||
        get_pos_double(rs, "beta_slow", &c->yarn_beta_slow, name, err, errlen) ||
        get_pos_double(rs, "mscale", &ms, name, err, errlen) ||
        get_pos_double(rs, "mscale_all_dim", &ms_all, name, err, errlen) ||
        get_pos_double(rs, "attention_factor", &att, name, err, errlen))
        return MS_ERR_INPUT;
    c->yarn_mscale_all_dim = ms_all;
    int trunc = 1;
    if (get_bool(rs, "truncate", &trunc, name, err, errlen)) return MS_ERR_INPUT;
    c->yarn_no_truncate = !trunc;
    if (att > 0)
        c->yarn_attention = att;
    else if (ms > 0 && ms_all > 0)
        c->yarn_attention =
            yarn_get_mscale(c->rope_factor, ms) / yarn_get_mscale(c->rope_factor, ms_all);
    else
        c->yarn_attention = yarn_get_mscale(c->rope_factor, 1.0);
    return 0;
}

/* DeepSeek-V2/V3 (DeepseekV2Config / DeepseekV3Config): latent attention sizes, shared
 * experts, leading dense layers and the router (scoring_func softmax|sigmoid, topk_method
 * greedy | group_limited_greedy (group score: its best expert) | noaux_tc (its top-2 sum, with
 * e_score_correction_bias), n_group / topk_group, norm_topk_prob, routed_scaling_factor). */
static int hf_mla_fields(const cJSON *root, hf_config *c, const char *name, char *err,
                         size_t errlen) {
    const ms_arch *a = c->family;
    const long big = 1L << 16;
    int v3 = !strcmp(c->arch, a->hf_arch_alt) || !strcmp(c->model_type, a->hf_model_type_alt);
    /* the config classes' defaults (DeepSeek-V2 / V3 sizes) */
    c->q_lora_rank = 1536;
    c->kv_lora_rank = 512;
    c->qk_nope_head_dim = 128;
    c->qk_rope_head_dim = 64;
    c->v_head_dim = 128;
    c->n_shared_experts = v3 ? 1 : 2;
    c->routed_scaling_factor = v3 ? 2.5 : 1.0;
    c->n_group = v3 ? 8 : 1;
    c->topk_group = v3 ? 4 : 1;
    c->norm_topk_prob = v3;
    c->scoring_sigmoid = v3;
    const cJSON *ql = st_json_get(root, "q_lora_rank");
    if (ql && cJSON_IsNull(ql)) c->q_lora_rank = 0;
    if (get_int(root, "q_lora_rank", 0, 1, 1, big, &c->q_lora_rank, name, err, errlen) ||
        get_int(root, "kv_lora_rank", 0, 0, 1, big, &c->kv_lora_rank, name, err, errlen) ||
        get_int(root, "qk_nope_head_dim", 0, 0, 1, big, &c->qk_nope_head_dim, name, err, errlen) ||
        get_int(root, "qk_rope_head_dim", 0, 0, 2, big, &c->qk_rope_head_dim, name, err, errlen) ||
        get_int(root, "v_head_dim", 0, 0, 1, big, &c->v_head_dim, name, err, errlen) ||
        get_int(root, a->hf_keys[MS_K_SHARED_COUNT], 0, 1, 0, 64, &c->n_shared_experts, name, err,
                errlen) ||
        get_int(root, a->hf_keys[MS_K_DENSE_LEAD], 0, 1, 0, c->num_hidden_layers - 1,
                &c->first_k_dense_replace, name, err, errlen) ||
        get_pos_double(root, a->hf_keys[MS_K_WEIGHTS_SCALE], &c->routed_scaling_factor, name, err,
                       errlen) ||
        get_bool(root, a->hf_keys[MS_K_WEIGHTS_NORM], &c->norm_topk_prob, name, err, errlen) ||
        get_int(root, a->hf_keys[MS_K_GROUP_COUNT], 0, 1, 1, MS_MAX_EXPERTS, &c->n_group, name, err,
                errlen) ||
        get_int(root, a->hf_keys[MS_K_GROUP_USED], 0, 1, 1, MS_MAX_EXPERTS, &c->topk_group, name,
                err, errlen))
        return MS_ERR_INPUT;
    if (c->qk_rope_head_dim % 2) {
        st_errf(err, errlen, "%s: qk_rope_head_dim %d is odd (RoPE rotates pairs)", name,
                c->qk_rope_head_dim);
        return MS_ERR_INPUT;
    }
    if (c->n_shared_experts < 1) {
        st_errf(err, errlen, "%s: field '%s' must be at least 1", name,
                a->hf_keys[MS_K_SHARED_COUNT]);
        return MS_ERR_INPUT;
    }
    const cJSON *sf = st_json_get(root, a->hf_keys[MS_K_GATING]);
    if (sf && !cJSON_IsNull(sf)) {
        if (!cJSON_IsString(sf) ||
            (strcmp(sf->valuestring, "softmax") && strcmp(sf->valuestring, "sigmoid"))) {
            st_errf(err, errlen, "%s: field '%s' must be \"softmax\" or \"sigmoid\"", name,
                    a->hf_keys[MS_K_GATING]);
            return MS_ERR_INPUT;
        }
        c->scoring_sigmoid = !strcmp(sf->valuestring, "sigmoid");
    }
    const cJSON *tm = st_json_get(root, "topk_method");
    const char *method = v3 ? "noaux_tc" : "greedy";
    if (tm && !cJSON_IsNull(tm)) {
        if (!cJSON_IsString(tm) ||
            (strcmp(tm->valuestring, "greedy") && strcmp(tm->valuestring, "group_limited_greedy") &&
             strcmp(tm->valuestring, "noaux_tc"))) {
            st_errf(err, errlen,
                    "%s: field 'topk_method' must be \"greedy\", \"group_limited_greedy\" or "
                    "\"noaux_tc\"",
                    name);
            return MS_ERR_INPUT;
        }
        method = tm->valuestring;
    }
    if (!strcmp(method, "greedy")) c->n_group = c->topk_group = 1;
    c->group_max = !strcmp(method, "group_limited_greedy");
    if (c->n_group > 1 &&
        (c->num_local_experts % c->n_group || c->topk_group > c->n_group ||
         c->topk_group * (c->num_local_experts / c->n_group) < c->num_experts_per_tok ||
         (!c->group_max && c->num_local_experts / c->n_group < 2))) {
        st_errf(err, errlen,
                "%s: n_group %d / topk_group %d do not fit %d experts with %d used per token", name,
                c->n_group, c->topk_group, c->num_local_experts, c->num_experts_per_tok);
        return MS_ERR_INPUT;
    }
    c->d_ff_shared = c->n_shared_experts * c->intermediate_size;
    for (int i = 0; i < c->first_k_dense_replace; i++)
        c->dense_layer[i] = 1;
    c->sliding_window = 0;
    return 0;
}

/* What the families add to Mixtral's config: the experts' own width, shared experts, dense
 * layers, norm_topk_prob, attention biases and Granite's multipliers. */
static int hf_family_fields(const cJSON *root, hf_config *c, const char *name, char *err,
                            size_t errlen) {
    const ms_arch *a = c->family;
    const long big = 1L << 24;
    const char *eff = a->hf_keys[MS_K_EXPERT_FF];
    if (strcmp(eff, "intermediate_size") != 0) {
        /* experts have their own width; intermediate_size is then the dense layers' */
        int moe_ff = 0;
        if (get_int(root, eff, 1, 0, 1, big, &moe_ff, name, err, errlen)) return MS_ERR_INPUT;
        c->d_ff_dense = c->intermediate_size;
        c->intermediate_size = moe_ff;
    }
    if (a->mla) return hf_mla_fields(root, c, name, err, errlen);
    if (a->shared_expert &&
        get_int(root, a->hf_keys[MS_K_SHARED_FF], 1, 0, 1, big, &c->d_ff_shared, name, err, errlen))
        return MS_ERR_INPUT;
    /* transformers renormalises the top-k when norm_topk_prob is true (OLMoE, Qwen2/3-MoE) */
    if (a->router != MS_ROUTER_TOPK_SOFTMAX && strcmp(a->name, "mixtral") != 0) {
        int norm = 0;
        if (get_bool(root, "norm_topk_prob", &norm, name, err, errlen)) return MS_ERR_INPUT;
        c->router = norm ? MS_ROUTER_SOFTMAX_TOPK_RENORM : MS_ROUTER_SOFTMAX_TOPK;
    }
    int bias = 0;
    if (get_bool(root, "attention_bias", &bias, name, err, errlen)) return MS_ERR_INPUT;
    if (bias && !a->qkv_bias) {
        st_errf(err, errlen, "%s: field 'attention_bias' = true is not supported for %s", name,
                c->arch[0] ? c->arch : a->hf_arch);
        return MS_ERR_INPUT;
    }
    /* Qwen configs carry a sliding_window that only applies with use_sliding_window */
    int usw = 1;
    if (get_bool(root, "use_sliding_window", &usw, name, err, errlen)) return MS_ERR_INPUT;
    if (!usw) c->sliding_window = 0;
    const cJSON *clip = st_json_get(root, "clip_qkv");
    if (clip && !cJSON_IsNull(clip)) {
        st_errf(err, errlen, "%s: field 'clip_qkv' is not supported (must be null)", name);
        return MS_ERR_INPUT;
    }
    /* dense layers: transformers' Qwen2-MoE/Qwen3-MoE rule — layer i is sparse when it is not
     * in mlp_only_layers and (i + 1) % decoder_sparse_step == 0 */
    if (c->d_ff_dense > 0) {
        int step = 1;
        if (get_int(root, "decoder_sparse_step", 0, 1, 1, 4096, &step, name, err, errlen))
            return MS_ERR_INPUT;
        for (int i = 0; i < c->num_hidden_layers; i++)
            c->dense_layer[i] = (i + 1) % step != 0;
        const cJSON *mo = st_json_get(root, "mlp_only_layers");
        if (mo && !cJSON_IsNull(mo)) {
            if (!cJSON_IsArray(mo)) {
                st_errf(err, errlen, "%s: field 'mlp_only_layers' must be an array (got %s)", name,
                        json_kind(mo));
                return MS_ERR_INPUT;
            }
            for (const cJSON *e = mo->child; e; e = e->next) {
                if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                    e->valuedouble < 0 || e->valuedouble >= c->num_hidden_layers) {
                    st_errf(err, errlen,
                            "%s: field 'mlp_only_layers' holds %s, not a layer index in [0, %d)",
                            name, cJSON_IsNumber(e) ? "a number out of range" : json_kind(e),
                            c->num_hidden_layers);
                    return MS_ERR_INPUT;
                }
                c->dense_layer[(int)e->valuedouble] = 1;
            }
        }
    }
    if (a->oai && hf_oai_fields(root, c, name, err, errlen)) return MS_ERR_INPUT;
    if (a->multipliers) {
        c->logits_scaling = 1.0;
        if (get_pos_double(root, a->hf_keys[MS_K_EMBD_SCALE], &c->embedding_multiplier, name, err,
                           errlen) ||
            get_pos_double(root, a->hf_keys[MS_K_ATTN_SCALE], &c->attention_multiplier, name, err,
                           errlen) ||
            get_pos_double(root, a->hf_keys[MS_K_RESIDUAL_SCALE], &c->residual_multiplier, name,
                           err, errlen) ||
            get_pos_double(root, a->hf_keys[MS_K_LOGIT_SCALE], &c->logits_scaling, name, err,
                           errlen))
            return MS_ERR_INPUT;
    }
    return 0;
}

int hf_config_parse(hf_config *c, const char *text, size_t len, const char *name, char *err,
                    size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        st_errf(err, errlen, "%s: not valid JSON", name);
        return MS_ERR_INPUT;
    }
    int rc = MS_ERR_INPUT;
    if (!cJSON_IsObject(root)) {
        st_errf(err, errlen, "%s: not a JSON object", name);
        goto out;
    }

    const cJSON *arch = st_json_get(root, "architectures");
    if (arch && !cJSON_IsNull(arch)) {
        if (!cJSON_IsArray(arch) || (arch->child && !cJSON_IsString(arch->child))) {
            st_errf(err, errlen, "%s: field 'architectures' must be an array of strings (got %s)",
                    name, json_kind(arch));
            goto out;
        }
        if (arch->child) snprintf(c->arch, sizeof c->arch, "%s", arch->child->valuestring);
    }
    const cJSON *mt = st_json_get(root, "model_type");
    if (mt && !cJSON_IsNull(mt)) {
        if (!cJSON_IsString(mt)) {
            st_errf(err, errlen, "%s: field 'model_type' must be a string (got %s)", name,
                    json_kind(mt));
            goto out;
        }
        snprintf(c->model_type, sizeof c->model_type, "%s", mt->valuestring);
    }
    const ms_arch *a = c->family = ms_arch_by_hf(c->arch, c->model_type);
    if (!a || !a->hf_keys[MS_K_EXPERT_COUNT]) { /* DeepSeek: GGUF only for now */
        st_errf(err, errlen,
                "%s: unsupported architecture '%s' (model_type '%s'); moescope reads "
                "MixtralForCausalLM, OlmoeForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, "
                "GraniteMoeForCausalLM and GptOssForCausalLM checkpoints",
                name, c->arch[0] ? c->arch : "none", c->model_type[0] ? c->model_type : "none");
        goto out;
    }

    const long big = 1L << 24;
    if (get_int(root, "vocab_size", 1, 0, 1, big, &c->vocab_size, name, err, errlen) ||
        get_int(root, "hidden_size", 1, 0, 1, 1 << 20, &c->hidden_size, name, err, errlen) ||
        get_int(root, "intermediate_size", 1, 0, 1, big, &c->intermediate_size, name, err,
                errlen) ||
        get_int(root, "num_hidden_layers", 1, 0, 1, 4096, &c->num_hidden_layers, name, err,
                errlen) ||
        get_int(root, "num_attention_heads", 1, 0, 1, 4096, &c->num_attention_heads, name, err,
                errlen))
        goto out;
    c->num_key_value_heads = c->num_attention_heads;
    /* transformers' config-class defaults (MixtralConfig, OlmoeConfig, ...) */
    static const struct {
        const char *family;
        int experts, k;
        double theta, eps;
    } defaults[] = {{"mixtral", 8, 2, 1e6, 1e-5},     {"olmoe", 64, 8, 1e4, 1e-5},
                    {"qwen2moe", 60, 4, 1e4, 1e-6},   {"qwen3moe", 128, 8, 1e4, 1e-6},
                    {"granitemoe", 8, 2, 1e4, 1e-6},  {"deepseek2", 64, 6, 1e4, 1e-6},
                    {"gpt-oss", 128, 4, 150000, 1e-5}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!strcmp(defaults[i].family, a->name)) {
            c->num_local_experts = defaults[i].experts;
            c->num_experts_per_tok = defaults[i].k;
            c->rope_theta = defaults[i].theta;
            c->rms_norm_eps = defaults[i].eps;
        }
    c->router = a->router;
    if (get_int(root, "num_key_value_heads", 0, 1, 1, 4096, &c->num_key_value_heads, name, err,
                errlen) ||
        get_int(root, "head_dim", 0, 1, 1, 1 << 16, &c->head_dim, name, err, errlen) ||
        get_int(root, a->hf_keys[MS_K_EXPERT_COUNT], 0, 0, 1, MS_MAX_EXPERTS, &c->num_local_experts,
                name, err, errlen) ||
        get_int(root, a->hf_keys[MS_K_EXPERT_USED], 0, 0, 1, MS_MAX_TOPK, &c->num_experts_per_tok,
                name, err, errlen) ||
        get_int(root, "max_position_embeddings", 0, 1, 0, 1 << 30, &c->max_position_embeddings,
                name, err, errlen) ||
        get_int(root, "sliding_window", 0, 1, 0, 1 << 30, &c->sliding_window, name, err, errlen) ||
        get_pos_double(root, "rms_norm_eps", &c->rms_norm_eps, name, err, errlen))
        goto out;
    const cJSON *rp = st_json_get(root, "rope_parameters");
    if (cJSON_IsObject(rp) && get_pos_double(rp, "rope_theta", &c->rope_theta, name, err, errlen))
        goto out;
    if (get_pos_double(root, "rope_theta", &c->rope_theta, name, err, errlen)) goto out;

    const cJSON *tie = st_json_get(root, "tie_word_embeddings");
    if (tie && !cJSON_IsNull(tie)) {
        if (!cJSON_IsBool(tie)) {
            st_errf(err, errlen, "%s: field 'tie_word_embeddings' must be a boolean (got %s)", name,
                    json_kind(tie));
            goto out;
        }
        c->tie_word_embeddings = cJSON_IsTrue(tie);
    }
    const cJSON *act = st_json_get(root, "hidden_act");
    if (act && !cJSON_IsNull(act) &&
        (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0)) {
        st_errf(err, errlen, "%s: field 'hidden_act' must be \"silu\"", name);
        goto out;
    }
    if (rope_scaling(c, root, rp, name, err, errlen)) goto out;

    if (c->num_attention_heads % c->num_key_value_heads != 0) {
        st_errf(err, errlen,
                "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", name,
                c->num_attention_heads, c->num_key_value_heads);
        goto out;
    }
    if (c->head_dim == 0) {
        if (c->hidden_size % c->num_attention_heads != 0) {
            st_errf(err, errlen, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                    name, c->hidden_size, c->num_attention_heads);
            goto out;
        }
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    if (c->head_dim % 2 != 0) {
        st_errf(err, errlen, "%s: head_dim %d is odd (RoPE rotates pairs)", name, c->head_dim);
        goto out;
    }
    if (c->num_experts_per_tok > c->num_local_experts) {
        st_errf(err, errlen, "%s: %s %d exceeds %s %d", name, a->hf_keys[MS_K_EXPERT_USED],
                c->num_experts_per_tok, a->hf_keys[MS_K_EXPERT_COUNT], c->num_local_experts);
        goto out;
    }
    if (c->num_hidden_layers > HF_MAX_LAYERS) {
        st_errf(err, errlen, "%s: num_hidden_layers %d is above %d", name, c->num_hidden_layers,
                HF_MAX_LAYERS);
        goto out;
    }
    if (hf_family_fields(root, c, name, err, errlen)) goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int hf_config_load(hf_config *c, const char *path, char *err, size_t errlen) {
    char *text = NULL;
    size_t len = 0;
    int rc = st_read_small_file(path, 16u << 20, &text, &len, err, errlen);
    if (rc) return rc;
    rc = hf_config_parse(c, text, len, path, err, errlen);
    free(text);
    return rc;
}
