/* probes.h — consumers of the engine's router hook, and the HDF5 route store.
 *
 * Route store, format "moescope-routes" version 1 (full description: docs/ROUTE_STORE.md).
 * T tokens, L stored layers, k experts per token, E experts, D documents:
 *   /tokens/id          int32   [T]        token ids
 *   /tokens/doc         int32   [T]        document index (row of /documents)
 *   /tokens/pos         int32   [T]        position in its window (0 starts a new window)
 *   /routing/layers     int32   [L]        model layer of each stored layer slot
 *   /routing/expert     uint8   [T, L, k]  expert ids, rank order (uint16 when E > 256)
 *   /routing/weight     float32 [T, L, k]  router weights the layer applied
 *   /routing/logits     float32 [T, L, E]  router logits (only with --logits)
 *   /documents/domain   int32   [D]        index into /domains
 *   /documents/source   string  [D]        where the document came from ("file:line")
 *   /documents/first_token int64 [D]       row of its first token in /tokens
 *   /documents/n_tokens int64   [D]
 *   /domains            string  [n_domains]
 * Root attributes: format, format_version, model (JSON), tokenizer (JSON), manifest (JSON),
 * command_line, tool_version, hdf5_version, created, window (int64, when known),
 * n_documents (int64, the commit point),
 * n_tokens (int64); /routing attributes n_expert, k. Every dataset has a "description".
 * Token-major, chunked, shuffle+deflate, extendible; flushed after every batch of documents.
 * Documents are appended whole, so a store always ends at a document boundary: rows past the
 * committed documents (after a crash) are ignored by the reader and cut off by a resume.
 *
 * Errors as in engine.h: 0, MS_ERR_INPUT or MS_ERR_RUNTIME with "<file>: <problem>" in err. */
#ifndef MS_PROBES_H
#define MS_PROBES_H

#include "engine.h"

#define MS_ROUTES_FORMAT  "moescope-routes"
#define MS_ROUTES_VERSION 1

/* ---------------------------------------------------------------------------------------
 * Collector: a router hook that copies the chosen layers' decisions for one window into
 * caller-visible buffers (sized at init for max_tokens; no allocation per call).
 */
typedef struct ms_route_collector {
    int n_layers;      /* stored layers */
    const int *layers; /* model layer of each slot (sorted) */
    int k, n_expert;
    int64_t max_tokens;
    int want_logits;
    int64_t n_tokens;         /* tokens of the last window seen */
    int32_t *ids;             /* (max_tokens, n_layers, k) */
    float *weights;           /* (max_tokens, n_layers, k) */
    float *logits;            /* (max_tokens, n_layers, n_expert) when want_logits */
    uint64_t seen_mask_count; /* layers seen in the current window (checked by the caller) */
    char err[160];            /* why the hook stopped the forward pass (empty if it did not) */
} ms_route_collector;

int ms_collector_init(ms_route_collector *c, const int *layers, int n_layers, int n_expert, int k,
                      int64_t max_tokens, int want_logits, char *err, size_t errlen);
void ms_collector_free(ms_route_collector *c);
/* Call before each window: forgets the previous window (n_tokens, seen_mask_count, err). */
void ms_collector_begin(ms_route_collector *c);
/* The ms_route_hook to pass to ms_forward with user = the collector. Layers not in the list
 * are ignored; a window larger than max_tokens or an event whose E or k differ stops the
 * forward pass with a message in c->err. */
int ms_collector_hook(void *user, const ms_route_event *ev);

/* ---------------------------------------------------------------------------------------
 * Writer.
 */
typedef struct ms_store ms_store;

typedef struct ms_store_create_opts {
    const char *path;
    const int *layers;
    int n_layers;
    int n_expert, k;
    int with_logits;
    const char *const *domains;
    int n_domains;
    const char *model_json, *tokenizer_json, *manifest_json, *command_line;
    int resume;     /* open an existing store and continue after its last document;
                       the existing store must match (layers, E, k, logits, domains,
                       window) */
    int64_t window; /* tokens per forward pass: root attribute "window" (0: not written) */
    /* Attribute "rank_order" of /routing/expert: "rank" (first choice first; NULL means
     * this, as every capture), "sorted" (ids sorted by expert id, as some engines return
     * them) or "unknown". Analyses report first/second-choice figures only for "rank". */
    const char *rank_order;
} ms_store_create_opts;

/* Without resume an existing file at path is replaced only if it is empty or a moescope route
 * store; anything else (a user's file, a model) is refused with MS_ERR_INPUT and left as is. */
int ms_store_create(ms_store **out, const ms_store_create_opts *o, char *err, size_t errlen);
/* The check ms_store_create makes before replacing path: 0 when path is nothing, an empty file
 * or a route store; else MS_ERR_INPUT ("<path>: exists and is not a moescope route store;
 * refusing to replace it"). For writers that build the store under another name first. */
int ms_store_replaceable(const char *path, char *err, size_t errlen);
/* The writer's lock: a sidecar file "<path>.lock" holding the writer's pid, flock()ed for as
 * long as the lock is held (a crashed writer's lock goes with its process; the stale file is
 * harmless). A capture takes it before it looks at or touches the store. Fails with
 * MS_ERR_RUNTIME and "<path>: another capture is writing this store (pid N)" when held. */
typedef struct ms_store_lock ms_store_lock;
int ms_store_lock_take(ms_store_lock **out, const char *path, char *err, size_t errlen);
void ms_store_lock_release(ms_store_lock *l); /* removes the lock file; NULL is fine */
/* After a resume: documents already stored (the caller skips that many documents). */
int64_t ms_store_n_documents(const ms_store *s);
int64_t ms_store_n_tokens(const ms_store *s);
/* Appends one whole document: n tokens, their window positions, and routing laid out as the
 * collector's buffers ((n, n_layers, k) ids/weights, (n, n_layers, E) logits or NULL).
 * Data is buffered; it reaches the file at ms_store_flush (call per batch of documents). */
