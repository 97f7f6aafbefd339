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
 * BF16, Q8_0, Q4_K and Q6_K (forward_dequant.c). */
void ms_fwd_dequant_row(ms_type t, const uint8_t *src, float *dst, int64_t n);

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

#endif
