/* safetensors.h — engine-private reader of Hugging Face checkpoints: safetensors files (over
 * mmap) and config.json. Used by model.c; the parsers are also the libFuzzer targets' entry
 * points (tests/fuzz/fuzz_safetensors.c, tests/fuzz/fuzz_hfconfig.c).
 *
 * The header parser trusts nothing: header length within the file and below a cap, JSON valid
 * and an object, every tensor's dtype known, shape dims non-negative integers, element count
 * and byte size overflow-checked, data_offsets [begin, end) with end - begin equal to dtype
 * size × element count, and the tensors tiling the data section exactly (sorted by offset:
 * first begins at 0, each begins where the previous ended, the last ends at the file end). */
#ifndef MS_SAFETENSORS_H
#define MS_SAFETENSORS_H

#include "engine.h"

#include <sys/stat.h>

#define ST_MAX_DIMS        8
#define ST_MAX_HEADER_SIZE (100u << 20) /* as the reference implementation */

typedef struct st_tensor {
    char *name;                 /* NUL-terminated, owned by the header */
    char dtype[12];             /* "F32", "BF16", ... */
    int type;                   /* ggml type id for F32/F16/BF16, -1 for other dtypes */
    int n_dims;                 /* 0..ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS]; /* row-major: shape[n_dims-1] is contiguous */
    uint64_t begin, end;        /* byte range relative to the data section */
} st_tensor;

typedef struct st_header {
    st_tensor *tensors; /* [n_tensors], in file order of the JSON header */
    int64_t n_tensors;
    uint64_t data_start; /* 8 + header length: offset of the data section in the file */
    uint64_t data_size;  /* bytes of the data section */
} st_header;

/* Parses and validates the safetensors header of a whole file image buf[0..size). `name` is
 * used in error messages ("<name>: <problem>"). On success *h owns its storage (free with
 * st_header_free). Returns 0 or MS_ERR_INPUT (MS_ERR_RUNTIME when out of memory). */
int st_parse(st_header *h, const uint8_t *buf, uint64_t size, const char *name, char *err,
             size_t errlen);
void st_header_free(st_header *h);
/* Index of the named tensor, or -1. Linear; callers build their own lookup when it matters. */
int64_t st_find(const st_header *h, const char *name);

/* A safetensors file mapped read-only. */
typedef struct st_file {
    char *path;
    const uint8_t *map; /* [size] */
    uint64_t size;
    st_header hdr;
} st_file;

int st_open(st_file **out, const char *path, char *err, size_t errlen);
void st_close(st_file *f);

/* Hugging Face config.json of a model of one of the registry's families (engine/arch.c). */
#define HF_MAX_LAYERS 4096
typedef struct hf_config {
    char arch[64];       /* architectures[0], e.g. "MixtralForCausalLM" */
    char model_type[32]; /* "mixtral" */
    const struct ms_arch *family;
    int vocab_size, hidden_size, intermediate_size, num_hidden_layers;
    int num_attention_heads, num_key_value_heads, head_dim;
    int num_local_experts, num_experts_per_tok; /* whatever the family calls them */
    int max_position_embeddings;                /* 0 if absent */
    int sliding_window;                         /* 0 if absent or null */
    double rope_theta, rms_norm_eps;
    int tie_word_embeddings;
    int router;      /* ms_router_kind: the family's, or as norm_topk_prob says */
    int d_ff_shared; /* shared expert's width (0: none) */
    int d_ff_dense;  /* dense MLP layers' width (0: no dense layer) */
    double embedding_multiplier, attention_multiplier, residual_multiplier, logits_scaling;
    /* rope_scaling (or rope_parameters with a rope_type other than "default") */
    int rope_scaled;    /* 1: linear or YaRN */
    int rope_yarn;      /* 1: YaRN */
    double rope_factor; /* factor (1 when absent) */
    int rope_orig_ctx;  /* original_max_position_embeddings (0: max_position_embeddings) */
    double yarn_beta_fast, yarn_beta_slow;
    double yarn_attention;      /* the cos/sin magnitude: attention_factor, or transformers'
                                   get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) */
    int yarn_no_truncate;       /* truncate: false */
    double yarn_mscale_all_dim; /* rope_scaling.mscale_all_dim (0: absent) */
    /* DeepSeek-V2/V3 (family mla): latent attention and router fields */
    int q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
    int n_shared_experts, first_k_dense_replace;
    int scoring_sigmoid, n_group, topk_group, group_max, norm_topk_prob;
    double routed_scaling_factor;
    unsigned char dense_layer[HF_MAX_LAYERS]; /* 1: a dense MLP layer (mlp_only_layers,
                                                 decoder_sparse_step) */
    /* GPT-OSS: layer_types ("full_attention" layers ignore the sliding window), swiglu_limit */
    unsigned char full_attn[HF_MAX_LAYERS];
    double swiglu_limit;
} hf_config;

/* Parses config.json text (len bytes, need not be NUL-terminated). Missing required fields,
 * wrong JSON types, non-positive sizes, inconsistent heads and unsupported architectures are
 * MS_ERR_INPUT naming `name` and the field. */
int hf_config_parse(hf_config *c, const char *text, size_t len, const char *name, char *err,
                    size_t errlen);
/* Reads path and parses it. */
int hf_config_load(hf_config *c, const char *path, char *err, size_t errlen);

/* Helpers shared by safetensors.c, hfconfig.c and model.c. */
void st_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The member named key of a JSON object (case-sensitive), or NULL. When the key is repeated,
 * the LAST occurrence, as Python's json.load (and so transformers) reads it; cJSON's own
 * lookup returns the first. Every config.json / tokenizer.json / tokenizer_config.json /
 * shard index key is read through this. */
struct cJSON *st_json_get(const struct cJSON *obj, const char *key);
/* Opens an input as ms_open_regular() does (a FIFO, device or directory is refused at once,
 * MS_ERR_INPUT; ENOMEM/EIO are MS_ERR_RUNTIME), with the message "<path>: cannot open: <why>". */
int st_open_input(const char *path, int *fd, struct stat *st, char *err, size_t errlen);
/* Reads a whole (small) file into a NUL-terminated malloc'ed buffer, refusing files larger than
 * max bytes. Returns 0, MS_ERR_INPUT (missing / too large) or MS_ERR_RUNTIME. */
int st_read_small_file(const char *path, size_t max, char **out, size_t *len, char *err,
                       size_t errlen);

#endif
