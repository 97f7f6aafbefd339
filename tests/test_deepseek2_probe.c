/* test_deepseek2_probe.c — what a probe sees for the DeepSeek router kinds (ms_route_event
 * .scores): on a deepseek2 model given on the command line, at every MoE layer and token,
 * scores[e] = sigmoid(logit[e]) (or softmax over the logits) + exp_probs_b[e] recomputed here
 * from the event's logits and the file's bias, -inf exactly in the groups left out (the
 * topk_group groups of best top-2 score sum kept), the ids the k best scores in rank order,
 * and the weights the unbiased scores of the chosen renormalised (expert_weights_norm) times
 * expert_weights_scale. The ids and logits themselves are checked against llama.cpp by
 * test_deepseek2_oracle.py; this checks the scores' definition against them.
 *
 * usage: test_deepseek2_probe MODEL */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails;
static long checked;

typedef struct ctx {
    const ms_model *m;
} ctx;

static double score_of(const ms_hparams *hp, const float *lg, int e, const float *bias) {
    double p;
    if (hp->router == MS_ROUTER_DS_SIGMOID) {
        p = 1.0 / (1.0 + exp(-(double)lg[e]));
    } else {
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < hp->n_expert; i++)
            mx = lg[i] > mx ? lg[i] : mx;
        for (int i = 0; i < hp->n_expert; i++)
            sum += exp(lg[i] - mx);
        p = exp(lg[e] - mx) / sum;
    }
    return p + (bias ? bias[e] : 0.0);
}

static int hook(void *user, const ms_route_event *ev) {
    const ctx *c = user;
    const ms_hparams *hp = ms_model_hparams(c->m);
    const ms_layer *ly = ms_model_layer(c->m, ev->layer);
    const int E = ev->n_expert, K = ev->k;
    if (!ev->scores) {
        printf("FAIL layer %d: no scores for a DeepSeek router\n", ev->layer);
        fails++;
        return 0;
    }
    const float *bias = NULL;
    if (ly->exp_probs_b.data) {
        if (ly->exp_probs_b.type != MS_TYPE_F32) return 0; /* fixtures store it F32 */
        bias = (const float *)(const void *)ly->exp_probs_b.data;
    }
    const int G = hp->n_group > 1 ? hp->n_group : 1, per = E / G;
    for (int64_t t = 0; t < ev->n_tokens; t++) {
        const float *lg = ev->logits + t * E, *sc = ev->scores + t * E;
        const int32_t *ids = ev->ids + t * K;
        const float *w = ev->weights + t * K;
        /* groups: recompute which are kept from the unmasked scores */
        double gs[256];
        int keep[256] = {0};
        for (int g = 0; g < G; g++) {
            double a = -INFINITY, b = -INFINITY;
            for (int i = 0; i < per; i++) {
                double s = score_of(hp, lg, g * per + i, bias);
                if (s > a) {
                    b = a;
                    a = s;
                } else if (s > b)
                    b = s;
            }
            gs[g] = G > 1 ? a + b : 0;
        }
        for (int j = 0; j < (G > 1 ? hp->topk_group : 1); j++) {
            int best = -1;
            for (int g = 0; g < G; g++)
                if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
            keep[best] = 1;
        }
        for (int e = 0; e < E; e++) {
            double want = keep[e / per] ? score_of(hp, lg, e, bias) : -INFINITY;
            int ok = isinf(want) ? isinf(sc[e]) && sc[e] < 0 : fabs(sc[e] - want) <= 1e-5;
            if (!ok && fails < 10)
                printf("FAIL layer %d token %lld expert %d: score %.7g, want %.7g\n", ev->layer,
                       (long long)t, e, sc[e], want);
            fails += !ok;
        }
        /* ids: the k best scores, rank order */
        for (int j = 0; j < K; j++) {
            int bad = !isfinite(sc[ids[j]]) || (j > 0 && sc[ids[j]] > sc[ids[j - 1]]);
            for (int e = 0; e < E && !bad; e++) {
                int chosen = 0;
                for (int q = 0; q < K; q++)
                    chosen |= ids[q] == e;
                if (!chosen && sc[e] > sc[ids[K - 1]]) bad = 1;
            }
            if (bad && fails < 10)
                printf("FAIL layer %d token %lld: ids are not the top-k of the scores\n", ev->layer,
                       (long long)t);
            fails += bad;
        }
        /* weights: unbiased scores of the chosen, renormalised, times the scale */
        double sum = 0, ws = hp->expert_weights_scale > 0 ? hp->expert_weights_scale : 1.0;
        for (int j = 0; j < K; j++)
            sum += sc[ids[j]] - (bias ? bias[ids[j]] : 0.0);
        for (int j = 0; j < K; j++) {
            double u = sc[ids[j]] - (bias ? bias[ids[j]] : 0.0);
            double want = (hp->expert_weights_norm ? u / sum : u) * ws;
            if (fabs(w[j] - want) > 1e-5 * (want > 1 ? want : 1)) {
                if (fails < 10)
                    printf("FAIL layer %d token %lld rank %d: weight %.7g, want %.7g\n", ev->layer,
                           (long long)t, j, w[j], want);
                fails++;
            }
        }
        checked++;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_deepseek2_probe MODEL\n");
        return 2;
    }
    char err[512];
    ms_model *m = NULL;
    ms_model_opts mo = {argv[1]};
    if (ms_model_open(&m, &mo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const ms_hparams *hp = ms_model_hparams(m);
    if (hp->router != MS_ROUTER_DS_SIGMOID && hp->router != MS_ROUTER_DS_SOFTMAX) {
        fprintf(stderr, "%s: not a DeepSeek router\n", argv[1]);
        return 1;
    }
    const char *text = "The river valley floods every spring, and the farmers built terraces "
                       "on the slopes to keep the soil. def f(x): return x * 2";
    int32_t *ids = NULL;
    int64_t n = 0;
    ms_tokenize(ms_model_tokenizer(m), text, strlen(text), 1, &ids, &n);
    ms_engine *e = NULL;
    ms_engine_opts eo = {.n_threads = 2, .max_tokens = 256};
    if (ms_engine_open(&e, m, &eo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    ctx c = {m};
    if (ms_forward(e, ids, n, hook, &c, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%s: %ld (layer, token) events checked, %d failures\n", argv[1], checked, fails);
    ms_engine_close(e);
    free(ids);
    ms_model_close(m);
    return fails || checked == 0;
}
