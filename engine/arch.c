/* arch.c — the architecture registry (arch.h): per MoE family its names in GGUF and Hugging
 * Face files, its hyper-parameter keys and the per-layer block it builds. The only place a
 * tensor name or a metadata key of a family is spelled. Choices llama.cpp fixes in code rather
 * than in the file (renormalisation of the top-k weights, RoPE pairing) are recorded here and
 * documented in docs/MODELS.md. */
#include "arch.h"

#include <stdio.h>
#include <string.h>

static const char *const gguf_names[MS_R_COUNT] = {
    [MS_R_TOK_EMBD] = "token_embd.weight",
    [MS_R_OUT_NORM] = "output_norm.weight",
    [MS_R_OUTPUT] = "output.weight",
    [MS_R_ATTN_NORM] = "blk.%d.attn_norm.weight",
    [MS_R_Q] = "blk.%d.attn_q.weight",
    [MS_R_K] = "blk.%d.attn_k.weight",
    [MS_R_V] = "blk.%d.attn_v.weight",
    [MS_R_O] = "blk.%d.attn_output.weight",
    [MS_R_Q_BIAS] = "blk.%d.attn_q.bias",
    [MS_R_K_BIAS] = "blk.%d.attn_k.bias",
    [MS_R_V_BIAS] = "blk.%d.attn_v.bias",
    [MS_R_Q_NORM] = "blk.%d.attn_q_norm.weight",
    [MS_R_K_NORM] = "blk.%d.attn_k_norm.weight",
    [MS_R_FFN_NORM] = "blk.%d.ffn_norm.weight",
    [MS_R_ROUTER] = "blk.%d.ffn_gate_inp.weight",
    [MS_R_EXP_GATE] = "blk.%d.ffn_gate.%d.weight",
    [MS_R_EXP_UP] = "blk.%d.ffn_up.%d.weight",
    [MS_R_EXP_DOWN] = "blk.%d.ffn_down.%d.weight",
    [MS_R_EXPS_GATE] = "blk.%d.ffn_gate_exps.weight",
    [MS_R_EXPS_UP] = "blk.%d.ffn_up_exps.weight",
    [MS_R_EXPS_DOWN] = "blk.%d.ffn_down_exps.weight",
    [MS_R_SH_INP] = "blk.%d.ffn_gate_inp_shexp.weight",
    [MS_R_SH_GATE] = "blk.%d.ffn_gate_shexp.weight",
    [MS_R_SH_UP] = "blk.%d.ffn_up_shexp.weight",
    [MS_R_SH_DOWN] = "blk.%d.ffn_down_shexp.weight",
    [MS_R_FFN_GATE] = "blk.%d.ffn_gate.weight",
    [MS_R_FFN_UP] = "blk.%d.ffn_up.weight",
    [MS_R_FFN_DOWN] = "blk.%d.ffn_down.weight",
    [MS_R_Q_A] = "blk.%d.attn_q_a.weight",
    [MS_R_Q_A_NORM] = "blk.%d.attn_q_a_norm.weight",
    [MS_R_Q_B] = "blk.%d.attn_q_b.weight",
    [MS_R_KV_A] = "blk.%d.attn_kv_a_mqa.weight",
    [MS_R_KV_A_NORM] = "blk.%d.attn_kv_a_norm.weight",
    [MS_R_KV_B] = "blk.%d.attn_kv_b.weight",
    [MS_R_K_B] = "blk.%d.attn_k_b.weight",
    [MS_R_V_B] = "blk.%d.attn_v_b.weight",
    [MS_R_EXP_PROBS_B] = "blk.%d.exp_probs_b.bias",
    [MS_R_SINKS] = "blk.%d.attn_sinks.weight",
    [MS_R_O_BIAS] = "blk.%d.attn_output.bias",
    [MS_R_ROUTER_BIAS] = "blk.%d.ffn_gate_inp.bias",
    [MS_R_EXPS_GATE_BIAS] = "blk.%d.ffn_gate_exps.bias",
    [MS_R_EXPS_UP_BIAS] = "blk.%d.ffn_up_exps.bias",
    [MS_R_EXPS_DOWN_BIAS] = "blk.%d.ffn_down_exps.bias",
};

