/* analysis.h — streaming routing statistics over a route store (docs/ANALYSIS.md).
 *
 * ms_analysis_run() reads a route store (probes/probes.h) chunk by chunk and fills an
 * ms_analysis result: per analysed layer × domain × expert the Mixtral Fig. 7/9 shares, the
 * OLMoE Eq. 7 share, Table 5 / Fig. 10 repetition, entropy and load balance, domain divergence
 * (JSD, chi-square), OLMoE Eq. 6 co-activation and Eq. 8 vocabulary specialization, with 95%
 * Poisson-bootstrap intervals over documents. Memory is bounded by the store's shape (layers,
 * experts, domains, vocabulary, replicates), not by its number of tokens.
 * ms_analysis_write_json() writes schema "moescope-analysis" version 1; ms_analysis_write_csv()
 * the tidy tables. ms_routes_diff() compares two stores of the same tokens.
 *
 * Errors as in engine.h: 0, MS_ERR_INPUT or MS_ERR_RUNTIME with "<file>: <problem>" in err;
 * on failure *out is NULL. The library never prints. */
#ifndef MS_ANALYSIS_H
#define MS_ANALYSIS_H

#include <stdint.h>
#include <stdio.h>

#include "probes.h"

#define MS_ANALYSIS_SCHEMA  "moescope-analysis"
#define MS_ANALYSIS_VERSION 1

typedef struct ms_analysis_opts {
    const int *layers; /* model layers to analyse (each must be stored); NULL: all stored */
    int n_layers;
    int bootstrap;      /* replicates for the 95% intervals; 0: no intervals; <0: default 200 */
    uint64_t seed;      /* bootstrap seed (results are a pure function of it) */
    int top_n;          /* vocabulary: tokens reported per expert; <=0: default 10 */
    int vocabulary;     /* 1: compute OLMoE Eq. 8 (n_vocab × E counts per layer); 0: skip */
    int64_t chunk_rows; /* rows read per chunk; <=0: default 65536 */
    const char *command_line; /* of this analysis, recorded in the JSON; may be NULL */
    /* Optional progress callback, called after each chunk (rows done, rows total). */
    void (*progress)(void *user, int64_t rows_done, int64_t rows_total);
    void *progress_user;
    /* Distributed runs (cli/dist.h, mpirun): with n_parts > 1 this call reads only part `part`
     * of n_parts contiguous, token-balanced document ranges, then `reduce` sums every count
     * over the parts (in place over n elements of kind MS_REDUCE_*, returns 0 or MS_ERR_*)
     * and each part builds the same result as one pass over the whole store. */
    int part, n_parts;
    int (*reduce)(void *user, void *buf, int64_t n, int kind);
    void *reduce_user;
} ms_analysis_opts;

/* Element kinds of ms_analysis_opts.reduce (same values as cli/dist.h's MS_DIST_*). */
enum { MS_REDUCE_SUM_I64 = 1, MS_REDUCE_SUM_F64, MS_REDUCE_SUM_U32, MS_REDUCE_MAX_I64 };

/* Sets the defaults above (all layers, 200 replicates, seed 1, top 10, vocabulary on). */
void ms_analysis_opts_default(ms_analysis_opts *o);

/* A 95% interval; both NaN when absent (no bootstrap, or a zero denominator). */
typedef struct ms_ci {
    double lo, hi;
} ms_ci;

/* Statistics of one layer over one domain (or all domains pooled). Arrays are [n_expert]. */
typedef struct ms_domain_stats {
    int64_t n_tokens, n_documents;
    int64_t *assign_count;   /* all k ranks */
    int64_t *first_count;    /* rank 0 */
    int64_t *second_count;   /* rank 1 (all zero when k = 1) */
    int64_t *contains_count; /* tokens whose top-k contains e */
    double *share;           /* assign_count / (k N)          Mixtral Fig. 7 */
    double *first_share;     /* first_count / N               Mixtral Fig. 9 */
    double *second_share;    /* second_count / N              Mixtral Fig. 9 */
    double *contains_share;  /* contains_count / N            OLMoE Eq. 7 */
    ms_ci *share_ci, *first_share_ci, *second_share_ci, *contains_share_ci;
    /* Table 5 / Fig. 10: consecutive pairs in one document and window. */
    int64_t n_pairs, first_equal, topk_intersect;
    double first_equal_rate, topk_intersect_rate;
    ms_ci first_equal_ci, topk_intersect_ci;
    double entropy_bits, entropy_normalized; /* of share[] */
    double load_max_over_mean, load_cv;      /* of assign_count[] */
} ms_domain_stats;

typedef struct ms_vocab_entry {
    int32_t token;
    int64_t count;       /* occurrences of token whose top-k contains the expert */
    int64_t occurrences; /* occurrences of token */
    double share;        /* count / occurrences (OLMoE Eq. 8) */
} ms_vocab_entry;

