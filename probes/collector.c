/* collector.c — the router hook that records one window's decisions for the chosen layers
 * into buffers sized once at init (no allocation per call, as the forward pass itself).
 * Layout of the buffers is the route store's: token-major (n_tokens, n_layers, k). */
#include "probes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ms_collector_init(ms_route_collector *c, const int *layers, int n_layers, int n_expert, int k,
                      int64_t max_tokens, int want_logits, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (!layers || n_layers < 1 || n_layers > 4096 || n_expert < 1 || k < 1 || k > n_expert ||
        max_tokens < 1) {
        snprintf(err, errlen, "collector: invalid sizes (%d layers, E=%d, k=%d, %lld tokens)",
                 n_layers, n_expert, k, (long long)max_tokens);
        return MS_ERR_INPUT;
    }
    for (int i = 1; i < n_layers; i++)
        if (layers[i] <= layers[i - 1]) {
            snprintf(err, errlen, "collector: layer list not sorted or has duplicates");
            return MS_ERR_INPUT;
        }
    size_t lk = (size_t)n_layers * (size_t)k, le = (size_t)n_layers * (size_t)n_expert;
    if ((size_t)max_tokens > SIZE_MAX / 8 / le) {
        snprintf(err, errlen, "collector: window of %lld tokens too large", (long long)max_tokens);
        return MS_ERR_INPUT;
    }
    c->n_layers = n_layers;
    c->layers = layers;
    c->k = k;
    c->n_expert = n_expert;
    c->max_tokens = max_tokens;
    c->want_logits = want_logits != 0;
    c->ids = malloc(sizeof *c->ids * lk * (size_t)max_tokens);
    c->weights = malloc(sizeof *c->weights * lk * (size_t)max_tokens);
    if (want_logits) c->logits = malloc(sizeof *c->logits * le * (size_t)max_tokens);
    if (!c->ids || !c->weights || (want_logits && !c->logits)) {
        ms_collector_free(c);
        snprintf(err, errlen, "collector: out of memory");
        return MS_ERR_RUNTIME;
    }
    return 0;
}

void ms_collector_free(ms_route_collector *c) {
    free(c->ids);
    free(c->weights);
    free(c->logits);
    memset(c, 0, sizeof *c);
}

void ms_collector_begin(ms_route_collector *c) {
    c->n_tokens = 0;
    c->seen_mask_count = 0;
    c->err[0] = '\0';
}

int ms_collector_hook(void *user, const ms_route_event *ev) {
    ms_route_collector *c = user;
    int slot = -1;
    for (int i = 0; i < c->n_layers; i++)
        if (c->layers[i] == ev->layer) {
            slot = i;
            break;
        }
    if (slot < 0) return 0; /* a layer we do not store */
    if (ev->n_tokens < 0 || ev->n_tokens > c->max_tokens || ev->k != c->k ||
        ev->n_expert != c->n_expert) {
        snprintf(c->err, sizeof c->err,
                 "collector: layer %d event of %lld tokens, E=%d, k=%d does not fit (max %lld "
                 "tokens, E=%d, k=%d)",
                 ev->layer, (long long)ev->n_tokens, ev->n_expert, ev->k, (long long)c->max_tokens,
                 c->n_expert, c->k);
        return 1;
    }
    if (c->seen_mask_count > 0 && ev->n_tokens != c->n_tokens) {
        snprintf(c->err, sizeof c->err, "collector: layer %d saw %lld tokens, earlier layers %lld",
                 ev->layer, (long long)ev->n_tokens, (long long)c->n_tokens);
        return 1;
    }
    c->n_tokens = ev->n_tokens;
    const int64_t L = c->n_layers, k = c->k, E = c->n_expert;
    for (int64_t t = 0; t < ev->n_tokens; t++) {
        int32_t *dst = c->ids + (t * L + slot) * k; /* (t, slot, :) */
        float *dw = c->weights + (t * L + slot) * k;
        memcpy(dst, ev->ids + t * k, sizeof *dst * (size_t)k);
        memcpy(dw, ev->weights + t * k, sizeof *dw * (size_t)k);
        if (c->want_logits)
            memcpy(c->logits + (t * L + slot) * E, ev->logits + t * E, sizeof(float) * (size_t)E);
    }
    c->seen_mask_count++;
    return 0;
}