/* Hugging Face names shared by the Llama-style families (attention, norms, embeddings). */
#define HF_COMMON                                                                                  \
    [MS_R_TOK_EMBD] = "model.embed_tokens.weight", [MS_R_OUT_NORM] = "model.norm.weight",          \
    [MS_R_OUTPUT] = "lm_head.weight", [MS_R_ATTN_NORM] = "model.layers.%d.input_layernorm.weight", \
    [MS_R_Q] = "model.layers.%d.self_attn.q_proj.weight",                                          \
    [MS_R_K] = "model.layers.%d.self_attn.k_proj.weight",                                          \
    [MS_R_V] = "model.layers.%d.self_attn.v_proj.weight",                                          \
    [MS_R_O] = "model.layers.%d.self_attn.o_proj.weight",                                          \
    [MS_R_FFN_NORM] = "model.layers.%d.post_attention_layernorm.weight"

/* Qwen/OLMoE-style MoE block ("mlp.gate", "mlp.experts.N.gate_proj"). */
#define HF_MLP_EXPERTS                                                                             \
    [MS_R_ROUTER] = "model.layers.%d.mlp.gate.weight",                                             \
    [MS_R_EXP_GATE] = "model.layers.%d.mlp.experts.%d.gate_proj.weight",                           \
    [MS_R_EXP_UP] = "model.layers.%d.mlp.experts.%d.up_proj.weight",                               \
    [MS_R_EXP_DOWN] = "model.layers.%d.mlp.experts.%d.down_proj.weight"

#define HF_DENSE_MLP                                                                               \
    [MS_R_FFN_GATE] = "model.layers.%d.mlp.gate_proj.weight",                                      \
    [MS_R_FFN_UP] = "model.layers.%d.mlp.up_proj.weight",                                          \
    [MS_R_FFN_DOWN] = "model.layers.%d.mlp.down_proj.weight"

