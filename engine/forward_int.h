/* forward_int.h — engine-private pieces of the forward pass: the model view the engine runs
 * on, the router's small functions, and the worker pool.
 *
 * The engine does not depend on how a model was loaded: ms_engine_open (forward_model.c)
 * builds an ms_fwd_model from an ms_model's accessors, and tests build one over their own
 * f32 arrays (tests/test_forward.c). The view's matrices must stay valid while the engine is
 * open. */
#ifndef MS_FORWARD_INT_H
#define MS_FORWARD_INT_H

#include "engine.h"

typedef struct ms_fwd_model {
    ms_hparams hp;
    const ms_layer *layers; /* [hp.n_layer] */
    const ms_mat *tok_embd; /* (n_vocab, d_model) */
    const ms_mat *out_norm; /* (1, d_model) */
    const ms_mat *lm_head;  /* (n_vocab, d_model); may equal tok_embd */
    const char *source;     /* model path for messages (may be NULL); outlives the engine */
} ms_fwd_model;

/* Opens an engine over a model view (validates shapes against hp; MS_ERR_INPUT names the
 * first inconsistent tensor). */
int ms_engine_open_view(ms_engine **out, const ms_fwd_model *m, const ms_engine_opts *opts,
                        char *err, size_t errlen);

/* Router, one token at a time (E = n_expert, k = n_expert_used).
 * probs = softmax(logits) over all E experts (max-subtracted, f32 with a double sum). */
void ms_router_probs(const float *logits, int n_expert, float *probs);
/* The k largest probs in rank order (first choice first). Ties: the lower expert id ranks
 * first. ids[k], p[k] (the selected probabilities). */
void ms_router_topk(const float *probs, int n_expert, int k, int32_t *ids, float *p);
/* Weights the layer applies to the k experts: p renormalised to sum 1 for
 * MS_ROUTER_SOFTMAX_TOPK_RENORM and MS_ROUTER_TOPK_SOFTMAX (a softmax over the k selected
 * logits is exactly the renormalised top-k of the full softmax; the ranking is the same since
 * softmax is monotonic), p unchanged for MS_ROUTER_SOFTMAX_TOPK. */
void ms_router_weights(ms_router_kind kind, const float *p, int k, float *weights);

/* Dequantizes n elements of a row like ms_dequantize_row (bit-identical), with AVX2 paths for
 * BF16, Q8_0, Q4_K and Q6_K (forward_dequant.c); F32 rows are copied. */
void ms_fwd_dequant_row(ms_type t, const uint8_t *src, float *dst, int64_t n);
/* Row `row`, columns [col0, col0 + n) of w (src: their bytes), with the matrix's block scales
 * (FP8) or block exponents (MXFP4_HF: col0 and n multiples of 32) when it has them. */
void ms_fwd_dequant_mat_row(const ms_mat *w, const uint8_t *src, int64_t row, int64_t col0,
                            float *dst, int64_t n);

/* A fixed pool of worker threads. ms_pool_run calls fn(ctx, task, thread) for every task in
 * [0, n_tasks) and returns when all have finished; the calling thread takes part as thread
 * 0. Which thread runs a task varies; tasks must write disjoint outputs so results do not
 * depend on the thread count. */
typedef struct ms_pool ms_pool;
typedef void (*ms_pool_fn)(void *ctx, int64_t task, int thread);
int ms_pool_create(ms_pool **out, int n_threads); /* 0 or MS_ERR_RUNTIME */
void ms_pool_free(ms_pool *p);
int ms_pool_threads(const ms_pool *p);
void ms_pool_run(ms_pool *p, ms_pool_fn fn, void *ctx, int64_t n_tasks);

/* forward.c's pieces that the latent attention (forward_mla.c) runs on. */
/* Y (m, w->rows), row stride ldy = X (m, w->cols), row stride ldx, · Wᵀ: an attention
 * projection (tiled, the packed kernel; forward.c's header says why per matrix). */
void ms_fwd_matmul(ms_engine *e, const ms_mat *w, const float *x, int64_t ldx, int64_t m, float *y,
                   int64_t ldy);
/* y = x / sqrt(mean(x²) + eps) · w for each of n rows of d (y may be x). */
void ms_fwd_rmsnorm(float *y, const float *x, const float *w, int64_t n, int d, float eps);
/* y[i] = exp(y[i] - mx) for the attention softmax. */
void ms_fwd_exp_shifted(float *y, int64_t n, float mx);
ms_pool *ms_fwd_pool(ms_engine *e);

/* DeepSeek-V2/V3 multi-head latent attention (forward_mla.c): scratch for windows of T
 * tokens, allocated at engine open. */
typedef struct ms_mla ms_mla;
typedef struct ms_mla_window {
    const int32_t *pos;                      /* (n) position of each row in its segment */
    const int64_t *ch_base, *ch_q0, *ch_len; /* attention chunks (forward.c) */
    int64_t n_chunks;
} ms_mla_window;
int ms_mla_open(ms_mla **out, const ms_hparams *hp, int64_t T, int64_t qchunk, int n_threads);
void ms_mla_close(ms_mla *a);
/* The latent attention tensors of layer il against hp (MS_ERR_INPUT naming the tensor). */
int ms_mla_check_layer(const ms_hparams *hp, const ms_layer *L, int il, char *err, size_t errlen);
/* xn (n, d_model): the normed input, overwritten with the attention block's output. */
void ms_mla_attention(ms_mla *a, ms_engine *e, const ms_layer *ly, const ms_hparams *hp, float *xn,
                      int64_t n, const ms_mla_window *w);
/* The DeepSeek router of a layer over n tokens (router_v3.c): scores (n, E) ranked, ids and
 * weights (n, k), the weights before expert_weights_scale. MS_ERR_INPUT for a configuration
 * router_v3 refuses. */
int ms_mla_route(ms_mla *a, const ms_hparams *hp, const ms_layer *ly, const float *logits,
                 int64_t n, float *scores, int32_t *ids, float *weights);

#endif
