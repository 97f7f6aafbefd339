/* engine.h — the public face of moescope's engine: model files (GGUF and Hugging Face
 * safetensors folders), weight types, the tokenizer and the instrumented forward pass.
 *
 * One model description whatever the file format: a model is hyper-parameters (ms_hparams)
 * plus weight matrices (ms_mat) that point into mmapped file data in their stored type. The
 * forward pass dequantizes them tile by tile; nothing here copies a whole model to f32.
 *
 * Errors: functions that read input return 0, or MS_ERR_INPUT (bad file / bad input, the
 * CLI exits 2) or MS_ERR_RUNTIME (I/O, out of memory; the CLI exits 1), and write a one-line
 * message "<file>: <problem>" into err (errlen bytes, always NUL-terminated). On failure the
 * *out handle is NULL and nothing needs freeing. Broken invariants are asserts (on in release
 * builds). The library never prints and never exits. */
#ifndef MS_ENGINE_H
#define MS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifndef MS_ERR_INPUT
#define MS_ERR_INPUT   2
#define MS_ERR_RUNTIME 1
#endif

/* ---------------------------------------------------------------------------------------
 * Weight types. Values are ggml's type ids (as stored in GGUF tensor infos).
 */
typedef enum ms_type {
    MS_TYPE_F32 = 0,
    MS_TYPE_F16 = 1,
    MS_TYPE_Q4_0 = 2,
    MS_TYPE_Q4_1 = 3,
    MS_TYPE_Q5_0 = 6,
    MS_TYPE_Q5_1 = 7,
    MS_TYPE_Q8_0 = 8,
    MS_TYPE_Q2_K = 10,
    MS_TYPE_Q3_K = 11,
    MS_TYPE_Q4_K = 12,
    MS_TYPE_Q5_K = 13,
    MS_TYPE_Q6_K = 14,
    MS_TYPE_BF16 = 30,
    MS_TYPE_MXFP4 = 39, /* 32 E2M1 values and a shared E8M0 exponent (gpt-oss experts) */
    /* Not a ggml type: safetensors F8_E4M3 (OCP e4m3fn: bias 7, no infinities, 0x7f/0xff NaN),
     * DeepSeek-V3's FP8 checkpoints. A matrix of it carries 128 x 128 block scales
     * (`<name>_scale_inv`, ms_mat.scale): W[r][c] = f8(r, c) * scale[r / 128][c / 128]. The
     * row functions below decode the bytes only (scale 1). */
    MS_TYPE_F8_E4M3 = 1008,
    /* Not a ggml type: MXFP4 as Hugging Face checkpoints store it (gpt-oss's `*_blocks` /
     * `*_scales`): per 32 elements 16 bytes of E2M1 codes, element 2i in the low nibble of
     * byte i and 2i+1 in the high one; the blocks' E8M0 exponents are a separate u8 array
     * (ms_mat.escale), so the mmapped tensors are used in place. The values are those of
     * ggml's MXFP4 for the same codes and exponents, bit for bit. The row functions below
     * decode the codes only (exponent 127: scale 1); ms_dequantize_row_mxfp4_hf takes them. */
    MS_TYPE_MXFP4_HF = 1009,
} ms_type;

/* 1 if moescope can read weights of this ggml type id. */
int ms_type_supported(int type);
/* "F32", "Q4_K", ... or "type N" for unknown ids (static storage for known ones). */
const char *ms_type_name(int type);
/* Elements per block (1 for F32/F16/BF16, 32 for Q*_0/1 and MXFP4, 256 for K-quants) and bytes per
 * block. 0 for unsupported types. */
int64_t ms_type_block_elems(ms_type t);
size_t ms_type_block_bytes(ms_type t);
/* Bytes of a row of n elements; n must be a multiple of the block size. */
size_t ms_type_row_bytes(ms_type t, int64_t n);

/* Dequantize n elements (a multiple of the block size) from src into dst, bit-exactly as
 * ggml's reference dequantize_row_* functions do. */
void ms_dequantize_row(ms_type t, const void *src, float *dst, int64_t n);
/* MS_TYPE_MXFP4_HF with its exponents: n elements (a multiple of 32) from codes (n/2 bytes)
 * and scales (n/32 E8M0 bytes), the floats ggml's dequantize_row_mxfp4 gives for the same
 * codes and exponents. */