static const ms_arch archs[] = {
    {
        .name = "mixtral",
        .gguf_arch = "llama",
        .hf_arch = "MixtralForCausalLM",
        .hf_model_type = "mixtral",
        .router = MS_ROUTER_SOFTMAX_TOPK_RENORM,
        .gguf_rope = MS_ROPE_ADJACENT,
        .output_optional = 1,
        .per_expert_gguf = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "feed_forward_length"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "num_local_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "intermediate_size"},
        .hf_names = {HF_COMMON, [MS_R_ROUTER] = "model.layers.%d.block_sparse_moe.gate.weight",
                     [MS_R_EXP_GATE] = "model.layers.%d.block_sparse_moe.experts.%d.w1.weight",
                     [MS_R_EXP_UP] = "model.layers.%d.block_sparse_moe.experts.%d.w3.weight",
                     [MS_R_EXP_DOWN] = "model.layers.%d.block_sparse_moe.experts.%d.w2.weight"},
    },
    {
        .name = "olmoe",
        .gguf_arch = "olmoe",
        .hf_arch = "OlmoeForCausalLM",
        .hf_model_type = "olmoe",
        .router = MS_ROUTER_SOFTMAX_TOPK, /* llama.cpp: norm_w false; HF norm_topk_prob false */
        .gguf_rope = MS_ROPE_HALF,
        .qk_norm = MS_QK_NORM_FULL,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "feed_forward_length"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "num_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "intermediate_size"},
        .hf_names = {HF_COMMON,
                     HF_MLP_EXPERTS, [MS_R_Q_NORM] = "model.layers.%d.self_attn.q_norm.weight",
                     [MS_R_K_NORM] = "model.layers.%d.self_attn.k_norm.weight"},
    },
    {
        .name = "qwen2moe",
        .gguf_arch = "qwen2moe",
        .hf_arch = "Qwen2MoeForCausalLM",
        .hf_model_type = "qwen2_moe",
        .router = MS_ROUTER_SOFTMAX_TOPK, /* llama.cpp: norm_w false */
        .gguf_rope = MS_ROPE_HALF,
        .qkv_bias = 1,
        .shared_expert = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "expert_feed_forward_length",
                      [MS_K_SHARED_FF] = "expert_shared_feed_forward_length",
                      [MS_K_DENSE_FF] = "feed_forward_length"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "num_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "moe_intermediate_size",
                    [MS_K_SHARED_FF] = "shared_expert_intermediate_size",
                    [MS_K_DENSE_FF] = "intermediate_size"},
        .hf_names = {HF_COMMON, HF_MLP_EXPERTS,
                     HF_DENSE_MLP, [MS_R_Q_BIAS] = "model.layers.%d.self_attn.q_proj.bias",
                     [MS_R_K_BIAS] = "model.layers.%d.self_attn.k_proj.bias",
                     [MS_R_V_BIAS] = "model.layers.%d.self_attn.v_proj.bias",
                     [MS_R_SH_INP] = "model.layers.%d.mlp.shared_expert_gate.weight",
                     [MS_R_SH_GATE] = "model.layers.%d.mlp.shared_expert.gate_proj.weight",
                     [MS_R_SH_UP] = "model.layers.%d.mlp.shared_expert.up_proj.weight",
                     [MS_R_SH_DOWN] = "model.layers.%d.mlp.shared_expert.down_proj.weight"},
    },
    {
        .name = "qwen3moe",
        .gguf_arch = "qwen3moe",
        .hf_arch = "Qwen3MoeForCausalLM",
        .hf_model_type = "qwen3_moe",
        .router = MS_ROUTER_SOFTMAX_TOPK_RENORM, /* llama.cpp: norm_w true */
        .gguf_rope = MS_ROPE_HALF,
        .qk_norm = MS_QK_NORM_HEAD,
        .output_optional = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "expert_feed_forward_length",
                      [MS_K_DENSE_FF] = "feed_forward_length"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "num_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "moe_intermediate_size",
                    [MS_K_DENSE_FF] = "intermediate_size"},
        .hf_names = {HF_COMMON, HF_MLP_EXPERTS,
                     HF_DENSE_MLP, [MS_R_Q_NORM] = "model.layers.%d.self_attn.q_norm.weight",
                     [MS_R_K_NORM] = "model.layers.%d.self_attn.k_norm.weight"},
    },
    {
        .name = "granitemoe",
        .gguf_arch = "granitemoe",
        .hf_arch = "GraniteMoeForCausalLM",
        .hf_model_type = "granitemoe",
        .router = MS_ROUTER_TOPK_SOFTMAX, /* = softmax, top-k, renorm (llama.cpp norm_w true) */
        .gguf_rope = MS_ROPE_ADJACENT,
        .output_optional = 1,
        .multipliers = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "feed_forward_length",
                      [MS_K_EMBD_SCALE] = "embedding_scale",
                      [MS_K_ATTN_SCALE] = "attention.scale",
                      [MS_K_RESIDUAL_SCALE] = "residual_scale",
                      [MS_K_LOGIT_SCALE] = "logit_scale"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "num_local_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "intermediate_size",
                    [MS_K_EMBD_SCALE] = "embedding_multiplier",
                    [MS_K_ATTN_SCALE] = "attention_multiplier",
                    [MS_K_RESIDUAL_SCALE] = "residual_multiplier",
                    [MS_K_LOGIT_SCALE] = "logits_scaling"},
        /* experts fused: input_linear (E, 2*ff, d) holds gate rows then up rows */
        .hf_names =
            {HF_COMMON, [MS_R_ROUTER] = "model.layers.%d.block_sparse_moe.router.layer.weight",
             [MS_R_EXPS_GATE] = "model.layers.%d.block_sparse_moe.input_linear.weight",
             [MS_R_EXPS_DOWN] = "model.layers.%d.block_sparse_moe.output_linear.weight"},
        .hf_fused_experts = 1,
    },
    {
        /* DeepSeek-MoE-16B (llama.cpp LLM_ARCH_DEEPSEEK, src/models/deepseek.cpp): leading
         * dense layers, softmax router without renormalisation (norm_w false), weights times
         * expert_weights_scale, shared experts added without a gate, RoPE as llama's (the
         * converter permutes q/k). GGUF only for now: no Hugging Face names. */
        .name = "deepseek",
        .gguf_arch = "deepseek",
        .hf_arch = "DeepseekForCausalLM",
        .hf_model_type = "deepseek",
        .router = MS_ROUTER_SOFTMAX_TOPK,
        .gguf_rope = MS_ROPE_ADJACENT,
        .shared_expert = 1,
        .shared_nogate = 1,
        .output_optional = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "expert_feed_forward_length",
                      [MS_K_DENSE_FF] = "feed_forward_length",
                      [MS_K_SHARED_COUNT] = "expert_shared_count",
                      [MS_K_DENSE_LEAD] = "leading_dense_block_count",
                      [MS_K_WEIGHTS_SCALE] = "expert_weights_scale"},
    },
    {
        /* DeepSeek-V2/V2-Lite/V3 (llama.cpp LLM_ARCH_DEEPSEEK2, src/models/deepseek2.cpp):
         * multi-head latent attention, leading dense layers, ungated shared experts, the
         * V2 (softmax) or V3 (sigmoid, selection bias, groups) router. RoPE on the heads' rope
         * parts with adjacent pairs (llama.cpp's rope type NORM; the converter does not
         * permute). */
        .name = "deepseek2",
        .gguf_arch = "deepseek2",
        .hf_arch = "DeepseekV2ForCausalLM",
        .hf_model_type = "deepseek_v2",
        .hf_arch_alt = "DeepseekV3ForCausalLM",
        .hf_model_type_alt = "deepseek_v3",
        .router = MS_ROUTER_DS_SOFTMAX,
        .gguf_rope = MS_ROPE_ADJACENT,
        .shared_expert = 1,
        .shared_nogate = 1,
        .output_optional = 1,
        .mla = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "expert_feed_forward_length",
                      [MS_K_DENSE_FF] = "feed_forward_length",
                      [MS_K_SHARED_COUNT] = "expert_shared_count",
                      [MS_K_DENSE_LEAD] = "leading_dense_block_count",
                      [MS_K_WEIGHTS_SCALE] = "expert_weights_scale",
                      [MS_K_WEIGHTS_NORM] = "expert_weights_norm",
                      [MS_K_GATING] = "expert_gating_func",
                      [MS_K_GROUP_COUNT] = "expert_group_count",
                      [MS_K_GROUP_USED] = "expert_group_used_count"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "n_routed_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "moe_intermediate_size",
                    [MS_K_DENSE_FF] = "intermediate_size",
                    [MS_K_SHARED_COUNT] = "n_shared_experts",
                    [MS_K_DENSE_LEAD] = "first_k_dense_replace",
                    [MS_K_WEIGHTS_SCALE] = "routed_scaling_factor",
                    [MS_K_WEIGHTS_NORM] = "norm_topk_prob",
                    [MS_K_GATING] = "scoring_func",
                    [MS_K_GROUP_COUNT] = "n_group",
                    [MS_K_GROUP_USED] = "topk_group"},
        .hf_names = {HF_COMMON, HF_MLP_EXPERTS,
                     HF_DENSE_MLP, [MS_R_Q_A] = "model.layers.%d.self_attn.q_a_proj.weight",
                     [MS_R_Q_A_NORM] = "model.layers.%d.self_attn.q_a_layernorm.weight",
                     [MS_R_Q_B] = "model.layers.%d.self_attn.q_b_proj.weight",
                     [MS_R_KV_A] = "model.layers.%d.self_attn.kv_a_proj_with_mqa.weight",
                     [MS_R_KV_A_NORM] = "model.layers.%d.self_attn.kv_a_layernorm.weight",
                     [MS_R_KV_B] = "model.layers.%d.self_attn.kv_b_proj.weight",
                     [MS_R_EXP_PROBS_B] = "model.layers.%d.mlp.gate.e_score_correction_bias",
                     [MS_R_SH_GATE] = "model.layers.%d.mlp.shared_experts.gate_proj.weight",
                     [MS_R_SH_UP] = "model.layers.%d.mlp.shared_experts.up_proj.weight",
                     [MS_R_SH_DOWN] = "model.layers.%d.mlp.shared_experts.down_proj.weight"},
    },
    {
        /* GPT-OSS (llama.cpp LLM_ARCH_OPENAI_MOE, src/models/openai-moe.cpp): attention sinks,
         * sliding-window layers alternating with full ones (llama.cpp's swa pattern 2: even
         * layers slide), biases on q/k/v/o, the router and every expert, top-k on the biased
         * logits then a softmax over the k (LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT),
         * clamped SwiGLU (LLM_FFN_SWIGLU_OAI_MOE: alpha 1.702, limit 7), NEOX RoPE. */
        .name = "gpt-oss",
        .gguf_arch = "gpt-oss",
        .hf_arch = "GptOssForCausalLM",
        .hf_model_type = "gpt_oss",
        .router = MS_ROUTER_TOPK_SOFTMAX,
        .gguf_rope = MS_ROPE_HALF,
        .qkv_bias = 1,
        .oai = 1,
        .gguf_keys = {[MS_K_EXPERT_COUNT] = "expert_count",
                      [MS_K_EXPERT_USED] = "expert_used_count",
                      [MS_K_EXPERT_FF] = "expert_feed_forward_length",
                      [MS_K_SWA_PATTERN] = "attention.sliding_window_pattern"},
        .hf_keys = {[MS_K_EXPERT_COUNT] = "num_local_experts",
                    [MS_K_EXPERT_USED] = "num_experts_per_tok",
                    [MS_K_EXPERT_FF] = "intermediate_size",
                    [MS_K_SWIGLU_LIMIT] = "swiglu_limit"},
        .gguf_over = {[MS_R_FFN_NORM] = "blk.%d.post_attention_norm.weight"},
        /* experts stored together: gate_up_proj (E, d, 2*ff) with gate and up interleaved
         * along the last axis, down_proj (E, ff, d) (transposed against nn.Linear) */
        .hf_names = {HF_COMMON, [MS_R_Q_BIAS] = "model.layers.%d.self_attn.q_proj.bias",
                     [MS_R_K_BIAS] = "model.layers.%d.self_attn.k_proj.bias",
                     [MS_R_V_BIAS] = "model.layers.%d.self_attn.v_proj.bias",
                     [MS_R_O_BIAS] = "model.layers.%d.self_attn.o_proj.bias",
                     [MS_R_SINKS] = "model.layers.%d.self_attn.sinks",
                     [MS_R_ROUTER] = "model.layers.%d.mlp.router.weight",
                     [MS_R_ROUTER_BIAS] = "model.layers.%d.mlp.router.bias",
                     [MS_R_EXPS_GATE] = "model.layers.%d.mlp.experts.gate_up_proj",
                     [MS_R_EXPS_GATE_BIAS] = "model.layers.%d.mlp.experts.gate_up_proj_bias",
                     [MS_R_EXPS_DOWN] = "model.layers.%d.mlp.experts.down_proj",
                     [MS_R_EXPS_DOWN_BIAS] = "model.layers.%d.mlp.experts.down_proj_bias"},
    },
};

