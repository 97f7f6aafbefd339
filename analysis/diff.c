/* diff.c — `moescope diff`: token-by-token agreement of two route stores of the same tokens
 * (e.g. a quantized and a full-precision model on one corpus). Both stores are streamed in
 * chunks; the token ids, documents and positions must be identical row by row.
 * Memory: two chunks of (chunk_rows, L_stored, k) ids. */
#include "analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ms_diff_free(ms_diff *d) {
    if (!d) return;
    free(d->layers);
    free(d);
}

static int slot_of(const ms_routes_info *in, int layer) {
    for (int s = 0; s < in->n_layers; s++)
        if (in->layers[s] == layer) return s;
    return -1;
}

int ms_routes_diff(ms_diff **out, const char *pa, const char *pb, const int *layers, int n_layers,
                   int64_t chunk, char *err, size_t errlen) {
    *out = NULL;
    ms_routes *ra = NULL, *rb = NULL;
    ms_diff *res = NULL;
    int *sa = NULL, *sb = NULL;
    int32_t *ta = NULL, *tb = NULL, *da = NULL, *db = NULL, *qa = NULL, *qb = NULL;
    int32_t *ia = NULL, *ib = NULL;
    double *overlap = NULL;
    int rc = ms_routes_open(&ra, pa, err, errlen);
    if (rc) goto done;
    if ((rc = ms_routes_open(&rb, pb, err, errlen))) goto done;
    const ms_routes_info *A = ms_routes_info_get(ra), *B = ms_routes_info_get(rb);
    rc = MS_ERR_INPUT;
    if (A->n_tokens != B->n_tokens) {
        snprintf(err, errlen, "%s: holds %lld tokens but %s holds %lld", pb, (long long)B->n_tokens,
                 pa, (long long)A->n_tokens);
        goto done;
    }
    if (A->n_tokens == 0) { /* every rate would be 0/0 */
        snprintf(err, errlen, "%s: the store holds no documents: nothing to compare", pa);
        goto done;
    }
    if (A->n_expert != B->n_expert || A->k != B->k) {
        snprintf(err, errlen, "%s: routes over E=%d k=%d but %s over E=%d k=%d", pb, B->n_expert,
                 B->k, pa, A->n_expert, A->k);
        goto done;
    }
    const int k = A->k;
    int L = 0;
    sa = calloc((size_t)A->n_layers + (size_t)(n_layers > 0 ? n_layers : 0) + 1, sizeof(int));
    sb = calloc((size_t)A->n_layers + (size_t)(n_layers > 0 ? n_layers : 0) + 1, sizeof(int));
    res = calloc(1, sizeof *res);
    if (!sa || !sb || !res) goto oom;
    if (layers) {
        for (int i = 0; i < n_layers; i++) {
            sa[L] = slot_of(A, layers[i]), sb[L] = slot_of(B, layers[i]);
            if (sa[L] < 0 || sb[L] < 0) {
                snprintf(err, errlen, "%s: layer %d is %s", sa[L] < 0 ? pa : pb, layers[i],
                         ms_routes_layer_dense(sa[L] < 0 ? A : B, layers[i])
                             ? "a dense layer of the model (no router, never stored)"
                             : "not stored");
                goto done;
            }
            L++;
        }
    } else {
        for (int s = 0; s < A->n_layers; s++)
            if ((sb[L] = slot_of(B, A->layers[s])) >= 0) sa[L++] = s;
    }
    if (L == 0) {
        snprintf(err, errlen, "%s: no layer is stored in both %s and %s", pb, pa, pb);
        goto done;
    }
    res->n_tokens = A->n_tokens, res->n_expert = A->n_expert, res->k = k, res->n_layers = L;
    res->layers = calloc((size_t)L, sizeof *res->layers);
    overlap = calloc((size_t)L, sizeof *overlap);
    if (chunk <= 0) chunk = 65536;
    if ((uint64_t)chunk > SIZE_MAX / sizeof(int32_t) / (size_t)(A->n_layers + B->n_layers) / k)
        goto oom;
    ta = malloc(sizeof *ta * (size_t)chunk), tb = malloc(sizeof *tb * (size_t)chunk);
    da = malloc(sizeof *da * (size_t)chunk), db = malloc(sizeof *db * (size_t)chunk);
    qa = malloc(sizeof *qa * (size_t)chunk), qb = malloc(sizeof *qb * (size_t)chunk);
    ia = malloc(sizeof *ia * (size_t)chunk * A->n_layers * k);
    ib = malloc(sizeof *ib * (size_t)chunk * B->n_layers * k);
    if (!res->layers || !overlap || !ta || !tb || !da || !db || !qa || !qb || !ia || !ib) goto oom;
    for (int l = 0; l < L; l++)
        res->layers[l].layer = A->layers[sa[l]];
    for (int64_t t0 = 0; t0 < A->n_tokens; t0 += chunk) {
        int64_t n = A->n_tokens - t0 < chunk ? A->n_tokens - t0 : chunk;
        if ((rc = ms_routes_read(ra, t0, n, ta, da, qa, ia, NULL, NULL, err, errlen))) goto done;
        if ((rc = ms_routes_read(rb, t0, n, tb, db, qb, ib, NULL, NULL, err, errlen))) goto done;
        rc = MS_ERR_INPUT;
        for (int64_t t = 0; t < n; t++) {
            if (ta[t] != tb[t] || da[t] != db[t] || qa[t] != qb[t]) {
                snprintf(err, errlen,
                         "%s: token row %lld differs from %s (id %d/%d, doc %d/%d, pos %d/%d): "
                         "not the same tokens",
                         pb, (long long)(t0 + t), pa, tb[t], ta[t], db[t], da[t], qb[t], qa[t]);
                goto done;
            }
            for (int l = 0; l < L; l++) {
                const int32_t *x = ia + (t * A->n_layers + sa[l]) * k; /* [k] */
                const int32_t *y = ib + (t * B->n_layers + sb[l]) * k; /* [k] */
                int common = 0;
                for (int r = 0; r < k; r++) {
                    int dup = 0, hit = 0;
                    for (int q = 0; q < r; q++)
                        dup |= x[q] == x[r];
                    for (int q = 0; q < k; q++)
                        hit |= y[q] == x[r];
                    common += !dup && hit;
                }
                /* sets are equal iff every element of each is in the other */
                int same = 1;
                for (int r = 0; r < k && same; r++) {
                    int hx = 0, hy = 0;
                    for (int q = 0; q < k; q++)
                        hx |= y[q] == x[r], hy |= x[q] == y[r];
                    same = hx && hy;
                }
                res->layers[l].first_agree += x[0] == y[0];
                res->layers[l].topk_set_agree += same;
                overlap[l] += (double)common / k;
            }
        }
    }
    res->rank_order = A->rank_order && B->rank_order;
    for (int l = 0; l < L; l++) {
        ms_diff_layer *x = &res->layers[l];
        double T = (double)A->n_tokens;
        /* ids not in rank order (docs/IMPORT.md): which was first choice is unknown */
        x->first_agree_rate = !res->rank_order ? NAN : T > 0 ? x->first_agree / T : 0;
        x->topk_set_agree_rate = T > 0 ? x->topk_set_agree / T : 0;
        x->topk_overlap_mean = T > 0 ? overlap[l] / T : 0;
    }
    *out = res;
    res = NULL;
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory", pa);
    rc = MS_ERR_RUNTIME;
done:
    ms_diff_free(res);
    free(sa), free(sb), free(ta), free(tb), free(da), free(db), free(qa), free(qb);
    free(ia), free(ib), free(overlap);
    if (ra) ms_routes_close(ra);
    if (rb) ms_routes_close(rb);
    return rc;
}