void ms_dequantize_row_mxfp4_hf(const uint8_t *codes, const uint8_t *scales, float *dst, int64_t n);
/* Quantize n elements with ggml's reference quantizers (quantize_row_*_ref): F32, F16,
 * BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, MXFP4 as implemented.
 * Returns 0, or MS_ERR_INPUT if this type has no quantizer. Used by the fixture writer. */
int ms_quantize_row(ms_type t, const float *src, void *dst, int64_t n);
/* IEEE half / bfloat16 conversions (round to nearest even, as ggml). */
float ms_f16_to_f32(uint16_t h);
uint16_t ms_f32_to_f16(float f);
float ms_bf16_to_f32(uint16_t h);
uint16_t ms_f32_to_bf16(float f);
/* OCP FP8 E4M3 (e4m3fn) conversions; the encoder rounds to nearest even and saturates. */
float ms_f8e4m3_to_f32(uint8_t v);
uint8_t ms_f32_to_f8e4m3(float f);

/* ---------------------------------------------------------------------------------------
 * Model description.
 */

/* A weight matrix y = W x with W of shape (rows, cols): row r (cols elements of `type`) is at
 * data + r * row_bytes. Vectors (norm weights) have rows == 1. Data points into the mmapped
 * file; valid while the model is open. For GGUF, cols is ne[0] and rows is ne[1]; for
 * safetensors, shape is [rows, cols]. row_bytes is ms_type_row_bytes(type, cols), except for
 * MS_TYPE_MXFP4_HF views, whose rows may be further apart (gpt-oss's gate and up rows
 * interleave: each is a view with twice the stride). */
typedef struct ms_mat {
    ms_type type;
    int64_t rows, cols;
    size_t row_bytes;
    const uint8_t *data;
    const char *name; /* tensor name in the file (for messages) */
    /* MS_TYPE_F8_E4M3: (ceil(rows / 128), scale_ld) block scales as f32 (owned by the model),
     * else NULL */
    const float *scale;
    int64_t scale_ld; /* elements from one row of scale (F8_E4M3: per 128 matrix rows) or of
                         escale (MXFP4_HF: per matrix row) to the next */
    /* MS_TYPE_MXFP4_HF: the E8M0 exponent of row r's block b (columns 32b..32b+31) is
     * escale[r * scale_ld + b] (in the mmapped file, like data); else NULL */
    const uint8_t *escale;
} ms_mat;

/* Row r of w as cols floats into dst, with its block scales (F8_E4M3) or exponents
 * (MXFP4_HF): ms_dequantize_row's values times the scales (reference, scalar). */
void ms_mat_dequantize_row(const ms_mat *w, int64_t r, float *dst);

typedef enum ms_rope_kind {
    MS_ROPE_ADJACENT = 0, /* pairs (2i, 2i+1): GGUF "llama" files (q/k rows permuted) */
    MS_ROPE_HALF = 1,     /* pairs (i, i + d/2): Hugging Face checkpoints ("neox" style) */
} ms_rope_kind;

typedef enum ms_router_kind {
    MS_ROUTER_SOFTMAX_TOPK_RENORM = 0, /* Mixtral, Qwen3-MoE: softmax over E, top-k, renorm */
    MS_ROUTER_SOFTMAX_TOPK = 1,        /* OLMoE, Qwen2-MoE: softmax over E, top-k, no renorm */
    MS_ROUTER_TOPK_SOFTMAX = 2,        /* Granite-MoE: top-k on the logits, softmax over the k
                                          (the same weights as softmax, top-k, renorm) */
    MS_ROUTER_DS_SOFTMAX = 3,          /* DeepSeek-V2 (GGUF deepseek2): softmax over E, top-k of the
                                          probabilities (+ selection bias, group limit when the file has
                                          them), weights renormalised if expert_weights_norm, times
                                          expert_weights_scale (engine/router_v3.h) */
    MS_ROUTER_DS_SIGMOID = 4, /* DeepSeek-V3: sigmoid scores, the same selection and weights */
} ms_router_kind;
/* "softmax_topk_renorm", "softmax_topk", "topk_softmax", "ds_softmax", "ds_sigmoid" (as
 * recorded in route stores). */
const char *ms_router_kind_name(ms_router_kind k);

/* Per-layer block description: what the forward pass does in each layer. Families differ
 * only here and in the hyper-parameters; the loader fills it from the architecture registry
 * and checks every optional tensor against it. A zeroed block is Mixtral's. */