int ms_store_append(ms_store *s, int domain, const char *source, const int32_t *tokens,
                    const int32_t *pos, int64_t n, const int32_t *ids, const float *weights,
                    const float *logits, char *err, size_t errlen);
/* Writes buffered documents, then updates the document count attribute last, and H5Fflush. */
int ms_store_flush(ms_store *s, char *err, size_t errlen);
int ms_store_close(ms_store *s, char *err, size_t errlen); /* flushes; frees s in any case */

/* ---------------------------------------------------------------------------------------
 * Reader (streaming: read any token range; memory is the caller's).
 *
 * Nothing in the file is trusted (docs/ROUTE_STORE.md, "What a reader checks"). ms_routes_open
 * refuses, with MS_ERR_INPUT and one line naming the file and the dataset or attribute, a store
 * whose format/version, links (hard links only), storage (inside the file), types, ranks or
 * shapes are wrong; whose layers are not strictly ascending in [0, n_layer); whose document
 * table does not tile the committed tokens or names a domain out of range; and — one streaming
 * pass over every committed row at open — whose /tokens/doc disagrees with the document table,
 * whose positions do not start each document and window at 0 and count up (below the window
 * when known), whose token ids are outside [0, n_vocab) (when the model or tokenizer
 * description gives it), or whose expert ids are outside [0, E) or repeat within one top-k.
 * MS_ERR_RUNTIME is a failed system call (I/O) or memory. Variable-length strings are checked
 * against their heap before HDF5 follows them. A store with 0 documents is valid.
 * ms_routes_read checks weights (finite, >= 0) and logits (finite) of the rows it returns:
 * no analysis reads them, so they are not part of the pass at open.
 */
typedef struct ms_routes ms_routes;

typedef struct ms_routes_info {
    int64_t n_tokens, n_documents;
    int n_layers, k, n_expert, n_domains;
    const int *layers;          /* [n_layers] model layers */
    const char *const *domains; /* [n_domains] */
    int has_logits;
    int64_t window; /* tokens per forward pass of the capture (attribute "window"; 0: unknown) */
    int rank_order; /* 1: /routing/expert is in rank order (attribute rank_order "rank", or
                       absent); 0: "sorted" or "unknown" (no first/second-choice figures) */
    const char *model_json, *tokenizer_json, *manifest_json, *command_line, *tool_version, *created;
} ms_routes_info;

int ms_routes_open(ms_routes **out, const char *path, char *err, size_t errlen);
/* ms_routes_open runs its checks first in a child process (fork), so that a store whose
 * corrupt structure crashes libhdf5 is refused (MS_ERR_INPUT, one line) instead of crashing the
 * caller. On by default; an MPI rank turns it off (a forked MPI process is not safe on every
 * transport). Not thread-safe: set it before any thread opens a store. */
void ms_routes_guard(int on);
void ms_routes_close(ms_routes *r);
const ms_routes_info *ms_routes_info_get(const ms_routes *r);
/* Per-document table: domain, first token row, token count, source (owned by r). */
int ms_routes_document(const ms_routes *r, int64_t d, int *domain, int64_t *first_token,
                       int64_t *n_tokens, const char **source);
/* Reads rows [t0, t0+n) of the token datasets; any output pointer may be NULL.
 * ids/weights are (n, n_layers, k), logits (n, n_layers, E). */
int ms_routes_read(ms_routes *r, int64_t t0, int64_t n, int32_t *tok, int32_t *doc, int32_t *pos,
                   int32_t *ids, float *weights, float *logits, char *err, size_t errlen);
/* 1 when model layer `layer` is a dense layer of the captured model (the model JSON's
 * blocks[layer].ffn is "dense", as for DeepSeek's leading layers): it has no router and is
 * never stored. 0 otherwise (or when the store does not say). */
int ms_routes_layer_dense(const ms_routes_info *in, int layer);

/* ---------------------------------------------------------------------------------------
 * Import (docs/IMPORT.md): routing recorded by another engine (NumPy arrays, or JSONL of
 * vLLM / SGLang responses) written as a route store. Everything is read and checked before
 * anything is written; the store is written under a temporary name beside out (with the
 * store's lock held) and renamed when complete, so an error leaves no output.
 */
typedef struct ms_import_opts {
    const char *out;           /* the store to write (replaced if it is a route store) */
    const char *const *inputs; /* FILE.npz, NAME=FILE.npy, FILE.npy (named by its stem),
                                  FILE.jsonl */
    int n_inputs;
    const char *model_path;     /* GGUF / HF folder / config.json, or NULL */
    int n_expert, k, n_layer;   /* from flags; 0: unknown (must agree with the model) */
    const char *layers;         /* model layers the arrays hold ("0,15,31"), or NULL */
    const char *rank_order;     /* "rank", "sorted", "unknown"; NULL: from the input */
    const char *domain;         /* domain of documents that name none (NULL: "default") */
    const char *const *domains; /* JSONL: the domain list, in order (NULL: as met) */
    int n_domains;
    int norm_topk;  /* experts chosen from logits: renormalise the k weights
                       (1), not (0), as the model says (-1) */
    int64_t window; /* positions restart every window tokens (0: never) */
    const char *command_line;
} ms_import_opts;

int ms_import(const ms_import_opts *o, char *err, size_t errlen);

#endif
