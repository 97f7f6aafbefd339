/* forward_model.c — ms_engine_open: the forward pass over a loaded ms_model. Kept apart from
 * forward.c so that the engine core (ms_engine_open_view) can be built and tested over
 * in-memory models without the loader. */
#include "forward_int.h"

#include <stdio.h>
#include <stdlib.h>

int ms_engine_open(ms_engine **out, const ms_model *m, const ms_engine_opts *opts, char *err,
                   size_t errlen) {
    *out = NULL;
    const ms_hparams *hp = ms_model_hparams(m);
    if (!hp || hp->n_layer < 1) {
        snprintf(err, errlen, "forward: model has no layers");
        return MS_ERR_INPUT;
    }
    ms_layer *layers = malloc((size_t)hp->n_layer * sizeof *layers); /* [n_layer] */
    if (!layers) {
        snprintf(err, errlen, "forward: out of memory");
        return MS_ERR_RUNTIME;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        const ms_layer *ly = ms_model_layer(m, il);
        if (!ly) {
            free(layers);
            snprintf(err, errlen, "forward: model has no layer %d", il);
            return MS_ERR_INPUT;
        }
        layers[il] = *ly;
    }
    ms_fwd_model v = {*hp,
                      layers,
                      ms_model_tok_embd(m),
                      ms_model_out_norm(m),
                      ms_model_lm_head(m),
                      ms_model_path(m)};
    int rc = ms_engine_open_view(out, &v, opts, err, errlen);
    free(layers); /* the engine keeps its own copy of the layer records */
    return rc;
}