typedef enum ms_qk_norm {
    MS_QK_NORM_NONE = 0,
    MS_QK_NORM_FULL = 1, /* RMSNorm over the whole q (k) projection row (OLMoE) */
    MS_QK_NORM_HEAD = 2, /* RMSNorm over each head of d_head, one weight vector (Qwen3) */
} ms_qk_norm;
typedef enum ms_ffn_kind { MS_FFN_MOE = 0, MS_FFN_DENSE = 1 } ms_ffn_kind;
typedef struct ms_block {
    ms_qk_norm qk_norm;
    int qkv_bias;      /* q/k/v projections add a bias */
    ms_ffn_kind ffn;   /* routed experts (with the model's router kind) or a dense MLP */
    int shared_expert; /* MoE layers: + sigmoid(sh_inp . x) * shared expert(x) (Qwen2-MoE) */
    int shared_nogate; /* with shared_expert: added without a gate (DeepSeek: + shared(x)) */
    /* GPT-OSS (gpt-oss): */
    int attn_sinks;  /* one learned logit per head joins the attention softmax, then dropped */
    int full_attn;   /* this layer ignores hp.sliding_window (gpt-oss's odd layers) */
    int o_bias;      /* the output projection adds a bias */
    int router_bias; /* the router logits add a bias (top-k is taken on the biased logits) */
    int expert_bias; /* every expert's gate/up/down adds its bias; clamped SwiGLU (swiglu_limit) */
} ms_block;

typedef enum ms_format { MS_FORMAT_GGUF = 0, MS_FORMAT_SAFETENSORS = 1 } ms_format;

#define MS_MAX_EXPERTS 256
#define MS_MAX_TOPK    16

typedef struct ms_hparams {
    char arch[32]; /* moescope's family name: "mixtral" (GGUF general.architecture "llama"),
                      "olmoe", "qwen2moe", "qwen3moe", "granitemoe" */
    ms_format format;
    int n_vocab;
    int d_model; /* hidden size */
    int n_layer;
    int n_head, n_head_kv, d_head;
    int d_ff;                    /* expert intermediate size */
    int n_expert, n_expert_used; /* E and k */
    int n_ctx_train;             /* 0 if unknown */
    int sliding_window;          /* 0: none */
    float rope_theta;
    float norm_eps; /* RMSNorm epsilon */
    ms_rope_kind rope;
    ms_router_kind router; /* of every MoE layer */
    int tied_embeddings;   /* lm_head shares tok_embd */
    int d_ff_shared;       /* shared expert's intermediate size (0: none) */
    int d_ff_dense;        /* dense MLP layers' intermediate size (0: none) */
    /* Granite's multipliers; 0 means the usual (1, 1/sqrt(d_head), 1, 1) */
    float embd_scale;     /* embeddings are multiplied by it */
    float attn_scale;     /* replaces 1/sqrt(d_head) in the attention scores */
    float residual_scale; /* each block's output is multiplied by it before the residual add */
    float logit_scale;    /* logits are divided by it */
    /* DeepSeek: the routed experts' weights are multiplied by it (0: 1); the route store's
     * weights are the scaled ones (the weights the layer applies) */
    float expert_weights_scale;
    int n_dense_lead; /* DeepSeek: layers 0..n_dense_lead-1 are dense MLPs */
    /* DeepSeek-V2/V3 multi-head latent attention (mla 1; engine/forward_mla.c). A head's query
     * and key are d_head_nope + d_head_rope values (RoPE on the last d_head_rope, adjacent
     * pairs), its value d_head_v; keys and values come from a compressed kv of kv_lora_rank
     * values (RMS-normed) through attn_kv_b (or attn_k_b / attn_v_b), the rope part of the key
     * (shared by the heads) straight from attn_kv_a_mqa. q_lora_rank > 0: q = q_b(norm(q_a x)).
     * d_head is d_head_nope + d_head_rope; n_head_kv is n_head; attn_scale is llama.cpp's kq_scale
     * for deepseek2 (1/sqrt(d_head), times the YaRN mscale squared). */
    int mla;
    int q_lora_rank, kv_lora_rank;
    int d_head_nope, d_head_rope, d_head_v;
    /* DeepSeek router kinds (MS_ROUTER_DS_*): group-limited selection (n_group <= 1: none) and
     * renormalisation of the k weights; the selection bias is the layer's exp_probs_b */
    int n_group, topk_group;
    int group_score_max; /* a group's score is its best expert's (HF topk_method
                            group_limited_greedy), else its top-2 sum (llama.cpp, noaux_tc) */
    int expert_weights_norm;
    /* GPT-OSS's clamped SwiGLU in blocks with expert_bias: gate clamped above at the limit, up
     * to [-limit, limit], out = (up + 1) * gate * sigmoid(swiglu_alpha * gate) */
    float swiglu_limit, swiglu_alpha;
    /* RoPE: partial rotary dims and scaling (linear or YaRN), as llama.cpp's ggml_rope_ext */
    int n_rot;              /* rotated dims per head (rope.dimension_count; 0: d_head) */
    int rope_yarn;          /* 1: YaRN (ext_factor mixes interpolation and extrapolation) */
    float rope_freq_scale;  /* 1/factor for linear or YaRN scaling (0 reads as 1) */
    int rope_orig_ctx;      /* YaRN: the original context length */
    float yarn_ext_factor;  /* 1 with YaRN */
    float yarn_attn_factor; /* llama.cpp's cparams.yarn_attn_factor: with ext_factor != 0, cos
                               and sin are multiplied by it * (1 + 0.1 ln(1/freq_scale)) */
    float yarn_beta_fast, yarn_beta_slow; /* 32, 1 */
    int yarn_no_truncate; /* HF rope_scaling.truncate == false: correction dims not rounded */
} ms_hparams;

