/* arch.h — engine-private architecture registry: one table per MoE family naming its GGUF
 * `general.architecture`, its Hugging Face `architectures[0]` / `model_type`, its
 * hyper-parameter keys and its tensor names in both formats, and the load-time choices that
 * make up each layer's block (QK-norm, biases, router kind, shared expert, multipliers).
 *
 * Every tensor name is spelled once, here (arch.c): the loader (model.c), the fixture writer
 * (fixture.c) and `inspect` (through ms_model_describe_json) all read these tables. GGUF names
 * are llama.cpp's (src/llama-arch.cpp), the same for every family; HF names differ per family.
 * A name is a printf format taking the layer index and then the expert index where it has
 * "%d"s; NULL means the family has no such tensor.
 *
 * Adding a family: one table entry in arch.c (plus its forward-pass quirks as ms_block flags
 * if they are new). */
#ifndef MS_ARCH_H
#define MS_ARCH_H

#include "engine.h"

typedef enum ms_role {
    MS_R_TOK_EMBD,
    MS_R_OUT_NORM,
    MS_R_OUTPUT,
    MS_R_ATTN_NORM,
    MS_R_Q,
    MS_R_K,
    MS_R_V,
    MS_R_O,
    MS_R_Q_BIAS,
    MS_R_K_BIAS,
    MS_R_V_BIAS,
    MS_R_Q_NORM,
    MS_R_K_NORM,
    MS_R_FFN_NORM,
    MS_R_ROUTER,
    MS_R_EXP_GATE, /* one expert's matrix: "%d" layer, "%d" expert */
    MS_R_EXP_UP,
    MS_R_EXP_DOWN,
    MS_R_EXPS_GATE, /* GGUF: all experts of a layer stacked along ne[2] */
    MS_R_EXPS_UP,
    MS_R_EXPS_DOWN,
    MS_R_SH_INP, /* shared expert's gate vector (1, d_model) */
    MS_R_SH_GATE,
    MS_R_SH_UP,
    MS_R_SH_DOWN,
    MS_R_FFN_GATE, /* dense MLP layers */
    MS_R_FFN_UP,
    MS_R_FFN_DOWN,
    MS_R_Q_A, /* DeepSeek MLA (ms_layer's wq_a ... exp_probs_b) */
    MS_R_Q_A_NORM,
    MS_R_Q_B,
    MS_R_KV_A,
    MS_R_KV_A_NORM,
    MS_R_KV_B,
    MS_R_K_B,
    MS_R_V_B,
    MS_R_EXP_PROBS_B,
    MS_R_SINKS,          /* gpt-oss: attention sinks (n_head) */
    MS_R_O_BIAS,         /* gpt-oss: output projection bias */
    MS_R_ROUTER_BIAS,    /* gpt-oss: router bias (n_expert) */
    MS_R_EXPS_GATE_BIAS, /* gpt-oss: experts' biases stacked, (n_expert, width) */
    MS_R_EXPS_UP_BIAS,
    MS_R_EXPS_DOWN_BIAS,
    MS_R_COUNT
} ms_role;

/* Hyper-parameter keys. GGUF keys are "<general.architecture>.<suffix>"; HF keys are
 * config.json fields. NULL: the family has no such key. */
typedef enum ms_hkey {
    MS_K_EXPERT_COUNT,
    MS_K_EXPERT_USED,
    MS_K_EXPERT_FF, /* experts' intermediate size */
    MS_K_SHARED_FF, /* shared expert's intermediate size */
    MS_K_DENSE_FF,  /* dense layers' intermediate size */
    MS_K_EMBD_SCALE,
    MS_K_ATTN_SCALE,
    MS_K_RESIDUAL_SCALE,
    MS_K_LOGIT_SCALE,
    MS_K_SHARED_COUNT,  /* DeepSeek: number of shared experts (their width: count x expert ff) */
    MS_K_DENSE_LEAD,    /* DeepSeek: leading dense layers */
    MS_K_WEIGHTS_SCALE, /* DeepSeek: routed experts' weight multiplier */
    MS_K_WEIGHTS_NORM,  /* DeepSeek-V2/V3: renormalise the k weights */
    MS_K_GATING,        /* DeepSeek-V2/V3: GGUF expert_gating_func (1 softmax, 2 sigmoid) */
    MS_K_GROUP_COUNT,   /* DeepSeek-V3: expert groups */
    MS_K_GROUP_USED,    /* DeepSeek-V3: groups a token may use */
    MS_K_SWA_PATTERN,   /* gpt-oss: period of the sliding-window layers (llama.cpp default 2) */
    MS_K_SWIGLU_LIMIT,  /* gpt-oss: the clamped SwiGLU's limit (HF config only) */
    MS_K_COUNT
} ms_hkey;

typedef struct ms_arch {
    const char *name;        /* moescope's name: "mixtral", "olmoe", ... (hparams.arch) */
    const char *gguf_arch;   /* general.architecture */
    const char *hf_arch;     /* config.json architectures[0] */
    const char *hf_arch_alt; /* another architectures[0] of the same layout, or NULL */
    const char *hf_model_type_alt;
    const char *hf_model_type; /* config.json model_type */
    ms_router_kind router;     /* llama.cpp hard-codes it per architecture */
    ms_rope_kind gguf_rope;    /* adjacent: q/k rows permuted by the converter (llama, granite) */
    ms_qk_norm qk_norm;
    int qkv_bias;        /* q/k/v biases (required) */
    int shared_expert;   /* one shared expert behind a sigmoid gate */
    int shared_nogate;   /* with shared_expert: no gate (DeepSeek's n shared experts as one MLP) */
    int output_optional; /* GGUF output.weight may be absent (tied embeddings) */
    int multipliers;     /* Granite's embedding/attention/residual/logit multipliers */
    int per_expert_gguf; /* the GGUF loader also accepts one tensor per expert (old Mixtral) */
    int mla;             /* DeepSeek-V2/V3 multi-head latent attention and router (forward_mla.c) */
    const char *gguf_keys[MS_K_COUNT];
    const char *hf_keys[MS_K_COUNT];
    const char *hf_names[MS_R_COUNT];
    /* HF checkpoints whose experts are stored fused (Granite: input_linear holds gate and up
     * stacked over experts) are read through these instead of MS_R_EXP_*. */
    int hf_fused_experts;
    /* GPT-OSS's block (sinks, alternating sliding windows, o/router/expert biases, clamped
     * SwiGLU); its GGUF names that differ from the common table are in gguf_over. */
    int oai;
    const char *gguf_over[MS_R_COUNT];
} ms_arch;

/* GGUF tensor names (llama.cpp's, one table for all families). */
const char *ms_gguf_name(ms_role r);
/* The registry: NULL-terminated lookups. */
const ms_arch *ms_arch_by_name(const char *name);
const ms_arch *ms_arch_by_gguf(const char *gguf_arch, size_t len);
const ms_arch *ms_arch_by_hf(const char *hf_arch, const char *model_type);
int ms_arch_count(void);
const ms_arch *ms_arch_at(int i);
/* "mixtral, olmoe, ..." for messages and usage text (static storage). */
const char *ms_arch_list(void);

/* Formats a tensor name of role r (GGUF when hf is 0, else the family's HF name) for layer il
 * and expert x. Returns 0, or -1 when the family has no such tensor. */
int ms_tensor_name(const ms_arch *a, int hf, ms_role r, int il, int x, char *buf, size_t n);

#endif
