/* router_v3.c — DeepSeek V2/V3 routers (router_v3.h). */
#include "router_v3.h"

#include <math.h>
#include <stdio.h>

int ms_router_v3_check(const ms_router_v3 *r, char *err, size_t errlen) {
    const char *bad = NULL;
    if (r->n_expert < 1 || r->n_expert > 4096)
        bad = "n_expert must be in [1, 4096]";
    else if (r->k < 1 || r->k > r->n_expert || r->k > 64)
        bad = "k must be in [1, min(n_expert, 64)]";
    else if (r->n_group > 1 && r->n_expert % r->n_group)
        bad = "n_group must divide n_expert";
    else if (r->n_group > 1 && (r->topk_group < 1 || r->topk_group > r->n_group))
        bad = "topk_group must be in [1, n_group]";
    else if (r->n_group > 1 && (int64_t)r->topk_group * (r->n_expert / r->n_group) < r->k)
        bad = "the topk_group groups hold fewer than k experts";
    else if (r->n_group > 1 && r->group_score == MS_GROUP_TOP2_SUM && r->n_expert / r->n_group < 2)
        bad = "top-2 group scores need at least 2 experts per group";
    else if (!(r->routed_scaling_factor >= 0.0f) || !isfinite(r->routed_scaling_factor))
        bad = "routed_scaling_factor must be finite and >= 0";
    for (int e = 0; !bad && r->bias && e < r->n_expert; e++)
        if (!isfinite(r->bias[e])) bad = "the selection bias is not finite";
    if (bad) {
        snprintf(err, errlen, "router: %s", bad);
        return -1;
    }
    return 0;
}

/* index of the largest v[i] over i in [0, n) not yet taken (lower index on ties), or -1 */
static int argmax_free(const float *v, int n, const unsigned char *taken) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;
    return best;
}

void ms_router_v3_route(const ms_router_v3 *r, const float *logits, float *scores_out, int32_t *ids,
                        float *weights) {
    enum { MAXE = 4096 };
    float p[MAXE], sel[MAXE];
    unsigned char taken[MAXE];
    const int E = r->n_expert, K = r->k;
    if (r->sigmoid) {
        for (int e = 0; e < E; e++)
            p[e] = 1.0f / (1.0f + expf(-logits[e]));
    } else {
        float mx = -INFINITY;
        for (int e = 0; e < E; e++)
            if (logits[e] > mx) mx = logits[e];
        double sum = 0.0;
        for (int e = 0; e < E; e++) {
            p[e] = expf(logits[e] - mx);
            sum += p[e];
        }
        for (int e = 0; e < E; e++)
            p[e] = (float)(p[e] / sum);
    }
    for (int e = 0; e < E; e++)
        sel[e] = p[e] + (r->bias ? r->bias[e] : 0.0f);

    if (r->n_group > 1) {
        const int G = r->n_group, per = E / G;
        float gs[MAXE];
        unsigned char keep[MAXE] = {0}, gt[MAXE] = {0};
        for (int g = 0; g < G; g++) {
            const float *s = sel + g * per;
            for (int i = 0; i < per; i++)
                taken[i] = 0;
            int a = argmax_free(s, per, taken); /* per >= 1 (checked) */
            gs[g] = a >= 0 ? s[a] : -INFINITY;
            if (r->group_score == MS_GROUP_TOP2_SUM && a >= 0) {
                taken[a] = 1;
                int b = argmax_free(s, per, taken); /* per >= 2 (checked) */
                if (b >= 0) gs[g] += s[b];
            }
        }
        for (int j = 0; j < r->topk_group; j++) {
            int g = argmax_free(gs, G, gt);
            if (g < 0) break;
            gt[g] = keep[g] = 1;
        }
        for (int g = 0; g < G; g++)
            if (!keep[g])
                for (int i = 0; i < per; i++)
                    sel[g * per + i] = -INFINITY;
    }

    for (int e = 0; e < E; e++)
        taken[e] = 0;
    double sum = 0.0;
    for (int j = 0; j < K; j++) {
        int e = argmax_free(sel, E, taken);
        if (e < 0) e = 0; /* k <= E (checked): not reached */
        taken[e] = 1;
        ids[j] = e;
        weights[j] = p[e];
        sum += p[e];
    }
    if (r->norm_topk_prob) {
        const double den = sum > 6.103515625e-5 ? sum : 6.103515625e-5;
        for (int j = 0; j < K; j++)
            weights[j] = (float)(weights[j] / den);
    }
    if (r->routed_scaling_factor != 0.0f && r->routed_scaling_factor != 1.0f)
        for (int j = 0; j < K; j++)
            weights[j] *= r->routed_scaling_factor;
    if (scores_out)
        for (int e = 0; e < E; e++)
            scores_out[e] = sel[e];
}