/* cos and sin of the rotation angles of the n_rot/2 pairs at position pos (with YaRN's
 * frequency mix and magnitude scale), in double then rounded, as the engine's table. */
void ms_rope_cos_sin(const ms_hparams *hp, int64_t pos, float *cos_out, float *sin_out);

typedef struct ms_layer {
    ms_mat attn_norm;        /* (1, d_model) F32 */
    ms_mat wq;               /* (n_head*d_head, d_model) */
    ms_mat wk, wv;           /* (n_head_kv*d_head, d_model) */
    ms_mat wo;               /* (d_model, n_head*d_head) */
    ms_mat ffn_norm;         /* (1, d_model) */
    ms_mat router;           /* (n_expert, d_model) */
    ms_mat *w_gate, *w_up;   /* [n_expert] each (d_ff, d_model): w1, w3 */
    ms_mat *w_down;          /* [n_expert] each (d_model, d_ff): w2 */
    ms_block blk;            /* which of the optional tensors below are present */
    ms_mat bq, bk, bv;       /* qkv_bias: (1, n_head*d_head), (1, n_head_kv*d_head) x2 */
    ms_mat q_norm, k_norm;   /* QK_NORM_FULL: (1, n_head*d_head), (1, n_head_kv*d_head);
                                QK_NORM_HEAD: (1, d_head) each */
    ms_mat sh_inp;           /* shared_expert: (1, d_model) gate vector */
    ms_mat sh_gate, sh_up;   /* shared_expert: (d_ff_shared, d_model) */
    ms_mat sh_down;          /* shared_expert: (d_model, d_ff_shared) */
    ms_mat ffn_gate, ffn_up; /* dense layer: (d_ff_dense, d_model); router/experts unused */
    ms_mat ffn_down;         /* dense layer: (d_model, d_ff_dense) */
    /* MLA (hparams.mla); H = n_head, dn/dr/dv the head parts, R = kv_lora_rank */
    ms_mat wq_a;         /* q_lora_rank > 0: (q_lora_rank, d_model) */
    ms_mat q_a_norm;     /* q_lora_rank > 0: (1, q_lora_rank) */
    ms_mat wq_b;         /* q_lora_rank > 0: (H*(dn+dr), q_lora_rank); else wq is (H*(dn+dr), d) */
    ms_mat wkv_a;        /* (R + dr, d_model): compressed kv, then the key's rope part */
    ms_mat kv_a_norm;    /* (1, R) */
    ms_mat wkv_b;        /* (H*(dn+dv), R): per head dn key rows then dv value rows, or NULL data
                            when the file has the split form below */
    ms_mat wk_b;         /* split form: H matrices (R, dn) stacked: head h is rows h*R.. */
    ms_mat wv_b;         /* split form: (H*dv, R) */
    ms_mat exp_probs_b;  /* MS_ROUTER_DS_*: (1, n_expert) selection bias, or NULL data */
    ms_mat sinks;        /* attn_sinks: (1, n_head) */
    ms_mat bo;           /* o_bias: (1, d_model) */
    ms_mat router_b;     /* router_bias: (1, n_expert) */
    ms_mat b_gate, b_up; /* expert_bias: (n_expert, d_ff), row e is expert e's */
    ms_mat b_down;       /* expert_bias: (n_expert, d_model) */
} ms_layer;

typedef struct ms_model ms_model;