typedef struct ms_layer_stats {
    int layer;                /* model layer */
    ms_domain_stats *domains; /* [n_domains] */
    ms_domain_stats all;      /* all domains pooled */
    double *js_bits;          /* (n_domains, n_domains) JSD of share[], bits */
    double chi2, chi2_p;      /* first-choice domains × experts independence test */
    int chi2_dof;             /* 0 when the table has < 2 non-empty rows or columns */
    int64_t *co_tokens;       /* [E]  N(e_i) */
    int64_t *co_pair;         /* (E, E) N(e_i, e_j), zero diagonal */
    double *co_ratio;         /* (E, E) N(e_i, e_j) / N(e_i) */
    ms_vocab_entry *vocab;    /* (E, top_n), entry j of expert e at [e*top_n + j] */
    int *vocab_n;             /* [E] valid entries per expert; NULL when vocabulary is off */
} ms_layer_stats;

typedef struct ms_analysis {
    char *path; /* analysed store */
    int n_expert, k, n_domains, n_layers;
    int64_t n_tokens, n_documents;
    char **domains;     /* [n_domains] */
    int *stored_layers; /* [n_stored_layers] */
    int n_stored_layers;
    int has_logits;
    /* 1 when the store's expert ids are in rank order (every capture). 0 for imported ids in
     * another order (docs/IMPORT.md): the first/second-choice figures (first_*, second_*,
     * first_equal*, chi2 over first choices, baseline_repeat_first) are then NaN and written
     * as null: "unavailable (expert ids not in rank order)". */
    int rank_order;
    char *model_json, *tokenizer_json, *manifest_json, *store_command_line, *store_tool_version,
        *store_created, *command_line; /* may be NULL */
    int bootstrap, top_n;
    uint64_t seed;
    double baseline_share, baseline_contains, baseline_repeat_first, baseline_repeat_topk;
    ms_layer_stats *layers; /* [n_layers], order of the analysed layers */
} ms_analysis;

/* Analyses the store at path. */
int ms_analysis_run(ms_analysis **out, const char *path, const ms_analysis_opts *o, char *err,
                    size_t errlen);
/* Same over an already open reader (the caller keeps ownership of r); path is for messages
 * and provenance. */
int ms_analysis_run_routes(ms_analysis **out, ms_routes *r, const char *path,
                           const ms_analysis_opts *o, char *err, size_t errlen);
void ms_analysis_free(ms_analysis *a);

/* JSON (schema above) to path ("-" = stdout). */
int ms_analysis_write_json(const ms_analysis *a, const char *path, char *err, size_t errlen);
/* The JSON document as a malloc'ed string (NULL when out of memory). */
char *ms_analysis_json_string(const ms_analysis *a);
/* The CSV tables of docs/ANALYSIS.md into directory dir (created if missing). */
int ms_analysis_write_csv(const ms_analysis *a, const char *dir, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------
 * Two stores of the same tokens (e.g. quantized vs full precision).
 */
typedef struct ms_diff_layer {
    int layer;
    int64_t first_agree, topk_set_agree;
    double first_agree_rate, topk_set_agree_rate, topk_overlap_mean;
} ms_diff_layer;

typedef struct ms_diff {
    int64_t n_tokens;
    int n_expert, k, n_layers;
    int rank_order; /* both stores' ids in rank order; else first_agree* are NaN (unavailable) */
    ms_diff_layer *layers; /* [n_layers] */
} ms_diff;

/* layers: model layers to compare (NULL: all layers stored in both). MS_ERR_INPUT when the
 * stores' tokens (count, ids, doc, pos), E or k differ, naming the first differing row. */
int ms_routes_diff(ms_diff **out, const char *path_a, const char *path_b, const int *layers,
                   int n_layers, int64_t chunk_rows, char *err, size_t errlen);
void ms_diff_free(ms_diff *d);
char *ms_diff_json_string(const ms_diff *d, const char *path_a, const char *path_b);

/* ---------------------------------------------------------------------------------------
 * Numerics used above, exposed for tests (analysis/special.c, analysis/bootstrap.c).
 */
/* Regularized incomplete gamma functions P(a, x) and Q(a, x) = 1 − P (a > 0, x >= 0);
 * NaN for invalid arguments. Series for x < a + 1, continued fraction otherwise. */
double ms_gamma_p(double a, double x);
double ms_gamma_q(double a, double x);
/* Chi-square survival function P(X > x) for dof degrees of freedom = Q(dof/2, x/2). */
double ms_chi2_sf(double x, double dof);
/* Shannon entropy (bits) of p[n] (normalised internally; zero entries contribute 0). */
double ms_entropy_bits(const double *p, int n);
/* Jensen–Shannon divergence in bits between p[n] and q[n] (each normalised internally). */
double ms_js_divergence_bits(const double *p, const double *q, int n);
/* Pearson chi-square test of independence on a (rows, cols) count table; drops all-zero rows
 * and columns; *dof = 0 (and statistic 0, p 1) when fewer than 2 remain on either side. */
void ms_chi2_independence(const int64_t *table, int rows, int cols, double *stat, int *dof,
                          double *p);
/* Exact random baselines of Table 5: 1/E and 1 − C(E−k, k)/C(E, k). */
double ms_baseline_repeat_first(int n_expert);
double ms_baseline_repeat_topk(int n_expert, int k);
/* Bootstrap weight of document doc in replicate b: Poisson(1), a pure function of the
 * arguments. */
int ms_bootstrap_weight(uint64_t seed, int b, int64_t doc);
/* Linear-interpolation quantile (type 7) of v[n]; sorts v in place. */
double ms_quantile_sorted_inplace(double *v, int n, double q);

#endif
