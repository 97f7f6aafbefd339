/* router_v3.h — the DeepSeek V2/V3 router kinds for one token (engine-private): softmax or
 * sigmoid scores, the V3 selection bias (`e_score_correction_bias`, GGUF `exp_probs_b`) that
 * changes which experts are chosen but not their weights, group-limited selection (`n_group`,
 * `topk_group`), `norm_topk_prob` and `routed_scaling_factor`, computed as llama.cpp's
 * build_moe_ffn (src/llama-graph.cpp) and transformers' DeepseekV3 MoEGate do.
 *
 * Not yet wired to a family: the deepseek2 loader (MLA) is to come. */
#ifndef MS_ROUTER_V3_H
#define MS_ROUTER_V3_H

#include <stddef.h>
#include <stdint.h>

typedef enum ms_group_score {
    MS_GROUP_TOP2_SUM = 0, /* a group's score: the sum of its two best biased scores (V3;
                              llama.cpp for every family with n_group > 1) */
    MS_GROUP_MAX = 1,      /* its best score (transformers' V2 "group_limited_greedy") */
} ms_group_score;

typedef struct ms_router_v3 {
    int n_expert, k;
    int sigmoid;             /* 1: scores = sigmoid(logits) (V3); 0: softmax over E (V2) */
    const float *bias;       /* n_expert selection biases added to the scores, or NULL */
    int n_group, topk_group; /* n_group <= 1: no group limit */
    ms_group_score group_score;
    int norm_topk_prob;          /* weights / their sum (clamped at 2^-14, as llama.cpp) */
    float routed_scaling_factor; /* weights x it; 0 means 1 */
} ms_router_v3;

/* 0, or -1 with a message "router: <problem>" for an inconsistent configuration (E, k out of
 * range, n_group not dividing E, topk_group out of [1, n_group], fewer than k experts in
 * topk_group groups, top-2 group scores with groups of one expert, a non-finite bias). */
int ms_router_v3_check(const ms_router_v3 *r, char *err, size_t errlen);

/* Routes one token. logits: n_expert router logits. scores (optional, n_expert): the biased
 * scores the selection ranked (-INFINITY for experts of masked groups). ids: the k experts
 * in rank order (equal biased scores: the lower id first); weights: the k weights applied
 * (unbiased scores, renormalised if asked, times the scaling factor). r must pass the check. */
void ms_router_v3_route(const ms_router_v3 *r, const float *logits, float *scores, int32_t *ids,
                        float *weights);

#endif