typedef struct ms_tensor_info {
    const char *name;
    int type; /* ggml type id (or the safetensors dtype mapped to one) */
    int n_dims;
    int64_t ne[4]; /* ggml order: ne[0] is the innermost (contiguous) dimension */
    size_t nbytes;
    uint64_t offset; /* byte offset in its file */
    int file;        /* index into ms_model_files() (shards) */
} ms_tensor_info;

typedef struct ms_model_opts {
    const char *path; /* a .gguf file, a .safetensors file in an HF folder, or the folder */
} ms_model_opts;

/* Every file read (the model, config.json, shards, the shard index, tokenizer.json,
 * tokenizer_config.json) must be a regular file: a FIFO, device or directory is refused at once
 * (MS_ERR_INPUT), never read or waited on. Bad files are MS_ERR_INPUT, read/mmap failures and
 * out-of-memory MS_ERR_RUNTIME; the message is one line "<file>: <problem>" of valid UTF-8. */
int ms_model_open(ms_model **out, const ms_model_opts *opts, char *err, size_t errlen);
void ms_model_close(ms_model *m);

const ms_hparams *ms_model_hparams(const ms_model *m);
const ms_layer *ms_model_layer(const ms_model *m, int il);
/* 1 if layer il has a router (an MoE layer), 0 for a dense MLP layer or no such layer. */
int ms_model_layer_routes(const ms_model *m, int il);
const ms_mat *ms_model_tok_embd(const ms_model *m); /* (n_vocab, d_model) */
const ms_mat *ms_model_out_norm(const ms_model *m); /* (1, d_model) */
const ms_mat *ms_model_lm_head(const ms_model *m);  /* (n_vocab, d_model) */
/* All tensors as stored (for `inspect`). */
int ms_model_n_tensors(const ms_model *m);
const ms_tensor_info *ms_model_tensor(const ms_model *m, int i);
/* Files the model was read from (GGUF file, or safetensors shards + config.json) and sizes. */
int ms_model_n_files(const ms_model *m);
const char *ms_model_file(const ms_model *m, int i, uint64_t *size);
/* GGUF split by llama.cpp's gguf-split: the number of parts (files 0..n-1 are parts 1..n in
 * order); 1 for a single GGUF file, 0 for safetensors. */
int ms_model_split_parts(const ms_model *m);
/* Refuses an output path that is any file the model was read from (every part of a split set,
 * every shard, config.json, tokenizer.json), by device and inode: MS_ERR_INPUT with
 * "<out>: is the same file as the input <file>; refusing to overwrite it", else 0. */
int ms_model_check_output(const ms_model *m, const char *out, char *err, size_t errlen);
/* Parameter counts: total, and active per token (attention + router + k of E experts). */
void ms_model_param_counts(const ms_model *m, int64_t *total, int64_t *active);
/* The same counts from hyper-parameters alone, for Mixtral's block (Mixtral 8x7B:
 * 46,702,792,704 and 12,879,925,248); it does not know the other families' biases, QK-norm
 * weights, shared experts or dense layers: ms_model_param_counts does. */
void ms_hparams_param_counts(const ms_hparams *hp, int64_t *total, int64_t *active);
/* The path the model was opened from: the GGUF file, or the Hugging Face folder. */
const char *ms_model_path(const ms_model *m);
/* The architecture as the file names it: GGUF general.architecture ("llama" for Mixtral), or
 * the HF architectures[0] ("MixtralForCausalLM", "OlmoeForCausalLM", ...). Static storage. */
const char *ms_model_file_arch(const ms_model *m);
/* general.name of a GGUF file, or the folder name of an HF checkpoint. */
const char *ms_model_name(const ms_model *m);
/* GGUF: 1 if experts are stacked ffn_*_exps tensors, 0 if one tensor per expert. */
int ms_model_stacked_experts(const ms_model *m);
/* Bytes of expert weights the model copied into its own memory at open (GPT-OSS HF folders
 * with float experts, transposed into rows), 0 when every weight is read in place. */
size_t ms_model_copied_bytes(const ms_model *m);
/* A JSON object describing the model (arch, hparams, weight types, files and sizes) as a
 * malloc'ed string: stored in route stores and printed by `inspect --json`. */
char *ms_model_describe_json(const ms_model *m);

/* ---------------------------------------------------------------------------------------
 * Tokenizer: SentencePiece-style BPE (Llama/Mistral/Mixtral), from GGUF metadata or from a
 * Hugging Face tokenizer.json. Opened together with the model (ms_model_tokenizer) or on its
 * own from a vocabulary file.
 */
