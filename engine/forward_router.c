/* forward_router.c — the MoE router as three small functions, one token at a time:
 * logits → probabilities (softmax over all experts) → top-k in rank order → the weights the
 * layer applies. The engine calls them per token and hands every result to the probe hook.
 *
 * Tie rule (documented in docs and engine/forward_int.h): among equal probabilities the lower
 * expert id ranks first. */
#include "forward_int.h"

#include <assert.h>
#include <math.h>

void ms_router_probs(const float *logits, int n_expert, float *probs) {
    float mx = -INFINITY;
    for (int e = 0; e < n_expert; e++)
        if (logits[e] > mx) mx = logits[e];
    double sum = 0.0;
    for (int e = 0; e < n_expert; e++) {
        probs[e] = expf(logits[e] - mx);
        sum += probs[e];
    }
    float inv = (float)(1.0 / sum);
    for (int e = 0; e < n_expert; e++)
        probs[e] *= inv;
}

void ms_router_topk(const float *probs, int n_expert, int k, int32_t *ids, float *p) {
    assert(k >= 1 && k <= n_expert && k <= MS_MAX_TOPK);
    /* k passes of selection keep the rank order and the tie rule obvious; E is small. A
     * chosen expert is skipped by id, so NaN-free equal values are never picked twice. */
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int e = 0; e < n_expert; e++) {
            int taken = 0;
            for (int q = 0; q < r; q++)
                if (ids[q] == e) taken = 1;
            if (taken) continue;
            /* strictly greater: an equal probability keeps the lower id */
            if (best < 0 || probs[e] > probs[best]) best = e;
        }
        ids[r] = best;
        p[r] = probs[best];
    }
}

void ms_router_weights(ms_router_kind kind, const float *p, int k, float *weights) {
    if (kind == MS_ROUTER_SOFTMAX_TOPK) {
        for (int r = 0; r < k; r++)
            weights[r] = p[r];
        return;
    }
    float sum = 0.0f;
    for (int r = 0; r < k; r++)
        sum += p[r];
    for (int r = 0; r < k; r++)
        weights[r] = p[r] / sum;
}