#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

const char *ms_gguf_name(ms_role r) {
    return r >= 0 && r < MS_R_COUNT ? gguf_names[r] : NULL;
}

int ms_arch_count(void) {
    return N_ARCHS;
}

const ms_arch *ms_arch_at(int i) {
    return i >= 0 && i < N_ARCHS ? &archs[i] : NULL;
}

const ms_arch *ms_arch_by_name(const char *name) {
    for (int i = 0; name && i < N_ARCHS; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

const ms_arch *ms_arch_by_gguf(const char *gguf_arch, size_t len) {
    for (int i = 0; i < N_ARCHS; i++)
        if (strlen(archs[i].gguf_arch) == len && !memcmp(archs[i].gguf_arch, gguf_arch, len))
            return &archs[i];
    return NULL;
}

const ms_arch *ms_arch_by_hf(const char *hf_arch, const char *model_type) {
    for (int i = 0; i < N_ARCHS; i++)
        if (hf_arch && hf_arch[0]
                ? !strcmp(archs[i].hf_arch, hf_arch) ||
                      (archs[i].hf_arch_alt && !strcmp(archs[i].hf_arch_alt, hf_arch))
                : model_type && (!strcmp(archs[i].hf_model_type, model_type) ||
                                 (archs[i].hf_model_type_alt &&
                                  !strcmp(archs[i].hf_model_type_alt, model_type))))
            return &archs[i];
    return NULL;
}

const char *ms_arch_list(void) {
    static char buf[256];
    if (!buf[0]) {
        size_t used = 0;
        for (int i = 0; i < N_ARCHS && used < sizeof buf; i++)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "",
                                     archs[i].name);
    }
    return buf;
}

int ms_tensor_name(const ms_arch *a, int hf, ms_role r, int il, int x, char *buf, size_t n) {
    const char *fmt = hf ? a->hf_names[r] : a->gguf_over[r] ? a->gguf_over[r] : gguf_names[r];
    if (!fmt) return -1;
    /* "%d"s take the layer, then the expert (the only conversion the tables use) */
    const int args[2] = {il, x};
    int used = 0;
    size_t o = 0;
    for (const char *p = fmt; *p && o + 1 < n; p++) {
        if (p[0] == '%' && p[1] == 'd' && used < 2) {
            int w = snprintf(buf + o, n - o, "%d", args[used++]);
            o += w > 0 ? (size_t)w : 0;
            if (o >= n) o = n - 1;
            p++;
        } else
            buf[o++] = *p;
    }
    buf[o < n ? o : n - 1] = 0;
    return 0;
}

const char *ms_router_kind_name(ms_router_kind k) {
    switch (k) {
    case MS_ROUTER_SOFTMAX_TOPK_RENORM:
        return "softmax_topk_renorm";
    case MS_ROUTER_SOFTMAX_TOPK:
        return "softmax_topk";
    case MS_ROUTER_TOPK_SOFTMAX:
        return "topk_softmax";
    case MS_ROUTER_DS_SOFTMAX:
        return "ds_softmax";
    case MS_ROUTER_DS_SIGMOID:
        return "ds_sigmoid";
    }
    return "unknown";
}