typedef struct ms_tokenizer ms_tokenizer;

/* The model's tokenizer (owned by the model; NULL only if the model has none). */
const ms_tokenizer *ms_model_tokenizer(const ms_model *m);
/* Standalone: a .gguf file (metadata only is used), a tokenizer.json (with the
 * tokenizer_config.json beside it, when present), an HF folder (its tokenizer.json) or a
 * .safetensors file of one. A tokenizer is immutable once open: several threads may tokenize
 * with it at once. */
int ms_tokenizer_open(ms_tokenizer **out, const char *path, char *err, size_t errlen);
void ms_tokenizer_free(ms_tokenizer *t);

int ms_tokenizer_n_vocab(const ms_tokenizer *t);
int ms_tokenizer_bos(const ms_tokenizer *t); /* -1 if none */
int ms_tokenizer_eos(const ms_tokenizer *t);
int ms_tokenizer_adds_bos(const ms_tokenizer *t);
/* 1 for byte-level BPE (GPT-2 family): pieces are stored byte-spelled ("Ġworld"); show them
 * with ms_token_display. */
int ms_tokenizer_byte_level(const ms_tokenizer *t);
/* Encodes len bytes of text (need not be NUL-terminated) exactly as llama.cpp does (GGUF) or
 * as Hugging Face tokenizers do (tokenizer.json); special-token text such as "<s>" in the
 * input is plain text. With add_bos, the model's special tokens: BOS first when the model
 * adds it (and EOS last when it adds EOS). Empty text gives BOS only. Invalid UTF-8 is
 * encoded as byte-fallback tokens <0xXX>, llama.cpp's way (docs/TOKENIZER.md). *ids is
 * malloc'ed. Returns 0 or MS_ERR_RUNTIME (out of memory, text over 512 MiB). */
int ms_tokenize(const ms_tokenizer *t, const char *text, size_t len, int add_bos, int32_t **ids,
                int64_t *n_ids);
/* Flags of ms_tokenize_ex. MS_TOKENIZE_BOS: add_bos of ms_tokenize. MS_TOKENIZE_SPECIAL: the
 * text of control tokens (<|start|>, <s>, <|endoftext|>, ...) in the input becomes those
 * tokens, as llama.cpp's parse_special and Hugging Face's default do (for chat transcripts
 * written in the model's template); without it such text is plain text (corpora). */
enum { MS_TOKENIZE_BOS = 1, MS_TOKENIZE_SPECIAL = 2, MS_TOKENIZE_ORIGINAL_REGEX = 4 };
/* MS_TOKENIZE_ORIGINAL_REGEX: a GGUF whose pre-tokenizer llama.cpp runs as a rewritten pattern
 * that splits some texts differently from the model's own (gpt-4o: GPT-OSS's o200k, on
 * combining marks and non-ASCII case) is split with the model's pattern, as it was trained
 * (tiktoken, the tokenizer.json); other tokenizers are unaffected. */
int ms_tokenize_ex(const ms_tokenizer *t, const char *text, size_t len, unsigned flags,
                   int32_t **ids, int64_t *n_ids);
/* The token's piece as stored in the vocabulary ("▁the", "<0x0A>"); NULL if out of range. */
const char *ms_token_piece(const ms_tokenizer *t, int32_t id);
/* Detokenize: appends the text of ids[0..n) to out (capacity cap, always NUL-terminated) and
 * returns the full length needed. Handles "▁", byte tokens and the leading space that the
 * space prefix added. A character split across byte tokens is assembled; bytes that never
 * form valid UTF-8 become U+FFFD, so the output is always valid UTF-8. */
size_t ms_detokenize(const ms_tokenizer *t, const int32_t *ids, int64_t n, char *out, size_t cap);
/* Text of ids[0..n) for views that colour each token (valid UTF-8, NUL-terminated,
 * malloc'ed; NULL if out of memory), and offs[0..n] (caller-allocated, n + 1 entries): token
 * i's text is [offs[i], offs[i+1]). A character split across byte tokens belongs to the token
 * that completes it (the others get empty text); a sequence that never forms a character
 * becomes U+FFFD on the token where that shows. strip_prefix: drop the one leading space that
 * the space prefix added (as ms_detokenize does). */
char *ms_detokenize_spans(const ms_tokenizer *t, const int32_t *ids, int64_t n, int strip_prefix,
                          int64_t *offs);
/* Text of one token for display (byte tokens that are not valid UTF-8 alone are shown as
 * "<0xXX>"). Writes at most cap bytes, NUL-terminated; returns length. */
size_t ms_token_display(const ms_tokenizer *t, int32_t id, char *out, size_t cap);
/* A JSON summary (kind, vocab size, bos/eos, add_bos, add_space_prefix) as malloc'ed string. */
char *ms_tokenizer_describe_json(const ms_tokenizer *t);

/* ---------------------------------------------------------------------------------------
 * Router hook and forward pass.
 */

/* What the engine hands to a probe after each layer's router, for the whole window.
 * All arrays are token-major and owned by the engine (valid only during the call). */
typedef struct ms_route_event {
    int layer;        /* model layer index */
    int64_t n_tokens; /* tokens in this window */
    int64_t pos0;     /* position of the first token in the window */
    int n_expert, k;
    const float *logits;  /* (n_tokens, n_expert) router logits */
    const int32_t *ids;   /* (n_tokens, k) expert ids, rank order (first choice first) */
    const float *weights; /* (n_tokens, k) weights the layer applies (renormalised if the
                             router kind renormalises) */
    const float *scores;  /* DeepSeek kinds (ds_softmax, ds_sigmoid): (n_tokens, n_expert) what
                             the selection ranked: softmax or sigmoid of the logits plus the
                             selection bias, -inf in the groups left out; NULL otherwise */
} ms_route_event;

/* Probes observe; they must not change anything the engine owns. Returning non-zero stops the
 * forward pass (ms_forward returns MS_ERR_RUNTIME). */
typedef int (*ms_route_hook)(void *user, const ms_route_event *ev);

typedef struct ms_engine ms_engine;

typedef struct ms_engine_opts {
    int n_threads;      /* 0: all cores. Results are bit-identical whatever the count. */
    int64_t max_tokens; /* window capacity (scratch is sized for it); 0: 2048 */
    int want_logits;    /* MS_LOGITS_ALL (1): lm_head logits for every position of the
                           window; MS_LOGITS_LAST (2): only the last position's (n_vocab floats,
                           lm_head runs for that row only); 0: none */
    /* Routing-only: when ms_forward gets no logits buffer the engine skips lm_head and the
     * last layer's expert FFN (routing of the last layer is still computed). */
} ms_engine_opts;
#define MS_LOGITS_ALL  1
#define MS_LOGITS_LAST 2

/* Allocates all scratch for windows up to opts->max_tokens. */
int ms_engine_open(ms_engine **out, const ms_model *m, const ms_engine_opts *opts, char *err,
                   size_t errlen);
void ms_engine_close(ms_engine *e);

/* Runs one window of n tokens (positions 0..n-1, causal attention within the window; with a
 * sliding window W, query i sees keys j with i - W < j <= i). The router's top-k breaks ties
 * in probability by taking the lower expert id first. hook may be NULL; it is called once per
 * layer, in layer order, after that layer's router. If logits is not NULL (requires
 * want_logits), writes (n, n_vocab) logits, or (1, n_vocab) for the last position with
 * MS_LOGITS_LAST.
 * Performs no allocation. Returns 0, MS_ERR_INPUT (n too large, token id out of range, or
 * router logits that are NaN/Inf: "<model>: layer L: router logits are not finite ...", a
 * broken model, reported before the hook sees the layer) or MS_ERR_RUNTIME (hook asked to
 * stop). */
int ms_forward(ms_engine *e, const int32_t *tokens, int64_t n, ms_route_hook hook, void *user,
               float *logits, char *err, size_t errlen);

/* Several documents packed into one window: segment s is the seg_len[s] tokens that follow
 * segment s - 1 in tokens[] (n_seg >= 1, every seg_len >= 1, their sum at most max_tokens).
 * Each segment is computed as if alone in its own window: positions restart at 0 and
 * attention sees only the segment's own tokens, and because every matrix product computes a
 * row the same way whatever other rows share it (engine/kernels.h), routes and logits are
 * bit-identical to ms_forward on each segment alone. The hook sees each layer once, for all
 * tokens of the window (segments in order, pos0 0). logits: (n, n_vocab) with MS_LOGITS_ALL;
 * MS_LOGITS_LAST gives the last token of the last segment only. Why: a forward pass streams
 * every expert's weights, so short documents run together cost the weights once.
 * ms_forward(e, t, n, ...) is ms_forward_packed with one segment of n tokens. */
int ms_forward_packed(ms_engine *e, const int32_t *tokens, const int64_t *seg_len, int64_t n_seg,
                      ms_route_hook hook, void *user, float *logits, char *err, size_t errlen);

/* Time spent per stage since open (wall seconds of the calling thread), for
 * `capture --profile`: attention = norm, q/k/v, RoPE, attention, output projection; router =
 * norm, router GEMM, softmax/top-k; experts = grouped expert FFNs and their sum; lm_head =
 * final norm and output GEMM; other = embeddings and the probe hook. dequant is CPU seconds
 * summed over threads spent dequantizing weight tiles (it overlaps the other stages). */
typedef struct ms_profile {
    double attention, router, experts, dequant, lm_head, other;
    int64_t tokens;
} ms_profile;
void ms_engine_profile(const ms_engine *e, ms_profile *p);

/* ---------------------------------------------------------------------------------------
 * Fixture writer (for tests, the demo and benchmarks): a random-weight Mixtral-architecture
 * model, deterministic from the seed, written as GGUF and/or a Hugging Face folder that
 * describe the same model (same weights up to the storage type).
 */
typedef struct ms_fixture_opts {
    uint64_t seed;
    int d_model, n_layer, n_head, n_head_kv, d_ff, n_expert, n_expert_used;
    int n_ctx;          /* context length recorded in the file */
    int sliding_window; /* 0: none */
    float rope_theta, norm_eps;
    float weight_scale;     /* std of the random weights (0: 1/sqrt(fan_in)) */
    const char *vocab_gguf; /* vocabulary source: a GGUF with tokenizer metadata */
    int expert_layout;      /* 0: stacked ffn_*_exps (current llama.cpp), 1: per-expert tensors */
    int tied_embeddings;    /* 1: no output.weight / lm_head.weight (lm_head = tok_embd) */
    const char *arch;       /* family (ms_arch names: "mixtral", "olmoe", "qwen2moe",
                               "qwen3moe", "granitemoe"); NULL: mixtral */
    int d_head;             /* 0: d_model / n_head (Qwen3 checkpoints use another) */
    int d_ff_shared;        /* qwen2moe: shared expert's intermediate size (0: d_ff) */
    int n_dense_lead;       /* deepseek: leading dense layers (their width: d_ff * k) */
    int n_shared;           /* deepseek: shared experts (0: 2); their width is n_shared * d_ff */
    float expert_weights_scale; /* deepseek: expert_weights_scale written (0: 1.5) */
    /* deepseek2 (latent attention): d_head is the heads' nope part (0: d_model / n_head) */
    int q_lora_rank;         /* 0: no q low-rank path (one attn_q matrix) */
    int kv_lora_rank;        /* 0: 32 */
    int d_head_rope;         /* 0: 16 */
    int d_head_v;            /* 0: the nope part's size */
    int mla_kv_b_fused;      /* 1: one attn_kv_b tensor (older llama.cpp files); 0: the split
                                attn_k_b / attn_v_b of current converters */
    int router_sigmoid;      /* 1: V3 router (sigmoid, exp_probs_b selection bias written) */
    int n_group, topk_group; /* expert groups (0: none) */
    int expert_weights_norm; /* renormalise the k weights */
    float yarn_factor; /* > 0: YaRN RoPE scaling by this factor over the original context n_ctx */
} ms_fixture_opts;

/* Writes a GGUF file with all weights of type `type` (norms and router stay F32). A tensor whose
 * row length is not a multiple of the type's block falls back to Q8_0 (K types, when the row
 * is a multiple of 32) or F16. `type` may also be MS_FIXTURE_Q4_K_M: a mix like llama.cpp's
 * Q4_K_M (Q4_K; output, and attn_v / ffn_down of the layers llama.cpp's use_more_bits() picks,
 * in Q6_K). With MS_TYPE_MXFP4 only the routed experts are MXFP4 and every other matrix is
 * F32 (llama.cpp's MXFP4_MOE file type). */
#define MS_FIXTURE_Q4_K_M 1015
int ms_fixture_write_gguf(const ms_fixture_opts *o, ms_type type, const char *path, char *err,
                          size_t errlen);
/* Writes an HF folder: config.json, model.safetensors (or shards when shard_bytes > 0, with
 * model.safetensors.index.json), tokenizer.json, tokenizer_config.json. dtype: F32 or BF16. */
int ms_fixture_write_hf(const ms_fixture_opts *o, ms_type dtype, const char *dir,
                        uint64_t shard_bytes, char *err, size_t errlen);

#endif
